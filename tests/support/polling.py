"""One way to wait: poll a check until it holds or a deadline passes.

Tests wait for events (a job's state, a pid file, a process gone), never for fixed
times; a deadline turns a hang into a failure that says what was awaited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(check: Callable[[], T | None], timeout: float, interval: float = 0.05) -> T | None:
    """Call ``check`` until it returns something truthy (returned) or ``timeout`` seconds
    pass (None): for waits whose deadline is no failure (a grace period, a clean-up)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def wait_for(
    check: Callable[[], T | None],
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str | Callable[[], str] = "",
) -> T:
    """Poll ``check`` until it returns something truthy (returned); fail at the deadline.

    The default pace suits checks that run a CLI command; pass a smaller ``interval``
    where reacting within milliseconds matters. ``what`` names the awaited thing in the
    failure (a callable is asked only then, so it can show the last state seen)."""
    value = poll(check, timeout, interval)
    if value:
        return value
    detail = what() if callable(what) else what
    name = detail or getattr(check, "__name__", "condition")
    raise AssertionError(f"timed out after {timeout:g}s waiting for {name}")
