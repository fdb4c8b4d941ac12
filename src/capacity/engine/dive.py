"""A plan from the LP relaxation: diving, rounding the integers a share at a time.

The constructive start (`capacity.engine.start`) decides greedily and knows nothing of the LP;
its plan is far above the LP bound (measured). The LP relaxation's solution
(`capacity.engine.lp_bound.solve_relaxation`) already says where to open, build and assign:
most of its integers are 0 or whole. `dive` follows it:

1. fix every integer column whose LP value is within `INTEGRAL` of a whole number there;
2. of the fractional ones, round the `SHARE` closest to a whole number (up from a
   fractional part of 0.5, else down) and fix them;
3. reduce the model by the fixed columns (`capacity.engine.highs.reduce_fixed`, which also
   drops the shipments a closed site or a program's unassigned site cannot make) and
   solve the reduced LP again by simplex;
4. repeat from 1 on the new LP solution until no integer is fractional: the last LP,
   with every integer fixed, completes the plan.

A rounding that leaves the reduced model infeasible is undone and half as many columns
are rounded; a single column is then tried the other way round, then both ways with
fewer whole columns fixed in step 1 (in the first round only those a given feasible
plan agrees with, later none), before the dive gives up (None: the caller keeps the plan
it has). The first round reduces the model it is given; later rounds fix columns in
that reduced LP in place (`_fix_in_place`: new bounds, and HiGHS starts again from its
last basis, so dual simplex needs only the iterations the new bounds cost), restoring
the bounds of a rounding that fails. The dive turns PDLP's solution into a plan a few
percent above the LP bound in seconds; the warm start is what makes the search's many
dives (`capacity.engine.search`) affordable: solving each round's reduced model from
scratch instead made them several times slower (measured).

"Measured" here: the figures are in ``benchmarks/RESULTS.md``, "Measurements behind the
engine's design", engine/dive.py.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator

import numpy as np

from capacity.engine import interrupt
from capacity.engine.highs import CompiledModel, reduce_fixed
from capacity.engine.incumbent import Incumbent

_log = logging.getLogger(__name__)

# An integer column whose LP value is this close to a whole number is fixed at it.
INTEGRAL = 1e-3
# Share of the fractional integer columns rounded in one round (the closest first).
SHARE = 0.3


def dive(compiled: CompiledModel, x_lp: np.ndarray, time_limit_s: float,
         plan: np.ndarray | None = None, own: bool = False,
         stop: threading.Event | None = None) -> Incumbent | None:
    """A complete plan for ``compiled`` (a value per column, and its objective) by diving
    from the LP solution ``x_lp``; None where the dive fails or runs out of time. With
    ``plan`` (a feasible plan), a first round whose whole columns leave no feasible LP
    (``x_lp`` solved roughly) falls back to fixing only those on which the LP and the
    plan agree, so that the plan stays within the reduced model's reach. With ``own``,
    ``compiled`` is an LP the caller no longer needs, whose last solve gave ``x_lp``
    (`reduce_fixed` with ``relaxed``): the first round fixes its columns in place too.
    Once ``stop`` is set the dive gives up before its next LP (None)."""
    deadline = time.perf_counter() + time_limit_s
    model, cols = compiled, np.arange(len(compiled.col_cost))  # cols: model's columns in compiled
    in_place = own
    x_full = np.zeros(len(compiled.col_cost))
    x = x_lp.copy()  # values of model's columns
    while True:
        if interrupt.requested():  # Ctrl-C: no plan from the dive; the one in hand stands
            return None
        ints = np.flatnonzero(model.integer & (model.col_lower < model.col_upper))
        value = x[ints]
        distance = np.abs(value - np.round(value))
        whole = distance < INTEGRAL
        near = ints[whole]
        # the fallback's whole columns: in the first round those the plan agrees with,
        # later (an exact LP solution of a reduced model) none
        agreed = near[:0] if plan is None else near[np.round(x[near]) == plan[near]]
        plan = None
        fractional = np.flatnonzero(~whole)
        order = fractional[np.argsort(distance[fractional], kind="stable")]
        pick = ints[order[:math.ceil(SHARE * len(order))]]
        for fix_near, columns, rounded in _roundings(x, near, agreed, pick):
            if time.perf_counter() > deadline or (stop is not None and stop.is_set()):
                return None
            solved = (_fix_in_place if in_place else _fix_and_solve)(
                model, fix_near, columns, rounded, x, deadline)
            if solved is not None:
                break
        else:
            return None
        sub, free, x_model, x_sub = solved
        _log.debug("dive: %d whole, %d rounded, %d fractional left; %d columns left; "
                   "LP %.6g", len(fix_near), len(columns), len(fractional) - len(columns),
                   len(free), float(sub.col_cost @ x_sub) + sub.offset if len(free) else 0.0)
        x_model[free] = x_sub
        x_full[cols] = x_model
        if len(fractional) == 0:  # every integer was whole: the plan is complete
            return compiled.incumbent(np.clip(x_full, compiled.col_lower,
                                              compiled.col_upper))
        model, cols, x = sub, cols[free], x_sub
        in_place = True  # the dive's own LP from here on


def _roundings(x: np.ndarray, near: np.ndarray, agreed: np.ndarray, pick: np.ndarray,
               ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The roundings a round tries, in order, as (columns fixed at their whole value,
    columns rounded, their rounded values): the whole columns ``near`` and all of
    ``pick`` rounded to nearest; half as many, and so on down to one; that one the other
    way; then that one either way with only the whole columns ``agreed`` fixed."""
    nearest = np.where(x[pick] - np.floor(x[pick]) >= 0.5, np.ceil(x[pick]), np.floor(x[pick]))
    k = len(pick)
    while k > 1:
        yield near, pick[:k], nearest[:k]
        k //= 2
    if len(pick) == 0:
        yield near, pick, nearest
        return
    other = np.where(nearest[:1] == np.ceil(x[pick[:1]]), np.floor(x[pick[:1]]),
                     np.ceil(x[pick[:1]]))
    for fixed in (near, agreed):
        yield fixed, pick[:1], nearest[:1]
        yield fixed, pick[:1], other


def _fix_and_solve(model: CompiledModel, near: np.ndarray, pick: np.ndarray,
                   rounded: np.ndarray, x: np.ndarray, deadline: float,
                   ) -> tuple[CompiledModel, np.ndarray, np.ndarray, np.ndarray] | None:
    """Fix ``near`` at its whole values in ``x`` and ``pick`` at ``rounded``, reduce,
    solve the reduced LP: (reduced model, its columns in ``model``, values of
    ``model``'s columns with the fixed ones set, the LP's values of the reduced model's
    columns), or None when the rounding leaves no feasible LP."""
    lower, upper = model.col_lower.copy(), model.col_upper.copy()
    for columns, values in ((near, np.round(x[near])), (pick, rounded)):
        lower[columns] = upper[columns] = np.clip(values, lower[columns], upper[columns])
    reduced = reduce_fixed(model, lower, upper, relaxed=True)
    if reduced is None:
        _log.debug("dive: %d rounded: a row fails", len(pick))
        return None
    sub, free, x_model = reduced
    if len(free) == 0:  # nothing left to solve
        return sub, free, x_model, np.zeros(0)
    if not sub.solve_lp(deadline - time.perf_counter()):
        _log.debug("dive: %d rounded: LP %s", len(pick),
                   sub.highs.modelStatusToString(sub.highs.getModelStatus()))
        return None
    return sub, free, x_model, sub.solution()


def _fix_in_place(model: CompiledModel, near: np.ndarray, pick: np.ndarray,
                  rounded: np.ndarray, x: np.ndarray, deadline: float,
                  ) -> tuple[CompiledModel, np.ndarray, np.ndarray, np.ndarray] | None:
    """`_fix_and_solve` on the dive's own LP: the columns' bounds are changed in place and
    the LP is solved again from its last basis (a warm start: dual simplex then needs
    only the iterations the new bounds cost), the bounds restored where it fails."""
    n = len(model.col_cost)
    if n == 0:  # nothing left to solve
        return model, np.arange(0), np.zeros(0), np.zeros(0)
    columns = np.concatenate([near, pick])
    values = np.clip(np.concatenate([np.round(x[near]), rounded]),
                     model.col_lower[columns], model.col_upper[columns])
    lower, upper = model.col_lower[columns].copy(), model.col_upper[columns].copy()
    model.change_bounds(columns, values, values)
    if model.solve_lp(deadline - time.perf_counter()):
        return model, np.arange(n), np.zeros(n), model.solution()
    _log.debug("dive: %d rounded: LP %s", len(pick),
               model.highs.modelStatusToString(model.highs.getModelStatus()))
    model.change_bounds(columns, lower, upper)
    return None
