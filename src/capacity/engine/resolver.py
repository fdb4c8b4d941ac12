"""Series of solves that re-use one model: the `Resolver` (a batch's scenarios that differ
only in costs keep the model in HiGHS and send it only the new costs)."""

from __future__ import annotations

import time
from dataclasses import fields

import numpy as np

from capacity.case import Case
from capacity.engine.highs import CompiledModel, pass_linear
from capacity.engine.options import SolveOptions
from capacity.engine.solve import run_highs
from capacity.model import BuiltModel, assemble_model
from capacity.model.index_sets import IndexSets, build_index_sets
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


class Resolver:
    """Solves a series of cases, re-using one model and one HiGHS instance where the
    constraints are unchanged (only costs or values differ): the objective is replaced and
    HiGHS receives only the new cost vector (`CompiledModel.replace_costs`), skipping
    build and transfer. Otherwise it builds and compiles afresh. Every solve starts from
    its own case's constructive start. Costs also enter constraints where a fund
    reinvests the operating margin (`operating_margin` carries production, transport and
    tariff costs): such cases are rebuilt, as `same_constraints` sees. (Giving HiGHS the
    previous plan as a MIP start was measured and dropped: on the default case it cost
    5–10% more simplex iterations than none.)

    Example:
        >>> import capacity
        >>> from capacity.engine.resolver import Resolver
        >>> r = Resolver()
        >>> base = capacity.load_case(capacity.tiny_case_path("two_sites"))
        >>> dearer = capacity.Case.from_frames({**base.tables(), "lanes": base.lanes.assign(
        ...     tariff_rate=base.lanes["tariff_rate"] + 0.05)}, name="tariff+5%")
        >>> [r.solve(c).status for c in (base, dearer)], r.reused
        (['optimal', 'optimal'], 1)
    """

    def __init__(self) -> None:
        self.built: BuiltModel | None = None
        self.compiled: CompiledModel | None = None
        self.reused = 0

    def solve(self, case: Case, options: SolveOptions | None = None) -> Plan:
        """Solve ``case`` like `capacity.solve`, re-using the last model when possible."""
        options = options or SolveOptions()
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        ix = build_index_sets(case)
        if ix.unservable:
            self.built = self.compiled = None
            return Plan.without_solution(case.name, "infeasible", options.model_dump(),
                                         seconds, messages=ix.unservable)
        seconds["index_sets"] = time.perf_counter() - t0
        built = self._reused(case, ix, seconds)
        if built is None:
            built = assemble_model(case, ix)
            t1 = time.perf_counter()
            self.compiled = pass_linear(built.linear) if built.linear.n_cols else None
            seconds["transfer"] = time.perf_counter() - t1
        self.built = built
        seconds.update(built.seconds)
        plan = run_highs(built, options, seconds, solver=self.compiled)
        if not plan.has_solution:  # nothing to start from next time: build afresh
            self.built = self.compiled = None
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
