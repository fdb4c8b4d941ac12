"""Gurobi (gurobipy) behind the engine (`capacity.engine.backend.Solver`).

The arrays go to Gurobi as matrices (``addMVar``, ``addMConstr`` with the CSR matrix:
equality rows, rows bounded below, rows bounded above; a row bounded on both sides is
two rows), the objective's constant as ``ObjCon``. The engine's start is the variables'
``Start``; Gurobi's log line "Loaded user MIP start" says it took it.

What Gurobi supports here: time limit, gap, threads, seed, log (on standard error:
`_stdout_to_stderr`), Ctrl-C (Gurobi's own handler) and
`capacity.engine.interrupt.request` (checked at Gurobi's callbacks, which come often,
also during the root LP), progress at each new incumbent and on Gurobi's MIP callback.
The licence that comes with ``pip install gurobipy`` is size-limited (2,000 variables and
2,000 constraints, measured with gurobipy 13): a larger model ends with status ``error``
and a message saying so; a full licence (academic or commercial) lifts the limit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gurobipy as gp
import numpy as np
from gurobipy import GRB

from capacity.engine import interrupt
from capacity.engine.backend import Outcome, Task, Verdict
from capacity.engine.highs import CompiledModel

# Gurobi's status codes in the engine's words; anything else is "error". OPTIMAL is
# within the gap asked for, as HiGHS's optimal is.
_VERDICT: dict[int, Verdict] = {
    GRB.OPTIMAL: "optimal",
    GRB.INFEASIBLE: "infeasible", GRB.INF_OR_UNBD: "infeasible",
    GRB.UNBOUNDED: "unbounded",
    GRB.TIME_LIMIT: "limit", GRB.NODE_LIMIT: "limit", GRB.SOLUTION_LIMIT: "limit",
    GRB.ITERATION_LIMIT: "limit", GRB.WORK_LIMIT: "limit", GRB.MEM_LIMIT: "limit",
    GRB.SUBOPTIMAL: "limit", GRB.USER_OBJ_LIMIT: "limit",
    GRB.INTERRUPTED: "interrupted",
}
_STATUS_NAMES = {getattr(GRB.Status, k): k.lower() for k in dir(GRB.Status)
                 if k.isupper()}
# Gurobi's error number for a model over the size-limited licence's limits.
_SIZE_LIMIT = 10010
# Gurobi's log says this where it took the MIP start as a plan.
_START_LOADED = "Loaded user MIP start"


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Within: what is written to the process's standard output goes to its standard
    error. Gurobi's own Ctrl-C handler prints "Interrupt request received" on standard
    output whatever its log settings, which would break a ``--json`` stream; its log
    (``log``) goes to standard error with it."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no standard output to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class GurobiSizeLimit(RuntimeError):
    """The model is larger than Gurobi's licence allows (the solve's status: ``error``)."""


class Gurobi:
    """Gurobi on the engine's arrays (module docstring)."""

    name = "Gurobi"

    def __init__(self) -> None:
        # its own environment: output goes to the callback only (Gurobi's banner, its
        # licence line, and the log unless asked for, stay off the CLI's output)
        self.env = gp.Env(empty=True)
        self.env.setParam("OutputFlag", 1)
        self.env.setParam("LogToConsole", 0)
        self.env.start()
        self.model = gp.Model("capacity", env=self.env)
        self.x: Any = None
        self.shape = (0, 0)

    def load(self, model: CompiledModel) -> None:
        m = self.model
        self.x = m.addMVar(len(model.col_cost), lb=model.col_lower, ub=model.col_upper,
                           obj=model.col_cost, vtype=np.where(model.integer, GRB.INTEGER,
                                                              GRB.CONTINUOUS))
        m.ObjCon = float(model.offset)
        a, low, high = model.sparse(), model.row_lower, model.row_upper
        equal = low == high
        for rows, sense, rhs in ((equal, GRB.EQUAL, low),
                                 (~equal & np.isfinite(low), GRB.GREATER_EQUAL, low),
                                 (~equal & np.isfinite(high), GRB.LESS_EQUAL, high)):
            if rows.any():
                m.addMConstr(a[rows], self.x, sense, rhs[rows])
        m.update()
        self.shape = (len(model.col_cost), len(low))

    def solve(self, task: Task) -> Outcome:
        m, options = self.model, task.options
        # the log on last: Gurobi echoes each parameter set while it is on
        for name, value in (("TimeLimit", task.time_limit_s), ("MIPGap", options.mip_rel_gap),
                            ("MIPGapAbs", 1e-9), ("Threads", options.threads),
                            ("Seed", options.seed), ("LogToConsole", int(options.log))):
            m.setParam(name, value)
        taken = [False]
        if task.start is not None:
            self.x.Start = task.start.x

        def callback(model: Any, where: int) -> None:
            if interrupt.requested():
                model.terminate()
            if where == GRB.Callback.MESSAGE:
                taken[0] |= _START_LOADED in model.cbGet(GRB.Callback.MSG_STRING)
            elif where == GRB.Callback.MIPSOL:
                task.report(model.cbGet(GRB.Callback.RUNTIME),
                            model.cbGet(GRB.Callback.MIPSOL_OBJBST),
                            model.cbGet(GRB.Callback.MIPSOL_OBJBND), new_plan=True)
            elif where == GRB.Callback.MIP:
                task.report(model.cbGet(GRB.Callback.RUNTIME),
                            model.cbGet(GRB.Callback.MIP_OBJBST),
                            model.cbGet(GRB.Callback.MIP_OBJBND))

        try:
            with _stdout_to_stderr():
                m.optimize(callback)
        except gp.GurobiError as err:
            if err.errno != _SIZE_LIMIT:
                raise
            columns, rows = self.shape
            raise GurobiSizeLimit(
                f"this model has {columns:,} variables and {rows:,} constraints; the "
                "licence that comes with pip's gurobipy solves up to 2,000 of each (Gurobi: "
                f"{err}); use a full Gurobi licence, or the highs or scip solver") from None
        status = int(m.Status)
        verdict = _VERDICT.get(status, "error")
        if verdict == "interrupted":
            interrupt.request()  # Ctrl-C caught by Gurobi: the series it is in stops too
        x = np.asarray(self.x.X, dtype=float) if m.SolCount else None
        bound = float(m.ObjBound) if m.IsMIP and verdict not in ("infeasible", "error") \
            else (float(m.ObjVal) if verdict == "optimal" else None)
        return Outcome(verdict, _STATUS_NAMES.get(status, str(status)),
                       status == GRB.TIME_LIMIT, x, bound,
                       {"mip_nodes": int(m.NodeCount), "simplex_iterations": int(m.IterCount)},
                       None if task.start is None else taken[0])

    def close(self) -> None:
        """Free Gurobi's model and environment (its licence token)."""
        self.model.dispose()
        self.env.dispose()
