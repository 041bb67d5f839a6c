"""The collector's tasks: ``DataCollector.AddSyncTask``, recovery from the work dirs, the loops.

One ``SyncTask`` per partition at any time. ``add`` validates and opens the new task *before*
it replaces anything (a failed add leaves no half task behind, unlike the original's bug 15);
a re-add with a new token cancels the old loop, waits for its turn in flight to finish, and only
then lets the new task write its progress — never two loops advancing one partition (bug 14).
A re-add with the same token and point is answered as done (the synctool may retry a call
whose answer it lost); the same token at another point is refused.

Tasks run only while this collector is the active one of its host: ``resume`` (on becoming
active: recover every ``task.progress``) and ``suspend`` (on standby or shutdown: stop the
loops, keep the progress) are driven by the daemon.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from omsync_tui.core.errors import OmsyncError, UsageError
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.services import syncwire
from omsync_tui.services.collector.clients import Send, ThreadClients
from omsync_tui.services.collector.failures import failure_of
from omsync_tui.services.collector.scheduler import Scheduler
from omsync_tui.services.collector.task import SyncTask, TaskSettings
from omsync_tui.services.collector.workdir import WorkDir, find_partition, list_workdirs, read_progress

Key = tuple[int, int]
_MODES = {data_sync_pb2.kFull, data_sync_pb2.kIncrementalByTimestamp, data_sync_pb2.kFullAndContinuous}


REPLACE_WAIT_S = 2.0
"""Longest an AddSyncTask waits for the call in flight of the loop it replaces."""


class TaskManager:
    def __init__(
        self,
        datadir: Path,
        root_paths: tuple[Path, ...],
        settings: TaskSettings,
        *,
        workers: int = 4,
        send: Send | None = None,
        may_send: Callable[[], bool] = lambda: True,
        logger: logging.Logger | None = None,
    ) -> None:
        self.datadir = datadir
        self.root_paths = root_paths
        self.settings = settings
        self.log = logger or logging.getLogger("omsync.collector")
        self._clients = ThreadClients()
        self._send: Send = send or self._clients.send
        self._may_send = may_send
        self._scheduler = Scheduler(workers, logger=self.log)
        self._tasks: dict[Key, SyncTask] = {}
        self._lock = threading.RLock()  # guards _tasks and every replace / end of a task
        self._running = False
        self.ended: list[tuple[Key, str]] = []  # recent ends, for /status
        self.refuse: Callable[[], str | None] = lambda: None
        """Returns why AddSyncTask must be refused right now (standby), or None."""

    # -- AddSyncTask -------------------------------------------------------------------------------

    def add(self, request: data_sync_pb2.AddSyncTaskRequest) -> None:
        """Start (or replace) the task of one partition; OmsyncError says why not."""
        why_not = self.refuse()
        if why_not:
            raise UsageError(why_not)
        _validate(request)
        key = (request.tid, request.pid)
        with self._lock:
            old = self._tasks.get(key)
            if old is not None and old.token == request.token:
                if (
                    old.request.sync_point == request.sync_point
                    or syncwire.from_proto(request.sync_point) == SyncPoint.start()
                ):
                    return  # a retried call: the task runs already
                raise UsageError(
                    f"task {key[0]}-{key[1]} with token {request.token} already runs at {old.point}; "
                    f"a re-add must carry a new token (got point {syncwire.describe(request.sync_point)})"
                )
            source = find_partition(self.root_paths, request.tid, request.pid)
            if old is not None:
                old.cancelled = old.superseded = True  # its turn in flight records nothing more
                self._scheduler.remove(key)
                del self._tasks[key]
        if old is not None:
            # outside the lock: the old turn may need it to finish. Not longer than REPLACE_WAIT_S:
            # the original SyncTool sends a reassigning AddSyncTask while it holds the subtask's
            # lock, so the old loop's SendData to it cannot return before this call has; waiting
            # past its request.timeout (5 s) would have it mark the subtask FAILED for good.
            if not self._scheduler.wait_idle(key, min(REPLACE_WAIT_S, self.settings.request_timeout_s + 1)):
                self.log.warning("task %s-%s: the old loop is still in a call; replacing it anyway", *key)
            old.close()
        task = self._make(data_sync_pb2.AddSyncTaskRequest.FromString(request.SerializeToString()), source)
        try:
            task.open()
        except OmsyncError:
            task.close()
            task.work.progress.unlink(missing_ok=True)
            raise
        with self._lock:
            if key in self._tasks:
                task.close()
                raise UsageError(f"another AddSyncTask for {key[0]}-{key[1]} arrived at the same time; retry")
            self._tasks[key] = task
            if self._running:
                # The original SyncTool records a task only after AddSyncTask returns: a SendData
                # before that lands nowhere (it wrote such rows to "<home>/null<uuid>.csv"), so its
                # collector waits first. omsync's synctool says when it is ready at once.
                first = 0.0 if request.ready else self.settings.long_interval_s
                self._scheduler.submit(key, task.step, first)
        self.log.info(
            "task %s-%s added: mode %s, from %s, token %s, sending to %s",
            request.tid,
            request.pid,
            data_sync_pb2.SyncMode.Name(request.mode),
            task.point,
            request.token,
            request.des_endpoint,
        )

    def _make(self, request: data_sync_pb2.AddSyncTaskRequest, source: Path | None) -> SyncTask:
        work = WorkDir(self.datadir, request.tid, request.pid, source)
        return SyncTask(
            request,
            work,
            self.settings,
            self._send,
            may_send=self._may_send,
            on_end=self._ended,
            logger=self.log,
        )

    def _ended(self, task: SyncTask, why: str) -> None:
        with self._lock:
            if self._tasks.get(task.key) is not task:
                return  # replaced meanwhile: the work dir belongs to the new task
            del self._tasks[task.key]
            self._scheduler.remove(task.key)
            task.work.remove()
            self.ended = [*self.ended[-19:], (task.key, why)]
        self.log.info("task %s-%s ended: %s", task.tid, task.pid, why)

    # -- running -----------------------------------------------------------------------------------

    def resume(self) -> int:
        """Become active: recover tasks from the work dirs and run every loop; how many run."""
        with self._lock:
            self._recover()
            self._scheduler.start()
            self._running = True
            for key, task in self._tasks.items():
                self._scheduler.submit(key, task.step)
            return len(self._tasks)

    def suspend(self, timeout: float = 5.0) -> None:
        """Stop every loop (progress stays on disk for ``resume`` or another collector)."""
        with self._lock:
            self._running = False
            tasks = list(self._tasks.values())
            self._tasks.clear()
            for task in tasks:
                task.cancelled = True
                self._scheduler.remove(task.key)
        # outside the lock: a turn in flight may need it to finish
        if not self._scheduler.stop(timeout):
            self.log.warning("some task loops were still in a call after %.1f s", timeout)
        for task in tasks:
            task.close()

    def close(self) -> None:
        self.suspend()
        self._clients.close()

    def _recover(self) -> None:
        for tid, pid, path in list_workdirs(self.datadir):
            if (tid, pid) in self._tasks:
                continue
            try:
                request = read_progress(path / "task.progress")
            except OmsyncError as exc:
                self.log.error("not resuming %s: %s", path, exc.message)
                continue
            if request is None:
                continue
            try:
                source: Path | None = find_partition(self.root_paths, tid, pid)
            except OmsyncError:
                source = None
            task = self._make(request, source)
            try:
                task.open()
            except OmsyncError as exc:
                # tell the synctool instead of dropping the task quietly
                task.failure = failure_of(exc, task.point)
                task.stats.state = "failed"
                task.stats.last_error = f"{task.failure.code}: {exc.message}"
                self.log.error("task %s-%s cannot resume: %s", tid, pid, exc.message)
            self._tasks[(tid, pid)] = task
            self.log.info("task %s-%s resumed at %s (token %s)", tid, pid, task.point, task.token)

    # -- views -------------------------------------------------------------------------------------

    def tasks(self) -> list[SyncTask]:
        with self._lock:
            return sorted(self._tasks.values(), key=lambda t: t.key)

    def get(self, tid: int, pid: int) -> SyncTask | None:
        with self._lock:
            return self._tasks.get((tid, pid))

    def wake(self, tid: int, pid: int) -> None:
        self._scheduler.wake((tid, pid))


def _validate(request: data_sync_pb2.AddSyncTaskRequest) -> None:
    missing = [f for f in ("tid", "pid", "token", "des_endpoint", "sync_point") if not request.HasField(f)]
    if missing:
        raise UsageError(f"AddSyncTaskRequest lacks {', '.join(missing)}")
    if request.mode not in _MODES:
        raise UsageError(f"AddSyncTaskRequest has an unknown mode {request.mode}")
    try:
        syncwire.from_proto(request.sync_point)
    except OmsyncError as exc:
        raise UsageError(f"AddSyncTaskRequest.sync_point: {exc.message}") from None
    if ":" not in request.des_endpoint:
        raise UsageError(f"AddSyncTaskRequest.des_endpoint {request.des_endpoint!r} is not host:port")
