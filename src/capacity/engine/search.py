"""A better plan by re-optimising neighbourhoods: a program and a site it could move to.

The dive (`capacity.engine.dive`) rounds the whole LP relaxation at once, and a rounding made
early is never revisited: its plans lose a few percent of the LP's served value, spread
over every market and period. `improve` revisits them, a neighbourhood at a time (large
neighbourhood search):

1. pick a program p (seeded): uniformly, or, given the LP relaxation's solution, half
   the time in proportion to how far p's part of the objective in the plan falls short
   of the LP's (`draw_program`: a few programs hold much of the shortfall, and a search
   drawing by it gains more than one drawing uniformly; measured); the
   neighbourhood's sites are those p is assigned to now and up to `SITES` more of the
   sites it could be assigned to;
2. free every integer column of the neighbourhood: the sites' `Build`, `Open` and
   `Approve`, every `Assign` of the programs assigned to one of them (they may move
   anywhere), and the `Assign` at them of programs assigned nowhere, with those programs'
   `Launch` (continuity of supply: when they are supplied is theirs to change) and
   campaigns (`Produce`, `capacity.model.changeovers`) anywhere and, at the sites, the
   campaigns of programs without `Assign` columns (whose shipments stay free); fix every
   other integer (the staying programs' campaigns follow their fixed shipments), and the
   shipments of every other program with `Assign` columns, at the plan's values (their
   LP would otherwise hold most of the model: fixing them makes neighbourhoods several
   times as fast, and the search better for it; measured), and their `Serve`, which their
   shipments then decide (fixed here, their demand rows stay out of the reduction);
3. reduce the model (`capacity.engine.highs.reduce_fixed`: the shipments of programs fixed
   away from a site go) and solve its LP relaxation by simplex. If the LP is no better
   than the plan, no plan in the neighbourhood is: next neighbourhood;
4. else dive from that LP (`capacity.engine.dive`, the plan as its fallback) and keep the result
   if it is better;
5. where the dive found nothing better, the LP still says a better plan may be there:
   solve the neighbourhood as a MIP by HiGHS's branch and bound, from the plan, for at
   most `BRANCH_SECONDS`, and keep its plan if it is better. Dives are an order of
   magnitude faster and find most improvements while the plan is far from the LP;
   branching finds what they miss once it is close (measured).
6. at the end (`polish`), the continuous columns of the best plan are re-optimised all
   at once, every integer fixed: a neighbourhood re-optimises only its own programs'
   shipments, so columns shared between neighbourhoods (funds' `Finance` and
   `FinanceOpening`, the shipments of programs without `Assign` columns) keep what an
   earlier LP chose (one LP, cheap beside the search, that still gains; measured).

Every plan kept is complete and meets every row (the last LP of a dive with every
integer fixed, or HiGHS's MIP solution of the neighbourhood), so the search can stop at
any time, or on an error, with the best plan so far. Dives alone take the dive's plan
part of the way towards the LP bound; branching where they fail takes it further
(measured).

"Measured" here and below: the figures are in ``benchmarks/RESULTS.md``, "Measurements
behind the engine's design", engine/search.py, one entry per paragraph or constant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from capacity.engine import interrupt
from capacity.engine.dive import dive
from capacity.engine.highs import CompiledModel, holds_plan, reduce_fixed, solve_within
from capacity.engine.incumbent import Incumbent
from capacity.model.linear import LinearModel

_log = logging.getLogger(__name__)

# Sites added to a neighbourhood besides the chosen program's own: small neighbourhoods,
# many more of them, beat larger ones (measured: RESULTS.md, engine/search.py).
SITES = 1

# Seconds HiGHS's branch and bound may take on a neighbourhood whose dive found nothing
# better: a few seconds, so that dives keep most of the time. Branching only where a dive
# failed came close to branching everywhere on a mid-sized model and beat it on a large
# one, where branching everywhere fell behind dives alone (measured: RESULTS.md,
# engine/search.py).
BRANCH_SECONDS = 5.0

# Share of the programs drawn by their shortfall against the LP solution where one is
# given (`draw_program`); the others are drawn uniformly. Half guided beat all guided and
# uniform draws on a large model; on a mid-sized one, whose search covers most programs,
# it made no difference (measured: RESULTS.md, engine/search.py).
GUIDED = 0.5

# A plan is kept when it improves the objective by more than this (relative).
IMPROVEMENT = 1e-9

# Seconds kept for `polish` at the end of the search, per matrix nonzero (at most half the
# search's time): about twice what it takes (measured: RESULTS.md, engine/search.py).
POLISH_SECONDS_PER_NONZERO = 2e-7

# The search stops after this many neighbourhoods in a row without a better plan (or as
# many as there are programs, if more): each program's has then been drawn about once.
STALL = 10


@dataclass(frozen=True)
class Layout:
    """The columns of a model by site and program: what a neighbourhood frees and fixes."""

    site_columns: list[np.ndarray]  # each site's Build, Open and Approve columns
    assign: np.ndarray  # the Assign columns
    assign_site: np.ndarray  # each Assign column's site (index into site_columns)
    assign_program: np.ndarray  # each Assign column's program (0..n_programs-1)
    n_programs: int
    ship: np.ndarray  # the Ship columns of programs with Assign columns
    ship_program: np.ndarray  # their programs
    serve: np.ndarray  # the Serve columns of programs with Assign columns
    serve_program: np.ndarray  # their programs
    # the Assign, Ship and Serve columns of programs with Assign columns, and their
    # programs: what a program's part of the objective is made of (`shortfalls`)
    program_columns: np.ndarray
    column_program: np.ndarray
    # the Launch columns of programs with Assign columns, and their programs
    launch: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    launch_program: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # the Produce columns, their programs (−1: a program without Assign columns) and
    # their sites (index into site_columns): what a neighbourhood frees of them
    produce: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    produce_program: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    produce_site: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def of(cls, lm: LinearModel, ship_assign: np.ndarray) -> Layout:
        """The layout of the engine's model (its columns in `LinearModel` order), with
        each shipment's Assign column (−1: none; `IndexSets.ship_assign`)."""
        sites: dict[str, list[int]] = {}
        for name in ("Build", "Open", "Approve"):  # a site's approvals go with it
            columns = lm.variables.get(name)
            if columns is None:  # a model without them (made by hand)
                continue
            for i, key in enumerate(columns.keys):
                sites.setdefault(str(key[0]), []).append(columns.start + i)
        assign = lm.variables["Assign"]
        for key in assign.keys:
            sites.setdefault(str(key[1]), [])
        produce = lm.variables.get("Produce")
        campaigns = [] if produce is None else list(produce.keys)
        for key in campaigns:  # (p,s,t)
            sites.setdefault(str(key[1]), [])
        site_of = {s: i for i, s in enumerate(sites)}
        program_of: dict[str, int] = {}
        for key in assign.keys:
            program_of.setdefault(str(key[0]), len(program_of))
        assign_program = np.array([program_of[str(k[0])] for k in assign.keys], dtype=np.int64)
        linked = np.flatnonzero(ship_assign >= 0)
        assign_columns = assign.start + np.arange(len(assign.keys), dtype=np.int64)
        ship, ship_program = lm.variables["Ship"].start + linked, \
            assign_program[ship_assign[linked]]
        serve = lm.variables["Serve"]
        served = [(serve.start + i, program_of[str(k[0])])
                  for i, k in enumerate(serve.keys) if str(k[0]) in program_of]
        serve_columns = np.array([j for j, _ in served], dtype=np.int64)
        serve_program = np.array([q for _, q in served], dtype=np.int64)
        launch = lm.variables.get("Launch")
        launched = [] if launch is None else [
            (launch.start + i, program_of[str(k[0])])
            for i, k in enumerate(launch.keys) if str(k[0]) in program_of]
        return cls([np.array(c, dtype=np.int64) for c in sites.values()], assign_columns,
                   np.array([site_of[str(k[1])] for k in assign.keys], dtype=np.int64),
                   assign_program, len(program_of), ship, ship_program, serve_columns,
                   serve_program, np.concatenate([assign_columns, ship, serve_columns]),
                   np.concatenate([assign_program, ship_program, serve_program]),
                   np.array([j for j, _ in launched], dtype=np.int64),
                   np.array([q for _, q in launched], dtype=np.int64),
                   (0 if produce is None else produce.start)
                   + np.arange(len(campaigns), dtype=np.int64),
                   np.array([program_of.get(str(k[0]), -1) for k in campaigns], dtype=np.int64),
                   np.array([site_of[str(k[1])] for k in campaigns], dtype=np.int64))

    def shortfalls(self, cost: np.ndarray, x: np.ndarray, x_lp: np.ndarray) -> np.ndarray:
        """Each program's part of the objective (cost of its `Assign`, `Ship` and `Serve`
        columns) in plan ``x`` less that in the LP solution ``x_lp``: where the plan
        falls short of the LP, and by how much (a few programs hold much of it; measured:
        RESULTS.md, engine/search.py)."""
        columns = self.program_columns
        return np.bincount(self.column_program,
                           weights=cost[columns] * (x[columns] - x_lp[columns]),
                           minlength=self.n_programs)

    def neighbourhood(self, x: np.ndarray, rng: np.random.Generator, program: int,
                      ) -> tuple[np.ndarray, np.ndarray]:
        """The neighbourhood of plan ``x`` around ``program`` (see the module): the integer
        columns it frees, and the `Ship` and `Serve` columns it fixes at ``x`` (those of
        the programs that stay)."""
        assigned = x[self.assign] > 0.5
        own = self.assign_program == program
        current = np.unique(self.assign_site[own & assigned])
        others = np.setdiff1d(self.assign_site[own], current)
        extra = rng.choice(others, size=min(SITES, len(others)), replace=False)
        sites = np.union1d(current, extra)
        at_sites = np.isin(self.assign_site, sites)
        movers = np.unique(self.assign_program[at_sites & assigned])
        placed = np.bincount(self.assign_program[assigned], minlength=self.n_programs) > 0
        opening = at_sites & ~placed[self.assign_program]
        free = np.isin(self.assign_program, movers) | opening
        moving = np.union1d(movers, self.assign_program[opening])
        campaigns = np.isin(self.produce_program, moving) \
            | ((self.produce_program < 0) & np.isin(self.produce_site, sites))
        return (np.concatenate([*(self.site_columns[s] for s in sites), self.assign[free],
                                self.launch[np.isin(self.launch_program, moving)],
                                self.produce[campaigns]]),
                np.concatenate([self.ship[~np.isin(self.ship_program, moving)],
                                self.serve[~np.isin(self.serve_program, moving)]]))


@dataclass(frozen=True)
class Search:
    """What `improve` found: the best plan (a value per column, and its objective), the
    neighbourhoods tried and how many gave a better plan, and the error that stopped the
    search early (HiGHS failing, e.g. out of memory), if any."""

    plan: Incumbent
    tried: int
    kept: int
    error: str | None = None


def improve(compiled: CompiledModel, layout: Layout, plan: Incumbent,
            time_limit_s: float, seed: int | np.random.Generator = 0,
            stop: Callable[[], bool] | None = None,
            guide: np.ndarray | None = None,
            found: Callable[[float], None] | None = None) -> Search:
    """The best plan found re-optimising neighbourhoods of ``plan`` (a value per column of
    ``compiled``, and its objective) within ``time_limit_s``, or until `STALL` (or as many
    as there are programs) neighbourhoods in a row gave nothing better, or ``stop()`` is
    true (asked between neighbourhoods); ``plan`` itself where nothing better is found.
    The end of the time (`POLISH_SECONDS_PER_NONZERO`) is kept for `polish`, run where a
    better plan was found. An error in a neighbourhood ends the search with the best plan
    so far. ``seed`` may be a generator, to go on drawing where an earlier search left
    off. With ``guide`` (an LP solution: a value per column) programs are drawn by
    their shortfall against it (`draw_program`). ``found`` is told each better plan's
    objective as the search finds it (a progress display, the primal integral)."""
    deadline = time.perf_counter() + time_limit_s
    searching = deadline - min(POLISH_SECONDS_PER_NONZERO * compiled.nonzeros,
                               time_limit_s / 2)
    rng = np.random.default_rng(seed)
    x, best = plan
    tried = kept = since = 0
    error = None
    misses = np.zeros(layout.n_programs)  # each program's neighbourhoods that gave nothing

    def shortfall() -> np.ndarray:
        """Each program's shortfall in the plan in hand (``x``) against ``guide``."""
        assert guide is not None
        return layout.shortfalls(compiled.col_cost, x, guide) / (1 + misses)

    while layout.n_programs and time.perf_counter() < searching \
            and since < max(STALL, layout.n_programs) and not (stop is not None and stop()) \
            and not interrupt.requested():  # Ctrl-C: the best plan so far stands
        tried += 1
        since += 1
        program = draw_program(layout, rng, None if guide is None else shortfall)
        try:
            better = _search(compiled, layout.neighbourhood(x, rng, program), x, best,
                             searching)
        except Exception as err:  # HiGHS failed: the best plan so far stands
            error = f"{type(err).__name__}: {err}"
            break
        if better is None:
            misses[program] += 1
        else:
            (x, best), kept, since = better, kept + 1, 0
            _log.debug("improve: neighbourhood %d: %.6g", tried, best)
            if found is not None:
                found(best)
    if kept and error is None:
        try:
            x, best = polish(compiled, Incumbent(x, best), deadline - time.perf_counter())
        except Exception as err:  # HiGHS failed: the search's plan stands
            error = f"{type(err).__name__}: {err}"
    return Search(Incumbent(x, best), tried, kept, error)


def draw_program(layout: Layout, rng: np.random.Generator,
                 shortfall: Callable[[], np.ndarray] | None = None) -> int:
    """The program whose neighbourhood is searched next: drawn uniformly, or, with
    ``shortfall`` (making each program's: `Layout.shortfalls`, divided by 1 + the number
    of its neighbourhoods that gave nothing; made only for a draw that uses it), in a
    share `GUIDED` of the draws in proportion to its shortfall where positive."""
    if shortfall is None:
        return int(rng.integers(layout.n_programs))
    if rng.random() >= GUIDED:
        return int(rng.integers(layout.n_programs))
    weight = np.maximum(shortfall(), 0.0)
    if not weight.sum() > 0:
        return int(rng.integers(layout.n_programs))
    return int(rng.choice(layout.n_programs, p=weight / weight.sum()))


def _search(compiled: CompiledModel, neighbourhood: tuple[np.ndarray, np.ndarray],
            x: np.ndarray, best: float, deadline: float) -> Incumbent | None:
    """A plan better than ``x`` (objective ``best``) in one neighbourhood (the integer
    columns it frees, the shipment and Serve columns it fixes), or None."""
    free, staying = neighbourhood
    fixed = compiled.integer.copy()
    fixed[free] = False
    lower, upper = compiled.col_lower.copy(), compiled.col_upper.copy()
    lower[fixed] = upper[fixed] = np.round(x[fixed])
    lower[staying] = upper[staying] = x[staying]
    reduced = reduce_fixed(compiled, lower, upper, relaxed=True)
    if reduced is None:  # cannot happen for a feasible plan; skip rather than fail
        return None
    sub, columns, x_new = reduced
    if not sub.solve_lp(deadline - time.perf_counter()):
        return None
    if sub.highs.getInfo().objective_function_value >= best - IMPROVEMENT * abs(best):
        return None  # no plan in this neighbourhood beats the one in hand
    dived = dive(sub, sub.solution(), deadline - time.perf_counter(), plan=x[columns],
                 own=True)
    if dived is None or dived.objective >= best - IMPROVEMENT * abs(best):
        # the LP says a better plan may be here and the dive missed it: branch
        del sub
        dived = _branch(compiled, lower, upper, x[columns], deadline)
        if dived is None or dived.objective >= best - IMPROVEMENT * abs(best):
            return None
    x_new[columns] = dived.x
    return compiled.incumbent(np.clip(x_new, compiled.col_lower, compiled.col_upper))


def _branch(compiled: CompiledModel, lower: np.ndarray, upper: np.ndarray,
            plan: np.ndarray, deadline: float) -> Incumbent | None:
    """The neighbourhood (``compiled`` within ``lower``/``upper``, reduced by
    `reduce_fixed`) as a MIP, solved by HiGHS's branch and bound from ``plan`` (the
    reduced model's columns) within `BRANCH_SECONDS`: its best plan (the reduced model's
    columns, the same as for the LP of these bounds) and objective, or None (also where
    the time is up: a search out of time starts no reduction of the whole model)."""
    if time.perf_counter() >= deadline:
        return None
    reduced = reduce_fixed(compiled, lower, upper)
    if reduced is None:
        return None
    sub = reduced[0]
    sub.set_incumbent(plan)
    sub.highs.setOptionValue("time_limit", max(min(BRANCH_SECONDS,
                                                   deadline - time.perf_counter()), 1e-3))
    sub.highs.run()
    return mip_plan(sub)


def mip_plan(model: CompiledModel) -> Incumbent | None:
    """HiGHS's plan after a MIP run on ``model`` and its objective, computed from the
    plan itself; None where HiGHS holds no feasible plan.

    Not HiGHS's ``objective_function_value``: given a start (``setSolution``), HiGHS
    values it in its presolved space, where presolve has re-set some continuous columns
    to better values, and where its branch and bound then finds nothing better it reports
    that value but returns the start as it was given (highspy 1.16; an example:
    RESULTS.md, engine/search.py). Trusting it let the search keep "better" plans that
    were the same plan."""
    if not holds_plan(model.highs):
        return None
    return model.incumbent(model.solution())


def polish(compiled: CompiledModel, plan: Incumbent,
           time_limit_s: float) -> Incumbent:
    """``plan`` with its continuous columns re-optimised: every integer column fixed at
    its value in the plan and the rest solved (`solve_within`: reduced, then an LP)
    within ``time_limit_s``. The better of that and ``plan``.

    The search re-optimises only a neighbourhood's shipments at a time; columns shared
    across neighbourhoods (funds' `Finance` and `FinanceOpening`, the shipments of
    programs without `Assign` columns, `Serve`) keep what an earlier LP chose. This one
    LP, cheap beside the search, still improves its plan (measured: RESULTS.md,
    engine/search.py)."""
    x, best = plan
    if time_limit_s <= 0:
        return plan
    lower, upper = compiled.col_lower.copy(), compiled.col_upper.copy()
    integer = compiled.integer
    lower[integer] = upper[integer] = np.round(x[integer])
    polished = solve_within(compiled, lower, upper, time_limit_s)
    return polished if polished is not None \
        and polished.objective < best - IMPROVEMENT * abs(best) else plan
