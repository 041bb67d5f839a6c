"""Waiting inside a Textual Pilot scenario: the app keeps running while the test polls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot


async def until(
    pilot: Pilot[Any],
    cond: Callable[[], bool],
    what: str | Callable[[], str],
    timeout: float = 30,
    *,
    every: float = 0.05,
) -> None:
    """Let the app run (``pilot.pause``) until ``cond`` holds; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {said}")
        await pilot.pause(every)
