"""A timer heap drained by a fixed pool of worker threads: how the collector runs its tasks.

Each job is a callable returning the delay (seconds) until it should run again, or ``None`` when
it is done. A job is either waiting in the heap or running on one worker, never both, so a task
never runs concurrently with itself. The pool size bounds the threads whatever the number of
partitions (the original spawns a chain per partition on a 32-thread pool; same idea).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable

Job = Callable[[], float | None]


class Scheduler:
    def __init__(
        self, workers: int = 4, *, name: str = "omsync-task", logger: logging.Logger | None = None
    ) -> None:
        self.workers = workers
        self.name = name
        self.log = logger or logging.getLogger("omsync.collector")
        self._heap: list[tuple[float, int, Hashable]] = []
        self._jobs: dict[Hashable, Job] = {}
        self._due: dict[Hashable, int] = {}  # key -> seq of its live heap entry
        self._running: set[Hashable] = set()
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def start(self) -> None:
        with self._cond:
            # a worker that outlived stop() (stuck in a call) simply keeps working
            self._stopping = False
            self._threads = [t for t in self._threads if t.is_alive()]
            for i in range(len(self._threads), self.workers):
                t = threading.Thread(target=self._work, name=f"{self.name}-{i}", daemon=True)
                self._threads.append(t)
                t.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop taking jobs; wait up to ``timeout`` for running ones. False if some still run."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = any(t.is_alive() for t in self._threads)
        with self._cond:
            self._threads = [t for t in self._threads if t.is_alive()]
        return not alive

    def submit(self, key: Hashable, job: Job, delay: float = 0.0) -> None:
        """Run ``job`` after ``delay``; replaces the job of the same key (a running one finishes)."""
        with self._cond:
            self._jobs[key] = job
            if key not in self._running:
                self._push(key, delay)
            self._cond.notify()

    def wake(self, key: Hashable) -> None:
        """Run ``key``'s job now if it is waiting."""
        with self._cond:
            if key in self._jobs and key not in self._running:
                self._push(key, 0.0)
                self._cond.notify()

    def remove(self, key: Hashable) -> None:
        """Forget ``key``'s job; a running one finishes its current call and is not rescheduled."""
        with self._cond:
            self._jobs.pop(key, None)
            self._due.pop(key, None)

    def wait_idle(self, key: Hashable, timeout: float) -> bool:
        """Wait until ``key``'s job is not running (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while key in self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def keys(self) -> list[Hashable]:
        with self._cond:
            return list(self._jobs)

    def _push(self, key: Hashable, delay: float) -> None:
        seq = next(self._seq)
        self._due[key] = seq  # older heap entries of this key become stale
        heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), seq, key))

    def _work(self) -> None:
        while True:
            with self._cond:
                job = None
                while job is None:
                    if self._stopping:
                        return
                    now = time.monotonic()
                    while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][1]:
                        heapq.heappop(self._heap)  # stale
                    if not self._heap:
                        self._cond.wait()
                        continue
                    due, _, key = self._heap[0]
                    if due > now:
                        self._cond.wait(due - now)
                        continue
                    heapq.heappop(self._heap)
                    del self._due[key]
                    job = self._jobs[key]
                    self._running.add(key)
            delay: float | None = None
            try:
                delay = job()
            except Exception:
                self.log.exception("job %s failed unexpectedly; retrying in 5 s", key)
                delay = 5.0
            with self._cond:
                self._running.discard(key)
                if delay is not None and self._jobs.get(key) is job:
                    self._push(key, delay)
                elif self._jobs.get(key) is not job and key in self._jobs:
                    self._push(key, 0.0)  # replaced while running: start the new job now
                elif delay is None and self._jobs.get(key) is job:
                    del self._jobs[key]
                self._cond.notify_all()
