"""A Pyomo model to HiGHS in one pass: compiled to sparse matrices, passed whole.

Pyomo's persistent HiGHS interface (``set_instance``) walks every constraint's
expression and adds rows, columns and integrality one constraint at a time; Pyomo's
``LinearStandardFormCompiler`` turns the whole model into sparse matrices in one pass and
``highspy.Highs.passModel`` hands them over in one call. On generated tier M (119,681
rows, 630,905 nonzeros) the transfer falls from 4.3 s to 1.7 s
(`python -m benchmarks.transfer`).

A compiled model can be re-solved with a new objective (`CompiledModel.replace_objective`,
used by the `Resolver`); a caller that changes more between solves (`capacity.explain`
fixes and frees variables) keeps Pyomo's persistent interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.core.staleflag import StaleFlagManager
from pyomo.repn import generate_standard_repn

INF = highspy.kHighsInf


@dataclass
class CompiledModel:
    """A model handed to HiGHS, and its columns in HiGHS's order (to load a solution)."""

    highs: highspy.Highs
    columns: Sequence[pyo.Var]
    col_lower: np.ndarray
    col_upper: np.ndarray

    def column_of(self) -> dict[int, int]:
        """HiGHS's column index by ``id`` of the Pyomo variable."""
        return {id(v): i for i, v in enumerate(self.columns)}

    def replace_objective(self, objective: pyo.Objective) -> bool:
        """Give HiGHS the costs of a new (minimised, linear) objective over the same
        columns, sending only the cost vector and offset. False, changing nothing, when
        the objective uses a variable the compiled model does not hold."""
        repn = generate_standard_repn(objective.expr, compute_values=True, quadratic=False)
        column = self.column_of()
        if not repn.is_linear() or any(id(v) not in column for v in repn.linear_vars):
            return False
        cost = np.zeros(len(self.columns))
        for var, coef in zip(repn.linear_vars, repn.linear_coefs, strict=True):
            cost[column[id(var)]] += coef
        n = len(self.columns)
        self.highs.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
        self.highs.changeObjectiveOffset(float(repn.constant))
        return True

    def load_solution(self) -> None:
        """Set every column's Pyomo variable to HiGHS's solution value."""
        values = self.highs.getSolution().col_value
        for var, value in zip(self.columns, values, strict=True):
            var.set_value(value, skip_validation=True)
        StaleFlagManager.mark_all_as_stale(delayed=True)


def compile_to_highs(m: pyo.ConcreteModel) -> CompiledModel:
    """Compile ``m`` (linear, one active minimise or maximise objective) and pass it to a
    new HiGHS instance, minimising: a maximised objective is negated, so HiGHS's objective
    and bound are then the negated value.

    Rows keep their sense ("mixed form"); fixed variables become constants; the
    objective's constant is HiGHS's offset, so HiGHS reports the objective's full value.
    Output is off: the caller sets options.
    """
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler  # imports scipy

    form = LinearStandardFormCompiler().write(m, mixed_form=True)
    a = form.A.tocsr()
    n_rows, n_cols = a.shape
    # mixed form: each row is (constraint, sense) with sense 1 (≤ rhs), 0 (= rhs), -1 (≥ rhs)
    sense = np.fromiter((s for _con, s in form.rows), dtype=np.int8, count=n_rows)
    rhs = np.asarray(form.rhs, dtype=float)
    cols = form.columns
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    cost = np.asarray(form.c.toarray() if hasattr(form.c, "toarray") else form.c, dtype=float)
    lp.col_cost_ = cost.reshape(-1, n_cols)[0] if cost.size else np.zeros(n_cols)
    lp.offset_ = float(form.c_offset[0]) if len(form.c_offset) else 0.0
    lower = np.fromiter((-INF if v.lb is None else v.lb for v in cols), float, n_cols)
    upper = np.fromiter((INF if v.ub is None else v.ub for v in cols), float, n_cols)
    lp.col_lower_, lp.col_upper_ = lower, upper
    lp.row_lower_ = np.where(sense == 1, -INF, rhs)
    lp.row_upper_ = np.where(sense == -1, INF, rhs)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    integer = [v.is_integer() for v in cols]
    if any(integer):
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else
                           highspy.HighsVarType.kContinuous for i in integer]
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    highs.passModel(lp)
    return CompiledModel(highs, cols, lower, upper)


def complete_start(compiled: CompiledModel, start: Sequence[tuple[pyo.Var, float]],
                   time_limit_s: float) -> float | None:
    """Fix the start's variables, let HiGHS solve what is left (with the integers of a
    constructive start fixed, an LP after presolve), restore the bounds and give HiGHS
    the completed plan as its incumbent. Returns the completed plan's objective, or None
    when the start could not be completed (HiGHS then starts on its own). Variables the
    model does not hold (fixed ones) are skipped."""
    highs = compiled.highs
    index = compiled.column_of()
    pairs = sorted((index[id(v)], x) for v, x in start if id(v) in index)
    if not pairs:
        return None
    cols = np.fromiter((i for i, _x in pairs), np.int32, len(pairs))
    values = np.fromiter((x for _i, x in pairs), float, len(pairs))
    lower, upper = compiled.col_lower[cols], compiled.col_upper[cols]
    if np.any(values < lower - 1e-9) or np.any(values > upper + 1e-9):
        return None
    highs.changeColsBounds(len(cols), cols, values, values)
    highs.setOptionValue("time_limit", time_limit_s)
    highs.run()
    info = highs.getInfo()
    feasible = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    objective = float(info.objective_function_value) if feasible else None
    solution = highs.getSolution() if feasible else None
    highs.changeColsBounds(len(cols), cols, lower, upper)
    highs.clearSolver()
    if solution is not None:
        highs.setSolution(solution)
    return objective
