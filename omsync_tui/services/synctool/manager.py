"""The task manager: every synctool's views and SendData, the leader's create / delete / retry
and scheduling (DESIGN §1, §4, §9).

Every synctool is a worker (``worker.Worker``): SendData goes there, for the subtasks the leader
assigned to it. Only the leader manages: ``lead()`` loads every task from ZooKeeper into its
``Schedule`` and its ``Assigner`` places each subtask (``leader/``) — a subtask whose worker lives
goes on untouched across a change of leader; one whose worker is gone (the old leader's among
them) is reconciled with its destination and given to a live one from its committed point.
``Peers`` makes every call to another process. ``step_down()`` forgets the schedule; this
synctool's worker keeps its subtasks. ``create`` refuses a table unless the collector of every
partition leader's host answers a call: a registration outlives a dead process by a session
timeout.

Views are the same on every synctool: the records in ZooKeeper, with the live figures of each
subtask from the worker that holds it (this synctool's own partitions, or the others' reports
in their registration nodes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from omsync_tui.core import desturi
from omsync_tui.core.errors import NotFoundError, OmsyncError, UsageError
from omsync_tui.core.states import State
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.core.synctool_config import SynctoolConfig
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.openmldb.zkpaths import ZkPaths, partition_leaders
from omsync_tui.services.sinks import destination
from omsync_tui.services.sinks.destination import Destination
from omsync_tui.services.synctool import newtask
from omsync_tui.services.synctool.ingest import Answer, Partition
from omsync_tui.services.synctool.leader.assign import Assigner
from omsync_tui.services.synctool.leader.peers import Peers
from omsync_tui.services.synctool.leader.schedule import Schedule, Table
from omsync_tui.services.synctool.model import SubtaskRecord, TaskRecord
from omsync_tui.services.synctool.newtask import CreateOptions, storage_name
from omsync_tui.services.synctool.store import Store
from omsync_tui.services.synctool.worker import Synctools, Worker, report_of
from omsync_tui.services.zk.reads import resolve_table

log = logging.getLogger("omsync.synctool")


@dataclass(frozen=True, slots=True)
class StoredPartition:
    """A subtask held elsewhere: its stored record, with the live figures its worker reports."""

    pid: int
    record: SubtaskRecord
    accepted: SyncPoint
    last_send: float
    rows_received: int = 0
    uncommitted_rows: int = 0
    settled: SyncPoint = field(default_factory=SyncPoint.start)
    since: float | None = None

    def pending_since(self) -> float | None:
        return self.since

    @classmethod
    def of(cls, rec: SubtaskRecord, report: Mapping[str, Any] | None = None) -> StoredPartition:
        if report is None:  # nothing in flight known
            age = max(0.0, time.time() - rec.updated_ms / 1000) if rec.updated_ms else 0.0
            return cls(rec.pid, rec, rec.committed, time.monotonic() - age, settled=rec.committed)
        since = report.get("pending_since")
        return cls(
            rec.pid,
            rec,
            SyncPoint.from_dict(report["accepted"]),
            time.monotonic() - float(report.get("silent_s", 0)),
            int(report.get("rows_received", 0)),
            int(report.get("uncommitted_rows", 0)),
            SyncPoint.from_dict(report["settled"]),
            float(since) if since is not None else None,
        )


PartitionView = Partition | StoredPartition
"""What views read: a partition this synctool holds, or one as stored and reported."""


class SyncManager:
    def __init__(
        self,
        config: SynctoolConfig,
        zk: Any,
        store: Store,
        worker: Worker,
        *,
        root_path: str = "/openmldb",
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        self.config = config
        self.endpoint = config.synctool.endpoint
        self.zk = zk
        self.store = store
        self.worker = worker
        self.paths = ZkPaths(root_path)
        self.may_write = may_write
        self._lock = threading.RLock()
        self._leading = False
        self._schedule = Schedule(store, config.hdfs, may_write)
        self._peers = Peers(config.synctool, zk, self.paths, worker)
        self._assigner = Assigner(config.synctool, self._schedule, self._peers)

    # -- leadership ------------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        return self._leading

    def lead(self) -> None:
        with self._lock:
            self._leading = True
            for task in self.store.tasks():
                try:
                    self._schedule.load(task)
                except OmsyncError as exc:
                    log.error("task %s cannot be resumed: %s", task.name, exc.message)
        log.info("leading %d task(s)", len(self._schedule.tables()))

    def step_down(self, reason: str) -> None:
        with self._lock:
            self._leading = False
            n = self._schedule.clear()
        log.warning("no longer the leader (%s): %d task(s) left to the next one", reason, n)

    def shutdown(self) -> None:
        with self._lock:
            self._schedule.clear()
            self._leading = False

    def synctools(self) -> Synctools:
        """The live synctools and what each reports."""
        return self.store.synctools()

    # -- SendData ------------------------------------------------------------------------------

    def send_data(self, req: data_sync_pb2.SendDataRequest, attachment: bytes) -> Answer:
        return self.worker.send_data(req, attachment)

    # -- create / delete / retry ---------------------------------------------------------------

    def create(self, opts: CreateOptions) -> TaskRecord:
        self._need_leader()
        desturi.refuse_relative(opts.dest)
        info = resolve_table(self.zk, self.paths, opts.name)
        tid = int(info.tid)
        if self.store.task(tid) is not None:
            raise UsageError(
                f"a sync task for {opts.name} (tid {tid}) already exists",
                hint="delete it first, or look at it with `omsync task status`",
            )
        leaders = partition_leaders(info)
        self._peers.check_answering(self._peers.collectors_for(opts.name, leaders))
        resolved = destination.resolve_destination(opts.dest, self.config.hdfs)
        dest = destination.open_destination(resolved.uri, self.config.hdfs)
        now = int(time.time() * 1000)
        task = TaskRecord(
            tid=tid,
            db=info.db,
            table=info.name,
            mode=opts.mode,
            dest=resolved.uri,
            format=opts.format,
            start_ts=opts.start_ts,
            deletes=opts.deletes,
            partitions=len(leaders),
            created_ms=now,
            storage=storage_name(int(info.storage_mode)),
        )
        if dest.iceberg is not None:  # the table is made (or its schema checked) before anything is stored
            newtask.ensure_iceberg_table(dest, task, info)
        starts = newtask.start_points(opts, dest, sorted(leaders))
        # writing the table's description proves the destination takes files; its close (on HDFS
        # ~0.5 s while the NameNode waits for the DataNode's block report) goes on in a thread,
        # and a worker's first rename waits for the description (newtask.Description)
        obj = newtask.table_json(task, info)
        description = newtask.Description(dest, obj, destination.begin_json(dest, newtask.TABLE_JSON, obj))
        subs = []
        for pid in sorted(leaders):
            rec = SubtaskRecord(tid=tid, pid=pid, committed=starts[pid], updated_ms=now, tablet=leaders[pid])
            if opts.resume_from_dest:
                rows, size, files = newtask.held(dest, pid)
                rec = rec.but(rows=rows, bytes=size, files=files)
            subs.append(rec)
        self.store.create_task(task, subs)
        threading.Thread(
            target=_quietly(description.ensure, task.name), name="omsync-describe", daemon=True
        ).start()
        table = Table(task, dest)
        table.recs = {rec.pid: rec for rec in subs}
        self._schedule.add(table)
        self._assigner.assign_all(table, sorted(leaders), cause="created")
        return task

    def delete(self, name: str) -> TaskRecord:
        self._need_leader()
        t = self._schedule.find(name)
        self._schedule.drop(t.record.tid)
        try:
            live = self.synctools()
        except OmsyncError:
            live = {}
        for pid in sorted(t.recs):  # the workers commit what they accepted, then let go
            try:
                rec = self.store.subtask(t.record.tid, pid)
            except OmsyncError:
                continue
            if rec is not None and (trouble := self._peers.release(rec.record, live)):
                log.warning("%s pid %d: %s; deleting all the same", t.record.name, pid, trouble)
        self.store.delete_task(t.record.tid)
        return t.record

    def retry(self, name: str, pid: int | None = None) -> list[int]:
        self._need_leader()
        t = self._schedule.find(name)
        if pid is not None and pid not in t.recs:
            raise NotFoundError(f"{name} has no partition {pid}")
        retried = []
        for one in sorted(t.recs):
            if pid is None or one == pid:
                rec = self._schedule.update(
                    t.record.tid,
                    one,
                    lambda old: (
                        old.but(state=State.REASSIGNING, retries=0, cause="retry")
                        if old.state is State.FAILED
                        else old
                    ),
                    "retry asked for",
                )
                if rec.cause == "retry" and rec.state is State.REASSIGNING:
                    t.recs[one] = rec
                    t.next_try.pop(one, None)
                    retried.append(one)
        self._assigner.assign_all(t, retried, cause="retry")
        return retried

    def _need_leader(self) -> None:
        if not self._leading or not self.may_write():
            leader = self.store.leader() if self.zk is not None else None
            raise UsageError(
                f"synctool {self.endpoint} is not the leader"
                + (f"; send this to the leader, {leader}" if leader else "; no leader is elected right now")
            )

    # -- the watch loop ------------------------------------------------------------------------

    def tick(self) -> None:
        """Place every subtask (leader only); called about every second."""
        if not self._leading or not self.may_write():
            return
        self._assigner.tick()

    # -- views -----------------------------------------------------------------------------------

    def tables(self) -> list[tuple[TaskRecord, list[PartitionView]]]:
        """Every task with its partitions, as stored, with each worker's live figures."""
        out: list[tuple[TaskRecord, list[PartitionView]]] = []
        try:
            live = self.synctools()
            for task in self.store.tasks():
                recs = [v.record for v in self.store.subtasks(task.tid)]
                out.append((task, [self._view(rec, live) for rec in recs]))
        except OmsyncError as exc:
            log.warning("cannot read the tasks from ZooKeeper: %s", exc.message)
        return out

    def _view(self, rec: SubtaskRecord, live: Synctools) -> PartitionView:
        if rec.worker == self.endpoint:
            held = self.worker.held(rec.tid, rec.pid, rec.token)
            if held is not None:
                return held
        return StoredPartition.of(rec, report_of(live, rec))

    def tasks(self) -> list[TaskRecord]:
        """Every task's record, without its subtasks (one read fewer per task than ``tables``)."""
        return self.store.tasks()

    def task(self, name: str) -> TaskRecord:
        """The task of ``name`` (``db.table`` or its tid)."""
        for task in self.store.tasks():
            if task.name == name or str(task.tid) == name:
                return task
        raise NotFoundError(f"no sync task for {name}", hint="`omsync task status` lists the tasks")

    def destination(self, name: str) -> tuple[TaskRecord, Destination]:
        task = self.task(name)
        return task, destination.open_destination(task.dest, self.config.hdfs)


def _quietly(fn: Callable[[], None], name: str) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except OmsyncError as exc:  # a worker's first rename writes it again (Description.ensure)
            log.warning("%s: the table's description is not in place yet: %s", name, exc.message)

    return run
