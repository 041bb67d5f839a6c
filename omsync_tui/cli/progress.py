"""How ``omsync task wait`` and ``task create --wait`` show progress on stderr.

On a terminal one line is redrawn in place (a bar when the share done is known); without one (CI
logs) a plain line is printed when it changes, at most every 2 s and at least every 10 s. The
line of a FULL sync counts rows received against the tablets' record counts (an estimate: TTL
and deletes make it approximate), with rows/s over the last ~10 s and the time to go.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24


def bar(fraction: float) -> str:
    """``[#########...............]  37%``"""
    f = min(1.0, max(0.0, fraction))
    filled = round(f * BAR_WIDTH)
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {f:4.0%}"


def duration(seconds: float) -> str:
    s = round(seconds)
    return (
        f"{s // 3600}h{s % 3600 // 60:02d}m"
        if s >= 3600
        else f"{s // 60}m{s % 60:02d}s"
        if s >= 60
        else f"{s}s"
    )


class RowRate:
    """rows/s over the last ``window_s`` of samples of a growing count (a smaller count restarts it)."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._seen: deque[tuple[float, int]] = deque()

    def update(self, now: float, rows: int) -> float:
        q = self._seen
        if q and rows < q[-1][1]:
            q.clear()
        q.append((now, rows))
        while len(q) > 2 and now - q[0][0] > self.window_s:
            q.popleft()
        (t0, r0), (t1, r1) = q[0], q[-1]
        return (r1 - r0) / (t1 - t0) if t1 > t0 else 0.0


def full_line(
    name: str, received: int, committed: int, expected: int | None, rate: float
) -> tuple[str, float | None]:
    """A FULL sync's progress line and the share done (None without an estimate of the total)."""
    rows = f"{received:,} rows received, {committed:,} in committed files"
    speed = f"{rate:,.0f} rows/s"
    if not expected:
        return f"{name}: {rows}, {speed}", None
    fraction = received / expected
    togo = max(0, expected - received)
    eta = f", ~{duration(togo / rate)} to go" if rate > 0 and togo else ""
    return f"{name}: {rows} of ~{expected:,} ({min(fraction, 1.0):.0%}), {speed}{eta}", fraction


class Progress:
    """One progress line on ``stream``: redrawn in place on a terminal, printed on change else."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self._said = ""
        self._said_at = float("-inf")
        self._drawn = 0  # width of the line drawn in place

    def show(self, line: str, fraction: float | None = None) -> None:
        if self.tty:
            text = f"{bar(fraction)} {line}" if fraction is not None else line
            pad = max(0, self._drawn - len(text))
            self.stream.write("\r" + text + " " * pad)
            self.stream.flush()
            self._drawn = len(text)
            return
        now = self.clock()
        quiet = now - self._said_at
        if line and ((line != self._said and quiet >= 2.0) or quiet >= 10.0):
            print(line, file=self.stream)
            self._said, self._said_at = line, now

    def end(self) -> None:
        """Leave the line drawn in place (a terminal) before anything else is printed."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0
