"""One solver run (HiGHS's, or another solver's, `capacity.engine.external`): its record
(`Run`), and the progress HiGHS reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np

from capacity.results.plan import Status

# (seconds since HiGHS started, incumbent objective or None, best bound or None), of the
# minimised model
Progress = Callable[[float, float | None, float | None], None]


@dataclass
class Run:
    """One HiGHS run (or another solver's: ``solver`` names it): the mapped status
    (`capacity.engine.highs.status_of`; None where HiGHS's branch and bound was not
    started, so that it gave no verdict: the engine's own plan, ``started``, then
    stands), what stopped HiGHS, its bound, and timings.
    ``load()`` puts the solution into the Pyomo model's variables (nothing to do where
    HiGHS holds the engine's own matrices: read ``highs`` instead). Another solver's run
    carries its plan in ``solution`` and its work in ``work``; ``highs`` then holds the
    model unsolved (its arrays, its size)."""

    highs: highspy.Highs
    status: Status | None
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
    solver: str = "HiGHS"  # who ran, as the plan's messages name it
    # another solver's plan (a value per column; None: it holds none) and work counters;
    # HiGHS's are read from ``highs``
    solution: np.ndarray | None = None
    work: dict[str, int] | None = None

    @property
    def elsewhere(self) -> bool:
        """Whether another solver than HiGHS ran (`capacity.engine.external`)."""
        return self.solver != "HiGHS"


def subscribe_progress(highs: object, progress: Progress) -> None:
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


def finite(x: float | None) -> float | None:
    """x as a float, or None when it is missing, NaN or infinite (HiGHS's "no bound")."""
    if x is None or x != x or abs(x) == float("inf"):
        return None
    return float(x)


def best_bound(a: float | None, b: float | None) -> float | None:
    """The higher of two lower bounds, either of which may be missing."""
    return b if a is None else a if b is None else max(a, b)


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """Relative gap in the reported objective: |objective − bound| / max(|objective|, 1)."""
    if objective is None or bound is None:
        return None
    return abs(objective - bound) / max(abs(objective), 1.0)
