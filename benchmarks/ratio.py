"""python -m benchmarks.ratio: the engine against HiGHS's defaults, time to each gap.

    python -m benchmarks.ratio [--tier M] [--seed 1] [--engine-time-limit 60]
                               [--defaults-time-limit 1800]

Issue 4 asks for the engine's time to a 1% gap at tier M over HiGHS's defaults' (no MIP
start, no tightening), measured side by side. Where neither reaches 1%, the ratio is
still measured at every gap both reach (`capacity.studies.bench.GAP_MARKS`). Both runs stop at
1%, use one thread and HiGHS seed 0, and run one after the other, each in a fresh
process; the defaults get a longer limit, so that they have the time to reach the gaps
the engine reaches. Times are on HiGHS's clock (from the start of its run: the engine's
start, PDLP, dive and search count). Writes benchmarks/ratio_results.json and, from
it, the *ratio* section of RESULTS.md (``--rewrite``: the section alone, from the JSON
of the last run, with no solve).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from capacity.studies.bench import RELATIVE_GAP_MARK, in_fresh_process, render_gap_ratios

from benchmarks.machine import replace_section

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "ratio_results.json"


def outcome(row: dict[str, Any]) -> str:
    """How one run ended: status, plan, bound, gap and HiGHS's nodes."""
    def money(x: float | None) -> str:
        return "none" if x is None else f"{x:,.1f}"
    gap = "none" if row["gap"] is None else f"{row['gap']:.2%}"
    nodes = row["counters"].get("mip_nodes")
    solve = row["seconds"]["solve"]
    return (f"{row['status']} after {money(solve)} s, plan "
            f"{money(row['objective'])}, bound {money(row['bound'])}, gap {gap}, "
            + ("HiGHS's branch and bound not run" if nodes is None
               else f"{nodes:,} branch-and-bound nodes"))


def section(run: dict[str, Any]) -> str:
    """The *ratio* section of RESULTS.md from one run's JSON."""
    engine, defaults, a = run["engine"], run["defaults"], run["arguments"]
    return (f"`python -m benchmarks.ratio --tier {a['tier']} --seed {a['seed']} "
            f"--engine-time-limit {a['engine_time_limit']:g} --defaults-time-limit "
            f"{a['defaults_time_limit']:g}`: one thread, HiGHS seed 0, both stop at a 1% "
            "gap; seconds on HiGHS's clock to the first gap at or below each mark.\n\n"
            f"- engine: {outcome(engine)};\n- HiGHS defaults: {outcome(defaults)}.\n\n"
            + render_gap_ratios(a["tier"], engine, defaults))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="M")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine-time-limit", type=float, default=60.0)
    parser.add_argument("--defaults-time-limit", type=float, default=1800.0)
    parser.add_argument("--rewrite", action="store_true",
                        help="only rewrite RESULTS.md's section from the last run's JSON")
    args = parser.parse_args()
    if args.rewrite:
        replace_section(HERE / "RESULTS.md", "ratio", section(json.loads(RESULTS.read_text())))
        return
    engine = in_fresh_process(args.tier, args.seed, args.engine_time_limit,
                              RELATIVE_GAP_MARK, True)
    print(f"engine: {engine['status']}, {engine['objective']}, gap {engine['gap']}", flush=True)
    defaults = in_fresh_process(args.tier, args.seed, args.defaults_time_limit,
                                RELATIVE_GAP_MARK, False)
    run = {"arguments": vars(args), "engine": engine, "defaults": defaults}
    RESULTS.write_text(json.dumps(run, indent=2) + "\n")
    replace_section(HERE / "RESULTS.md", "ratio", section(run))
    print(render_gap_ratios(args.tier, engine, defaults))


if __name__ == "__main__":
    main()
