"""python -m benchmarks: the tier benchmark, written into benchmarks/RESULTS.md.

    python -m benchmarks [--family uniform|realistic] [--tiers S,M] [--repeat N]
                         [--time-limit S] [--update-baseline] [--statistics]

--family realistic measures the realistic family (`capacity.case.generate.realistic`,
tiers S, N, G) as a planner feels it: first plan, gap at the time limit in % and MUSD,
primal integral, model size, build time and memory (section `realistic` of RESULTS.md),
e.g. ``python -m benchmarks --family realistic --tiers N --time-limit 120``.

--statistics writes the family's statistics beside the default case's into
docs/benchmarks.md (`capacity.studies.bench.case_statistics`; the default case and tier
S solved to read capex and fixed costs from their plans).

--update-baseline rewrites benchmarks/baseline_S.json, the reference the CI guard
(tests/studies/test_bench_guard.py) compares the realistic family's tier S against: do it
only when a change to the model is meant to change the work HiGHS does, and say why in
the commit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from capacity.studies.bench import bench, render, render_measurement

from benchmarks.machine import replace_section

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baseline_S.json"
GUARD_GAP = 0.01  # the CI guard stops at 1%: fast, and still deterministic
GUARD_FAMILY, GUARD_TIER = "realistic", "S"  # what the CI guard solves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="uniform", choices=("uniform", "realistic"))
    parser.add_argument("--tiers", default=None,
                        help="comma-separated (default: S,M uniform, S,N realistic)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--gap", type=float, default=1e-4)
    parser.add_argument("--update-baseline", action="store_true")
    parser.add_argument("--statistics", action="store_true",
                        help="the family's statistics beside the default case's")
    parser.add_argument("--root-lp", action="store_true",
                        help="also time HiGHS's LP relaxation alone, and report the proven "
                        "gap within ten times that")
    parser.add_argument("--side-by-side", action="store_true",
                        help="also solve each tier with HiGHS's defaults (no constructive start)")
    args = parser.parse_args()
    if args.update_baseline:
        row = bench([GUARD_TIER], args.seed, 1, args.time_limit, GUARD_GAP,
                    family=GUARD_FAMILY)[0]
        keep = {k: row[k] for k in ("family", "tier", "seed", "status", "objective", "bound",
                                    "size", "counters")}
        BASELINE.write_text(json.dumps(keep, indent=2) + "\n")
        print(f"wrote {BASELINE}")
        return
    tiers = (args.tiers or ("S,N" if args.family == "realistic" else "S,M")).split(",")
    if args.statistics:
        from benchmarks.statistics import write_statistics

        write_statistics(tiers, args.seed, args.time_limit)
        return
    rows = bench(tiers, args.seed, args.repeat, args.time_limit, args.gap,
                 args.side_by_side, family=args.family, root_lp=args.root_lp)
    if args.family == "realistic":
        (HERE / f"realistic_{'_'.join(tiers)}_results.json").write_text(
            json.dumps(rows, indent=2) + "\n")
        root = " --root-lp" if args.root_lp else ""
        body = (f"`python -m benchmarks --family realistic --tiers {','.join(tiers)} "
                f"--time-limit {args.time_limit:g}{root}`: seed {args.seed}, one thread, HiGHS "
                f"seed 0, gap target {args.gap:g}. First plan on HiGHS's clock and end to "
                "end (from a validated case: index sets, build, start, transfer, HiGHS); "
                "the primal integral in seconds over the solve (0: the final plan at once)."
                "\n\n" + render_measurement(rows))
        replace_section(HERE / "RESULTS.md", f"realistic-{'-'.join(tiers)}", body)
        print(render_measurement(rows))
        return
    (HERE / "tiers_results.json").write_text(json.dumps(rows, indent=2) + "\n")
    body = (f"Seed {args.seed}, one thread, HiGHS seed 0, gap target {args.gap:g}, "
            f"time limit {args.time_limit:g} s per solve. Times in seconds; first plan and "
            "1% gap on HiGHS's clock (from the start of its run).\n\n" + render(rows))
    replace_section(HERE / "RESULTS.md", "tiers", body)
    print(render(rows))


if __name__ == "__main__":
    main()
