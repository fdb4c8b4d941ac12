"""Solve a built model with HiGHS, in memory, and turn the outcome into a `Plan`."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import highspy
import numpy as np
import pyomo.environ as pyo
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pyomo.common.tee import capture_output
from pyomo.common.timing import HierarchicalTimer
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from capacity import interrupt
from capacity.case import Case
from capacity.companion import COMPANION_MIN_NONZEROS, Companion
from capacity.compiled import (
    CompiledModel,
    FixedRowInfeasible,
    compile_to_highs,
    complete_start,
    new_highs,
    pass_linear,
    use_threads,
)
from capacity.dive import dive
from capacity.errors import CaseInfeasibleError
from capacity.extract import extract_tables
from capacity.improve import Layout, improve
from capacity.index_sets import IndexSets, build_index_sets
from capacity.lagrangian import Decomposition, lagrangian_bound
from capacity.lp_bound import Relaxation, solve_relaxation
from capacity.model import BuiltModel, assemble_model, build_model
from capacity.model.objective import add_total_cost
from capacity.output_folder import write_file
from capacity.plan import Plan, Status
from capacity.start import constructive_start, rounded_start, start_columns

# A start's integer columns (column, value) made from a vector over the model's columns:
# rounded from an LP solution (`capacity.start.rounded_start`), or greedy with each
# shipment charged its toll (`capacity.start.constructive_start`).
StartFrom = Callable[[np.ndarray], list[tuple[int, float]]]


@dataclass(frozen=True)
class LargeModelAids:
    """What a solve of a large model (`LARGE_MODEL_NONZEROS`, HiGHS holding the engine's
    own matrices) uses besides HiGHS, each made from the engine's model where used."""

    layout: Callable[[], Layout]  # where the integer columns lie, for `capacity.improve`
    rounding: StartFrom  # a start rounded from PDLP's solution
    decomposition: Callable[[], Decomposition | None]  # the Lagrangian bound's split
    steering: StartFrom  # a greedy start, each column charged a toll (the bound's Cᵀλ)
    start_seconds: float  # what the first greedy start took; a steered one takes as long


class SolveOptions(BaseModel):
    """How to solve. Defaults suit a 2-core machine and give the same plan every run.

    Attributes:
        time_limit_s: wall-clock limit for HiGHS; the best plan found is returned with its gap.
        mip_rel_gap: stop when (objective − bound)/|objective| is at most this.
        threads: HiGHS threads. One by default: HiGHS's branch-and-bound is serial, and one
            thread keeps runs reproducible. With two or more, on models of
            `LARGE_MODEL_NONZEROS` or more, PDLP's relaxation and the dive run in a
            second thread beside the neighbourhood search (`_relax_dive_search`); on
            models of `COMPANION_MIN_NONZEROS` up to that size, the LP relaxation and a
            dive from it run beside HiGHS's branch and bound and hand it their plan
            (`capacity.companion`). Either way a run is then not reproducible step for
            step.
        seed: HiGHS ``random_seed``; fixed so runs repeat.
        log: print HiGHS's log while solving.
        explain: when HiGHS proves the case infeasible, find out why (`capacity.explain`,
            within the same time limit) and put the reasons in the plan's messages.
        model_file: also write the model HiGHS solves to this file (``.mps`` or ``.lp``),
            e.g. to try another solver or to report a solver issue.
        mip_start: start HiGHS from a constructive plan (`capacity.start`: greedy integer
            decisions, completed by HiGHS with the integers fixed); on models of
            `LARGE_MODEL_NONZEROS` to `RELAXATION_MAX_NONZEROS`, also solve the LP
            relaxation by PDLP for a proven bound (`capacity.lp_bound`), dive from its
            solution to a plan (`capacity.dive`) and improve the better plan a
            neighbourhood at a time (`capacity.improve`). Off: HiGHS's defaults, e.g. to
            compare.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_limit_s: float = Field(default=300.0, gt=0, le=7 * 24 * 3600)
    mip_rel_gap: float = Field(default=1e-6, ge=0, le=1)
    threads: int = Field(default=1, ge=1, le=256)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    log: bool = False
    explain: bool = True
    model_file: str | None = None
    mip_start: bool = True

    @field_validator("model_file")
    @classmethod
    def _model_format(cls, value: str | None) -> str | None:
        """HiGHS chooses the format by the suffix and writes nothing for another one."""
        if value is not None and Path(value).suffix.lower() not in (".mps", ".lp"):
            raise ValueError(f"{value!r} must end in .mps or .lp (the suffix chooses the "
                             "format)")
        return value


def solve(case: Case | BuiltModel, options: SolveOptions | None = None,
          progress: Progress | None = None) -> Plan:
    """Build (if needed) and solve a case, returning the plan with its status.

    Args:
        case: a validated `Case`, or a `BuiltModel` (from `build_model`) that may carry
            constraints the caller added.
        options: solve options; defaults if None.
        progress: optional callback (seconds, incumbent, bound) while HiGHS runs; both
            values are the minimised net cost.

    Returns:
        A `Plan`. Its ``status`` is one of ``optimal``, ``time_limit_feasible``,
        ``infeasible``, ``unbounded``, ``no_solution`` or ``error``; decision tables are
        filled only when a feasible plan exists, never with zeros in place of a plan.

    Example:
        >>> import capacity
        >>> plan = capacity.solve(capacity.load_case(), capacity.SolveOptions(time_limit_s=60))
        >>> plan.status, plan.gap <= 1e-6
        ('optimal', True)
    """
    options = options or SolveOptions()
    seconds: dict[str, float] = {}
    source = case.case if isinstance(case, BuiltModel) else case
    if source.load_seconds:
        seconds["load"] = source.load_seconds
    if isinstance(case, BuiltModel):
        built = case
    else:
        try:
            built = build_model(case)
        except CaseInfeasibleError as err:
            return Plan.without_solution(case.name, "infeasible", options.model_dump(),
                                         seconds, messages=err.reasons)
    seconds.update(built.seconds)
    return _run_highs(built, options, seconds, progress)


# IndexSets fields that only feed the objective: cases that differ only in these have the
# same constraints, so a persistent model can be re-solved with a new objective.
OBJECTIVE_FIELDS = frozenset({"ship_cost", "ship_cost_parts", "serve_value", "build_cost",
                              "open_cost", "open_cost_parts", "assign_cost", "finance_saving",
                              "existing_fixed_cost"})


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
        >>> from capacity.solve import Resolver
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
        plan = _run_highs(built, options, seconds, solver=self.compiled)
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


_TERMINATION_STATUS: dict[TerminationCondition, Status] = {
    TerminationCondition.provenInfeasible: "infeasible",
    # Every variable of the formulation is bounded, so "infeasible or unbounded" is infeasible.
    TerminationCondition.infeasibleOrUnbounded: "infeasible",
    TerminationCondition.unbounded: "unbounded",
}


def _run_highs(built: BuiltModel, options: SolveOptions, seconds: dict[str, float],
               progress: Progress | None = None,
               solver: CompiledModel | None = None) -> Plan:
    """Solve ``built`` (its own matrices, or its Pyomo model where a caller made and
    perhaps changed it; or ``solver``, the same model already in HiGHS) into a plan.
    Ctrl-C stops the solve promptly with status ``interrupted`` (`capacity.interrupt`)."""
    t0 = time.perf_counter()
    with interrupt.catching_sigint():
        try:
            return _solved(built, options, seconds, progress, solver)
        except interrupt.Interrupted:
            return Plan.without_solution(
                built.case.name, "interrupted", options.model_dump(), seconds,
                messages=[_interrupted_after(time.perf_counter() - t0, has_plan=False)])


def _interrupted_after(seconds: float, has_plan: bool) -> str:
    return (f"interrupted after {seconds:.1f} s of solving; "
            + ("the best plan found so far is in the tables, not proven"
               if has_plan else "no plan was found before"))


def _solved(built: BuiltModel, options: SolveOptions, seconds: dict[str, float],
            progress: Progress | None, solver: CompiledModel | None) -> Plan:
    """`_run_highs`, within its handling of Ctrl-C."""
    lm, elastic = built.linear, built.index_sets.elastic
    size = model_size(built.pyomo) if built.has_pyomo else lm.size()
    if size["variables"] == 0:
        # Nothing to decide (no demand any site can serve): the plan is to do nothing and
        # the cost is the existing sites' fixed cost. HiGHS would report an empty model.
        cost = lm.objective.constant
        return _plan_with_solution(built, np.zeros(0), "optimal", cost, cost, options, seconds,
                                   size, {}, ["nothing to decide: no demand that any site "
                                              "can serve"], {})
    try:
        if solver is None:
            t0 = time.perf_counter()
            solver = compile_to_highs(built.pyomo) if built.has_pyomo else pass_linear(lm)
            seconds["transfer"] = time.perf_counter() - t0
        start = None
        if options.mip_start and not elastic:
            t0 = time.perf_counter()
            greedy = constructive_start(built.index_sets)
            # a program left unplaced leaves commitments unmet: HiGHS could not complete it
            if not greedy.unplaced:
                start = solver.map_columns(start_columns(lm, greedy), built.pyomo_columns()
                                           if built.has_pyomo else [])
            seconds["start"] = time.perf_counter() - t0
        aids = None  # for large models: made only where used, not on every small solve
        if start is not None and solver.columns is None:
            aids = _aids(built, solver, seconds["start"])
        run = optimise(solver, None, options, progress, start, aids)
    except FixedRowInfeasible as err:  # a caller fixed variables that break a row
        return Plan.without_solution(built.case.name, "infeasible", options.model_dump(),
                                     seconds, messages=[_fixed_infeasible(err)], size=size)
    except Exception as err:  # HiGHS or the interface failed: report it, write nothing
        return Plan.without_solution(built.case.name, "error", options.model_dump(), seconds,
                                     messages=[f"{type(err).__name__}: {err}"], size=size)
    status, highs = run.status, run.highs
    info = highs.getInfo()
    seconds["transfer"] = seconds.get("transfer", 0.0) + run.transfer_seconds
    seconds["solve"] = run.solve_seconds
    size["nonzeros"] = int(highs.getNumNz())
    numerics = solver.coefficient_ranges()
    warnings = numerics_warnings(numerics)
    # none where HiGHS's branch and bound was not run (its info then reads −1)
    counters = {"mip_nodes": int(info.mip_node_count),
                "simplex_iterations": int(info.simplex_iteration_count)} if run.ran else {}
    feasible = status in ("optimal", "time_limit_feasible")
    stopped = status == "interrupted"
    if stopped:
        feasible = run.highs.getInfo().primal_solution_status == \
            highspy.SolutionStatus.kSolutionStatusFeasible
    # HiGHS ended without a plan of its own and without a verdict (out of memory, or a
    # time limit that lost the incumbent, or Ctrl-C): the completed start stands
    fallback = (status in ("error", "no_solution") or (stopped and not feasible)) \
        and run.started is not None
    if fallback and not stopped:
        status = "time_limit_feasible"
    if not feasible and not fallback:
        if stopped:
            messages = [_interrupted_after(run.solve_seconds, has_plan=False)]
        elif status == "no_solution":
            messages = [f"no feasible plan found within the {options.time_limit_s:g} s "
                        "time limit"]
        elif status == "infeasible":
            messages = _why_infeasible(built, options)
        else:
            messages = [f"HiGHS stopped with {run.stopped_by}"]
        bound = run.bound
        return Plan.without_solution(built.case.name, status, options.model_dump(), seconds,
                                     messages=[*messages, *warnings], size=size,
                                     counters=counters, numerics=numerics,
                                     bound=None if bound is None else _reported(built, bound))
    # the engine's own plan stands: HiGHS did not run (the relaxation's bound proved it,
    # or memory) or gave no plan of its own
    own = fallback or not run.ran
    if stopped:
        messages = [_interrupted_after(run.solve_seconds, has_plan=True)]
    elif status == "optimal" and not run.ran:
        messages = [f"the plan is within the {options.mip_rel_gap:g} gap of {run.stopped_by}; "
                    "HiGHS's branch and bound was not needed"]
    elif fallback:
        why = run.stopped_by if not run.ran else \
            f"HiGHS stopped with {run.stopped_by} before finding a plan of its own"
        messages = [f"{why}: {run.own_plan} is returned, feasible, not proven optimal"
                    + (" (no bound)" if run.bound is None else "")]
    elif status == "time_limit_feasible" and not run.time_limit_reached:
        messages = [f"HiGHS stopped with {run.stopped_by}; the plan is feasible, not proven "
                    "optimal"]
    elif status == "time_limit_feasible":
        messages = [f"time limit of {options.time_limit_s:g} s reached; best plan returned"]
    else:
        messages = []
    if solver.columns is None:  # HiGHS holds lm's columns
        x = run.started if own and run.started is not None else solver.solution()
        cost = lm.objective_value(x)
    else:  # the Pyomo model: load it, read lm's columns off its variables
        if own and run.started is not None:
            solver.load_solution(run.started)
        else:
            run.load()
        x = built.pyomo_values()
        cost = float(pyo.value(getattr(built.pyomo, lm.objective.name)))
    built.solution = x
    return _plan_with_solution(built, x, status, cost, run.bound, options, seconds, size,
                               counters, [*messages, *run.notes, *warnings], numerics)


# Beyond these HiGHS's default tolerances (1e-7 feasibility, 1e-9 small matrix entries)
# start to bite: a warning, not an error, naming the range.
LARGE_COEFFICIENT = 1e9
SMALL_COEFFICIENT = 1e-7
MATRIX_RATIO = 1e10


def _aids(built: BuiltModel, compiled: CompiledModel, start_seconds: float) -> LargeModelAids:
    """The aids to a large solve of ``built``'s own matrices (in HiGHS: ``compiled``)."""
    lm, ix = built.linear, built.index_sets
    ship = lm.variables["Ship"]
    shipments = slice(ship.start, ship.start + len(ship.keys))

    def steered(tolls: np.ndarray) -> list[tuple[int, float]]:
        greedy = constructive_start(ix, tolls[shipments])
        return [] if greedy.unplaced else start_columns(lm, greedy)  # [] cannot complete

    return LargeModelAids(lambda: Layout.of(lm, ix.ship_assign),
                          lambda x: start_columns(lm, rounded_start(lm, ix, x)),
                          lambda: Decomposition.of(lm, compiled), steered, start_seconds)


def numerics_warnings(ranges: dict[str, list[float]]) -> list[str]:
    """Warnings for coefficient ranges HiGHS does not handle well."""
    out = []
    lo, hi = ranges["matrix"]
    if hi > LARGE_COEFFICIENT or (lo and lo < SMALL_COEFFICIENT) or (lo and hi / lo >
                                                                      MATRIX_RATIO):
        out.append(f"numerics: matrix coefficients span [{lo:.1e}, {hi:.1e}]; HiGHS is "
                   "reliable within about 1e-7..1e9 and a ratio below 1e10 (check units)")
    for name in ("objective", "bounds", "rhs"):
        if ranges[name][1] > LARGE_COEFFICIENT:
            out.append(f"numerics: {name} values reach {ranges[name][1]:.1e}; above 1e9 "
                       "HiGHS's tolerances lose meaning (check units)")
    return out


def _fixed_infeasible(err: FixedRowInfeasible) -> str:
    return f"{err}: with the variables fixed as they are, no plan meets it"


def _why_infeasible(built: BuiltModel, options: SolveOptions) -> list[str]:
    """The short explanation of an infeasible case (or where to get one)."""
    head = "infeasible: these commitments and rules cannot all hold"
    if not options.explain:
        return [f"{head} (run `capacity explain` to see which)"]
    from capacity.explain import explain

    try:
        why = explain(built.case, options)
    except Exception as err:  # the explanation is a courtesy; the status stands
        return [f"{head}; explaining failed: {type(err).__name__}: {err}"]
    if why.feasible:
        return ["infeasible, yet the case's own commitments and rules can all hold: "
                "constraints added to the model after build_model make it infeasible (or, "
                "without such constraints, check plan.numerics)"]
    return [head + ("" if why.minimal else " (not proven minimal within the time limit)")
            + ":", *why.short()]


@dataclass
class Run:
    """One HiGHS run: the mapped status, what stopped HiGHS, its bound, and timings.
    ``load()`` puts the solution into the Pyomo model's variables (nothing to do where
    HiGHS holds the engine's own matrices: read ``highs`` instead)."""

    highs: highspy.Highs
    status: Status
    stopped_by: str
    time_limit_reached: bool
    bound: float | None
    load: Callable[[], None]
    transfer_seconds: float
    solve_seconds: float
    # the engine's own plan (a value per HiGHS column: the completed constructive start,
    # or the dive's), kept in case HiGHS's own run ends without a plan or is not started
    started: np.ndarray | None = None
    ran: bool = True  # False: HiGHS's run on the whole model was not started
    own_plan: str = "the completed constructive start"  # what ``started`` is
    notes: tuple[str, ...] = ()  # for the plan's messages


Progress = Callable[[float, float | None, float | None], None]

_MODEL_STATUS: dict[highspy.HighsModelStatus, Status] = {
    highspy.HighsModelStatus.kInfeasible: "infeasible",
    # Every variable of the formulation is bounded, so "infeasible or unbounded" is infeasible.
    highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnbounded: "unbounded",
}


def optimise(solver: Highs | CompiledModel | None, m: pyo.ConcreteModel | None,
             options: SolveOptions,
             progress: Progress | None = None,
             start: Sequence[tuple[int, float]] | None = None,
             aids: LargeModelAids | None = None) -> Run:
    """Run HiGHS in memory and map its outcome to a plan status. Solutions are not
    loaded (``Run.load`` does, into a compiled Pyomo model's variables).

    Args:
        solver: None for a one-off solve of the Pyomo model ``m``: it is compiled and
            passed whole (`capacity.compiled`). A `CompiledModel` already in HiGHS (``m``
            unused): the engine's own matrices (`pass_linear`), a compiled Pyomo model, or
            the `Resolver`'s with its objective replaced. A Pyomo persistent
            ``Highs`` for a series of solves of one model that change more than costs:
            its first call sends the whole model, later calls only what changed
            (`capacity.explain`).
        progress: called as HiGHS improves the incumbent or logs branch-and-bound
            progress, with (seconds since HiGHS started, incumbent objective or None, best
            bound or None) of the minimised model.
        start: (column, value) of some columns (a constructive start's integers,
            `capacity.start`) for HiGHS to complete and start from (compiled models
            only); the completion
            counts in the time limit and on HiGHS's clock.
        aids: what large models use besides HiGHS (HiGHS holding the engine's own
            matrices, `LargeModelAids`): where the integer columns lie by site and
            program, so that the plan is improved a neighbourhood at a time
            (`capacity.improve`) before HiGHS's branch and bound; the rounding of PDLP's
            solution into a plan, where better than the dive's; the model's split for a
            Lagrangian bound (`capacity.lagrangian`) on models too large for PDLP and for
            HiGHS's branch and bound, and the greedy start its prices steer.
        progress is subscribed to the HiGHS instance: with a re-used `CompiledModel`,
        pass it on one call only.

    Raises:
        Exception: whatever HiGHS or the interface raises; callers turn it into ``error``.
    """
    use_threads(options.threads)
    if isinstance(solver, Highs):
        assert m is not None
        return _optimise_persistent(solver, m, options, progress)
    t0 = time.perf_counter()
    if solver is None:
        assert m is not None
    try:
        compiled = solver if solver is not None else compile_to_highs(m)
    except FixedRowInfeasible as err:
        return Run(new_highs(), "infeasible", _fixed_infeasible(err), False, None,
                   lambda: None, time.perf_counter() - t0, 0.0, ran=False)
    transfer = time.perf_counter() - t0
    highs = compiled.highs
    if options.model_file:
        write_model(highs, options.model_file)
    for name, value in (("output_flag", options.log), ("log_to_console", options.log),
                        ("mip_rel_gap", options.mip_rel_gap), ("mip_abs_gap", 1e-9),
                        ("threads", options.threads), ("random_seed", options.seed)):
        highs.setOptionValue(name, value)
    t1 = time.perf_counter()
    started = complete_start(compiled, start, options.time_limit_s) if start else None
    interrupt.check()
    if started is not None and progress is not None:  # now HiGHS's incumbent
        progress(time.perf_counter() - t1, started[1], None)
    need, free = mip_memory_estimate(compiled), available_memory()
    branch = free is None or need <= free
    large = started is not None and len(compiled.matrix[2]) >= LARGE_MODEL_NONZEROS
    relaxed, own_plan = None, "the completed constructive start"
    notes: tuple[str, ...] = ()
    early_bound: float | None = None
    if large:  # a proven bound and a better plan from the LP relaxation, by PDLP
        assert started is not None
        relaxed, dived, notes, early_bound = _relax_dive_search(
            compiled, started, options, t1, branch, free, progress, aids)
        if dived is not None:
            started, own_plan = dived, (
                "the plan from the LP relaxation (dive or rounding, and search)"
                if relaxed is not None
                else "a completed constructive start, improved by the neighbourhood search")
    clock = time.perf_counter() - t1  # HiGHS's own clock restarts with the MIP run
    early_gap = None if started is None else relative_gap(started[1], early_bound)
    if started is not None and early_gap is not None and early_gap <= options.mip_rel_gap:
        return Run(highs, "optimal", "the LP relaxation's bound (PDLP)" if relaxed is not None
                   else "the Lagrangian bound", False, early_bound,
                   compiled.load_solution, transfer, clock, started[0], ran=False,
                   own_plan=own_plan, notes=notes)
    if started is not None and not branch and free is not None:
        return Run(highs, "error", f"HiGHS's branch and bound was not started: the whole "
                   f"model would need about {need / 2**30:.0f} GiB ({MIP_BYTES_PER_NONZERO} "
                   f"bytes a nonzero), {free / 2**30:.0f} GiB are free", False, early_bound,
                   compiled.load_solution, transfer, clock, started[0], ran=False,
                   own_plan=own_plan, notes=notes)
    if started is not None and relaxed is not None and not relaxed.converged:
        return Run(highs, "error", "HiGHS's branch and bound was not started: PDLP did not "
                   "solve the LP relaxation within its share of the time, and HiGHS's "
                   "root LP, which comes before any bound or cut of its own, takes longer "
                   "(dual simplex over 280 s at tier M, where PDLP takes 20 s)", True,
                   early_bound, compiled.load_solution, transfer, clock, started[0],
                   ran=False, own_plan=own_plan, notes=notes)
    left = options.time_limit_s - clock
    if started is not None and relaxed is not None and not root_has_time(relaxed, left):
        return Run(highs, "error", f"HiGHS's branch and bound was not started: {left:.0f} s "
                   f"were left, and its root LP, which comes before any bound or cut of its "
                   f"own, takes over {ROOT_LP_PER_PDLP_SECOND:g}× as long as PDLP took "
                   f"({relaxed.seconds:.0f} s; tier M: over 280 s against 20-35 s)", True,
                   early_bound, compiled.load_solution, transfer, clock, started[0],
                   ran=False, own_plan=own_plan, notes=notes)
    if started is not None and not mip_has_time(compiled, left):
        return Run(highs, "error", f"HiGHS's branch and bound was not started: {left:.0f} s "
                   f"were left, and on {len(compiled.matrix[2]):,} nonzeros it takes about "
                   f"{mip_startup_seconds(compiled):.0f} s before it can stop at a time limit",
                   True, early_bound, compiled.load_solution, transfer, clock, started[0],
                   ran=False, own_plan=own_plan, notes=notes)
    if large and relaxed is None:
        # a plan in hand and no bound: the root LP by interior point (with the
        # relaxation's bound, dual simplex: interior point gained 0.15% of bound at tier
        # M and overran a 120-s limit by up to 51 s; simplex keeps to it)
        highs.setOptionValue("mip_lp_solver", "ipm")
    interrupt.check()  # Ctrl-C during the engine's own steps: stop before branching
    if progress is not None:
        _subscribe(highs, lambda at, incumbent, bound: progress(
            clock + at, incumbent, _best_bound(bound, early_bound)))
    highs.setOptionValue("time_limit", max(options.time_limit_s - clock, 1e-3))
    companion = None
    if (options.mip_start and options.threads >= 2 and compiled.integer.any()
            and COMPANION_MIN_NONZEROS <= len(compiled.matrix[2]) < LARGE_MODEL_NONZEROS):
        # a spare thread: the LP relaxation and a dive from it, offered to HiGHS
        companion = Companion(compiled, t1 + options.time_limit_s).start()
        highs.cbMipUserSolution.subscribe(companion.offer)
    try:
        highs.run()
    finally:  # also where HiGHS raises: the companion's LP is cancelled, its thread ends
        if companion is not None:
            highs.cbMipUserSolution.unsubscribe(companion.offer)
            companion.stop()
    if companion is not None:
        early_bound = _best_bound(early_bound, companion.bound)
        notes = (*notes, companion.note())
    solve_seconds = time.perf_counter() - t1
    model_status, info = highs.getModelStatus(), highs.getInfo()
    feasible = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    status: Status
    if model_status == highspy.HighsModelStatus.kInterrupt or interrupt.requested():
        status = "interrupted"
    elif model_status == highspy.HighsModelStatus.kOptimal and feasible:
        status = "optimal"
    elif feasible:
        status = "time_limit_feasible"
    elif model_status in _MODEL_STATUS:
        status = _MODEL_STATUS[model_status]
    elif model_status == highspy.HighsModelStatus.kTimeLimit:
        status = "no_solution"
    else:
        status = "error"
    if info.mip_node_count >= 0:  # a MIP: HiGHS's dual bound
        bound = _best_bound(finite(info.mip_dual_bound), early_bound)
    else:  # an LP: its optimum is its own bound
        bound = finite(info.objective_function_value) if status == "optimal" else None
    return Run(highs, status, highs.modelStatusToString(model_status),
               model_status == highspy.HighsModelStatus.kTimeLimit, bound,
               compiled.load_solution, transfer, solve_seconds,
               None if started is None else started[0], own_plan=own_plan, notes=notes)


def _relax_dive_search(compiled: CompiledModel, started: tuple[np.ndarray, float],
                       options: SolveOptions, t1: float, branch: bool, free: int | None,
                       progress: Progress | None, aids: LargeModelAids | None,
                       ) -> tuple[Relaxation | None, tuple[np.ndarray, float] | None,
                                  tuple[str, ...], float | None]:
    """The LP relaxation by PDLP (a proven bound, `capacity.lp_bound`), a dive from its
    solution (`capacity.dive`) and neighbourhoods of the best plan re-optimised
    (`capacity.improve`, where ``aids`` are given): the relaxation, the best plan where
    it is better than ``started`` (it is then HiGHS's incumbent, else None), notes
    for the plan's messages where a step was skipped or failed (too large, too little
    memory ``free`` for PDLP's copy, or HiGHS failed; the bound and plan in hand stand),
    and the proven bound (PDLP's, or the Lagrangian's; None where neither came).

    Where PDLP is not run (`RELAXATION_MAX_NONZEROS`, or too little memory for its copy)
    and HiGHS's branch and bound will not run either, the Lagrangian bound of the suites'
    capacity (`capacity.lagrangian`, ``aids.decomposition``; 45 bytes a nonzero against
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
    (`capacity.improve.draw_program`)."""
    nonzeros = len(compiled.matrix[2])
    need = RELAXATION_BYTES_PER_NONZERO * nonzeros
    skipped: str | None = None
    if nonzeros > RELAXATION_MAX_NONZEROS:
        skipped = (f"the LP relaxation was not solved: {nonzeros:,} nonzeros are more than "
                   f"the {RELAXATION_MAX_NONZEROS:,} up to which PDLP's bound is worth its "
                   "time")
    elif free is not None and need > free:
        skipped = (f"the LP relaxation was skipped: PDLP would need about "
                   f"{need / 2**30:.0f} GiB ({RELAXATION_BYTES_PER_NONZERO} bytes a "
                   f"nonzero), {free / 2**30:.0f} GiB are free")
    deadline = t1 + options.time_limit_s

    def left() -> float:
        return deadline - time.perf_counter()

    def report(plan: tuple[np.ndarray, float], bound: float | None) -> None:
        if progress is not None:
            progress(time.perf_counter() - t1, plan[1], bound)

    rng = np.random.default_rng(options.seed)  # one draw sequence over both searches
    made: list[Layout] = []  # the layout, made once and only where a search runs

    def search(plan: tuple[np.ndarray, float], seconds: float,
               stop: Callable[[], bool] | None = None, guide: np.ndarray | None = None,
               ) -> tuple[tuple[np.ndarray, float], tuple[str, ...]]:
        assert aids is not None
        if not made:
            made.append(aids.layout())
        found = improve(compiled, made[0], plan, seconds, rng, stop, guide)
        return found.plan, (() if found.error is None else
                            (f"the search for a better plan stopped ({found.error})",))

    side_by_side = aids is not None and options.threads >= 2
    rounding = None if aids is None else aids.rounding
    plan: tuple[np.ndarray, float] = started
    notes: tuple[str, ...] = ()
    if skipped is not None:  # no LP bound: the search, leaving branch and bound its share
        branching = branch and mip_has_time(compiled, (1 - IMPROVE_SHARE) * left())
        bound = None
        if aids is not None and not branching:  # no other bound will come
            # the Lagrangian bound first, aiming at the start; its prices then steer a
            # second greedy start, from which the search goes on where it is better
            priced = _priced_bound(compiled, aids.decomposition, started[1],
                                   LAGRANGIAN_SHARE * left(), free,
                                   lambda value: report(started, value))
            bound, notes = priced.value, priced.notes
            if priced.tolls is not None and left() > 2 * aids.start_seconds:
                plan, more = _steered_start(compiled, aids.steering, priced.tolls, started,
                                            left())
                notes += more
        if aids is not None:
            plan, more = search(plan, (IMPROVE_SHARE if branching else IMPROVE_SHARE_ALONE)
                                * left())
            notes += more
            report(plan, bound)
        return None, _incumbent(compiled, plan, started), (skipped, *notes), bound
    if side_by_side:
        with ThreadPoolExecutor(max_workers=1) as pool:
            behind = pool.submit(_relax_and_dive, compiled, started, deadline,
                                 RELAXATION_SHARE, rounding)
            plan, notes = search(started, left(), stop=behind.done)
            relaxed, dived, more = behind.result()
        notes += more
    else:
        relaxed, dived, notes = _relax_and_dive(
            compiled, started, deadline, RELAXATION_SHARE if branch else
            RELAXATION_SHARE_ALONE, rounding)
    if dived is not None and dived[1] < plan[1]:
        plan = dived
    if relaxed is None:
        return None, _incumbent(compiled, plan, started), notes, None
    report(plan, relaxed.bound)
    gap = relative_gap(plan[1], relaxed.bound)
    if aids is not None and gap is not None and gap > options.mip_rel_gap:
        # branch and bound runs after the search only where it can: memory, a solved
        # relaxation, and time enough to start
        branching = branch and relaxed.converged \
            and mip_has_time(compiled, (1 - IMPROVE_SHARE) * left()) \
            and root_has_time(relaxed, (1 - IMPROVE_SHARE) * left())
        plan, failed = search(plan, (IMPROVE_SHARE if branching else IMPROVE_SHARE_ALONE)
                              * left(), guide=relaxed.x)
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
    """The Lagrangian bound of the suites' capacity (`capacity.lagrangian`) within
    ``seconds``, Polyak's steps aiming at ``target`` (the plan's objective; ``better`` is
    told each better bound), with its prices' tolls and a note on where the bound came
    from, or why there is none (too little memory ``free``, a model the closed form does
    not price, HiGHS failing)."""
    need = LAGRANGIAN_BYTES_PER_NONZERO * len(compiled.matrix[2])
    if free is not None and need > free:
        return Priced(None, None, (f"no bound: the Lagrangian bound would need about "
                                   f"{need / 2**30:.0f} GiB ({LAGRANGIAN_BYTES_PER_NONZERO} "
                                   f"bytes a nonzero), {free / 2**30:.0f} GiB are free",))
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
                   started: tuple[np.ndarray, float], seconds: float,
                   ) -> tuple[tuple[np.ndarray, float], tuple[str, ...]]:
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
    return (steered if steered[1] < started[1] else started), (
        f"{name}: {steered[1]:,.1f} against {started[1]:,.1f} unsteered; the search went "
        f"on from the better",)


def _incumbent(compiled: CompiledModel, plan: tuple[np.ndarray, float],
               started: tuple[np.ndarray, float]) -> tuple[np.ndarray, float] | None:
    """``plan`` made HiGHS's incumbent where it is not ``started`` (already HiGHS's);
    None where it is."""
    if plan is started:
        return None
    compiled.set_incumbent(plan[0])
    return plan


def _relax_and_dive(compiled: CompiledModel, started: tuple[np.ndarray, float],
                    deadline: float, share: float, rounding: StartFrom | None = None,
                    ) -> tuple[Relaxation | None, tuple[np.ndarray, float] | None,
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
    rounded: tuple[np.ndarray, float] | None = None
    notes: tuple[str, ...] = ()
    if rounding is not None:  # cheap (tier L: 0.8 s), and the plan at tiers beyond the dive
        try:
            rounded = complete_start(compiled, rounding(relaxed.x),
                                     DIVE_SHARE * (deadline - time.perf_counter()),
                                     incumbent=False)
        except Exception as err:  # HiGHS failed in the completion: the bound stands
            notes = (f"the plan rounded from the LP relaxation failed "
                     f"({type(err).__name__}: {err})",)
    nonzeros = len(compiled.matrix[2])
    if nonzeros > DIVE_MAX_NONZEROS:
        return relaxed, rounded, (*notes, f"no dive from the LP relaxation: {nonzeros:,} "
                                  f"nonzeros are more than the {DIVE_MAX_NONZEROS:,} up to "
                                  "which its first round's LP is solved in time")
    try:
        dived = dive(compiled, relaxed.x, DIVE_SHARE * (deadline - time.perf_counter()),
                     plan=started[0])
    except Exception as err:  # HiGHS failed in the dive: the bound stands
        return relaxed, rounded, (*notes, f"the dive from the LP relaxation failed "
                                  f"({type(err).__name__}: {err})")
    better = min((p for p in (dived, rounded) if p is not None), key=lambda p: p[1],
                 default=None)
    return relaxed, better, notes


def _best_bound(a: float | None, b: float | None) -> float | None:
    """The higher of two lower bounds, either of which may be missing."""
    return b if a is None else a if b is None else max(a, b)


# From this many nonzeros on, and with a completed start as incumbent, the engine solves
# the LP relaxation by PDLP for a proven bound and dives from its solution to a plan
# (`_relax_dive_search`); where that gives no bound, HiGHS solves the root LP by interior
# point (its other LPs stay simplex). At tier M (631 k) the root LP takes 54-63 s by
# interior point against over 280 s by dual simplex, and PDLP's dual gives the same bound
# in 20 s; at tier S (26 k) interior point doubled the time to a 1% gap, and OR-Library
# capb-5000 (401 k) took 278 s to optimality instead of ~183 s (benchmarks/RESULTS.md).
LARGE_MODEL_NONZEROS = 500_000

# Shares of the time left (`_relax_dive_search`): PDLP's for the bound, the dive's after
# it (at most; it takes 2-5 s at tier M), and the search's after both
# (`capacity.improve`); HiGHS's branch and bound gets the rest. At tier M, in 60 s,
# HiGHS's branch and bound finishes no root LP by dual simplex, while PDLP needs ~20 s
# for the LP optimum, so PDLP and the search get the larger shares. Where branch and
# bound will not run (memory, or PDLP not converged), PDLP and the search share all of
# the time (`_ALONE`), the search all but a margin for writing the plan.
RELAXATION_SHARE = 0.4
DIVE_SHARE = 0.25
IMPROVE_SHARE = 0.5
RELAXATION_SHARE_ALONE = 0.5
IMPROVE_SHARE_ALONE = 0.95

# Share of the time left after the first plan that the Lagrangian bound gets where
# neither PDLP nor branch and bound runs (tier XL: too large for both), before the search
# (its prices steer a second greedy start, `_steered_start`). Both
# gain fast at first and slowly after: tier XL's bound −682,385 after 225 s of steps,
# −529,711 after 450 s, −482,930 after 900 s (`capacity.lagrangian`); the search took
# the plan from −294,692 to −344,498 in 10 minutes (benchmarks/RESULTS.md).
LAGRANGIAN_SHARE = 0.5

# Memory the Lagrangian bound takes on top of the solve's, per matrix nonzero: its copy of
# the priced rows and arrays per shipment (tier XL: 11.5 GB at its peak against ~9 GB
# after the model was passed, 71 M nonzeros).
LAGRANGIAN_BYTES_PER_NONZERO = 45

# Beyond this many nonzeros the dive is not tried: its first round, a reduced LP solved
# from scratch by simplex, takes 2-5 s at tier M (685 k) but did not finish at tier L
# (5.8 M) in 300 s, from PDLP's 1e-3 solution (140 s) or its 150-s one, so that its share
# of the time was lost to the search (benchmarks/RESULTS.md).
DIVE_MAX_NONZEROS = 2_000_000

# Beyond this many nonzeros the relaxation is not solved. At tier XL (70.9 M) PDLP ran
# 21 min of a 30-min limit for a bound 967% from the plan, at 21 GB (with the repaired dual:
# 15 min, 1,228 iterations, 3,083%; tier M needs ~12,000 iterations), and the dive did not
# finish; at tier L (5.35 M) 2.5 min gave a bound 51% from the plan, where HiGHS gave
# none in 10 min (benchmarks/RESULTS.md).
RELAXATION_MAX_NONZEROS = 20_000_000

# HiGHS's memory for branch and bound on a model, per matrix nonzero: 3,558 MiB for tier
# L's 5.35 M (HiGHS alone, reading the MPS file and running 60 s; benchmarks/RESULTS.md).
MIP_BYTES_PER_NONZERO = 700


# Memory PDLP's run takes on top of the solve's, per matrix nonzero (its own HiGHS copy
# of the model and cuPDLP-C's arrays): ~140 measured at tier XL, 21.0 GB at its peak
# against 11.0 GB after it (benchmarks/RESULTS.md).
RELAXATION_BYTES_PER_NONZERO = 150


# Seconds HiGHS's branch and bound takes per matrix nonzero before it first heeds its
# time limit (presolve, then its first heuristics): tier L (5.82 M) 28 s, so that a
# 20-s limit ended after 32 s; tier M (685 k) 2.8 s (benchmarks/RESULTS.md). It is
# started only with twice that left, so that it also has time to work.
MIP_STARTUP_SECONDS_PER_NONZERO = 5e-6


def mip_startup_seconds(compiled: CompiledModel) -> float:
    """Seconds HiGHS's branch and bound is expected to run on ``compiled``'s model before
    it can stop at a time limit."""
    return MIP_STARTUP_SECONDS_PER_NONZERO * len(compiled.matrix[2])


def mip_has_time(compiled: CompiledModel, seconds_left: float) -> bool:
    """Whether ``seconds_left`` is worth starting HiGHS's branch and bound for: twice
    what it takes before it heeds a time limit."""
    return seconds_left >= 2 * mip_startup_seconds(compiled)


# HiGHS's root LP by dual simplex takes this many times PDLP's time to convergence, or
# more: tier M over 280 s (and root cut rounds unfinished after 633 s) against 20-35 s
# for PDLP. Its branch and bound starts only with that much time left; else it would
# end at the time limit without a node (tier M in 120 s: ~30 s, 0 nodes, against
# searching on; benchmarks/RESULTS.md).
ROOT_LP_PER_PDLP_SECOND = 10.0


def root_has_time(relaxed: Relaxation, seconds_left: float) -> bool:
    """Whether ``seconds_left`` lets HiGHS's branch and bound finish its root LP, judged
    by the time PDLP took on the same LP (``relaxed``)."""
    return seconds_left >= ROOT_LP_PER_PDLP_SECOND * relaxed.seconds


def mip_memory_estimate(compiled: CompiledModel) -> int:
    """Bytes HiGHS's branch and bound is expected to take on ``compiled``'s model."""
    return MIP_BYTES_PER_NONZERO * len(compiled.matrix[2])


def available_memory() -> int | None:
    """Bytes of memory free for new work (Linux's MemAvailable); None where unknown."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _optimise_persistent(solver: Highs, m: pyo.ConcreteModel, options: SolveOptions,
                         progress: Progress | None) -> Run:
    """`optimise` through Pyomo's persistent interface."""
    transfer = 0.0
    if solver._model is not m:  # first call: send the whole model (timed as transfer)
        t0 = time.perf_counter()
        with capture_output(io.StringIO(), capture_fd=True):
            solver.set_instance(m)
        transfer = time.perf_counter() - t0
        if progress is not None:
            _subscribe(solver._solver_model, progress)
    if options.model_file:
        with capture_output(io.StringIO(), capture_fd=True):
            write_model(solver._solver_model, options.model_file)
    t1 = time.perf_counter()
    results = solver.solve(  # sends only what changed since the last call, then runs
        m, tee=[io.StringIO()] if not options.log else True, timer=HierarchicalTimer(),
        load_solutions=False, raise_exception_on_nonoptimal_result=False,
        time_limit=options.time_limit_s, rel_gap=options.mip_rel_gap, threads=options.threads,
        solver_options={"random_seed": options.seed, "mip_abs_gap": 1e-9},
    )
    solve_seconds = time.perf_counter() - t1
    tc = results.termination_condition
    feasible = results.solution_status in (SolutionStatus.feasible, SolutionStatus.optimal)
    status: Status
    if tc == TerminationCondition.convergenceCriteriaSatisfied and feasible:
        status = "optimal"
    elif feasible:
        status = "time_limit_feasible"
    elif tc in _TERMINATION_STATUS:
        status = _TERMINATION_STATUS[tc]
    elif tc == TerminationCondition.maxTimeLimit:
        status = "no_solution"
    else:
        status = "error"
    return Run(solver._solver_model, status, tc.name, tc == TerminationCondition.maxTimeLimit,
               finite(results.objective_bound), results.solution_loader.load_vars, transfer,
               solve_seconds)


def write_model(highs: highspy.Highs, path: str) -> None:
    """Write the model in ``highs`` to ``path`` (its suffix, ``.mps`` or ``.lp``, chooses
    the format) through a temporary file, so that a reader never sees half a model.

    Raises:
        OSError: HiGHS could not write it (a missing folder, no permission).
    """
    target = Path(path)

    def write(tmp: Path) -> None:
        if highs.writeModel(str(tmp)) == highspy.HighsStatus.kError:
            raise OSError(f"HiGHS could not write the model to {target}")

    write_file(target, write, suffix=target.suffix)


def _subscribe(highs: object, progress: Progress) -> None:
    """Forward HiGHS's MIP callbacks (improving solution, B&B log) to ``progress``."""

    def improving(event: object) -> None:  # a new incumbent: its objective is exact
        data = event.data_out  # type: ignore[attr-defined]
        progress(float(data.running_time), finite(data.objective_function_value),
                 finite(data.mip_dual_bound))

    def logging(event: object) -> None:  # a B&B log line: the bound has moved
        data = event.data_out  # type: ignore[attr-defined]
        progress(float(data.running_time), finite(data.mip_primal_bound),
                 finite(data.mip_dual_bound))

    highs.cbMipImprovingSolution.subscribe(improving)  # type: ignore[attr-defined]
    highs.cbMipLogging.subscribe(logging)  # type: ignore[attr-defined]


def _plan_with_solution(built: BuiltModel, x: np.ndarray, status: Status, cost: float,
                        bound_cost: float | None, options: SolveOptions,
                        seconds: dict[str, float], size: dict[str, int],
                        counters: dict[str, int], messages: list[str],
                        numerics: dict[str, list[float]]) -> Plan:
    """Extract the tables of a solution (``x``: ``built.linear``'s columns) and report the
    objective as the case asks."""
    t0 = time.perf_counter()
    tables = extract_tables(built, x)
    seconds["extract"] = time.perf_counter() - t0
    sense, _offset, unit = built.case.objective_sense
    objective = _reported(built, cost)
    bound = None if bound_cost is None else _reported(built, bound_cost)
    return Plan(case_name=built.case.name, status=status, objective=objective, bound=bound,
                gap=relative_gap(objective, bound), seconds=seconds, size=size, counters=counters,
                options=options.model_dump(), messages=messages, tables=tables,
                sense=sense, unit=unit, net_cost=cost, numerics=numerics,
                case_source=built.case.source)


def _reported(built: BuiltModel, cost: float) -> float:
    """The net cost as the case reports it: offset + cost, or offset − cost (maximise)."""
    sense, offset, _unit = built.case.objective_sense
    return offset - cost if sense == "maximise" else offset + cost


def finite(x: float | None) -> float | None:
    """x as a float, or None when it is missing, NaN or infinite (HiGHS's "no bound")."""
    if x is None or x != x or abs(x) == float("inf"):
        return None
    return float(x)


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """Relative gap in the reported objective: |objective − bound| / max(|objective|, 1)."""
    if objective is None or bound is None:
        return None
    return abs(objective - bound) / max(abs(objective), 1.0)


def model_size(m: pyo.ConcreteModel) -> dict[str, int]:
    """Variables by type and constraint rows of a Pyomo model."""
    counts = {"binary": 0, "integer": 0, "continuous": 0}
    for v in m.component_data_objects(pyo.Var, active=True):
        if v.is_binary():
            counts["binary"] += 1
        elif v.is_integer():
            counts["integer"] += 1
        else:
            counts["continuous"] += 1
    constraints = sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True))
    return {"variables": sum(counts.values()), **counts, "constraints": constraints,
            "nonzeros": 0}
