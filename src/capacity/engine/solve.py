"""Solve a built model with HiGHS, in memory, and turn the outcome into a `Plan`."""

from __future__ import annotations

import time
from collections.abc import Sequence

import highspy
import numpy as np
import pyomo.environ as pyo

from capacity.case import Case
from capacity.engine import interrupt, strategy
from capacity.engine.companion import Companion
from capacity.engine.cuts import (
    CUT_TIME_SHARE,
    Group,
    add_cut_rows,
    cut_groups,
    reduced_cost_fixing,
    root_cuts,
    separate,
)
from capacity.engine.external import optimise_elsewhere
from capacity.engine.highs import (
    CompiledModel,
    FixedRowInfeasible,
    compile_to_highs,
    complete_start,
    holds_plan,
    new_highs,
    pass_linear,
    status_of,
    use_threads,
)
from capacity.engine.incumbent import Incumbent
from capacity.engine.lagrangian import Decomposition
from capacity.engine.large import LargeModelAids, relax_dive_search
from capacity.engine.lp_bound import Relaxation
from capacity.engine.model_file import write_model
from capacity.engine.options import SolveOptions
from capacity.engine.run import (
    Progress,
    Run,
    best_bound,
    finite,
    relative_gap,
    subscribe_progress,
)
from capacity.engine.search import Layout
from capacity.engine.start import (
    START_PASSES,
    constructive_start,
    rounded_start,
    start_columns,
)
from capacity.errors import CaseInfeasibleError
from capacity.model import BuiltModel, build_model
from capacity.model.phases import settle_scale_ups
from capacity.results.extract import (
    changeover_messages,
    extract_tables,
    inventory_messages,
    launch_messages,
    phase_messages,
)
from capacity.results.plan import Plan, Status


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
        ``infeasible``, ``unbounded``, ``no_solution``, ``interrupted`` or ``error``;
        decision tables are filled only when a plan exists, never with zeros in place of
        a plan.

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
    return run_highs(built, options, seconds, progress)


def run_highs(built: BuiltModel, options: SolveOptions, seconds: dict[str, float],
              progress: Progress | None = None,
              solver: CompiledModel | None = None, hint: np.ndarray | None = None) -> Plan:
    """Solve ``built`` (its own matrices, or its Pyomo model where a caller made and
    perhaps changed it; or ``solver``, the same model already in HiGHS) into a plan.
    ``hint``: a plan of a neighbouring case over the same columns (the `Resolver`'s
    warm start), whose integer decisions are completed and offered beside the
    constructive start (`optimise`). Ctrl-C stops the solve promptly with status
    ``interrupted`` (`capacity.engine.interrupt`)."""
    t0 = time.perf_counter()
    with interrupt.catching_sigint():
        try:
            return _solved(built, options, seconds, progress, solver, hint)
        except interrupt.Interrupted:
            return Plan.without_solution(
                built.case.name, "interrupted", options.model_dump(), seconds,
                messages=[_interrupted_after(time.perf_counter() - t0, has_plan=False)])


def _interrupted_after(seconds: float, has_plan: bool) -> str:
    return (f"interrupted after {seconds:.1f} s of solving; "
            + ("the best plan found so far is in the tables, not proven"
               if has_plan else "no plan was found before"))


def _solved(built: BuiltModel, options: SolveOptions, seconds: dict[str, float],
            progress: Progress | None, solver: CompiledModel | None,
            hint: np.ndarray | None = None) -> Plan:
    """`run_highs`, within its handling of Ctrl-C: the start, one HiGHS run
    (`optimise`), and its outcome as a `Plan`."""
    lm, elastic = built.linear, built.index_sets.elastic
    size = model_size(built.pyomo) if built.has_pyomo else lm.size()
    if size["variables"] == 0:
        # Nothing to decide (no demand any site can serve): the plan is to do nothing and
        # the cost is the existing sites' fixed cost. HiGHS would report an empty model.
        cost = lm.objective.constant
        return _plan_with_solution(built, np.zeros(0), "optimal", cost, cost, options, seconds,
                                   size, {}, ["nothing to decide: no demand that any site "
                                              "can serve"], {})
    start_notes: list[str] = []  # why the engine's greedy start was not used
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
            else:
                start_notes = [unplaced_note(greedy.unplaced)]
            seconds["start"] = time.perf_counter() - t0
        if options.solver != "highs":  # SCIP or Gurobi on the same matrices and start
            run = optimise_elsewhere(solver, options, progress, start)
        else:
            aids = None  # for large models: made only where used, not on every small solve
            if start is not None and solver.columns is None:
                aids = _aids(built, solver, seconds["start"])
            # the cuts are over the engine's own columns: not where HiGHS holds a Pyomo model
            groups = cut_groups(built) if options.cuts and solver.columns is None else None
            neighbour = None
            if hint is not None and options.mip_start and solver.columns is None \
                    and len(hint) == len(solver.col_lower):
                neighbour = [(int(j), float(round(hint[j])))
                             for j in np.flatnonzero(solver.integer)]
            run = optimise(solver, options, progress, start, aids, groups, neighbour)
    except FixedRowInfeasible as err:  # a caller fixed variables that break a row
        return Plan.without_solution(built.case.name, "infeasible", options.model_dump(),
                                     seconds, messages=[_fixed_infeasible(err)], size=size)
    except Exception as err:  # the solver or the interface failed: report it, write nothing
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
    counters = run.work if run.work is not None else {
        "mip_nodes": int(info.mip_node_count),
        "simplex_iterations": int(info.simplex_iteration_count)} if run.ran else {}
    stopped = status == "interrupted"
    # the solver holds a plan of its own (also where Ctrl-C stopped it)
    feasible = status in ("optimal", "time_limit_feasible") or (
        stopped and (run.solution is not None if run.elsewhere else holds_plan(highs)))
    # HiGHS ended without a plan of its own and without a verdict (its branch and bound
    # not started, out of memory, a time limit that lost the incumbent, Ctrl-C): the
    # engine's own plan stands
    fallback = not feasible and run.started is not None \
        and status in (None, "error", "no_solution", "interrupted")
    if fallback and not stopped:
        status = "time_limit_feasible"
    elif status is None:  # not started, and no plan of the engine's own (cannot happen)
        status = "error"
    if not feasible and not fallback:
        if stopped:
            messages = [_interrupted_after(run.solve_seconds, has_plan=False)]
        elif status == "no_solution":
            messages = [f"no feasible plan found within the {options.time_limit_s:g} s "
                        "time limit"]
        elif status == "infeasible":
            messages = _why_infeasible(built, options)
        else:
            messages = [f"{run.solver} stopped with {run.stopped_by}"]
        if status != "infeasible":  # an infeasible case's reasons say it all
            messages += start_notes
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
            f"{run.solver} stopped with {run.stopped_by} before finding a plan of its own"
        messages = [f"{why}: {run.own_plan} is returned, feasible, not proven optimal"
                    + (" (no bound)" if run.bound is None else "")]
    elif status == "time_limit_feasible" and not run.time_limit_reached:
        messages = [f"{run.solver} stopped with {run.stopped_by}; the plan is feasible, not "
                    "proven optimal"]
    elif status == "time_limit_feasible":
        messages = [f"time limit of {options.time_limit_s:g} s reached; best plan returned"]
    else:
        messages = []
    if solver.columns is None:  # HiGHS holds lm's columns
        x = run.started if own and run.started is not None else \
            run.solution if run.solution is not None else solver.solution()
        cost = lm.objective_value(x)
    else:  # the Pyomo model: load it, read lm's columns off its variables
        if own and run.started is not None:
            solver.load_solution(run.started)
        else:
            run.load()
        x = built.pyomo_values()
        cost = float(pyo.value(getattr(built.pyomo, lm.objective.name)))
    # a scale-up in place the plan's continuous part left unclaimed (a heuristic's plan):
    # claimed, its transfer saved (`capacity.model.phases.settle_scale_ups`)
    settled = settle_scale_ups(lm, x)
    cost += float(lm.objective.cost @ (settled - x))
    x = settled
    built.solution = x
    return _plan_with_solution(built, x, status, cost, run.bound, options, seconds, size,
                               # why the start was not used: only where the plan may be
                               # poorer for it (an optimal plan needs no excuse)
                               counters, [*messages, *run.notes,
                                          *(start_notes if status != "optimal" else []),
                                          *warnings], numerics)


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


def unplaced_note(programs: list[str]) -> str:
    """The plan's message where the greedy start left ``programs`` unplaced."""
    shown = ", ".join(programs[:5]) + (f" and {len(programs) - 5} more"
                                       if len(programs) > 5 else "")
    return (f"the engine's greedy start could not place {shown} (no single site that can "
            "make it had room for all its commitments beside the programs placed before "
            f"it, in up to {START_PASSES} passes), so HiGHS searched without a starting "
            "plan")


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
    from capacity.engine.explain import explain

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


def optimise_pyomo(m: pyo.ConcreteModel, options: SolveOptions) -> Run:
    """A one-off solve of the Pyomo model ``m``: compiled and passed whole
    (`capacity.engine.highs.compile_to_highs`), then `optimise` (or, with another
    ``options.solver``, `capacity.engine.external.optimise_elsewhere`, without a start);
    a variable a caller fixed so that a row cannot hold is reported as ``infeasible``.

    Raises:
        Exception: whatever HiGHS or the interface raises; callers turn it into ``error``.
    """
    t0 = time.perf_counter()
    try:
        compiled = compile_to_highs(m)
    except FixedRowInfeasible as err:
        return Run(new_highs(), "infeasible", _fixed_infeasible(err), False, None,
                   lambda: None, time.perf_counter() - t0, 0.0, ran=False)
    with interrupt.catching_sigint():  # Ctrl-C: status "interrupted", as in `solve`
        try:
            run = optimise_elsewhere(compiled, options) if options.solver != "highs" \
                else optimise(compiled, options)
        except interrupt.Interrupted:
            return Run(compiled.highs, "interrupted", "Ctrl-C", False, None,
                       compiled.load_solution, time.perf_counter() - t0, 0.0, ran=False)
    run.transfer_seconds += time.perf_counter() - t0 - run.solve_seconds
    return run


def optimise(compiled: CompiledModel, options: SolveOptions,
             progress: Progress | None = None,
             start: Sequence[tuple[int, float]] | None = None,
             aids: LargeModelAids | None = None,
             groups: list[Group] | None = None,
             neighbour: Sequence[tuple[int, float]] | None = None) -> Run:
    """Run HiGHS in memory on a model it holds and map its outcome to a plan status.
    Solutions are not loaded (``Run.load`` does, into a compiled Pyomo model's
    variables). (A series of solves of one Pyomo model that change more than costs goes
    through `capacity.engine.persistent.optimise_persistent` instead.)

    Args:
        compiled: the model in HiGHS: the engine's own matrices (`pass_linear`), a
            compiled Pyomo model (`optimise_pyomo`), or the `Resolver`'s with its
            objective replaced.
        progress: called as the engine's own steps (the completed start, the dive, each
            better plan of the neighbourhood search, the relaxation's bound) or HiGHS
            improve the incumbent or the bound, with (seconds since HiGHS started,
            incumbent objective or None, best bound or None: none known yet) of the
            minimised model. It is subscribed to the HiGHS
            instance: with a re-used `CompiledModel`, pass it on one call only.
        start: (column, value) of some columns (a constructive start's integers,
            `capacity.engine.start`) for HiGHS to complete and start from; the completion
            counts in the time limit and on HiGHS's clock.
        aids: what large models use besides HiGHS (HiGHS holding the engine's own
            matrices, `LargeModelAids`): where the integer columns lie by site and
            program, so that the plan is improved a neighbourhood at a time
            (`capacity.engine.search`) before HiGHS's branch and bound; the rounding of
            PDLP's solution into a plan, where better than the dive's; the model's split
            for a Lagrangian bound (`capacity.engine.lagrangian`) on models too large for
            PDLP and for HiGHS's branch and bound, and the greedy start its prices steer.
        groups: with ``options.cuts``, the suite groups of the engine's own matrices
            (`capacity.engine.cuts.cut_groups`): their cuts are added as rows before
            HiGHS's branch and bound (`_with_cuts`); None with ``options.cuts``: none
            are added, and a note says why.
        neighbour: (column, value) of the integer columns of a neighbouring case's plan
            (the `Resolver`'s warm start): completed like ``start``; HiGHS starts from
            the cheaper of the two completed plans.

    Raises:
        Exception: whatever HiGHS or the interface raises; callers turn it into ``error``.
    """
    use_threads(options.threads)
    transfer = 0.0  # the model is already in HiGHS (the caller timed passing it)
    highs = compiled.highs
    if options.model_file:
        write_model(compiled, options.model_file)
    for name, value in (("output_flag", options.log), ("log_to_console", options.log),
                        ("mip_rel_gap", options.mip_rel_gap), ("mip_abs_gap", options.mip_abs_gap),
                        ("threads", options.threads), ("random_seed", options.seed)):
        highs.setOptionValue(name, value)
    t1 = time.perf_counter()
    started = complete_start(compiled, start, options.time_limit_s) if start else None
    if neighbour:
        near = complete_start(compiled, neighbour, options.time_limit_s, incumbent=False)
        if near is not None and (started is None or near.objective < started.objective):
            compiled.set_incumbent(near.x)
            started = near
    interrupt.check()
    if started is not None and progress is not None:  # now HiGHS's incumbent
        progress(time.perf_counter() - t1, started.objective, None)
    steps = strategy.plan_strategy(compiled, options.threads, options.mip_start,
                                   has_start=started is not None, has_aids=aids is not None)
    branch, free = steps.branch_fits, steps.free_bytes
    relaxed, own_plan = None, "the completed constructive start"
    notes: tuple[str, ...] = ()
    early_bound: float | None = None
    if steps.relax_dive_search:  # a proven bound and a better plan from the LP relaxation
        assert started is not None
        relaxed, dived, notes, early_bound = relax_dive_search(
            compiled, started, options, t1, steps, progress, aids)
        if dived is not None:
            started, own_plan = dived, (
                "the plan from the LP relaxation (dive or rounding, and search)"
                if relaxed is not None
                else "a completed constructive start, improved by the neighbourhood search")
    bound_from = ("the LP relaxation's bound (PDLP)" if relaxed is not None
                  else "the Lagrangian bound")
    if options.cuts:
        cut_bound, cut_notes = _with_cuts(compiled, options, groups, started, relaxed)
        notes = (*notes, *cut_notes)
        if cut_bound is not None and (early_bound is None or cut_bound > early_bound):
            early_bound, bound_from = cut_bound, "the LP relaxation's bound with cuts"
    clock = time.perf_counter() - t1  # HiGHS's own clock restarts with the MIP run
    if interrupt.requested():  # Ctrl-C during the engine's own steps: their plan stands
        return Run(highs, "interrupted", "Ctrl-C", False, early_bound, compiled.load_solution,
                   transfer, clock, None if started is None else started.x, ran=False,
                   own_plan=own_plan, notes=notes)
    early_gap = None if started is None else relative_gap(started.objective, early_bound)
    if started is not None and early_gap is not None and early_gap <= options.mip_rel_gap:
        return Run(highs, "optimal", bound_from, False, early_bound,
                   compiled.load_solution, transfer, clock, started.x, ran=False,
                   own_plan=own_plan, notes=notes)
    if started is not None and not branch and free is not None:
        return Run(highs, None, f"HiGHS's branch and bound was not started: the whole "
                   f"model would need about {strategy.mip_memory_estimate(compiled) / 2**30:.0f}"
                   f" GiB ({strategy.MIP_BYTES_PER_NONZERO} bytes a nonzero), "
                   f"{free / 2**30:.0f} GiB are free", False, early_bound,
                   compiled.load_solution, transfer, clock, started.x, ran=False,
                   own_plan=own_plan, notes=notes)
    if started is not None and relaxed is not None and not relaxed.converged:
        return Run(highs, None, "HiGHS's branch and bound was not started: PDLP did not "
                   "solve the LP relaxation within its share of the time, and HiGHS's "
                   "root LP, which comes before any bound or cut of its own, takes longer "
                   "(dual simplex over 280 s at tier M, where PDLP takes 20 s)", True,
                   early_bound, compiled.load_solution, transfer, clock, started.x,
                   ran=False, own_plan=own_plan, notes=notes)
    left = options.time_limit_s - clock
    if started is not None and relaxed is not None and not strategy.root_has_time(relaxed, left):
        return Run(highs, None, f"HiGHS's branch and bound was not started: {left:.0f} s "
                   f"were left, and its root LP, which comes before any bound or cut of its "
                   f"own, takes over {strategy.ROOT_LP_PER_PDLP_SECOND:g}× as long as PDLP took "
                   f"({relaxed.seconds:.0f} s; tier M: over 280 s against 20-35 s)", True,
                   early_bound, compiled.load_solution, transfer, clock, started.x,
                   ran=False, own_plan=own_plan, notes=notes)
    if started is not None and not strategy.mip_has_time(compiled, left):
        return Run(highs, None, f"HiGHS's branch and bound was not started: {left:.0f} s "
                   f"were left, and on {compiled.nonzeros:,} nonzeros it takes about "
                   f"{strategy.mip_startup_seconds(compiled):.0f} s before it can stop at a "
                   "time limit",
                   True, early_bound, compiled.load_solution, transfer, clock, started.x,
                   ran=False, own_plan=own_plan, notes=notes)
    if steps.relax_dive_search and relaxed is None:
        # a plan in hand and no bound: the root LP by interior point (with the
        # relaxation's bound, dual simplex: interior point gained 0.15% of bound at tier
        # M and overran a 120-s limit by up to 51 s; simplex keeps to it)
        highs.setOptionValue("mip_lp_solver", "ipm")
    if progress is not None:
        subscribe_progress(highs, lambda at, incumbent, bound: progress(
            clock + at, incumbent, best_bound(bound, early_bound)))
    highs.setOptionValue("time_limit", max(options.time_limit_s - clock, 1e-3))
    companion = None
    if steps.companion:  # a spare thread: the LP relaxation and a dive from it, offered to HiGHS
        companion = Companion(compiled, t1 + options.time_limit_s).start()
        highs.cbMipUserSolution.subscribe(companion.offer)
    try:
        highs.run()
    finally:  # also where HiGHS raises: the companion's LP is cancelled, its thread ends
        if companion is not None:
            highs.cbMipUserSolution.unsubscribe(companion.offer)
            companion.stop()
    if companion is not None:
        early_bound = best_bound(early_bound, companion.bound)
        notes = (*notes, companion.note())
    solve_seconds = time.perf_counter() - t1
    model_status, info = highs.getModelStatus(), highs.getInfo()
    status = status_of(highs)
    if info.mip_node_count >= 0:  # a MIP: HiGHS's dual bound
        bound = best_bound(finite(info.mip_dual_bound), early_bound)
    else:  # an LP: its optimum is its own bound
        bound = finite(info.objective_function_value) if status == "optimal" else None
    return Run(highs, status, highs.modelStatusToString(model_status),
               model_status == highspy.HighsModelStatus.kTimeLimit, bound,
               compiled.load_solution, transfer, solve_seconds,
               None if started is None else started.x, own_plan=own_plan, notes=notes)


def _with_cuts(compiled: CompiledModel, options: SolveOptions, groups: list[Group] | None,
               started: Incumbent | None, relaxed: Relaxation | None,
               ) -> tuple[float | None, tuple[str, ...]]:
    """Add the cuts of ``groups`` to ``compiled`` (`capacity.engine.cuts`): rounds of LP
    and separation within `CUT_TIME_SHARE` of the time limit, then reduced-cost fixing
    against ``started``; where PDLP's relaxation is in hand (a large model), one round
    at its solution instead (another LP would take as long as PDLP did). Returns the LP
    bound with the cuts (None where not solved) and notes for the plan's messages."""
    if groups is None:
        return None, ("cuts not added: HiGHS holds a model changed through Pyomo, and the "
                      "cuts are made over the engine's own columns",)
    if not groups:
        return None, ("cuts not added: no suite group to cut (elastic mode, or no "
                      "capacity row)",)
    if relaxed is not None:
        cuts = separate(groups, relaxed.x)
        add_cut_rows(compiled, cuts)
        if started is not None:  # a model changed: HiGHS's incumbent is set again
            compiled.set_incumbent(started.x)
        return None, (f"root cuts: {len(cuts)} cut-set MIR rows from PDLP's solution",)
    root = root_cuts(compiled, groups, CUT_TIME_SHARE * options.time_limit_s)
    add_cut_rows(compiled, root.cuts)
    notes = [root.note()]
    if started is not None:
        fixed = reduced_cost_fixing(compiled, root, started.x, started.objective)
        notes.append(f"reduced-cost fixing: {fixed} integer columns fixed at the start's "
                     "value")
        compiled.set_incumbent(started.x)
    return root.cut_bound, tuple(notes)


def _plan_with_solution(built: BuiltModel, x: np.ndarray, status: Status, cost: float,
                        bound_cost: float | None, options: SolveOptions,
                        seconds: dict[str, float], size: dict[str, int],
                        counters: dict[str, int], messages: list[str],
                        numerics: dict[str, list[float]]) -> Plan:
    """Extract the tables of a solution (``x``: ``built.linear``'s columns) and report the
    objective as the case asks."""
    t0 = time.perf_counter()
    tables = extract_tables(built, x)
    messages = [*messages, *phase_messages(built, tables),
                *inventory_messages(built, tables["inventory"]),
                *launch_messages(tables["launches"]),
                *changeover_messages(tables["utilisation"])]
    seconds["extract"] = time.perf_counter() - t0
    sense, _offset, unit = built.case.objective_sense
    objective = _reported(built, cost)
    bound = None if bound_cost is None else _reported(built, bound_cost)
    changes = model_changes(built) if built.has_pyomo else []
    if changes:
        messages = [*messages, "solved with changes made to the Pyomo model after "
                    f"build_model ({'; '.join(changes)}): re-solves from the case (capacity "
                    "report's rule prices, scenarios) do not have them"]
    # what the case's approvals keep from ever being served (`capacity.model.approvals`)
    messages = [*messages, *built.index_sets.approvals.notes]
    return Plan(case_name=built.case.name, status=status, objective=objective, bound=bound,
                gap=relative_gap(objective, bound), seconds=seconds, size=size, counters=counters,
                options=options.model_dump(), messages=messages, tables=tables,
                sense=sense, unit=unit, net_cost=cost, numerics=numerics,
                case_source=built.case.source, model_changes=changes)


def model_changes(built: BuiltModel) -> list[str]:
    """What the caller changed in ``built``'s Pyomo model after `build_model`: constraints
    added (by name, with their rows) or deactivated, and variables fixed."""
    m, families = built.pyomo, built.linear.constraints
    changes = []
    for con in m.component_objects(pyo.Constraint):
        if con.name not in families and con.active:
            rows = sum(1 for c in con.values() if c.active)
            changes.append(f"constraint {con.name} added ({rows} row{'s' * (rows != 1)})")
        elif con.name in families and not all(c.active for c in con.values()):
            changes.append(f"constraint {con.name} deactivated in part or whole")
    fixed: dict[str, int] = {}
    for var in m.component_objects(pyo.Var):
        n = sum(1 for v in var.values() if v.fixed)
        if n:
            fixed[var.name] = n
    if fixed:
        changes.append("variables fixed: " + ", ".join(f"{n} of {name}"
                                                       for name, n in fixed.items()))
    return changes


def _reported(built: BuiltModel, cost: float) -> float:
    """The net cost as the case reports it: offset + cost, or offset − cost (maximise)."""
    sense, offset, _unit = built.case.objective_sense
    return offset - cost if sense == "maximise" else offset + cost


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
