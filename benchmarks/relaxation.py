"""The LP relaxation's bound by PDLP, and the dive from it, at one tier.

    python -m benchmarks.relaxation [--tier M] [--seed 1] [--seconds 5,10,20] [--search 30]

For each time limit: PDLP's run on the relaxation (`capacity.engine.lp_bound.solve_relaxation`),
the proven bound of the dual it stopped at, its iterations, the dive from its solution
(`capacity.engine.dive`, up to 300 s) against the completed constructive start, and the search
from the better plan (`capacity.engine.search`, ``--search`` seconds, seed 0). The numbers
behind the relaxation rows of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from capacity.case import load_case
from capacity.case.generate import generate_case
from capacity.engine.dive import dive
from capacity.engine.highs import complete_start, pass_linear
from capacity.engine.lp_bound import solve_relaxation
from capacity.engine.run import relative_gap
from capacity.engine.search import Layout, improve
from capacity.engine.start import constructive_start, start_columns
from capacity.model import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tier", default="M")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", default="5,10,20",
                        help="PDLP time limits to try, comma-separated")
    parser.add_argument("--search", type=float, default=30.0,
                        help="seconds of neighbourhood search after each dive")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "case"
        generate_case(args.tier, args.seed).save(folder)
        built = build_model(load_case(folder))
    compiled = pass_linear(built.linear)
    started = complete_start(compiled, start_columns(built.linear,
                                                     constructive_start(built.index_sets)), 300)
    start_text = "none" if started is None else f"{started[1]:,.1f}"
    print(f"tier {args.tier} seed {args.seed}: completed start {start_text}")
    layout = Layout.of(built.linear, built.index_sets.ship_assign)
    print("| PDLP limit s | PDLP s | iterations | converged | bound | dive s | dive plan | "
          "search s | neighbourhoods (better) | searched plan | gap |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for limit in (float(s) for s in args.seconds.split(",")):
        relaxed = solve_relaxation(compiled, limit)
        if relaxed is None:
            print(f"| {limit:g} | — | — | — | no dual | — | — | — | — | — | — |")
            continue
        t0 = time.perf_counter()
        dived = dive(compiled, relaxed.x, 300.0, plan=None if started is None else started[0])
        dive_seconds = time.perf_counter() - t0
        plan = "none" if dived is None else f"{dived[1]:,.1f}"
        better = min((p for p in (dived, started) if p is not None), key=lambda p: p[1],
                     default=None)
        search = None if better is None else improve(compiled, layout, better, args.search)
        searched = "— | none | —" if search is None else (
            f"{search.tried} ({search.kept}) | {search.plan[1]:,.1f} | "
            f"{relative_gap(search.plan[1], relaxed.bound):.2%}")
        print(f"| {limit:g} | {relaxed.seconds:.1f} | {relaxed.iterations:,} | "
              f"{relaxed.converged} | {relaxed.bound:,.1f} | {dive_seconds:.1f} | {plan} | "
              f"{args.search:g} | {searched} |", flush=True)


if __name__ == "__main__":
    main()
