"""A model to HiGHS in one pass: sparse matrices, passed whole.

A solve hands HiGHS the engine's own matrices (`pass_linear`: the constraint builders
write CSR arrays, `capacity.model.linear`), with no Pyomo objects in between. A Pyomo
model a caller has changed (added constraints, fixed variables) is compiled to the same
form with Pyomo's ``LinearStandardFormCompiler`` (`compile_to_highs`). Either way
``highspy.Highs.passModel`` takes the whole model in one call; Pyomo's persistent
interface (``set_instance``), which adds rows one constraint at a time, is kept only for
`capacity.explain`, which fixes and frees variables between solves.

A passed model can be re-solved with a new objective (`CompiledModel.replace_costs`,
used by the `Resolver`).

"Measured" below: the figures are in ``benchmarks/RESULTS.md``, "Measurements behind the
engine's design", engine/highs.py.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.tee import capture_output
from pyomo.core.staleflag import StaleFlagManager

from capacity.engine import interrupt
from capacity.engine.incumbent import Incumbent
from capacity.model.linear import LinearModel
from capacity.results.plan import Status

# The thread count of HiGHS's scheduler in this process, as `use_threads` last made it.
_scheduler_threads: int | None = None
# Whether this process has made a HiGHS instance (`new_highs`).
_made_one = False


def new_highs() -> highspy.Highs:
    """A new HiGHS instance with its output off, stopped by Ctrl-C (`capacity.engine.interrupt`).
    highspy 1.16 prints a banner to the
    process's standard output when the first instance is made, before any option can
    turn output off; the first one is therefore made with that output captured (the
    CLI's tables and JSON stay clean)."""
    global _made_one
    if _made_one:
        highs = highspy.Highs()  # type: ignore[no-untyped-call]
    else:
        with capture_output(io.StringIO(), capture_fd=True):
            highs = highspy.Highs()  # type: ignore[no-untyped-call]
        _made_one = True
    highs.setOptionValue("output_flag", False)
    interrupt.attach(highs)  # Ctrl-C stops it cleanly (`capacity.engine.interrupt`)
    return highs


def use_threads(threads: int) -> None:
    """Make HiGHS's thread scheduler run ``threads`` threads, before a solve's first run.

    HiGHS runs every instance of a process on one scheduler, made by the first run with
    the ``threads`` option that run has (0, the default: HiGHS's own choice, 2 on a
    2-core machine); from highspy 1.16 a later run that asks for another number fails
    ("the scheduler has already been initialized", model status ``Not Set``). A solve
    therefore sets its scheduler here, with an empty model run (no work), and its helper
    instances (`pass_arrays`: the completed start, PDLP, the dive and the search) leave
    ``threads`` at 0, which runs on the scheduler there is. Only the instance a solve
    asks for ``threads`` on sets it, to the same number."""
    global _scheduler_threads
    if _scheduler_threads == threads:
        return
    highspy.Highs.resetGlobalScheduler(True)
    highs = new_highs()
    highs.setOptionValue("threads", threads)
    highs.run()
    _scheduler_threads = threads


# Model statuses of a solved LP: an optimum, or no column left to decide (a reduced model
# whose columns were all fixed, `reduce_fixed`).
_SOLVED = (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kModelEmpty)


# HiGHS's verdicts that are the plan's status as they are. Every variable of the
# formulation is bounded, so "infeasible or unbounded" is infeasible.
_VERDICT: dict[highspy.HighsModelStatus, Status] = {
    highspy.HighsModelStatus.kInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnbounded: "unbounded",
    highspy.HighsModelStatus.kInterrupt: "interrupted",  # Ctrl-C (`capacity.engine.interrupt`)
    highspy.HighsModelStatus.kTimeLimit: "no_solution",  # unless it holds a plan (below)
}


def status_of(highs: highspy.Highs) -> Status:
    """The plan's status after a HiGHS run: the one place HiGHS's model status is read.

    Optimal with a plan is ``optimal``; Ctrl-C is ``interrupted`` (with or without a
    plan); any other stop holding a feasible plan (a time limit, a node or solution
    limit) is ``time_limit_feasible``; a stop without one maps by `_VERDICT`, and
    anything else is ``error``.
    """
    model_status = highs.getModelStatus()
    feasible = highs.getInfo().primal_solution_status == \
        highspy.SolutionStatus.kSolutionStatusFeasible
    if model_status == highspy.HighsModelStatus.kOptimal and feasible:
        return "optimal"
    if model_status == highspy.HighsModelStatus.kInterrupt:
        return "interrupted"
    if feasible:
        return "time_limit_feasible"
    return _VERDICT.get(model_status, "error")


def holds_plan(highs: highspy.Highs) -> bool:
    """Whether HiGHS holds a feasible solution after a run (a model with no columns left
    holds the empty one)."""
    return bool(highs.getInfo().primal_solution_status
                == highspy.SolutionStatus.kSolutionStatusFeasible
                or highs.getModelStatus() == highspy.HighsModelStatus.kModelEmpty)


@dataclass
class CompiledModel:
    """A model handed to HiGHS. ``columns`` are the Pyomo variables in HiGHS's column
    order when it was compiled from Pyomo; None when it came from a `LinearModel`, whose
    own column order HiGHS then keeps."""

    highs: highspy.Highs
    col_lower: np.ndarray
    col_upper: np.ndarray
    columns: Sequence[pyo.Var] | None = None
    # what HiGHS was given (costs as last replaced), for `coefficient_ranges` and
    # `complete_start`: references to the caller's arrays, not copies
    col_cost: np.ndarray = field(default_factory=lambda: np.zeros(0))
    matrix: tuple[np.ndarray, np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.zeros(1, dtype=np.int32), np.zeros(0, dtype=np.int32),
                                 np.zeros(0)))  # CSR: indptr, indices, values
    row_lower: np.ndarray = field(default_factory=lambda: np.zeros(0))
    row_upper: np.ndarray = field(default_factory=lambda: np.zeros(0))
    integer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    offset: float = 0.0
    # the first row of each constraint family (`pass_linear`), for `capacity.engine.lp_bound`'s
    # ascent, which moves a family's duals together; None: the rows as one family
    row_families: np.ndarray | None = None
    # the columns' and rows' names, made when asked for (`capacity.engine.model_file`)
    names: Callable[[], tuple[list[str], list[str]]] | None = None

    def column_of(self) -> dict[int, int]:
        """HiGHS's column index by ``id`` of the Pyomo variable (compiled from Pyomo)."""
        return {id(v): i for i, v in enumerate(self.columns or ())}

    def map_columns(self, pairs: Sequence[tuple[int, float]],
                    variables: Sequence[pyo.Var]) -> list[tuple[int, float]]:
        """(column of the engine's `LinearModel`, value) pairs as HiGHS's columns: the same
        where HiGHS holds the linear model; through ``variables`` (the Pyomo variables in
        the linear model's column order) where it holds a compiled Pyomo model, skipping
        variables that model does not hold (fixed ones)."""
        if self.columns is None:
            return list(pairs)
        where = self.column_of()
        return [(where[id(variables[j])], x) for j, x in pairs if id(variables[j]) in where]

    def solution(self) -> np.ndarray:
        """HiGHS's column values."""
        return np.asarray(self.highs.getSolution().col_value, dtype=float)

    @property
    def nonzeros(self) -> int:
        """Entries of the constraint matrix HiGHS holds."""
        return len(self.matrix[2])

    def incumbent(self, x: np.ndarray) -> Incumbent:
        """``x`` (a value per column) as a plan with its objective, c·x + offset."""
        return Incumbent(x, float(self.col_cost @ x) + self.offset)

    def replace_costs(self, cost: np.ndarray, constant: float) -> None:
        """Give HiGHS a new (minimised) objective over the same columns: only the cost
        vector and offset are sent."""
        n = len(cost)
        self.highs.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
        self.highs.changeObjectiveOffset(float(constant))
        self.col_cost, self.offset = cost, float(constant)

    def sparse(self) -> Any:
        """The matrix HiGHS was given, as a ``scipy.sparse.csr_matrix`` (sharing its arrays)."""
        from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

        indptr, indices, values = self.matrix
        return csr_matrix((values, indices, indptr),
                          shape=(len(self.row_lower), len(self.col_lower)))

    def entry_rows(self) -> np.ndarray:
        """The row of each matrix entry, in the matrix's (row-wise) order."""
        indptr, _indices, _values = self.matrix
        return entry_rows(indptr)

    def set_incumbent(self, x: np.ndarray) -> None:
        """Give HiGHS the plan ``x`` (a value per column) to start its MIP from."""
        solution = highspy.HighsSolution()
        solution.col_value = x
        solution.value_valid = True
        self.highs.setSolution(solution)

    def solve_lp(self, time_limit_s: float) -> bool:
        """Solve the LP relaxation (dual simplex, serial) within ``time_limit_s``: True
        where HiGHS proved it optimal (its solution is then ``solution()``)."""
        for name, option in (("solve_relaxation", True),
                             ("time_limit", max(time_limit_s, 1e-3))):
            self.highs.setOptionValue(name, option)
        self.highs.run()
        return bool(self.highs.getModelStatus() in _SOLVED)

    def change_bounds(self, columns: np.ndarray, lower: np.ndarray,
                      upper: np.ndarray) -> None:
        """Give ``columns`` new bounds, in HiGHS and in ``col_lower``/``col_upper`` (which
        must then be this model's own arrays, not a caller's)."""
        self.highs.changeColsBounds(len(columns), columns.astype(np.int32), lower, upper)
        self.col_lower[columns], self.col_upper[columns] = lower, upper

    def coefficient_ranges(self) -> dict[str, list[float]]:
        """[min, max] absolute non-zero finite values of the matrix, objective, bounds and
        right-hand sides HiGHS was given (read from the arrays passed, not copied back out
        of HiGHS, which is slow on large models; measured)."""

        def span(*arrays: np.ndarray) -> list[float]:
            a = np.abs(np.concatenate(arrays)) if arrays else np.zeros(0)
            a = a[(a > 0) & np.isfinite(a) & (a < 1e20)]
            return [float(a.min()), float(a.max())] if a.size else [0.0, 0.0]

        _indptr, _indices, values = self.matrix
        return {"matrix": span(values), "objective": span(self.col_cost),
                "bounds": span(self.col_lower, self.col_upper),
                "rhs": span(self.row_lower, self.row_upper)}

    def load_solution(self, values: np.ndarray | None = None) -> None:
        """Set every column's Pyomo variable to HiGHS's solution value, or to ``values``
        (a value per column) where given (compiled from Pyomo; nothing to do otherwise)."""
        if self.columns is None:
            return
        for var, value in zip(self.columns, self.solution() if values is None else values,
                              strict=True):
            var.set_value(value, skip_validation=True)
        StaleFlagManager.mark_all_as_stale(delayed=True)


def rows_holding(indptr: np.ndarray, indices: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Whether each row of a CSR matrix (row pointers ``indptr``, column ``indices``)
    holds one of ``columns`` (a bool per column)."""
    # a False at the end: rows without entries at the end start there, and read it
    held = np.append(columns[indices], False)
    return np.logical_or.reduceat(held, indptr[:-1]) & (np.diff(indptr) > 0)


def entry_rows(indptr: np.ndarray) -> np.ndarray:
    """The row of each entry of a CSR matrix (or of a block of its rows) with row
    pointers ``indptr``, counted from the block's first row."""
    return np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))


def pass_arrays(cost: np.ndarray, offset: float, lower: np.ndarray, upper: np.ndarray,
                integer: np.ndarray, csr: tuple[np.ndarray, np.ndarray, np.ndarray],
                row_lower: np.ndarray, row_upper: np.ndarray,
                columns: Sequence[pyo.Var] | None = None) -> CompiledModel:
    """A new HiGHS instance holding min cost·x + offset subject to
    row_lower ≤ A x ≤ row_upper, lower ≤ x ≤ upper, x_j integer where integer[j]; A row-wise.
    Output is off: the caller sets options."""
    highs = new_highs()
    indptr, indices, values = csr
    # the arrays overload: no Python object per column (a HighsLp's integrality_ is a
    # list of enum objects, which take many seconds on the largest models; measured);
    # ±inf is HiGHS's ±kHighsInf
    status = highs.passModel(
        len(cost), len(row_lower), len(values), int(highspy.MatrixFormat.kRowwise),
        int(highspy.ObjSense.kMinimize), float(offset), cost, lower, upper, row_lower,
        row_upper, np.asarray(indptr[:-1], dtype=np.int32),
        np.asarray(indices, dtype=np.int32), values,
        integer.astype(np.int32))  # one entry per column, also for an LP (an empty
    # array is read past its end: HiGHS then rejects "illegal integer value")
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the model (passModel)")
    return CompiledModel(highs, lower, upper, columns, cost, csr, row_lower, row_upper,
                         integer, float(offset))


def pass_linear(lm: LinearModel) -> CompiledModel:
    """Hand the engine's own matrices to a new HiGHS instance (columns in ``lm``'s order)."""
    lower, upper = lm.bounds()
    row_lower, row_upper = lm.row_bounds()
    compiled = pass_arrays(lm.objective.cost, lm.objective.constant, lower, upper,
                           lm.integer_columns(), lm.matrix(), row_lower, row_upper)
    compiled.row_families = np.array(sorted({rows.start for rows in lm.constraints.values()
                                             if rows.stop > rows.start}), dtype=np.int64)
    compiled.names = lambda: (
        keyed_names((v.name, v.keys) for v in lm.variables.values()),
        keyed_names((c.name, lm.sets[c.set_name].keys) for c in lm.constraints.values()))
    return compiled


def keyed_names(blocks: Iterable[tuple[str, Sequence[Any]]]) -> list[str]:
    """``Name[k1,k2,...]`` for each key of each (name, keys) block, in order: the names
    Pyomo gives the same components."""
    out = []
    for name, keys in blocks:
        for key in keys:
            parts = key if isinstance(key, tuple) else (key,)
            out.append(f"{name}[{','.join(map(str, parts))}]")
    return out


class FixedRowInfeasible(Exception):
    """A row of a Pyomo model whose variables are all fixed does not hold: the model, as
    fixed, has no feasible plan (e.g. a first-stage plan fixed into a scenario it
    cannot serve)."""


def compile_to_highs(m: pyo.ConcreteModel) -> CompiledModel:
    """Compile the Pyomo model ``m`` (linear, one active minimise or maximise objective)
    and pass it to a new HiGHS instance, minimising: a maximised objective is negated, so
    HiGHS's objective and bound are then the negated value.

    Rows keep their sense ("mixed form"); fixed variables become constants; the
    objective's constant is HiGHS's offset, so HiGHS reports the objective's full value.

    Raises:
        FixedRowInfeasible: a row left without a free variable does not hold.
    """
    from pyomo.common.errors import InfeasibleConstraintException
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler  # imports scipy

    try:
        form = LinearStandardFormCompiler().write(m, mixed_form=True)
    except InfeasibleConstraintException as err:
        raise FixedRowInfeasible(str(err)) from None
    a = form.A.tocsr()
    n_rows, n_cols = a.shape
    # mixed form: each row is (constraint, sense) with sense 1 (≤ rhs), 0 (= rhs), -1 (≥ rhs)
    sense = np.fromiter((s for _con, s in form.rows), dtype=np.int8, count=n_rows)
    rhs = np.asarray(form.rhs, dtype=float)
    cols = form.columns
    cost = np.asarray(form.c.toarray() if hasattr(form.c, "toarray") else form.c, dtype=float)
    cost = cost.reshape(-1, n_cols)[0] if cost.size else np.zeros(n_cols)
    offset = float(form.c_offset[0]) if len(form.c_offset) else 0.0
    lower = np.fromiter((-np.inf if v.lb is None else v.lb for v in cols), float, n_cols)
    upper = np.fromiter((np.inf if v.ub is None else v.ub for v in cols), float, n_cols)
    integer = np.fromiter((v.is_integer() for v in cols), bool, n_cols)
    compiled = pass_arrays(cost, offset, lower, upper, integer,
                           (a.indptr, a.indices, a.data), np.where(sense == 1, -np.inf, rhs),
                           np.where(sense == -1, np.inf, rhs), cols)
    compiled.names = lambda: ([v.name for v in cols], [con.name for con, _s in form.rows])
    return compiled


def complete_start(compiled: CompiledModel, start: Sequence[tuple[int, float]],
                   time_limit_s: float, incumbent: bool = True,
                   ) -> Incumbent | None:
    """Fix the start's columns (column index, value), solve what is left in a second,
    reduced HiGHS instance (with a constructive start's integers fixed, an LP), and give
    ``compiled``'s HiGHS the completed plan as its incumbent (unless ``incumbent`` is
    False: the caller decides, as where a thread beside HiGHS's owner completes a plan
    that may not be kept). Returns the plan (a value
    per column) and its objective, or None when the start cannot be completed (HiGHS
    then starts on its own).

    The reduction is done here, not by HiGHS's presolve on the whole model, whose copies
    of the largest models do not fit in memory (`reduce_fixed`; measured).
    """
    if not start:
        return None
    pairs = sorted(start)
    cols = np.fromiter((i for i, _x in pairs), np.int64, len(pairs))
    values = np.fromiter((x for _i, x in pairs), float, len(pairs))
    lower, upper = compiled.col_lower.copy(), compiled.col_upper.copy()
    if np.any(values < lower[cols] - 1e-9) or np.any(values > upper[cols] + 1e-9):
        return None
    lower[cols] = upper[cols] = values
    completed = solve_within(compiled, lower, upper, time_limit_s)
    if completed is not None and incumbent:
        compiled.set_incumbent(completed.x)
    return completed


def solve_within(compiled: CompiledModel, lower: np.ndarray, upper: np.ndarray,
                 time_limit_s: float) -> Incumbent | None:
    """``compiled`` with its columns held within ``lower``/``upper``, reduced
    (`reduce_fixed`) and what is left solved by HiGHS in a second instance within
    ``time_limit_s`` (> 0; a tiny one may leave HiGHS without a plan): a value per column
    of ``compiled`` and the objective, or None where a row fails in the reduction or
    HiGHS finds no plan."""
    reduced = reduce_fixed(compiled, lower, upper)
    if reduced is None:
        return None
    sub, free, x = reduced
    sub.highs.setOptionValue("time_limit", time_limit_s)
    sub.highs.run()
    if not holds_plan(sub.highs):
        return None
    x[free] = sub.solution()
    return compiled.incumbent(np.clip(x, compiled.col_lower, compiled.col_upper))


# A row's activity may miss its bounds by this much (absolute, or relative beyond 1).
_ROW_TOLERANCE = 1e-6
# A column's lower and upper bounds from its rows (`reduce_fixed`) that differ by at most
# this much (absolute, or relative beyond 1) are taken to meet: the column is fixed.
_BOUNDS_MEET = 1e-9
# `reduce_fixed` drops the rows left with no free column once they are this share of
# its rows (a round's cost is in its entries; the share is chosen, not tuned)
_SHRINK_SHARE = 0.25


def reduce_fixed(compiled: CompiledModel, lower: np.ndarray, upper: np.ndarray,
                 relaxed: bool = False) -> tuple[CompiledModel, np.ndarray, np.ndarray] | None:
    """The model of ``compiled`` with column bounds ``lower``/``upper``, reduced. Columns
    with lower = upper move to the right-hand side, and two kinds of row are taken out,
    repeated until neither finds more:

    - a forcing row, Σ a_j·x_j ≤ b' whose free columns all have a_j > 0 and lower bound
      0, with b' (b less the fixed columns' part) at most 0 (tolerance 1e-9): its columns
      are fixed at 0 (the shipments of a program at a site it is not assigned to, or from
      a site not open);
    - a row left with one free column, a continuous one: it becomes that column's bounds
      (rl' ≤ a·x_j ≤ ru' gives x_j within rl'/a and ru'/a), and the column is fixed where
      they meet (a `Serve` whose `demand_balance` row has every shipment fixed; `OpenBy`
      bounded by `site_open_by` and by fixed shipments). Integer columns keep their rows:
      a dive later fixes them by bounds, which must not step outside a row taken out.

    Rows left without a free column must hold.

    Returns the reduced model in a new HiGHS instance, its columns' numbers in
    ``compiled`` (``free``), and a value for every column of ``compiled`` (the fixed ones
    set, the free ones 0); None when a row without a free column is violated (also where
    a column's bounds from its rows cross: it is fixed within its own bounds and its rows
    checked). With ``relaxed``, HiGHS holds the reduced model as an LP (its ``integer``
    still says which columns are integers): an LP keeps its basis when bounds change, so
    that the next solve starts warm (`capacity.engine.dive`).
    """
    a = compiled.sparse()
    given_lower, given_upper = lower, upper
    lower, upper = lower.copy(), upper.copy()
    # only a row with a free column can change: the reduction works on those rows alone
    # (``local``, rows ``touched``), every other row is checked at the end. A
    # neighbourhood of `capacity.engine.search` touches part of the entries, and a
    # reduction over those alone is faster than over the whole matrix; where the rows
    # touched hold nearly all entries (a completion), the whole matrix is used, not
    # copied. Rows left with no free column are dropped between rounds (`_SHRINK_SHARE`),
    # and each round works on the free columns' entries alone: with the search fixing
    # its staying programs' `Serve`, that about halves a neighbourhood's reduction
    # (measured)
    indptr, indices, _values = compiled.matrix
    touched = np.flatnonzero(rows_holding(indptr, indices, lower != upper))
    if np.diff(indptr)[touched].sum() > 0.9 * len(indices):
        touched, local = np.arange(a.shape[0]), a
    else:
        local = a[touched]
    indices, values = local.indices, local.data
    n_rows = len(touched)
    row_of = entry_rows(local.indptr)
    row_lower, row_upper = compiled.row_lower[touched], compiled.row_upper[touched]
    taken = np.zeros(n_rows, dtype=bool)  # rows that became column bounds
    continuous = ~compiled.integer
    while True:
        fixed = lower == upper
        part = local @ np.where(fixed, lower, 0.0)  # each row's fixed part
        left = row_upper - part
        # the entries of free columns: few, where most columns are fixed (the search's
        # neighbourhoods), so everything after is worked out on them alone
        free_at = np.flatnonzero(~fixed[indices])
        free_rows, free_columns = row_of[free_at], indices[free_at]
        n_free = np.bincount(free_rows, minlength=n_rows)
        blocking = (values[free_at] < 0) | (lower[free_columns] != 0)
        forcing = (n_free > 0) & (np.bincount(free_rows[blocking], minlength=n_rows) == 0) \
            & (left <= 1e-9)
        newly = free_columns[forcing[free_rows]]
        upper[newly] = lower[newly]  # = 0: a forcing row's free columns have lower bound 0
        single = (n_free == 1)[free_rows] & ~taken[free_rows] & continuous[free_columns]
        if not single.any():
            if newly.size:
                continue
            break
        rows, columns = free_rows[single], free_columns[single]
        coefficient = values[free_at[single]]
        low = (row_lower[rows] - part[rows]) / coefficient
        high = (row_upper[rows] - part[rows]) / coefficient
        np.maximum.at(lower, columns, np.where(coefficient > 0, low, high))
        np.minimum.at(upper, columns, np.where(coefficient > 0, high, low))
        taken[rows] = True
        width = upper[columns] - lower[columns]
        met = np.isfinite(width) \
            & (width <= _BOUNDS_MEET * np.maximum(1.0, np.abs(lower[columns])))
        # bounds that meet or cross: the column is fixed at the nearest value the bounds
        # it was given allow; its rows, then without a free column, are checked below
        # with the rows' tolerance (a crossing by rounding passes, a real one fails)
        met_columns = columns[met]
        lower[met_columns] = upper[met_columns] = np.clip(
            lower[met_columns], given_lower[met_columns], given_upper[met_columns])
        if (n_free == 0).sum() > _SHRINK_SHARE * n_rows:
            # a row with no free column decides nothing again (bounds only tighten): the
            # later rounds go without it, and it is checked with the rest at the end
            live = np.flatnonzero(n_free > 0)
            local, touched, taken = local[live], touched[live], taken[live]
            row_lower, row_upper = row_lower[live], row_upper[live]
            indices, values, n_rows = local.indices, local.data, len(live)
            row_of = entry_rows(local.indptr)
    fixed = lower == upper
    x = np.where(fixed, lower, 0.0)
    activity = a @ x
    free = np.flatnonzero(~fixed)
    has_free = np.bincount(row_of[~fixed[indices]], minlength=n_rows) > 0
    slack = _ROW_TOLERANCE * np.maximum(1.0, np.abs(activity))
    settled = np.ones(len(activity), dtype=bool)
    settled[touched[has_free]] = False
    if np.any(settled & ((activity < compiled.row_lower - slack)
                         | (activity > compiled.row_upper + slack))):
        return None
    kept = np.flatnonzero(has_free & ~taken)
    rows = touched[kept]
    part_matrix = local[kept][:, free].tocsr()
    part_matrix.sort_indices()
    integer = compiled.integer[free]
    sub = pass_arrays(compiled.col_cost[free], float(compiled.col_cost @ x) + compiled.offset,
                      lower[free], upper[free], np.zeros_like(integer) if relaxed else integer,
                      (part_matrix.indptr, part_matrix.indices, part_matrix.data),
                      compiled.row_lower[rows] - activity[rows],
                      compiled.row_upper[rows] - activity[rows])
    sub.integer = integer
    return sub, free, x
