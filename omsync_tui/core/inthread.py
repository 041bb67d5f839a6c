"""``InThread``: one call running in a daemon thread of its own, its outcome collected later.

The synctool hands slow closes to it (on HDFS a file's close waits ~0.5 s for the DataNode's block
report): a sealed data file (``ingest.Closing``) and a new task's ``_omsync/table.json``
(``newtask.Description``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class InThread(Generic[T]):
    """``fn()`` started at once in a daemon thread; ``result()`` joins it and returns its value or
    raises what it raised, in the caller's thread (any number of times)."""

    def __init__(self, fn: Callable[[], T], name: str) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], T]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:  # handed to result(), in the caller's thread
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set unless _error is

    def done(self) -> bool:
        """Whether the call has ended (``result()`` would not wait)."""
        return not self._thread.is_alive()

    def join(self) -> None:
        """Wait for the call to end, whatever its outcome."""
        self._thread.join()
