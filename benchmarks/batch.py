"""Batch throughput: scenarios per minute with 1, 2 and N workers, with and without
persistent re-solve, on the default case. Writes the *batch* section of RESULTS.md.

    python -m benchmarks.batch [--workers 1,2] [--tariffs 8]

The scenario file: a base, ``--tariffs`` US tariff levels (costs only: chained on one
worker and re-solved on one model when persistent) and four Japanese domestic-share levels
(constraints change: always rebuilt). Each configuration solves the same scenarios into a
fresh folder; objectives must agree across configurations (checked).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from capacity.studies.batch import run_batch

from benchmarks.machine import replace_section

HERE = Path(__file__).resolve().parent


def scenario_file(folder: Path, tariffs: int) -> Path:
    rates = [round(0.05 + 0.25 * i / max(1, tariffs - 1), 4) for i in range(tariffs)]
    path = folder / "scenarios.yaml"
    path.write_text(f"""base: default
options: {{time_limit_s: 300, mip_rel_gap: 1.0e-6}}
scenarios: [{{name: base}}]
sweeps:
  - name: us_tariff
    grid: {{rate: {rates}}}
    overrides: [{{table: lanes, where: {{market: US}}, set: {{tariff_rate: "{{rate}}"}}}}]
  - name: jp_share
    grid: {{share: [0.2, 0.4, 0.5, 0.6]}}
    overrides: [{{table: rules, where: {{rule: JP_DOMESTIC_30}}, set: {{share: "{{share}}"}}}}]
""")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default=f"1,2,{os.cpu_count()}")
    parser.add_argument("--tariffs", type=int, default=8)
    args = parser.parse_args()
    counts = sorted({int(w) for w in args.workers.split(",")})
    rows: list[dict[str, Any]] = []
    objectives: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = scenario_file(Path(tmp), args.tariffs)
        for workers in counts:
            for persistent in (False, True):
                out = Path(tmp) / f"out-{workers}-{persistent}"
                t0 = time.perf_counter()
                summary = run_batch(path, out, workers=workers, persistent=persistent)
                wall = time.perf_counter() - t0
                got = dict(zip(summary["scenario"], summary["objective"].round(6),
                               strict=True))
                if objectives and got != objectives:
                    raise SystemExit(f"objectives differ with {workers} workers, "
                                     f"persistent={persistent}")
                objectives = got
                reused = int(summary["reused_model"].fillna(False).astype(bool).sum())
                rows.append({"workers": workers, "persistent": persistent,
                             "scenarios": len(summary), "reused_models": reused,
                             "wall_s": round(wall, 1),
                             "per_minute": round(60 * len(summary) / wall, 1)})
                print(rows[-1], flush=True)
    (HERE / "batch_results.json").write_text(json.dumps(rows, indent=2) + "\n")
    base = next(r for r in rows if r["workers"] == counts[0] and not r["persistent"])
    lines = ["| workers | persistent | scenarios | models re-used | wall s | scenarios/min "
             "| × (1 worker, rebuilt) |", "|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['workers']} | {'yes' if r['persistent'] else 'no'} | "
                     f"{r['scenarios']} | {r['reused_models']} | {r['wall_s']} | "
                     f"{r['per_minute']} | {r['per_minute'] / base['per_minute']:.2f} |")
    body = (f"Default case; 1 base + {args.tariffs} US tariff levels (costs only) + 4 "
            "Japanese domestic-share levels, each solved to a 1e-6 gap; Dask LocalCluster, "
            "one HiGHS thread per worker; wall time includes starting the cluster. "
            "Objectives agreed across all configurations.\n\n" + "\n".join(lines))
    replace_section(HERE / "RESULTS.md", "batch", body)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
