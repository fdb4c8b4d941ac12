"""Root cuts (`capacity.engine.cuts`): what each piece gains in bound and costs in time.

    python -m benchmarks.cuts CASE [CASE ...] [--reference OBJ ...] [--solve 60]
    python -m benchmarks.cuts CASE --pdlp 300 [--rounds 2]

CASE is a case folder or ``default``. For each case: the LP relaxation's bound; the
cut rounds (`root_cuts`: cuts, rounds, bound, seconds) and the share of the LP gap they
close, (LP+cuts − LP)/(reference − LP), against ``--reference`` (the optimum, or the
best plan known: the share is then a lower bound); reduced-cost fixing against the
completed constructive start; HiGHS's bound after its root node (``mip_max_nodes`` 1,
its own cuts included) without and with ours; and with ``--solve S``, `capacity.solve`
for S seconds (one thread) without and with ``cuts=True``. Times are wall and CPU
seconds of this process: on a shared machine the CPU seconds are the fairer measure.

``--pdlp S`` (the large models, where a simplex LP is too slow): instead, rounds of PDLP
on the relaxation for at most S seconds each (`solve_relaxation`: its proven bound),
separation at its solution and the cuts added, as the relaxation path would do with
more time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import capacity
from capacity.engine.cuts import (
    add_cut_rows,
    cut_groups,
    reduced_cost_fixing,
    root_cuts,
    separate,
)
from capacity.engine.highs import CompiledModel, complete_start, pass_linear, use_threads
from capacity.engine.lp_bound import solve_relaxation
from capacity.engine.start import constructive_start, start_columns
from capacity.model import BuiltModel, build_model


def timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """``work()``, its wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def root_bound(built: BuiltModel, cuts: bool) -> tuple[float, float, float, int]:
    """HiGHS's dual bound after its root node (one thread, the completed start as
    incumbent), with or without our cuts and reduced-cost fixing first: bound, wall, CPU,
    columns fixed."""
    compiled: CompiledModel = pass_linear(built.linear)
    greedy = constructive_start(built.index_sets)
    started = complete_start(compiled, start_columns(built.linear, greedy), 60.0)
    fixed = 0

    def run() -> float:
        nonlocal fixed
        if cuts:
            root = root_cuts(compiled, cut_groups(built), 120.0)
            add_cut_rows(compiled, root.cuts)
            if started is not None:
                fixed = reduced_cost_fixing(compiled, root, started.x, started.objective)
                compiled.set_incumbent(started.x)
        for name, value in (("threads", 1), ("mip_max_nodes", 1), ("random_seed", 0),
                            ("time_limit", 600.0)):
            compiled.highs.setOptionValue(name, value)
        compiled.highs.run()
        return float(compiled.highs.getInfo().mip_dual_bound)

    bound, wall, cpu = timed(run)
    return bound, wall, cpu, fixed


def pdlp_rounds(name: str, seconds: float, rounds: int) -> None:
    """Rounds of PDLP's bound, separation and the cuts added (``--pdlp``)."""
    built = build_model(capacity.load_case(name))
    compiled = pass_linear(built.linear)
    groups = cut_groups(built)
    print(f"## {name}: {built.linear.size()}, {len(groups)} groups", flush=True)
    for r in range(rounds + 1):
        relaxed, wall, cpu = timed(lambda: solve_relaxation(compiled, seconds))
        if relaxed is None:
            print(f"round {r}: PDLP gave no bound")
            return
        cuts = separate(groups, relaxed.x) if r < rounds else []
        print(f"round {r}: PDLP bound {relaxed.bound:,.3f} (converged {relaxed.converged}, "
              f"{relaxed.iterations} iterations, {wall:.1f} s wall, {cpu:.1f} s CPU); "
              f"{len(cuts)} cuts separated at its solution", flush=True)
        if not cuts:
            return
        add_cut_rows(compiled, cuts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("cases", nargs="+")
    parser.add_argument("--reference", type=float, nargs="*", default=[])
    parser.add_argument("--solve", type=float, default=0.0)
    parser.add_argument("--pdlp", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    use_threads(1)
    if args.pdlp:
        for name in args.cases:
            pdlp_rounds(name, args.pdlp, args.rounds)
        return
    for i, name in enumerate(args.cases):
        case = capacity.load_case() if name == "default" else capacity.load_case(name)
        built = build_model(case)
        compiled = pass_linear(built.linear)
        groups, group_wall, _ = timed(lambda: cut_groups(built))  # noqa: B023
        root, wall, cpu = timed(lambda: root_cuts(compiled, groups, 600.0))  # noqa: B023
        print(f"## {name}: {built.linear.size()}")
        print(f"groups: {len(groups)} in {group_wall:.2f} s")
        print(f"LP {root.lp_bound:,.3f}; with cuts {root.cut_bound:,.3f}: {len(root.cuts)} "
              f"cuts in {root.rounds} rounds, {wall:.2f} s wall, {cpu:.2f} s CPU")
        if i < len(args.reference) and root.lp_bound is not None \
                and root.cut_bound is not None:
            ref = args.reference[i]
            print(f"share of the LP gap closed against {ref:,.3f}: "
                  f"{(root.cut_bound - root.lp_bound) / (ref - root.lp_bound):.1%}")
        for cuts in (False, True):
            bound, wall, cpu, fixed = root_bound(built, cuts)
            print(f"HiGHS after its root, cuts={cuts}: bound {bound:,.3f}, {wall:.1f} s wall, "
                  f"{cpu:.1f} s CPU" + (f", {fixed} columns fixed by reduced cost"
                                        if cuts else ""))
        if args.solve:
            for cuts in (False, True):
                options = capacity.SolveOptions(time_limit_s=args.solve, threads=1,
                                                cuts=cuts)
                plan, wall, cpu = timed(lambda: capacity.solve(case, options))  # noqa: B023
                print(f"solve {args.solve:g} s, cuts={cuts}: {plan.status} "
                      f"{plan.objective:,.3f}, bound {plan.bound or float('nan'):,.3f}, gap "
                      f"{(plan.gap or float('nan')):.3%}, {wall:.1f} s wall, {cpu:.1f} s CPU, "
                      f"{plan.counters}")
        print(flush=True)


if __name__ == "__main__":
    main()
