"""``serve_until_signalled``: how both daemons run in the foreground.

Start, wait for SIGTERM or SIGINT, stop cleanly, restore the previous handlers; a second signal
while stopping exits at once (130), for an operator who does not want to wait.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any


def serve_until_signalled(start: Callable[[], None], stop: Callable[[], None], log: logging.Logger) -> int:
    """Run ``start``, then wait for a signal, then ``stop`` (also when ``start`` fails); exit code 0."""
    requested = threading.Event()
    signals = 0

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            log.error("second signal: exiting at once")
            os._exit(130)
        log.info("received %s", signal.Signals(signum).name)
        requested.set()

    previous: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, on_signal)
    try:
        start()
        while not requested.wait(1.0):
            pass
    finally:
        stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0
