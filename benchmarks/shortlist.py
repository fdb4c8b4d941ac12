"""A tried-and-dropped idea, kept reproducible: column generation over a site shortlist
for the root LP of a generated tier (benchmarks/RESULTS.md, "What each performance
change bought").

    python -m benchmarks.shortlist [--tier M] [--keep 2] [--add 5000] [--rounds 60]

Shipments are restricted to the ``--keep`` cheapest sites per program and market (plus
as many domestic sites where the market has a domestic-share rule) by fixing the other
shipment columns at zero; the LP relaxation is solved, and omitted columns with negative
reduced cost (the ``--add`` most negative) are freed, round after round, until none is
left: then the restricted LP's bound is the full LP's. Prints each round's LP time,
objective and improving columns. At tier M the first round takes ~9 s but later rounds
take a minute or more with tens of thousands of columns still improving.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import highspy
import numpy as np

from capacity.case.generate import generate_case
from capacity.engine.highs import compile_to_highs
from capacity.model import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="M")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=int, default=2)
    parser.add_argument("--add", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    built = build_model(generate_case(args.tier, args.seed))
    ix, m = built.index_sets, built.pyomo
    compiled = compile_to_highs(m)
    highs, column = compiled.highs, compiled.column_of()
    cost: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for key, c in zip(ix.ship, ix.ship_cost.tolist(), strict=True):
        cost[(key[0], key[1], key[2])].append(c)
    ranked: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    domestic: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    for (p, s, mk), c in cost.items():
        ranked[(p, mk)].append((float(np.mean(c)), s))
        if ix.site_region[s] == mk:
            domestic[(p, mk)].append((float(np.mean(c)), s))
    keep = {(p, s) for lists in (ranked, domestic) for (p, _mk), sites in lists.items()
            for _c, s in sorted(sites)[:args.keep]}
    omitted = np.array([column[id(m.Ship[k])] for k in ix.ship if (k[0], k[1]) not in keep],
                       dtype=np.int32)
    print(f"tier {args.tier}: {len(ix.ship):,} shipment columns, {len(omitted):,} omitted")
    highs.setOptionValue("solve_relaxation", True)
    highs.setOptionValue("threads", 1)
    zeros = np.zeros(len(omitted))
    highs.changeColsBounds(len(omitted), omitted, zeros, zeros)
    for k in range(args.rounds):
        t0 = time.perf_counter()
        highs.run()
        seconds = time.perf_counter() - t0
        status = highs.getModelStatus()
        reduced = np.asarray(highs.getSolution().col_dual)
        improving = omitted[reduced[omitted] < -1e-7]
        print(f"round {k}: {highs.modelStatusToString(status)}, "
              f"objective {highs.getInfo().objective_function_value:,.3f}, {seconds:.1f} s, "
              f"{len(improving):,} omitted columns improving", flush=True)
        if status != highspy.HighsModelStatus.kOptimal or not len(improving):
            break
        freed = improving[np.argsort(reduced[improving])[:args.add]]
        highs.setOptionValue("simplex_strategy", 4)  # primal: the basis stays feasible
        highs.changeColsBounds(len(freed), freed, np.zeros(len(freed)),
                               compiled.col_upper[freed])
        omitted = np.setdiff1d(omitted, freed)


if __name__ == "__main__":
    main()
