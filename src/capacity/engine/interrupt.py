"""Ctrl-C during a solve: stop promptly, say so, and keep the work apart from a result.

Python runs a signal handler only between bytecodes of the main thread, so while HiGHS
runs (in C) a plain Ctrl-C waits for it, or, raised inside one of its callbacks, makes it
stop with "Solve error" as though it had failed. Within `catching_sigint` a first Ctrl-C
instead only *requests* a stop: every HiGHS instance the engine makes (`attach`, from
`capacity.engine.highs.new_highs`) asks, at its interrupt callbacks (simplex, interior point,
branch and bound, which run Python code in the main thread and so let the handler run),
whether one was requested and stops cleanly; the engine's own loops (`check`) raise
`Interrupted` between their steps. A second Ctrl-C raises `KeyboardInterrupt` at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_requested = threading.Event()


class Interrupted(BaseException):
    """The user interrupted a solve (Ctrl-C). A `BaseException`, as `KeyboardInterrupt`
    is, so that no ``except Exception`` around a step takes it for that step failing."""


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


def _stop_highs(event: Any) -> None:
    """HiGHS's interrupt callback: stop where a stop was requested."""
    if _requested.is_set():
        event.interrupt()


def attach(highs: Any) -> None:
    """Make ``highs`` (a ``highspy.Highs``) stop when a stop is requested."""
    highs.cbSimplexInterrupt.subscribe(_stop_highs)
    highs.cbIpmInterrupt.subscribe(_stop_highs)
    highs.cbMipInterrupt.subscribe(_stop_highs)


@contextmanager
def catching_sigint() -> Iterator[None]:
    """Within: a first Ctrl-C requests a stop (see the module), a second raises
    `KeyboardInterrupt`; the request is cleared on entry and on exit. Outside the main
    thread (signals reach only it, and other threads' solves share the request) nothing
    changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()

    def handler(signum: int, frame: FrameType | None) -> None:
        if _requested.is_set():
            raise KeyboardInterrupt
        _requested.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()
