"""Another MIP solver instead of HiGHS (`SolveOptions.solver`: ``scip``, ``gurobi``), on
the same compiled matrices, from the same start, into the same `Run` and so the same
extraction, checker and `Plan` as HiGHS's.

`optimise_elsewhere` does what `capacity.engine.solve.optimise` does for HiGHS, in the
order HiGHS's path does it: the model is written where asked (``model_file``), loaded
into the solver (its own transfer time), the engine's constructive start completed (by
HiGHS with the integers fixed, `capacity.engine.highs.complete_start`; within the time
limit) and given to the solver as a MIP start, and the solver runs for the time left.
The large-model steps of HiGHS's path (PDLP's relaxation, the dive, the neighbourhood
search, the Lagrangian bound, the companion) are HiGHS's and are not run: the other
solver gets the model and the start, as a user would give them.

Each solver is a module of its own behind `capacity.engine.backend.Solver`
(`capacity.engine.scip`, `capacity.engine.gurobi`), imported only when asked for: both
are optional packages (the ``solvers`` extra; `SolveOptions` checks they import).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from capacity.engine import interrupt
from capacity.engine.backend import Reporter, Solver, Task, finite_bound
from capacity.engine.highs import CompiledModel, complete_start
from capacity.engine.model_file import write_model
from capacity.engine.options import SolveOptions
from capacity.engine.run import Progress, Run


def solver_for(name: str) -> Solver:
    """A new solver of the kind ``name`` (``scip``, ``gurobi``), its package imported now.

    Raises:
        ValueError: ``name`` is not another solver the engine knows.
    """
    if name == "scip":
        from capacity.engine.scip import Scip

        return Scip()
    if name == "gurobi":
        from capacity.engine.gurobi import Gurobi

        return Gurobi()
    raise ValueError(f"no other solver is called {name!r} (scip, gurobi)")


def optimise_elsewhere(compiled: CompiledModel, options: SolveOptions,
                       progress: Progress | None = None,
                       start: Sequence[tuple[int, float]] | None = None) -> Run:
    """Solve the model ``compiled`` holds with ``options.solver``, from ``start`` (the
    constructive start's (column, value) pairs, completed here) and map its outcome to a
    `Run` (module docstring). ``progress`` is called as in
    `capacity.engine.solve.optimise`, on the same clock (from the start's completion).

    Raises:
        Exception: whatever the solver or its interface raises (a licence that refuses
            the model: `capacity.engine.gurobi.GurobiSizeLimit`); callers turn it into
            ``error``.
    """
    solver = solver_for(options.solver)
    try:
        if options.model_file:
            write_model(compiled, options.model_file)
        t0 = time.perf_counter()
        solver.load(compiled)
        t1 = time.perf_counter()
        started = complete_start(compiled, start, options.time_limit_s, incumbent=False) \
            if start else None
        interrupt.check()
        if started is not None and progress is not None:  # the first plan, as on HiGHS's path
            progress(time.perf_counter() - t1, started.objective, None)
        clock = time.perf_counter() - t1
        task = Task(options, max(options.time_limit_s - clock, 1e-3), started,
                    Reporter(progress, clock))
        outcome = solver.solve(task)
    finally:
        solver.close()
    notes = outcome.notes
    if outcome.start_taken is not None:
        notes = (*notes, f"{solver.name} started from the engine's plan (the completed "
                 "constructive start)" if outcome.start_taken else
                 f"{solver.name} did not take the engine's plan as its start")
    x = outcome.x
    return Run(compiled.highs, outcome.status, f"{outcome.stopped_by}",
               outcome.time_limit_reached, finite_bound(outcome.bound),
               lambda: compiled.load_solution(x), t1 - t0, time.perf_counter() - t1,
               None if started is None else started.x, notes=notes, solver=solver.name,
               solution=x, work=outcome.counters)
