"""Every synctool's worker side (DESIGN §9): the subtasks the leader assigned to this synctool.

The leader schedules; it writes ``worker`` (this synctool's endpoint) and a fresh ``token`` into a
subtask's record and sends the collector this synctool as ``des_endpoint``. The first SendData
with that token makes ``Worker`` adopt the subtask: it reads the record, checks it is this
synctool's with this token, and holds a ``Partition`` (``ingest``) for it from the committed
point. Everything else a partition does (decode, write, rename, store the committed point) is
``ingest``'s, with one difference: the record is stored by compare-and-set on the token
(``_saver``), so a subtask the leader has moved elsewhere (new token) is never written by its
former worker again; such a partition is dropped (``Moved``).

A subtask leaves a worker by ``release`` (the leader's call before it moves one: what was accepted
is committed, then the partition dropped), by reaching SUCCESS / FAILED / REASSIGNING, by being
moved, or all at once when the ZooKeeper session is lost (``drop_all``: the registration died
with it, so the leader may already have moved them). Files are renamed only while the session is
connected: a worker cut off from ZooKeeper stops committing before its registration expires, so
the next worker's reconcile sees every file this one renamed.

``report()`` is what this worker publishes in its registration node every second (held subtasks
with their live figures, rows received): the leader reads it to tell a silent collector or a
subtask never taken up, and every synctool's views read the figures of the others from it
(``report_of``, ``fresh_report``, ``unreported`` read it back from ``Store.synctools()``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from omsync_tui.core.errors import ClusterError, NotFoundError, OmsyncError
from omsync_tui.core.states import State
from omsync_tui.core.synctool_config import SynctoolConfig
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.openmldb.schema import TableSchema
from omsync_tui.openmldb.zkpaths import ZkPaths
from omsync_tui.services.sinks import destination
from omsync_tui.services.synctool import newtask
from omsync_tui.services.synctool.ingest import Answer, Budget, Partition, refuse
from omsync_tui.services.synctool.model import SubtaskRecord, TaskRecord
from omsync_tui.services.synctool.store import Store
from omsync_tui.services.zk.reads import table_by_tid

log = logging.getLogger("omsync.synctool")

Key = tuple[int, int]  # (tid, pid)
REPORT_STALE_S = 10.0  # a worker's report older than this says nothing about its subtasks

Synctools = Mapping[str, Mapping[str, Any]]
"""The live synctools: endpoint → what its registration node holds (``Worker.report`` within)."""


def works(data: Mapping[str, Any]) -> bool:
    """A registration of a synctool that takes subtasks (``[synctool] work``)."""
    return bool(data.get("works", True))


def fresh_report(data: Mapping[str, Any]) -> bool:
    """A registration whose worker report is recent enough to say what it holds."""
    return time.time() * 1000 - int(data.get("heartbeat_ms", 0)) <= REPORT_STALE_S * 1000


def report_of(live: Synctools, rec: SubtaskRecord) -> Mapping[str, Any] | None:
    """The worker's live figures of this assignment (same token), from a fresh report; else None."""
    data = live.get(rec.worker)
    if data is None or not fresh_report(data):
        return None
    for entry in data.get("subtasks", ()):
        if (entry.get("tid"), entry.get("pid"), entry.get("token")) == (rec.tid, rec.pid, rec.token):
            return dict(entry)
    return None


def unreported(rec: SubtaskRecord, live: Synctools) -> bool:
    """An assignment its worker's fresh report leaves out: not taken up yet, or let go."""
    data = live.get(rec.worker)
    return (
        not rec.state.final
        and bool(rec.token)
        and data is not None
        and fresh_report(data)
        and report_of(live, rec) is None
    )


class Moved(ClusterError):
    """The subtask was assigned elsewhere (a new token) or deleted: this worker lets it go."""


@dataclass
class _Task:
    """A table some of whose subtasks this worker holds."""

    record: TaskRecord
    dest: destination.Destination
    schema: TableSchema
    described: Callable[[], None]


class Worker:
    def __init__(
        self,
        config: SynctoolConfig,
        zk: Any,
        store: Store,
        *,
        root_path: str = "/openmldb",
        connected: Callable[[], bool] = lambda: True,
    ) -> None:
        self.config = config
        self.endpoint = config.synctool.endpoint
        self.zk = zk
        self.store = store
        self.paths = ZkPaths(root_path)
        self.connected = connected
        self.budget = Budget(config.sink.memory_per_subtask, config.sink.memory_total)
        self._tasks: dict[int, _Task] = {}
        self._held: dict[Key, Partition] = {}
        self._moved: set[Key] = set()
        self._lock = threading.Lock()
        self._rows_before = 0  # rows received by partitions no longer held
        self._stopped = False

    # -- SendData ----------------------------------------------------------------------------------

    def send_data(self, req: data_sync_pb2.SendDataRequest, attachment: bytes) -> Answer:
        key = (req.tid, req.pid)
        p = self._held.get(key)
        if p is None or p.record.token != req.token or key in self._moved:
            got = self._adopt(key, req.token)
            if isinstance(got, Answer):
                return got
            p = got
        return p.receive(req, attachment)

    def _adopt(self, key: Key, token: str) -> Partition | Answer:
        tid, pid = key
        with self._lock:
            if self._stopped:
                return refuse(f"synctool {self.endpoint} is stopping")
            if key in self._moved:
                self._drop(key)
            p = self._held.get(key)
            if p is not None and p.record.token == token:
                return p
            try:
                got = self.store.subtask(tid, pid)
            except OmsyncError as exc:
                return refuse(f"sync task {tid}-{pid}: cannot read its record: {exc.message}")
            if got is None:
                return refuse(f"can't find sync task {tid}-{pid}")
            rec = got.record
            if rec.worker != self.endpoint:
                return refuse(
                    f"sync task {tid}-{pid} is assigned to synctool {rec.worker or '(none yet)'}, "
                    f"not {self.endpoint}"
                )
            if rec.token != token:
                return refuse(f"token not match for sync task {tid}-{pid}")
            if p is not None:
                self._drop(key)  # an earlier assignment of the same subtask
            try:
                task = self._task(tid)
            except OmsyncError as exc:
                return refuse(f"sync task {tid}-{pid}: {exc.message}")
            p = self._partition(task, rec)
            self._held[key] = p
        log.info("%s pid %d: taken up from %s (token %s)", task.record.name, pid, rec.committed, token[:8])
        return p

    def _task(self, tid: int) -> _Task:
        got = self.store.task(tid)
        if got is None:
            raise NotFoundError(f"no task with tid {tid} in ZooKeeper (deleted?)")
        record = got.record
        task = self._tasks.get(tid)
        if task is not None and task.record == record:
            return task  # the same task (a table's task deleted and created again is another)
        dest = destination.open_destination(record.dest, self.config.hdfs)
        info = table_by_tid(self.zk, self.paths, tid)
        schema = TableSchema.from_proto(info, where=f"table tid {tid}")
        description = newtask.Description(dest, newtask.table_json(record, info), None)
        task = self._tasks[tid] = _Task(record, dest, schema, description.ensure)
        return task

    def _partition(self, task: _Task, rec: SubtaskRecord) -> Partition:
        s = self.config.sink

        key = (rec.tid, rec.pid)

        def described() -> None:
            # the last step before a file's rename: none while cut off from ZooKeeper, none once
            # the leader has taken the subtask away (one read per file; see the module's doc)
            if not self.connected():
                raise ClusterError(f"synctool {self.endpoint} has no live ZooKeeper session: not committing")
            got = self.store.subtask(*key)
            if got is None or got.record.worker != self.endpoint or got.record.token != rec.token:
                self._moved.add(key)
                raise Moved(f"subtask {key[0]}-{key[1]} was taken away meanwhile: not committing")
            task.described()

        return Partition(
            task.record,
            rec,
            task.dest,
            lambda: task.schema,
            lambda: self._refresh_schema(task),
            self._saver((rec.tid, rec.pid)),
            self.budget,
            roll_rows=s.roll_rows,
            roll_bytes=s.roll_bytes,
            commit_seconds=s.commit_seconds,
            csv_timezone=s.csv_timezone,
            max_retries=self.config.synctool.max_retries,
            described=described,
        )

    def _refresh_schema(self, task: _Task) -> TableSchema:
        tid = task.record.tid
        task.schema = TableSchema.from_proto(table_by_tid(self.zk, self.paths, tid), where=f"table tid {tid}")
        return task.schema

    def _saver(self, key: Key) -> Callable[[SubtaskRecord, str | None], SubtaskRecord]:
        tid, pid = key

        def save(rec: SubtaskRecord, reason: str | None) -> SubtaskRecord:
            if not self.connected():
                raise ClusterError(f"synctool {self.endpoint} has no live ZooKeeper session: not storing")

            def change(old: SubtaskRecord) -> SubtaskRecord:
                if old.worker != self.endpoint or old.token != rec.token:
                    raise Moved(f"subtask {tid}-{pid} was assigned to {old.worker or 'nobody'} meanwhile")
                return rec

            try:
                stored = self.store.update_subtask(tid, pid, change, reason=reason)
            except Moved:
                self._moved.add(key)
                raise
            if stored is None:
                self._moved.add(key)
                raise Moved(f"subtask {tid}-{pid} is gone from ZooKeeper (task deleted?)")
            return stored

        return save

    # -- letting go --------------------------------------------------------------------------------

    def release(self, tid: int, pid: int) -> SubtaskRecord | None:
        """Commit what was accepted and drop the subtask (the leader moves it); its record then."""
        with self._lock:
            p = self._held.pop((tid, pid), None)
            moved = (tid, pid) in self._moved
        if p is None:
            return None
        with p.lock:
            if not moved and p.record.state in (State.INIT, State.RUNNING) and p.commit():
                # the token goes: the collector's next pack must not make this worker adopt it again
                token = p.record.token

                def cleared(old: SubtaskRecord) -> SubtaskRecord | None:
                    return old.but(token="") if (old.worker, old.token) == (self.endpoint, token) else None

                with suppress(OmsyncError):
                    self.store.update_subtask(tid, pid, cleared, reason="released: the leader moves it")
            p.close(commit=False)
            self._rows_before += p.rows_received
        self._moved.discard((tid, pid))
        log.info("%s pid %d: released at %s", p.task.name, pid, p.record.committed)
        return p.record

    def _drop(self, key: Key) -> None:
        """Drop a partition without committing (caller holds ``_lock``)."""
        self._moved.discard(key)
        p = self._held.pop(key, None)
        if p is not None:
            p.close(commit=False)
            self._rows_before += p.rows_received
            log.info("%s pid %d: let go (%s)", p.task.name, p.pid, p.record.state.value)

    def drop_all(self, reason: str) -> None:
        """The ZooKeeper session is gone (its registration with it): every subtask may be moved."""
        with self._lock:
            keys = list(self._held)
            for key in keys:
                self._drop(key)
            self._tasks.clear()
        if keys:
            log.warning("dropped the open files of %d subtask(s): %s", len(keys), reason)

    def shutdown(self) -> None:
        """Clean stop: commit what is open while the session is live, then let go."""
        with self._lock:
            self._stopped = True
            held, self._held = self._held, {}
        for p in held.values():
            p.close(commit=self.connected())

    # -- the watch loop --------------------------------------------------------------------------

    def tick(self) -> None:
        """Roll files by age; let go of subtasks that ended, failed over or moved."""
        with self._lock:
            held = list(self._held.items())
        for key, p in held:
            if key in self._moved or p.record.state not in (State.INIT, State.RUNNING):
                with self._lock:
                    if self._held.get(key) is p:
                        self._drop(key)
                continue
            p.commit_if_due()

    # -- views -------------------------------------------------------------------------------------

    def held(self, tid: int, pid: int, token: str) -> Partition | None:
        """The live partition of this assignment, when this worker holds it."""
        p = self._held.get((tid, pid))
        return p if p is not None and p.record.token == token and (tid, pid) not in self._moved else None

    def report(self) -> dict[str, object]:
        """What the registration node carries: held subtasks with their live figures."""
        now = time.monotonic()
        subtasks = []
        received = self._rows_before
        with self._lock:
            held = sorted(self._held.items())
        for (tid, pid), p in held:
            received += p.rows_received
            subtasks.append(
                {
                    "tid": tid,
                    "pid": pid,
                    "token": p.record.token,
                    "silent_s": round(now - p.last_send, 3),
                    "rows_received": p.rows_received,
                    "uncommitted_rows": p.uncommitted_rows,
                    "accepted": p.accepted.to_dict(),
                    "settled": p.settled.to_dict(),
                    "pending_since": p.pending_since(),
                }
            )
        return {"heartbeat_ms": int(time.time() * 1000), "rows_received": received, "subtasks": subtasks}
