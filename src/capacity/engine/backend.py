"""The one small interface behind which another MIP solver (SCIP, `capacity.engine.scip`;
Gurobi, `capacity.engine.gurobi`) takes the engine's compiled matrices: what it is given
(`Task`), what it gives back (`Outcome`), and the rules both share (how their stops map
to a plan's status, what an infinite bound is, how often progress is reported). The
conductor that hands a model to one of them is `capacity.engine.external`.

A solver here holds min c·x + offset subject to row_lower ≤ A x ≤ row_upper,
lower ≤ x ≤ upper, x_j integer where integer[j]: the arrays of a `CompiledModel` (the
engine's own `LinearModel`, or a caller's Pyomo model compiled), with no Pyomo objects
on the way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from capacity.engine.highs import CompiledModel
from capacity.engine.incumbent import Incumbent
from capacity.engine.options import SolveOptions
from capacity.engine.run import Progress
from capacity.results.plan import Status

# How a solver stopped, in words common to all: `status_of` makes it a plan's status.
Verdict = Literal["optimal", "limit", "infeasible", "unbounded", "interrupted", "error"]

# Progress from inside a solver is passed on at most this often (seconds), except a new
# incumbent, which always is: each report is a Python call inside the solver's loop.
REPORT_EVERY_S = 0.5

# Bounds this large (or larger) are a solver's "infinity" (SCIP: 1e20, Gurobi: 1e100).
SOLVER_INFINITY = 1e20


def status_of(verdict: Verdict, has_plan: bool) -> Status:
    """A plan's status from how a solver stopped and whether it holds a plan: the same
    rules as HiGHS's (`capacity.engine.highs.status_of`). A limit (time, nodes, gap not
    reached) with a plan is ``time_limit_feasible``, without one ``no_solution``; Ctrl-C
    is ``interrupted`` either way; a failure that still left a plan keeps the plan.
    Every variable of the formulation is bounded, so "infeasible or unbounded" comes
    here as ``infeasible``."""
    if verdict == "optimal":
        return "optimal" if has_plan else "error"
    if verdict == "limit":
        return "time_limit_feasible" if has_plan else "no_solution"
    if verdict == "error":
        return "time_limit_feasible" if has_plan else "error"
    return verdict


def finite_bound(x: float | None) -> float | None:
    """``x``, or None where the solver means "none" (NaN, or at its infinity)."""
    if x is None or x != x or abs(x) >= SOLVER_INFINITY:
        return None
    return float(x)


@dataclass
class Outcome:
    """What a solver gives back.

    Attributes:
        verdict: how it stopped (`status_of` maps it with ``x``).
        stopped_by: the solver's own words for it (its status), for the plan's messages.
        time_limit_reached: it stopped at the time limit.
        x: its best plan, a value per column of the model; None: it holds none.
        bound: its proven lower bound on the minimised objective (offset included).
        counters: its work (``mip_nodes``, ``simplex_iterations``), as HiGHS's are named.
        start_taken: whether it took the engine's start as a plan (None: no start given).
        notes: for the plan's messages (what it does not support, e.g. threads).
    """

    verdict: Verdict
    stopped_by: str
    time_limit_reached: bool
    x: np.ndarray | None
    bound: float | None
    counters: dict[str, int] = field(default_factory=dict)
    start_taken: bool | None = None
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> Status:
        """The plan's status (`status_of`)."""
        return status_of(self.verdict, self.x is not None)


class Reporter:
    """Progress from inside a solver, passed to the engine's `Progress` callback on the
    engine's clock (``offset`` seconds before the solver started) at most every
    `REPORT_EVERY_S`, a new incumbent always."""

    def __init__(self, progress: Progress | None, offset: float) -> None:
        self.progress, self.offset = progress, offset
        self.last = -float("inf")

    def __call__(self, seconds: float, incumbent: float | None, bound: float | None,
                 new_plan: bool = False) -> None:
        """Report the solver's state ``seconds`` after it started."""
        if self.progress is None:
            return
        now = time.perf_counter()
        if not new_plan and now - self.last < REPORT_EVERY_S:
            return
        self.last = now
        self.progress(self.offset + seconds, finite_bound(incumbent), finite_bound(bound))


@dataclass(frozen=True)
class Task:
    """What a solver is asked: the engine's options (gap, threads, seed, log), the time
    it has left (the start's completion already spent), the engine's start (a complete
    plan, given as a MIP start) and where progress goes."""

    options: SolveOptions
    time_limit_s: float
    start: Incumbent | None
    report: Reporter


class Solver(Protocol):
    """One MIP solver behind the engine: loads the arrays once, then solves once.

    Attributes:
        name: as the plan's messages name it (``SCIP``, ``Gurobi``).
    """

    name: str

    def load(self, model: CompiledModel) -> None:
        """Build the model in the solver from ``model``'s arrays (timed as transfer)."""

    def solve(self, task: Task) -> Outcome:
        """Solve the loaded model; stop at the time limit, or when a stop is requested
        (`capacity.engine.interrupt`)."""

    def close(self) -> None:
        """Free what the solver holds (a licence token, its copy of the model)."""


def within_tolerance(a: float, b: float) -> bool:
    """Whether two objectives are the same plan's (relative 1e-6, or 1e-6 below 1)."""
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


# Makes one `Solver` (the class of `capacity.engine.scip` or `capacity.engine.gurobi`).
SolverFactory = Callable[[], Solver]
