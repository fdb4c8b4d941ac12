"""A proven lower bound where the LP relaxation is too large to solve: the suites'
capacity priced (Lagrangian relaxation), the rest solved exactly.

Above `capacity.engine.strategy.RELAXATION_MAX_NONZEROS` PDLP's bound is not worth its
time (half an hour of it leaves a gap far too wide to use; measured) and HiGHS's branch
and bound does not fit in memory, so a plan came with no bound at all; the same where
PDLP's copy of the model does not fit in memory. This module gives one. Take the model
`min c·x + c0` and price the `suite_capacity` rows (Σ_j a_kj·x_j ≤ b_k, one per suite k
and period) at λ ≥ 0:

    L(λ) = c0 − λ·b + min { (c + Cᵀλ)·x : x satisfies every other row kept below }

is a lower bound for every λ ≥ 0, since λ·(C x − b) ≤ 0 for every plan; dropping rows
from the inner problem only lowers it further, so it stays a bound. The inner problem
splits in two:

- **programs** (`Ship`, `Serve`, `Assign` and their own rows: `demand_balance`,
  `ship_requires_assignment`, `program_site_limit`) solved in closed form, program by
  program, with every `Assign` integer: with reduced shipment costs d and demand row
  r = (p,m,t) holding committed q_r and potential P_r (Serve's reduced cost e_r), one
  site carrying r alone costs q_r·d + min(P_r, V − q_r)·min(0, d + e_r) (V the
  shipment's bound from `ship_requires_assignment`; it cannot carry r where V < q_r).
  A program with max_sites 1 takes its best site that carries all its committed rows
  (d_A, the transfer's cost, plus its rows' costs), or none where it has no commitment
  and that is better (a "program" is what one `program_site_limit` row limits: each
  phase of a program whose phases are assigned apart is one; `ScaleUp` is left to the
  sites, its rows dropped, so it earns its saving in full: a relaxation). A program
  with more sites allowed is relaxed: each of its rows from its cheapest site uncapped,
  plus the cheapest assignment where it has commitments (it must ship, so some `Assign`
  is 1). Programs without `Assign` columns
  ship each row from its cheapest site, as their LP does. `production_requires_assignment`
  is dropped.
- **sites** (every other column, and the rows that hold none of the programs' columns:
  modules, openings, funds, reservations) as an LP by HiGHS, warm from one λ to the
  next, its value proven from its own dual (`capacity.engine.lp_bound.lagrangian_value`).

Rows with both kinds of column besides `suite_capacity` (`ship_requires_open_site`, the
share rules, `reserved_use_is_production`, the margin), and the programs' rows that
couple programs (time to market, service level), are dropped. λ is improved by
projected subgradient steps (Polyak's step towards the plan's objective, halved when the
bound stops rising): C x − b at the inner problem's solution is a subgradient of L.

It starts at L(0), every program served from its cheapest site with no capacity
priced, far below the LP optimum; the steps take it most of the way there, within
seconds on mid-sized models and a minute on large ones, and on the largest, where
nothing gave a bound before, to a gap against the plan that is worth reporting
(measured). Between L and the LP: the rows dropped, and programs allowed two sites
relaxed (the programs' part in closed form is a little below the same part solved
exactly as a MIP; measured).

"Measured" here and below: the figures are in ``benchmarks/RESULTS.md``, "Measurements
behind the engine's design", engine/lagrangian.py, one entry per paragraph or constant.

The prices also serve the plan (`capacity.solve`): Cᵀλ (`Decomposition.tolls`) charged
on every shipment steers a second greedy start (`capacity.engine.start.constructive_start`)
away from the suites that other programs will want.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from capacity.engine import interrupt
from capacity.engine.highs import CompiledModel, entry_rows, pass_arrays, rows_holding
from capacity.engine.lp_bound import ROUNDING, implied_bounds, lagrangian_value
from capacity.model.linear import LinearModel

# The programs' columns and rows (solved in closed form) and the priced rows.
PROGRAM_COLUMNS = ("Ship", "Serve", "Assign")
PROGRAM_ROWS = ("demand_balance", "ship_requires_assignment", "program_site_limit",
                "production_requires_assignment")  # the last dropped: a relaxation
PRICED_ROWS = "suite_capacity"

# Polyak's step length (θ) at first; halved after `HALVE_AFTER` steps in a row without a
# better bound, and the steps end when it falls below `LEAST_STEP`. Each step goes along
# the subgradient plus `DEFLECTION` times the step before (Camerini, Fratta and
# Maffioli's deflected subgradient), each row's move scaled by 1/room^`SCALING` (room:
# the most its suite can hold, existing capacity and every module). In the same time,
# the longer first step and patience, the deflection and then the scaling (by the square
# root of room rather than room) each gave a better bound (measured: RESULTS.md,
# engine/lagrangian.py).
FIRST_STEP = 2.0
HALVE_AFTER = 10
LEAST_STEP = 1e-4
DEFLECTION = 0.7
SCALING = 0.5


@dataclass(frozen=True)
class Bound:
    """The best Lagrangian bound found, its prices, and the work it took."""

    value: float
    prices: np.ndarray  # λ of the `suite_capacity` rows
    steps: int
    seconds: float


@dataclass
class Decomposition:
    """The model split for `L(λ)` (see the module): the priced rows, the programs' data
    in closed form, and the sites' LP."""

    priced: Any  # scipy.sparse.csr_matrix: the suite_capacity rows, every column
    priced_upper: np.ndarray  # b
    priced_room: np.ndarray  # b + Σ |a|·upper over the row's negative entries (modules)
    ship: np.ndarray  # the Ship columns, ordered by demand row
    row_starts: np.ndarray  # each demand row's first position in ``ship``
    committed: np.ndarray  # q_r, per demand row
    serve: np.ndarray  # the row's Serve column, −1 where none
    potential: np.ndarray  # P_r (0 where no Serve)
    ship_assign: np.ndarray  # per shipment (in ``ship`` order): its Assign (index), −1 none
    ship_bound: np.ndarray  # V per shipment; inf where no Assign
    assign: np.ndarray  # the Assign columns
    assign_program: np.ndarray  # their programs, 0..n_programs−1
    single: np.ndarray  # per program: True where it may use one site (max_sites 1)
    sites: CompiledModel  # the sites' LP (its costs replaced per λ)
    site_columns: np.ndarray
    site_bounds: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, lm: LinearModel, compiled: CompiledModel) -> Decomposition | None:
        """The split of the engine's model (``compiled`` passed from ``lm``), or None where
        the model holds what the closed form does not price (columns in a program's rows
        other than its own: `Shortfall` in the elastic and stochastic models; bounds on
        the programs' columns other than the model's own)."""
        names = {name: (rows.start, rows.stop) for name, rows in lm.constraints.items()}
        if PRICED_ROWS not in names or "demand_balance" not in names:
            return None
        n_cols = len(compiled.col_cost)

        def of_var(name: str, columns: np.ndarray) -> np.ndarray:
            """Whether each of ``columns`` is one of variable ``name``'s."""
            v = lm.variables.get(name)
            return np.zeros(len(columns), dtype=bool) if v is None else \
                (columns >= v.start) & (columns < v.start + len(v.keys))

        every = np.arange(n_cols)
        program_column = np.logical_or.reduce([of_var(n, every) for n in PROGRAM_COLUMNS])
        indptr, cols, values = compiled.matrix
        lower, upper = compiled.col_lower, compiled.col_upper

        def block(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            start, stop = names.get(name, (0, 0))
            first, last = indptr[start], indptr[stop]
            return (entry_rows(indptr[start:stop + 1]), cols[first:last], values[first:last])

        # demand rows: Ship +1, Serve −1 and nothing else
        rows, entry_cols, coef = block("demand_balance")
        is_ship = of_var("Ship", entry_cols)
        if not np.all(is_ship | of_var("Serve", entry_cols)):
            return None
        start, stop = names["demand_balance"]
        committed = compiled.row_upper[start:stop].copy()
        ship, ship_row = entry_cols[is_ship], rows[is_ship]
        order = np.argsort(ship_row, kind="stable")
        ship, ship_row = ship[order], ship_row[order]
        n_rows = stop - start
        if np.any(coef[is_ship] != 1.0) or len(np.unique(ship)) != len(ship) \
                or np.any(np.bincount(ship_row, minlength=n_rows) == 0):
            return None
        serve = np.full(n_rows, -1, dtype=np.int64)
        serve[rows[~is_ship]] = entry_cols[~is_ship]
        potential = np.where(serve >= 0, upper[np.maximum(serve, 0)], 0.0)
        assign = np.flatnonzero(of_var("Assign", every))
        if np.any(lower[program_column] != 0.0) or np.any(upper[assign] != 1.0) \
                or np.any(np.isfinite(upper[ship])) or np.any(coef[~is_ship] != -1.0):
            return None
        # shipment → assignment links: Ship − V·Assign ≤ 0
        rows, entry_cols, coef = block("ship_requires_assignment")
        position = np.full(n_cols, -1, dtype=np.int64)
        position[ship] = np.arange(len(ship))
        position[assign] = np.arange(len(assign))
        to_ship, to_assign = of_var("Ship", entry_cols), of_var("Assign", entry_cols)
        linked_ship, linked_assign = position[entry_cols[to_ship]], position[entry_cols[to_assign]]
        bound_of = -coef[to_assign]
        start, stop = names.get("ship_requires_assignment", (0, 0))
        if not (np.array_equal(rows[to_ship], np.arange(stop - start))
                and np.array_equal(rows[to_assign], np.arange(stop - start))
                and np.all(coef[to_ship] == 1.0) and np.all(bound_of > 0)
                and np.all(compiled.row_upper[start:stop] == 0.0)):
            return None  # not one Ship − V·Assign ≤ 0 a row
        ship_assign = np.full(len(ship), -1, dtype=np.int64)
        ship_bound = np.full(len(ship), np.inf)
        ship_assign[linked_ship], ship_bound[linked_ship] = linked_assign, bound_of
        # a "program" of the closed form is what one `program_site_limit` row limits: a
        # program, or one phase of a program whose phases are assigned apart (its
        # shipments link only to that phase's Assign: `capacity.model.phases`)
        programs: dict[tuple[str, str], int] = {}
        assign_program = np.array([programs.setdefault((str(key[0]), str(key[2])),
                                                       len(programs))
                                   for key in lm.variables["Assign"].keys]
                                  if "Assign" in lm.variables else [], dtype=np.int64)
        # max_sites: a program's `program_site_limit` row, else every site it has
        n_sites = np.bincount(assign_program, minlength=len(programs))
        limit = n_sites.astype(float)
        rows, entry_cols, _ = block("program_site_limit")
        if not np.all(of_var("Assign", entry_cols)):
            return None
        if len(rows):
            start = names["program_site_limit"][0]
            limit[assign_program[position[entry_cols]]] = compiled.row_upper[start + rows]
        # the sites' LP: the other columns, and the rows holding none of the programs'
        site_columns = np.flatnonzero(~program_column)
        priced_start, priced_stop = names[PRICED_ROWS]
        keep = ~rows_holding(indptr, cols, program_column)
        keep[priced_start:priced_stop] = False
        matrix = compiled.sparse()
        site_matrix = matrix[np.flatnonzero(keep)][:, site_columns].tocsr()
        sites = pass_arrays(compiled.col_cost[site_columns].copy(), 0.0,
                            lower[site_columns].copy(), upper[site_columns].copy(),
                            np.zeros(len(site_columns), dtype=bool),
                            (site_matrix.indptr, site_matrix.indices, site_matrix.data),
                            compiled.row_lower[keep], compiled.row_upper[keep])
        priced = matrix[priced_start:priced_stop].tocsr()
        b = compiled.row_upper[priced_start:priced_stop].copy()
        if np.any(np.isfinite(compiled.row_lower[priced_start:priced_stop])):
            return None  # priced rows must be "≤" rows
        adds = priced.data < 0  # −module·Build, −ReservedUse: what a row may hold more
        held = -priced.data[adds] * upper[priced.indices[adds]]
        room = b + np.bincount(entry_rows(priced.indptr)[adds],
                               np.where(np.isfinite(held), held, 0.0), minlength=len(b))
        return cls(priced, b, room, ship,
                   np.searchsorted(ship_row, np.arange(n_rows)), committed, serve,
                   potential, ship_assign, ship_bound, assign, assign_program,
                   limit <= 1, sites, site_columns, implied_bounds(sites))

    def evaluate(self, cost: np.ndarray, offset: float, prices: np.ndarray,
                 ) -> tuple[float, np.ndarray]:
        """L(λ) at ``prices`` for the model's ``cost`` and ``offset`` (−inf where the sites'
        LP gives no proven value), and the priced rows' C x − b at the inner solution."""
        d = cost + self.tolls(prices)
        programs, shipped = self._programs(d)
        x = np.zeros(len(cost))
        x[self.ship] = shipped
        sites = self.sites
        sites.replace_costs(d[self.site_columns], 0.0)
        site_value = -np.inf
        if sites.solve_lp(np.inf):
            solution = sites.highs.getSolution()
            x[self.site_columns] = solution.col_value
            site_value = lagrangian_value(sites, np.asarray(solution.row_dual),
                                          self.site_bounds)
        usage = self.priced @ x - self.priced_upper
        return offset - float(prices @ self.priced_upper) + programs + site_value, usage

    def tolls(self, prices: np.ndarray) -> np.ndarray:
        """Cᵀλ: what the priced rows charge each column at ``prices`` (a shipment: its
        slots times its suite's price in its period), in MUSD per unit."""
        return np.asarray(self.priced.T @ prices)

    @cached_property
    def _fixed(self) -> _Fixed:
        """What `_programs` needs that does not change with λ."""
        n_rows, n_assign, n_programs = len(self.committed), len(self.assign), len(self.single)
        row = np.repeat(np.arange(n_rows), np.diff(np.append(self.row_starts, len(self.ship))))
        q, potential = self.committed[row], self.potential[row]
        # −1 (no Assign, no program) indexes the padding at the end
        program = np.append(self.assign_program, -1)[self.ship_assign]
        single = np.append(self.single, False)[program]
        free = np.flatnonzero(~single)  # rows from their cheapest shipment (whole rows)
        free_starts = np.flatnonzero(np.diff(np.append(-1, row[free])))
        held = np.flatnonzero(single)
        row_program = program[self.row_starts]
        must = (self.committed > 0) & (row_program >= 0)  # committed rows of programs
        needed = np.bincount(row_program[must], minlength=n_programs)
        carried = np.bincount(self.ship_assign[held][(q[held] > 0)
                                                     & (q[held] <= self.ship_bound[held])],
                              minlength=n_assign)
        relaxed = np.flatnonzero(~self.single[self.assign_program])
        relaxed_programs = np.unique(self.assign_program[relaxed])
        return _Fixed(
            free, free_starts, q[free], np.maximum(self.serve, -1)[row[free]],
            potential[free], held, q[held], self.serve[row[held]],
            np.clip(potential[held], 0.0, self.ship_bound[held] - q[held]),
            self.ship_assign[held], needed > 0,
            carried == needed[self.assign_program],
            self.single & (np.bincount(self.assign_program, minlength=n_programs) > 0),
            relaxed, relaxed_programs, needed[relaxed_programs] > 0)

    def _programs(self, d: np.ndarray) -> tuple[float, np.ndarray]:
        """The programs' part of L (closed form, see the module) at reduced costs ``d``,
        and each shipment's amount in its solution."""
        f = self._fixed
        n_assign, n_programs = len(self.assign), len(self.single)
        d_serve = np.append(d, 0.0)  # a row without Serve (−1) reads the 0 at the end
        shipped = np.zeros(len(self.ship))
        # rows from their cheapest shipment, uncapped: programs without Assign, relaxed
        cost = d[self.ship[f.free]]
        gain = cost + d_serve[f.free_serve]  # a served batch's cost: where < 0 it pays
        extra = np.where(gain < 0, f.free_potential, 0.0)
        term = f.free_committed * cost + extra * gain
        cheapest = np.minimum.reduceat(cost, f.free_starts) if len(cost) else cost
        row = np.repeat(np.arange(len(f.free_starts)), np.diff(np.append(f.free_starts,
                                                                         len(cost))))
        picked = np.flatnonzero(cost == cheapest[row])
        first = picked[np.unique(row[picked], return_index=True)[1]]
        shipped[f.free[first]] = f.free_committed[first] + extra[first]
        terms = [term[first]]
        # programs held to one site: each site's cost of carrying all their rows
        cost = d[self.ship[f.held]]
        gain = cost + d_serve[f.held_serve]
        extra = np.where(gain < 0, f.held_room, 0.0)
        term = f.held_committed * cost + extra * gain
        site_cost = d[self.assign] + np.bincount(f.held_assign, term, minlength=n_assign)
        candidate = np.where(f.feasible, site_cost, np.inf)
        site_best = np.full(n_programs, np.inf)
        np.minimum.at(site_best, self.assign_program, candidate)
        placed = f.committed | (site_best < 0)  # else no site at all is as good
        best = np.where(placed, site_best, 0.0)
        if np.any(~np.isfinite(best[f.single_held])):
            return -np.inf, shipped  # no one site carries a program's commitments
        at_best = np.flatnonzero((candidate == site_best[self.assign_program])
                                 & placed[self.assign_program] & np.isfinite(candidate))
        take = np.zeros(n_assign, dtype=bool)
        take[at_best[np.unique(self.assign_program[at_best], return_index=True)[1]]] = True
        carrying = take[f.held_assign]
        shipped[f.held[carrying]] = f.held_committed[carrying] + extra[carrying]
        terms.append(best[f.single_held])
        # relaxed programs: the cheapest assignment where they have commitments
        if len(f.relaxed):
            d_assign = d[self.assign[f.relaxed]]
            least = np.full(n_programs, np.inf)
            np.minimum.at(least, self.assign_program[f.relaxed], np.maximum(d_assign, 0.0))
            terms += [np.minimum(d_assign, 0.0),
                      np.where(f.relaxed_committed, least[f.relaxed_programs], 0.0)]
        total = np.concatenate(terms)  # less `ROUNDING`'s allowance, as in `lp_bound`
        return float(total.sum() - ROUNDING * np.abs(total).sum()), shipped


class _Fixed(NamedTuple):
    """`Decomposition._programs`'s data that λ does not change: the shipments of rows
    taken whole from their cheapest shipment (``free``, by row, with each row's first
    position in them), those of programs held to one site (``held``), per shipment its
    row's committed and potential batches and Serve column (−1: none), a held one's room
    for served batches (min(P, V − q)) and Assign; per program whether it has
    commitments, per Assign whether its site carries all of them (V ≥ q on each
    committed row), which programs are held to one site, and the relaxed programs' Assign
    columns, programs, and whether they have commitments."""

    free: np.ndarray
    free_starts: np.ndarray
    free_committed: np.ndarray
    free_serve: np.ndarray
    free_potential: np.ndarray
    held: np.ndarray
    held_committed: np.ndarray
    held_serve: np.ndarray
    held_room: np.ndarray
    held_assign: np.ndarray
    committed: np.ndarray
    feasible: np.ndarray
    single_held: np.ndarray
    relaxed: np.ndarray
    relaxed_programs: np.ndarray
    relaxed_committed: np.ndarray


def lagrangian_bound(compiled: CompiledModel, decomposition: Decomposition, target: float,
                     time_limit_s: float, better: Callable[[float], None] | None = None,
                     ) -> Bound | None:
    """The best L(λ) (see the module) found by projected subgradient steps from λ = 0
    within ``time_limit_s``, or until the step falls below `LEAST_STEP`; ``target`` is
    the objective of the best plan known (Polyak's step aims at it), ``better`` is told
    each better finite bound. None where no step gave a finite bound."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    prices = np.zeros(len(decomposition.priced_upper))
    scale = 1.0 / np.maximum(decomposition.priced_room, 1.0) ** SCALING
    direction = np.zeros(len(prices))
    best: Bound | None = None
    step, since, steps = FIRST_STEP, 0, 0
    while time.perf_counter() < deadline and step >= LEAST_STEP \
            and not interrupt.requested():  # Ctrl-C: the best bound so far stands
        value, usage = decomposition.evaluate(compiled.col_cost, compiled.offset, prices)
        steps += 1
        if best is None or value > best.value:
            best, since = Bound(value, prices.copy(), steps, 0.0), 0
            if better is not None and np.isfinite(value):
                better(value)
        else:
            since += 1
            if since >= HALVE_AFTER:
                step, since = step / 2, 0
        # projected (a row at price 0 with room to spare stays at 0), and deflected
        stays = prices <= 0
        direction = np.where(stays & (usage < 0), 0.0, usage) + DEFLECTION * direction
        direction = np.where(stays & (direction < 0), 0.0, direction)
        norm = float(direction @ (scale * direction))
        if not np.isfinite(value) or norm <= 0 or target <= value:
            break
        prices = np.maximum(prices + step * (target - value) / norm * scale * direction, 0.0)
    if best is None or not np.isfinite(best.value):
        return None
    return Bound(best.value, best.prices, steps, time.perf_counter() - t0)
