"""Ctrl-C during a solve: stop promptly, say so, and keep the work apart from a result.

Python runs a signal handler only between bytecodes of the main thread, so while HiGHS
runs (in C) a plain Ctrl-C waits for it, or, raised inside one of its callbacks, makes it
stop with "Solve error" as though it had failed. Within `catching_sigint` a first Ctrl-C
instead only *requests* a stop: every HiGHS instance the engine makes (`attach`, from
`capacity.engine.highs.new_highs`, and Pyomo's persistent instance in
`capacity.engine.persistent`) asks, at its interrupt callbacks (simplex, interior point,
branch and bound, which run Python code in the main thread and so let the handler run),
whether one was requested and stops cleanly; the engine's own loops (search, dive,
Lagrangian steps) stop between their steps and keep the best they have, and `check`
raises `Interrupted` where nothing is in hand. A second Ctrl-C raises `KeyboardInterrupt`
at once. HiGHS's PDLP (the LP relaxation of large models) does not call the interrupt
callbacks: a Ctrl-C during it waits for its share of the time, or press it twice.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_requested = threading.Event()


class Interrupted(KeyboardInterrupt):
    """The user interrupted a solve (Ctrl-C). A `KeyboardInterrupt`, so that no
    ``except Exception`` around a step takes it for that step failing, and a command
    line that stops on Ctrl-C stops on it."""


def requested() -> bool:
    """Whether a stop was requested (Ctrl-C, or `request`) in the current solve."""
    return _requested.is_set()


def request() -> None:
    """Request a stop, as Ctrl-C does (e.g. from another thread of a notebook)."""
    _requested.set()


def check() -> None:
    """Raise `Interrupted` where a stop was requested; called between the engine's steps.

    Raises:
        Interrupted: a stop was requested.
    """
    if _requested.is_set():
        raise Interrupted


def stop_if_interrupted(status: str | None) -> None:
    """Raise `Interrupted` where a solve in a series ended ``interrupted``, so that the
    series (rule prices, scenarios, an explanation's solves) stops there too.

    Raises:
        Interrupted: ``status`` is ``interrupted``.
    """
    if status == "interrupted":
        raise Interrupted


def _stop_highs(event: Any) -> None:
    """HiGHS's interrupt callback: stop where a stop was requested."""
    if _requested.is_set():
        event.interrupt()


def attach(highs: Any) -> None:
    """Make ``highs`` (a ``highspy.Highs``) stop when a stop is requested."""
    highs.cbSimplexInterrupt.subscribe(_stop_highs)
    highs.cbIpmInterrupt.subscribe(_stop_highs)
    highs.cbMipInterrupt.subscribe(_stop_highs)


_depth = 0  # how many `catching_sigint` contexts are open (nested solves: explain, ...)
_depth_lock = threading.Lock()


@contextmanager
def catching_sigint() -> Iterator[None]:
    """Within: a first Ctrl-C requests a stop (see the module), a second raises
    `KeyboardInterrupt`. Contexts nest (a solve within a solve: the explanation of an
    infeasible case): only the outermost installs the handler, clears the request on
    entry, and clears it on exit, so a stop requested inside reaches every level. In
    threads other than the main one (signals reach only it) no handler is installed,
    but the outermost context clears a `request` on exit all the same."""
    global _depth
    main = threading.current_thread() is threading.main_thread()
    with _depth_lock:
        outermost = _depth == 0
        _depth += 1
    if outermost:
        _requested.clear()
    previous = None
    if outermost and main:
        def handler(signum: int, frame: FrameType | None) -> None:
            if _requested.is_set():
                raise KeyboardInterrupt
            _requested.set()

        previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        with _depth_lock:
            _depth -= 1
            if _depth == 0:
                _requested.clear()
