"""A dive from the LP relaxation on a second thread while HiGHS's branch and bound runs.

On mid-sized models (`capacity.engine.strategy.COMPANION_MIN_NONZEROS` up to the
relaxation path of `capacity.solve`) HiGHS spends a long time on the root LP and its
cuts, holding a poor plan. Its root LP solution is nearly whole (few binaries
fractional), and a dive from it (`capacity.engine.dive`) gives a plan near the optimum
in a fraction of that time (measured: ``benchmarks/RESULTS.md``, "Measurements behind
the engine's design", engine/companion.py). The companion solves that LP by dual
simplex in a HiGHS instance of its own, dives, and offers the plan to HiGHS's branch
and bound through HiGHS's user-solution callback, which checks it and takes it as the
incumbent where it is better; the LP optimum is also a proven bound. HiGHS releases
Python's interpreter lock while it runs, so the two run side by side. Used only where
the solve may use two threads (`SolveOptions.threads` ≥ 2): when the plan arrives
depends on the clock, so a run with it is not reproducible step for step.
models/formulation.md, "Solving", states it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import highspy
import numpy as np

from capacity.engine import interrupt
from capacity.engine.dive import dive
from capacity.engine.highs import CompiledModel, pass_arrays
from capacity.engine.incumbent import Incumbent


class Companion:
    """The LP relaxation and a dive from it, in a thread, until ``deadline``
    (`time.perf_counter`). ``plan`` (values of ``compiled``'s columns, objective) and
    ``bound`` (the LP optimum) are set when ready; `offer` hands the plan to HiGHS."""

    def __init__(self, compiled: CompiledModel, deadline: float) -> None:
        self.compiled, self.deadline = compiled, deadline
        self.plan: Incumbent | None = None
        self.bound: float | None = None
        self.offered = False
        self.given: float | None = None  # the objective of the plan handed to HiGHS
        self.replaced: float | None = None  # HiGHS's incumbent then (inf: it had none)
        self.failure: str | None = None
        self._lp: CompiledModel | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capacity-companion",
                                        daemon=True)

    def start(self) -> Companion:
        self._thread.start()
        return self

    def _run(self) -> None:
        c = self.compiled
        try:
            lp = pass_arrays(c.col_cost, c.offset, c.col_lower, c.col_upper, c.integer,
                             c.matrix, c.row_lower, c.row_upper)
            self._lp = lp
            lp.highs.HandleUserInterrupt = True  # `stop` can cancel its LP
            for name, value in (("solve_relaxation", True), ("threads", 1),
                                ("time_limit", max(self.deadline - time.perf_counter(),
                                                   1e-3))):
                lp.highs.setOptionValue(name, value)
            if self._stopped.is_set():
                return
            lp.highs.run()
            info = lp.highs.getInfo()
            optimal = lp.highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
            if not optimal or self._stopped.is_set():
                return
            self.bound = float(info.objective_function_value)
            x = np.asarray(lp.highs.getSolution().col_value, dtype=float)
            self.plan = dive(lp, x, self.deadline - time.perf_counter(), stop=self._stopped)
        except Exception as err:  # HiGHS failed beside the main run: the run goes on
            self.failure = f"{type(err).__name__}: {err}"
        except interrupt.Interrupted:  # Ctrl-C: the main run stops too and says so
            self.failure = "interrupted"

    def offer(self, event: Any) -> None:
        """HiGHS's user-solution callback: hand over the plan once, where it beats
        HiGHS's incumbent."""
        plan = self.plan
        if plan is None or self.offered:
            return
        incumbent = float(event.data_out.mip_primal_bound)
        if plan.objective < incumbent - 1e-9 * max(1.0, abs(plan.objective)):
            event.data_in.setSolution(plan.x)
            self.given, self.replaced = plan.objective, incumbent
        self.offered = True

    def wait(self) -> None:
        """Wait until the LP and the dive are done (or the deadline stops them)."""
        self._thread.join()

    def note(self) -> str:
        """What the companion gave, for the plan's messages."""
        if self.failure is not None:
            return f"the dive from the LP relaxation on a second thread failed ({self.failure})"
        if self.given is not None and self.replaced is not None:
            # relative, so it reads the same whether the case minimises or maximises
            better = ("its first plan" if not np.isfinite(self.replaced) else
                      f"a plan {(self.replaced - self.given) / max(abs(self.replaced), 1.0):.2%}"
                      " better than its own")
            return f"a dive from the LP relaxation on a second thread gave HiGHS {better}"
        if self.plan is not None:
            return "a dive from the LP relaxation on a second thread found no better plan"
        return ("the LP relaxation on a second thread " + ("ended without a dive" if
                self.bound is not None else "did not finish before HiGHS's run"))

    def stop(self) -> None:
        """Cancel the LP if it still runs and wait for the thread (a dive stops before
        its next LP)."""
        self._stopped.set()
        if self._lp is not None:
            self._lp.highs.cancelSolve()  # type: ignore[no-untyped-call]
        self._thread.join()
