"""Waiting in the operations tests for something another process does."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    *,
    pause: float = 0.1,
    between: Callable[[], object] | None = None,
) -> float:
    """Poll `condition()` every `pause` seconds (calling `between()` before each pause) until it
    is true; the seconds it took. AssertionError naming `what` after `timeout` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        if between is not None:
            between()
        time.sleep(pause)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")
