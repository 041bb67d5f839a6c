"""Waiting for a condition instead of sleeping for a fixed time (STYLE 12): the one ``wait_until``."""

from __future__ import annotations

import time
from collections.abc import Callable

DEFAULT_TIMEOUT = 15.0


def wait_until(
    condition: Callable[[], bool],
    timeout: float = DEFAULT_TIMEOUT,
    what: str | Callable[[], str] = "",
    *,
    every: float = 0.02,
) -> None:
    """Poll ``condition`` every ``every`` seconds until it holds; AssertionError after ``timeout``
    naming ``what`` (a callable is asked at that moment, so it can show the state then)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what or repr(condition)
            raise AssertionError(f"timed out after {timeout:g} s waiting for {said}")
        time.sleep(every)
