"""Solves of one Pyomo model through Pyomo's persistent HiGHS interface, for a series
that changes more than costs (`capacity.engine.explain` fixes and frees rules one at a
time): the first call sends the whole model, later calls only what changed."""

from __future__ import annotations

import io
import time

import highspy
import pyomo.environ as pyo
from pyomo.common.tee import capture_output
from pyomo.common.timing import HierarchicalTimer
from pyomo.contrib.solver.solvers.highs import Highs

from capacity.engine import interrupt
from capacity.engine.highs import status_of, use_threads
from capacity.engine.model_file import write_highs_model
from capacity.engine.options import SolveOptions
from capacity.engine.run import Progress, Run, finite, subscribe_progress


def optimise_persistent(solver: Highs, m: pyo.ConcreteModel, options: SolveOptions,
                        progress: Progress | None = None) -> Run:
    """`capacity.engine.solve.optimise` through Pyomo's persistent interface.

    Raises:
        Interrupted: Ctrl-C stopped the run (`capacity.engine.interrupt`): a series of
            solves (an explanation) stops with it.
    """
    with interrupt.catching_sigint():
        run = _optimise_persistent(solver, m, options, progress)
    interrupt.stop_if_interrupted(run.status)
    return run


def _optimise_persistent(solver: Highs, m: pyo.ConcreteModel, options: SolveOptions,
                         progress: Progress | None) -> Run:
    use_threads(options.threads)
    transfer = 0.0
    if solver._model is not m:  # first call: send the whole model (timed as transfer)
        t0 = time.perf_counter()
        with capture_output(io.StringIO(), capture_fd=True):
            solver.set_instance(m)
        interrupt.attach(solver._solver_model)  # Ctrl-C stops it cleanly
        transfer = time.perf_counter() - t0
        if progress is not None:
            subscribe_progress(solver._solver_model, progress)
    if options.model_file:
        with capture_output(io.StringIO(), capture_fd=True):
            write_highs_model(solver._solver_model, options.model_file)
    t1 = time.perf_counter()
    results = solver.solve(  # sends only what changed since the last call, then runs
        m, tee=[io.StringIO()] if not options.log else True, timer=HierarchicalTimer(),
        load_solutions=False, raise_exception_on_nonoptimal_result=False,
        time_limit=options.time_limit_s, rel_gap=options.mip_rel_gap, threads=options.threads,
        solver_options={"random_seed": options.seed, "mip_abs_gap": 1e-9},
    )
    solve_seconds = time.perf_counter() - t1
    highs = solver._solver_model  # the highspy instance behind Pyomo's interface
    model_status = highs.getModelStatus()
    return Run(highs, status_of(highs), highs.modelStatusToString(model_status),
               model_status == highspy.HighsModelStatus.kTimeLimit,
               finite(results.objective_bound), results.solution_loader.load_vars, transfer,
               solve_seconds)
