"""Series of solves that re-use one model: the `Resolver`.

A batch's scenarios that differ only in costs keep the model in HiGHS and send it only
the new costs; cases whose matrices have the same columns, rows and sparsity (demand
removed or scaled on one set of index sets: the coalitions of `capacity.allocate`, the
scenarios of `capacity.studies.stochastic`) send only the column bounds, row bounds,
costs and matrix entries that changed.
"""

from __future__ import annotations

import time
from dataclasses import fields

import numpy as np

from capacity.case import Case
from capacity.engine.highs import CompiledModel, pass_linear
from capacity.engine.options import SolveOptions
from capacity.engine.solve import run_highs
from capacity.model import BuiltModel, assemble_model
from capacity.model.index_sets import IndexSets, build_index_sets, with_demand
from capacity.model.linear import LinearModel
from capacity.model.objective import add_total_cost
from capacity.results.plan import Plan

# IndexSets fields that only feed the objective: cases that differ only in these have the
# same constraints, so a persistent model can be re-solved with a new objective.
OBJECTIVE_FIELDS = frozenset({"ship_cost", "ship_cost_parts", "serve_value", "build_cost",
                              "open_cost", "open_cost_parts", "assign_cost", "finance_saving",
                              "finance_opening_saving", "existing_fixed_cost"})


def same_constraints(a: IndexSets, b: IndexSets) -> bool:
    """Whether two cases' models differ at most in their objectives."""
    return all(_equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a)
               if f.name not in OBJECTIVE_FIELDS)


def _equal(a: object, b: object) -> bool:
    """``a == b``, element by element for the per-shipment arrays of `IndexSets`."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) \
            and np.array_equal(a, b)
    return bool(a == b)


def same_structure(compiled: CompiledModel, lm: LinearModel) -> bool:
    """Whether ``lm`` has the columns, rows, integer columns and matrix sparsity of the
    model HiGHS holds in ``compiled`` (its coefficients, bounds and costs may differ)."""
    indptr, indices, _values = lm.matrix()
    held_indptr, held_indices, _held = compiled.matrix
    return lm.n_cols == len(compiled.col_lower) \
        and len(indptr) == len(held_indptr) \
        and np.array_equal(lm.integer_columns(), compiled.integer) \
        and np.array_equal(indptr, held_indptr) and np.array_equal(indices, held_indices)


def send_changes(compiled: CompiledModel, lm: LinearModel) -> dict[str, int]:
    """Make the model HiGHS holds ``lm`` (of the same structure, `same_structure`) by
    sending only what differs: costs, column bounds, row bounds and matrix entries.
    Returns how many of each were sent."""
    highs = compiled.highs
    cost, constant = lm.objective.cost, lm.objective.constant
    lower, upper = lm.bounds()
    row_lower, row_upper = lm.row_bounds()
    csr = lm.matrix()
    cols = np.flatnonzero(cost != compiled.col_cost).astype(np.int32)
    if cols.size:
        highs.changeColsCost(len(cols), cols, cost[cols])
    if constant != compiled.offset:
        highs.changeObjectiveOffset(float(constant))
    bounded = np.flatnonzero((lower != compiled.col_lower)
                             | (upper != compiled.col_upper)).astype(np.int32)
    if bounded.size:
        highs.changeColsBounds(len(bounded), bounded, lower[bounded], upper[bounded])
    rows = np.flatnonzero((row_lower != compiled.row_lower)
                          | (row_upper != compiled.row_upper)).astype(np.int32)
    if rows.size:
        highs.changeRowsBounds(  # type: ignore[attr-defined]  # not in highspy's stubs
            len(rows), rows, row_lower[rows], row_upper[rows])
    indptr, indices, values = csr
    entries = np.flatnonzero(values != compiled.matrix[2])
    if entries.size:
        entry_row = np.searchsorted(indptr, entries, side="right") - 1
        for row, col, value in zip(entry_row, indices[entries], values[entries], strict=True):
            highs.changeCoeff(int(row), int(col), float(value))
    compiled.col_cost, compiled.offset = cost, float(constant)
    compiled.col_lower, compiled.col_upper = lower, upper
    compiled.row_lower, compiled.row_upper = row_lower, row_upper
    compiled.matrix = csr
    return {"costs": int(cols.size), "column_bounds": int(bounded.size),
            "row_bounds": int(rows.size), "coefficients": int(entries.size)}


class Resolver:
    """Solves a series of cases, re-using one model and one HiGHS instance where it can:

    - the constraints are unchanged (only costs or values differ, `same_constraints`):
      the objective is replaced and HiGHS receives only the new cost vector
      (`CompiledModel.replace_costs`), skipping build and transfer;
    - the model built has the same columns, rows and matrix sparsity as the one HiGHS
      holds (`same_structure`: demand removed or scaled on the same index sets, as
      ``sets_from`` gives): HiGHS receives only the costs, bounds, right-hand sides and
      coefficients that changed (`send_changes`), skipping the transfer (counted in
      ``updated``; the first way in ``reused``);
    - otherwise it compiles afresh.

    HiGHS keeps no branch-and-bound state between runs: a re-used solve does the same
    work as a fresh one (the same nodes and iterations), and gives the same plan. Every
    solve starts from its own case's constructive start; with ``warm_start`` also from
    the previous plan's integer decisions, completed for the new case (the better of the
    two completed plans is HiGHS's incumbent). That is off by default: giving HiGHS the
    previous plan as a MIP start cost 5–10% more simplex iterations than none on the
    default case's cost scenarios, and even the coalition's own optimum as its start
    saved only 26% of the iterations (benchmarks/RESULTS.md, "Allocation at speed").
    Costs also enter constraints where a fund
    reinvests the operating margin (`operating_margin` carries production, transport and
    tariff costs): such cases go through the second or third way, as `same_constraints`
    sees.

    Example:
        >>> import capacity
        >>> from capacity.engine.resolver import Resolver
        >>> r = Resolver()
        >>> base = capacity.load_case(capacity.tiny_case_path("two_sites"))
        >>> dearer = capacity.Case.from_frames({**base.tables(), "lanes": base.lanes.assign(
        ...     tariff_rate=base.lanes["tariff_rate"] + 0.05)}, name="tariff+5%")
        >>> [r.solve(c).status for c in (base, dearer)], r.reused, r.updated
        (['optimal', 'optimal'], 1, 0)
    """

    def __init__(self, warm_start: bool = False) -> None:
        self.built: BuiltModel | None = None
        self.compiled: CompiledModel | None = None
        self.reused = 0  # solves that only replaced the objective (no build)
        self.updated = 0  # solves built afresh and sent to HiGHS as changes
        self.warm_start = warm_start
        self.sent: dict[str, int] = {}  # what the last re-use sent (`send_changes`)
        self._sets: tuple[Case, IndexSets] | None = None
        self._plan: np.ndarray | None = None  # the last plan, HiGHS's columns

    def index_sets(self, case: Case, sets_from: Case | None = None) -> IndexSets:
        """``case``'s index sets: its own, or, with ``sets_from``, those of ``sets_from``
        with ``case``'s demand (`capacity.model.index_sets.with_demand`: the same
        variables and rows, so that every such case keeps one structure). ``case`` must
        then be ``sets_from`` with demand removed or scaled; where ``sets_from`` has
        commitments no site can serve, or ``case`` demand it lacks, ``case``'s own sets
        are used."""
        if sets_from is None:
            return build_index_sets(case)
        if self._sets is None or self._sets[0] is not sets_from:
            self._sets = (sets_from, build_index_sets(sets_from))
        base = self._sets[1]
        if base.unservable:
            return build_index_sets(case)
        try:
            return with_demand(base, case)
        except ValueError:  # demand that sets_from lacks: not a subset of it
            return build_index_sets(case)

    def solve(self, case: Case, options: SolveOptions | None = None,
              sets_from: Case | None = None) -> Plan:
        """Solve ``case`` like `capacity.solve`, re-using the last model when possible;
        with ``sets_from``, on that case's index sets (`index_sets`)."""
        t0 = time.perf_counter()
        ix = self.index_sets(case, sets_from)
        return self.solve_on(case, ix, options, {"index_sets": time.perf_counter() - t0})

    def solve_on(self, case: Case, ix: IndexSets, options: SolveOptions | None = None,
                 seconds: dict[str, float] | None = None) -> Plan:
        """Solve ``case`` over index sets already built for it (e.g. a stochastic
        scenario's, `capacity.model.index_sets.with_demand`), re-using the last model
        when possible. ``built`` is then the model solved, its ``solution`` the plan's
        columns."""
        options = options or SolveOptions()
        seconds = dict(seconds or {})
        if ix.unservable:
            self.built = self.compiled = None
            self._plan = None
            return Plan.without_solution(case.name, "infeasible", options.model_dump(),
                                         seconds, messages=ix.unservable)
        self.sent = {}
        built = self._reused(case, ix, seconds)
        if built is None:
            built = assemble_model(case, ix)
            t1 = time.perf_counter()
            if self.compiled is not None and built.linear.n_cols \
                    and same_structure(self.compiled, built.linear):
                self.sent = send_changes(self.compiled, built.linear)
                self.updated += 1
            else:
                self.compiled = pass_linear(built.linear) if built.linear.n_cols else None
                self._plan = None
            seconds["transfer"] = time.perf_counter() - t1
        self.built = built
        seconds.update(built.seconds)
        hint = self._plan if self.warm_start else None
        plan = run_highs(built, options, seconds, solver=self.compiled, hint=hint)
        if not plan.has_solution:  # nothing to start from next time: build afresh
            self.built = self.compiled = None
            self._plan = None
        else:
            self._plan = built.solution
        return plan

    def _reused(self, case: Case, ix: IndexSets, seconds: dict[str, float]) \
            -> BuiltModel | None:
        """The last model with ``case``'s objective, already in HiGHS, or None when its
        constraints differ."""
        previous, compiled = self.built, self.compiled
        if previous is None or compiled is None or \
                not same_constraints(previous.index_sets, ix):
            return None
        t0 = time.perf_counter()
        lm = previous.linear
        add_total_cost(lm, ix)
        built = BuiltModel(case, lm, ix, {"build": time.perf_counter() - t0})
        t0 = time.perf_counter()
        compiled.replace_costs(lm.objective.cost, lm.objective.constant)
        seconds["transfer"] = time.perf_counter() - t0
        self.reused += 1
        return built
