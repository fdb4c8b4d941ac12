"""The large-model path: before HiGHS's branch and bound, on large models
(`capacity.engine.strategy.is_large`), the LP relaxation by PDLP (a
proven bound, `capacity.engine.lp_bound`), a plan from it (a dive, `capacity.engine.dive`,
and a rounding), a neighbourhood search (`capacity.engine.search`), and where neither PDLP
nor branch and bound runs the Lagrangian bound (`capacity.engine.lagrangian`) whose prices
steer a second greedy start. `relax_dive_search` conducts them within the time shares of
`capacity.engine.strategy`."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from capacity.engine import strategy
from capacity.engine.dive import dive
from capacity.engine.highs import CompiledModel, complete_start
from capacity.engine.incumbent import Incumbent
from capacity.engine.lagrangian import Decomposition, lagrangian_bound
from capacity.engine.lp_bound import Relaxation, solve_relaxation
from capacity.engine.options import SolveOptions
from capacity.engine.run import Progress, relative_gap
from capacity.engine.search import Layout, improve
from capacity.engine.strategy import Strategy

# A start's integer columns (column, value) made from a vector over the model's columns:
# rounded from an LP solution (`capacity.engine.start.rounded_start`), or greedy with each
# shipment charged its toll (`capacity.engine.start.constructive_start`).
StartFrom = Callable[[np.ndarray], list[tuple[int, float]]]


@dataclass(frozen=True)
class LargeModelAids:
    """What a solve of a large model (`strategy.is_large`, HiGHS holding the engine's
    own matrices) uses besides HiGHS, each made from the engine's model where used."""

    layout: Callable[[], Layout]  # where the integer columns lie, for `capacity.engine.search`
    rounding: StartFrom  # a start rounded from PDLP's solution
    decomposition: Callable[[], Decomposition | None]  # the Lagrangian bound's split
    steering: StartFrom  # a greedy start, each column charged a toll (the bound's Cᵀλ)
    start_seconds: float  # what the first greedy start took; a steered one takes as long


def relax_dive_search(compiled: CompiledModel, started: Incumbent,
                       options: SolveOptions, t1: float, steps: Strategy,
                       progress: Progress | None, aids: LargeModelAids | None,
                       ) -> tuple[Relaxation | None, Incumbent | None,
                                  tuple[str, ...], float | None]:
    """The LP relaxation by PDLP (a proven bound, `capacity.engine.lp_bound`), a dive from its
    solution (`capacity.engine.dive`) and neighbourhoods of the best plan re-optimised
    (`capacity.engine.search`, where ``aids`` are given): the relaxation, the best plan where
    it is better than ``started`` (it is then HiGHS's incumbent, else None), notes
    for the plan's messages where a step was skipped or failed (too large, too little
    memory ``free`` for PDLP's copy, or HiGHS failed; the bound and plan in hand stand),
    and the proven bound (PDLP's, or the Lagrangian's; None where neither came).

    Where PDLP is not run (`RELAXATION_MAX_NONZEROS`, or too little memory for its copy)
    and HiGHS's branch and bound will not run either, the Lagrangian bound of the suites'
    capacity (`capacity.engine.lagrangian`, ``aids.decomposition``; 45 bytes a nonzero against
    PDLP's 150) gets `LAGRANGIAN_SHARE` of the time first, its prices steer a second
    greedy start (`_steered_start`), and the search goes on from the better start for
    the rest.

    With one thread, PDLP gets `RELAXATION_SHARE` of the time left, the dive up to
    `DIVE_SHARE` of what is left after it, and the search `IMPROVE_SHARE` of what is left
    after them. Where HiGHS's branch and bound will not run after them (memory, PDLP not
    converged, or too little time left to start it: `mip_has_time`), the `..._ALONE`
    shares apply instead. With two threads or more (``options.threads``) and aids,
    PDLP and the dive run in a second thread while the search improves ``started``; the
    search then goes on from the better of its plan and the dive's. The search after
    PDLP draws programs by their shortfall against PDLP's solution
    (`capacity.engine.search.draw_program`)."""
    branch, free = steps.branch_fits, steps.free_bytes
    skipped = steps.relaxation_skipped
    deadline = t1 + options.time_limit_s

    def left() -> float:
        return deadline - time.perf_counter()

    def report(plan: Incumbent, bound: float | None) -> None:
        if progress is not None:
            progress(time.perf_counter() - t1, plan.objective, bound)

    rng = np.random.default_rng(options.seed)  # one draw sequence over both searches
    made: list[Layout] = []  # the layout, made once and only where a search runs

    def search(plan: Incumbent, seconds: float, bound: float | None,
               stop: Callable[[], bool] | None = None, guide: np.ndarray | None = None,
               ) -> tuple[Incumbent, tuple[str, ...]]:
        assert aids is not None
        if not made:
            made.append(aids.layout())

        def better(objective: float) -> None:  # each better plan, as the search finds it
            if progress is not None:
                progress(time.perf_counter() - t1, objective, bound)

        found = improve(compiled, made[0], plan, seconds, rng, stop, guide, better)
        return found.plan, (() if found.error is None else
                            (f"the search for a better plan stopped ({found.error})",))

    side_by_side = steps.side_by_side
    rounding = None if aids is None else aids.rounding
    plan: Incumbent = started
    notes: tuple[str, ...] = ()
    if skipped is not None:  # no LP bound: the search, leaving branch and bound its share
        branching = branch and strategy.mip_has_time(
            compiled, (1 - strategy.IMPROVE_SHARE) * left())
        bound = None
        if aids is not None and not branching:  # no other bound will come
            # the Lagrangian bound first, aiming at the start; its prices then steer a
            # second greedy start, from which the search goes on where it is better
            priced = _priced_bound(compiled, aids.decomposition, started.objective,
                                   strategy.LAGRANGIAN_SHARE * left(), free,
                                   lambda value: report(started, value))
            bound, notes = priced.value, priced.notes
            if priced.tolls is not None and left() > 2 * aids.start_seconds:
                plan, more = _steered_start(compiled, aids.steering, priced.tolls, started,
                                            left())
                notes += more
        if aids is not None:
            share = strategy.IMPROVE_SHARE if branching else strategy.IMPROVE_SHARE_ALONE
            plan, more = search(plan, share * left(), bound)
            notes += more
            report(plan, bound)
        return None, _incumbent(compiled, plan, started), (skipped, *notes), bound
    if side_by_side:
        with ThreadPoolExecutor(max_workers=1) as pool:
            behind = pool.submit(_relax_and_dive, compiled, started, deadline,
                                 strategy.RELAXATION_SHARE, rounding)
            plan, notes = search(started, left(), None, stop=behind.done)
            relaxed, dived, more = behind.result()
        notes += more
    else:
        relaxed, dived, notes = _relax_and_dive(
            compiled, started, deadline, strategy.RELAXATION_SHARE if branch else
            strategy.RELAXATION_SHARE_ALONE, rounding)
    if dived is not None and dived.objective < plan.objective:
        plan = dived
    if relaxed is None:
        return None, _incumbent(compiled, plan, started), notes, None
    report(plan, relaxed.bound)
    gap = relative_gap(plan.objective, relaxed.bound)
    if aids is not None and gap is not None and gap > options.mip_rel_gap:
        # branch and bound runs after the search only where it can: memory, a solved
        # relaxation, and time enough to start
        branching = branch and relaxed.converged \
            and strategy.mip_has_time(compiled, (1 - strategy.IMPROVE_SHARE) * left()) \
            and strategy.root_has_time(relaxed, (1 - strategy.IMPROVE_SHARE) * left())
        share = strategy.IMPROVE_SHARE if branching else strategy.IMPROVE_SHARE_ALONE
        plan, failed = search(plan, share * left(), relaxed.bound, guide=relaxed.x)
        notes += failed
    better = _incumbent(compiled, plan, started)
    if better is not None:
        report(better, relaxed.bound)
    return relaxed, better, notes, relaxed.bound


class Priced(NamedTuple):
    """`_priced_bound`'s outcome: the bound (None: none came), what its prices charge
    each column (`Decomposition.tolls`; None without a bound), and a note on where the
    bound came from or why there is none."""

    value: float | None
    tolls: np.ndarray | None
    notes: tuple[str, ...]


def _priced_bound(compiled: CompiledModel, decomposition: Callable[[], Decomposition | None],
                  target: float, seconds: float, free: int | None,
                  better: Callable[[float], None] | None = None) -> Priced:
    """The Lagrangian bound of the suites' capacity (`capacity.engine.lagrangian`) within
    ``seconds``, Polyak's steps aiming at ``target`` (the plan's objective; ``better`` is
    told each better bound), with its prices' tolls and a note on where the bound came
    from, or why there is none (too little memory ``free``, a model the closed form does
    not price, HiGHS failing)."""
    need = strategy.LAGRANGIAN_BYTES_PER_NONZERO * compiled.nonzeros
    if free is not None and need > free:
        return Priced(None, None, (f"no bound: the Lagrangian bound would need about "
                                   f"{need / 2**30:.0f} GiB "
                                   f"({strategy.LAGRANGIAN_BYTES_PER_NONZERO} bytes a nonzero), "
                                   f"{free / 2**30:.0f} GiB are free",))
    try:
        split = decomposition()
        found = None if split is None else lagrangian_bound(compiled, split, target,
                                                            seconds, better)
    except Exception as err:  # HiGHS failed (memory): the plan stands without a bound
        return Priced(None, None, (f"no bound: the Lagrangian bound failed "
                                   f"({type(err).__name__}: {err})",))
    if split is None:
        return Priced(None, None, (
            "no bound: the model is not of the form the Lagrangian bound prices (its "
            "programs' rows hold other columns, such as the elastic model's Shortfall, or "
            "its programs' columns other bounds)",))
    if found is None:
        return Priced(None, None,
                      ("no bound: the Lagrangian bound found no finite value in its time",))
    steps = f"{found.steps} subgradient step{'s' if found.steps != 1 else ''}"
    return Priced(found.value, split.tolls(found.prices),
                  (f"the bound is the Lagrangian bound of the suites' capacity ({steps} in "
                   f"{found.seconds:.0f} s)",))


def _steered_start(compiled: CompiledModel, steering: StartFrom, tolls: np.ndarray,
                   started: Incumbent, seconds: float,
                   ) -> tuple[Incumbent, tuple[str, ...]]:
    """A second greedy start with every shipment charged its toll at the Lagrangian
    bound's prices (``tolls``, per column: congested suites cost more, so programs go
    where the others will not want the room), completed within ``seconds``: the better of
    it and ``started``, and a note saying what it gave. Tier XL (seed 1), prices after
    450 s of steps: −382,320.6 MUSD against the unsteered start's −294,691.9, where 15
    minutes of search from the latter had reached −355,572.0 (benchmarks/RESULTS.md)."""
    name = "the greedy start steered by the Lagrangian bound's prices"
    try:
        steered = complete_start(compiled, steering(tolls), seconds, incumbent=False)
    except Exception as err:  # HiGHS failed in the completion: the first start stands
        return started, (f"{name} failed ({type(err).__name__}: {err})",)
    if steered is None:
        return started, (f"{name} could not be completed (a program without a site, or a "
                         "row the completion breaks); the search went on from the first",)
    return (steered if steered.objective < started.objective else started), (
        f"{name}: {steered.objective:,.1f} against {started.objective:,.1f} unsteered; the "
        "search went on from the better",)


def _incumbent(compiled: CompiledModel, plan: Incumbent,
               started: Incumbent) -> Incumbent | None:
    """``plan`` made HiGHS's incumbent where it is not ``started`` (already HiGHS's);
    None where it is."""
    if plan is started:
        return None
    compiled.set_incumbent(plan.x)
    return plan


def _relax_and_dive(compiled: CompiledModel, started: Incumbent,
                    deadline: float, share: float, rounding: StartFrom | None = None,
                    ) -> tuple[Relaxation | None, Incumbent | None,
                               tuple[str, ...]]:
    """PDLP's relaxation within ``share`` of the time to ``deadline``, then a plan from its
    solution: its integers rounded by ``rounding`` and completed (up to `DIVE_SHARE` of
    what is left), and a dive within `DIVE_SHARE` of what is then left (``started`` its
    fallback; no dive beyond `DIVE_MAX_NONZEROS`). Returns the relaxation (None where
    PDLP gave none), the better of the two plans (None where neither came) and a note
    where a step failed or the dive was not tried. Touches no HiGHS instance but its own,
    so it can run in a thread of its own beside the search."""
    try:
        relaxed = solve_relaxation(compiled, share * (deadline - time.perf_counter()))
    except Exception as err:  # HiGHS failed (out of memory): the plan in hand stands
        return None, None, (f"the LP relaxation was skipped ({type(err).__name__}: {err})",)
    if relaxed is None:
        return None, None, ()
    rounded: Incumbent | None = None
    notes: tuple[str, ...] = ()
    if rounding is not None:  # cheap (tier L: 0.8 s), and the plan at tiers beyond the dive
        try:
            rounded = complete_start(compiled, rounding(relaxed.x),
                                     strategy.DIVE_SHARE * (deadline - time.perf_counter()),
                                     incumbent=False)
        except Exception as err:  # HiGHS failed in the completion: the bound stands
            notes = (f"the plan rounded from the LP relaxation failed "
                     f"({type(err).__name__}: {err})",)
    nonzeros = compiled.nonzeros
    if nonzeros > strategy.DIVE_MAX_NONZEROS:
        return relaxed, rounded, (*notes, f"no dive from the LP relaxation: {nonzeros:,} "
                                  f"nonzeros are more than the "
                                  f"{strategy.DIVE_MAX_NONZEROS:,} up to which its first "
                                  "round's LP is solved in time")
    try:
        dived = dive(compiled, relaxed.x, strategy.DIVE_SHARE * (deadline - time.perf_counter()),
                     plan=started.x)
    except Exception as err:  # HiGHS failed in the dive: the bound stands
        return relaxed, rounded, (*notes, f"the dive from the LP relaxation failed "
                                  f"({type(err).__name__}: {err})")
    better = min((p for p in (dived, rounded) if p is not None), key=lambda p: p.objective,
                 default=None)
    return relaxed, better, notes
