"""python -m benchmarks: the tier benchmark, written into benchmarks/RESULTS.md.

    python -m benchmarks [--tiers S,M] [--repeat N] [--time-limit S] [--update-baseline]

--update-baseline rewrites benchmarks/baseline_S.json, the reference the CI guard
(tests/studies/test_bench_guard.py) compares tier S against: do it only when a change to the
model is meant to change the work HiGHS does, and say why in the commit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from capacity.studies.bench import bench, render

from benchmarks.machine import replace_section

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baseline_S.json"
GUARD_GAP = 0.01  # the CI guard stops at 1%: fast, and still deterministic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiers", default="S,M")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--gap", type=float, default=1e-4)
    parser.add_argument("--update-baseline", action="store_true")
    parser.add_argument("--side-by-side", action="store_true",
                        help="also solve each tier with HiGHS's defaults (no constructive start)")
    args = parser.parse_args()
    if args.update_baseline:
        row = bench(["S"], args.seed, 1, args.time_limit, GUARD_GAP)[0]
        keep = {k: row[k] for k in ("tier", "seed", "status", "objective", "bound", "size",
                                    "counters")}
        BASELINE.write_text(json.dumps(keep, indent=2) + "\n")
        print(f"wrote {BASELINE}")
        return
    rows = bench(args.tiers.split(","), args.seed, args.repeat, args.time_limit, args.gap,
                 args.side_by_side)
    (HERE / "tiers_results.json").write_text(json.dumps(rows, indent=2) + "\n")
    body = (f"Seed {args.seed}, one thread, HiGHS seed 0, gap target {args.gap:g}, "
            f"time limit {args.time_limit:g} s per solve. Times in seconds; first plan and "
            "1% gap on HiGHS's clock (from the start of its run).\n\n" + render(rows))
    replace_section(HERE / "RESULTS.md", "tiers", body)
    print(render(rows))


if __name__ == "__main__":
    main()
