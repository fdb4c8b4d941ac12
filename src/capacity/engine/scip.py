"""SCIP (PySCIPOpt) behind the engine (`capacity.engine.backend.Solver`).

The arrays go to SCIP directly: a variable per column, a linear constraint per row (both
sides where both are finite), the objective's constant as SCIP's offset. The engine's
start is added as a solution before presolve; SCIP checks it when it transforms the
problem, and after presolve it is among SCIP's solutions where SCIP took it.

What SCIP supports here: time limit, gap, seed, log, Ctrl-C and
`capacity.engine.interrupt.request` (a thread beside SCIP stops it within 0.1 s, also
inside an LP: `_StopWatch`), progress at each new incumbent, node and LP solve (none
during one long LP: tier S's root LP takes about 10 s). Not: more
than one thread (the PyPI build of SCIP solves serially; ``threads`` above 1 is noted and
not used).
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import threading
from typing import Any

import numpy as np
import pyscipopt
from pyscipopt import SCIP_EVENTTYPE  # type: ignore[attr-defined]
from pyscipopt.scip import ExprCons, Term

from capacity.engine import interrupt
from capacity.engine.backend import Outcome, Task, Verdict, within_tolerance
from capacity.engine.highs import CompiledModel

# SCIP's statuses (`Model.getStatus`) in the engine's words; anything else is "error".
# "gaplimit" is the gap asked for, reached: optimal within it, as HiGHS reports it.
_VERDICT: dict[str, Verdict] = {
    "optimal": "optimal", "gaplimit": "optimal",
    "timelimit": "limit", "nodelimit": "limit", "totalnodelimit": "limit",
    "stallnodelimit": "limit", "sollimit": "limit", "bestsollimit": "limit",
    "memlimit": "limit", "restartlimit": "limit", "primallimit": "limit",
    "duallimit": "limit",
    "infeasible": "infeasible", "inforunbd": "infeasible", "unbounded": "unbounded",
    "userinterrupt": "interrupted", "terminate": "interrupted",
}


# How often (seconds) a stop request is looked for while SCIP runs.
_POLL_S = 0.1


class _Watch(pyscipopt.Eventhdlr):
    """At each new incumbent, solved node and LP: report progress, and stop SCIP where a
    stop was requested."""

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task = task

    def eventinit(self) -> None:
        for kind in (SCIP_EVENTTYPE.BESTSOLFOUND, SCIP_EVENTTYPE.NODESOLVED,
                     SCIP_EVENTTYPE.LPSOLVED):
            self.model.catchEvent(kind, self)

    def eventexec(self, event: Any) -> dict[str, Any]:
        m = self.model
        if interrupt.requested():
            m.interruptSolve()
        new_plan = event.getType() == SCIP_EVENTTYPE.BESTSOLFOUND
        primal = m.getPrimalbound() if m.getNSols() else None
        self.task.report(m.getSolvingTime(), primal, m.getDualbound(), new_plan=new_plan)
        return {}


class _StopWatch:
    """A thread that interrupts SCIP's solve of ``m`` once a stop is requested
    (`capacity.engine.interrupt.request`) or Ctrl-C is pressed. SCIP runs without
    Python's lock and, inside an LP, calls no Python code, so Python's own handler of
    Ctrl-C would wait for SCIP's next event; the signal's byte on Python's wakeup file
    descriptor (main thread only) reaches this thread at once. Python's handler still runs
    when SCIP returns (the request stands, a second Ctrl-C still raises). SCIP's own
    handler is off: it prints to standard output (a ``--json`` stream) and exits the
    process at the fifth press."""

    def __init__(self, m: pyscipopt.Model) -> None:
        self.m, self.done = m, threading.Event()
        self.reader: socket.socket | None = None
        self.writer: socket.socket | None = None
        self.previous = -1
        if threading.current_thread() is threading.main_thread():
            self.reader, self.writer = socket.socketpair()
            self.reader.setblocking(False)
            self.writer.setblocking(False)
            self.previous = signal.set_wakeup_fd(self.writer.fileno(),
                                                 warn_on_full_buffer=False)
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> _StopWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        if self.writer is not None and self.reader is not None:
            signal.set_wakeup_fd(self.previous)
            self.writer.close()
            self.reader.close()

    def _watch(self) -> None:
        while not self.done.is_set():
            pressed = False
            if self.reader is not None:
                ready, _, _ = select.select([self.reader], [], [], _POLL_S)
                if ready:
                    with contextlib.suppress(BlockingIOError):  # read by another
                        pressed = signal.SIGINT in self.reader.recv(64)
            else:
                self.done.wait(_POLL_S)
            if pressed or interrupt.requested():
                self.m.interruptSolve()
                return


class Scip:
    """SCIP on the engine's arrays (module docstring)."""

    name = "SCIP"

    def __init__(self) -> None:
        self.model = pyscipopt.Model()
        self.columns: list[Any] = []

    def load(self, model: CompiledModel) -> None:
        m = self.model
        m.hideOutput()
        lower = np.where(np.isfinite(model.col_lower), model.col_lower, np.nan)
        upper = np.where(np.isfinite(model.col_upper), model.col_upper, np.nan)

        def bound(x: float) -> float | None:
            return None if x != x else float(x)

        self.columns = [m.addVar(name=f"x{j}", vtype="I" if model.integer[j] else "C",
                                 lb=bound(lower[j]), ub=bound(upper[j]),
                                 obj=float(model.col_cost[j]))
                        for j in range(len(model.col_cost))]
        if model.offset:
            m.addObjoffset(float(model.offset))
        terms = [Term(v) for v in self.columns]
        indptr, indices, values = model.matrix
        for i, (low, high) in enumerate(zip(model.row_lower, model.row_upper, strict=True)):
            row = range(indptr[i], indptr[i + 1])
            expression = pyscipopt.Expr({terms[indices[k]]: float(values[k]) for k in row})
            m.addCons(ExprCons(expression, lhs=float(low) if np.isfinite(low) else None,
                               rhs=float(high) if np.isfinite(high) else None),
                      name=f"r{i}")

    def solve(self, task: Task) -> Outcome:
        m, options = self.model, task.options
        if options.log:
            m.hideOutput(False)
        for name, value in (("limits/time", task.time_limit_s),
                            ("limits/gap", options.mip_rel_gap), ("limits/absgap", 1e-9),
                            ("randomization/randomseedshift", options.seed),
                            ("misc/catchctrlc", False)):
            m.setParam(name, value)
        m.includeEventhdlr(_Watch(task), "capacity", "progress and stop requests")
        start_taken = None
        if task.start is not None:
            solution = m.createSol()
            for column, value in zip(self.columns, task.start.x, strict=True):
                m.setSolVal(solution, column, float(value))
            m.addSol(solution, free=True)
            m.presolve()  # SCIP checks the start as it transforms the problem
            start_taken = any(within_tolerance(m.getSolObjVal(s), task.start.objective)
                              for s in m.getSols())
        # without Python's lock, so that a thread can stop it (`_StopWatch`)
        with _StopWatch(m):
            m.optimizeNogil()
        raw = m.getStatus()
        verdict = _VERDICT.get(raw, "error")
        if verdict == "interrupted":  # Ctrl-C: the series this solve is in stops too
            interrupt.request()
        best = m.getBestSol() if m.getNSols() else None
        x = None if best is None else np.array([m.getSolVal(best, v) for v in self.columns])
        notes = (f"SCIP solves on one thread (threads={options.threads} not used)",) \
            if options.threads > 1 else ()
        return Outcome(verdict, raw, raw == "timelimit", x,
                       m.getDualbound() if verdict != "infeasible" else None,
                       {"mip_nodes": int(m.getNTotalNodes()),
                        "simplex_iterations": int(m.getNLPIterations())},
                       start_taken, notes)

    def close(self) -> None:
        """Free SCIP's copy of the model."""
        self.model.freeProb()
