"""The leader synctool's task manager: lead, create, delete, retry, route SendData, show (DESIGN §1, §4).

Only the leader manages: ``lead()`` loads every task from ZooKeeper, reconciles each partition
with its destination (largest committed end wins, leftover temporaries go) and re-assigns every
unfinished subtask with a fresh token from its committed point — the collectors' in-flight
batches of the previous leader are refused and re-sent. A partition whose destination cannot
be read then (down, damaged) is reconciled before its next assignment instead, within the retry
budget; a task whose table was dropped is loaded all the same, so its FAILED subtasks stay
visible. ``step_down()`` drops open files without committing them (the new leader owns the
ranges now). ``create`` refuses a table unless the collector of every partition leader's host
answers a call: a registration outlives a dead process by a session timeout.

The manager owns the managed tables, their lock and every ZooKeeper write of a subtask
(``_save``); assigning subtasks to collectors and the watch loop are its ``Assigner``'s
(``assign.py``), what a new task starts from is ``newtask.py``'s. Followers answer the views
from what the leader stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omsync_tui.core import desturi
from omsync_tui.core.errors import ClusterError, NotFoundError, OmsyncError, UsageError
from omsync_tui.core.states import State
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.core.synctool_config import SynctoolConfig
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.openmldb.schema import Column, ColumnType, TableSchema
from omsync_tui.openmldb.zkpaths import ZkPaths, partition_leaders
from omsync_tui.services.sinks import destination, readback
from omsync_tui.services.sinks.destination import Destination
from omsync_tui.services.synctool import newtask
from omsync_tui.services.synctool.assign import Assigner, Table, host_of
from omsync_tui.services.synctool.ingest import Answer, Budget, Partition, refuse
from omsync_tui.services.synctool.model import SubtaskRecord, TaskRecord
from omsync_tui.services.synctool.newtask import CreateOptions, storage_name
from omsync_tui.services.synctool.store import Store
from omsync_tui.services.zk.reads import list_collectors, resolve_table, table_by_tid

_DROPPED_SCHEMA = TableSchema((Column("dropped", ColumnType.STRING),))  # a dropped table's stand-in
log = logging.getLogger("omsync.synctool")


@dataclass(frozen=True, slots=True)
class StoredPartition:
    """A subtask as a follower sees it: the stored record, nothing in flight."""

    pid: int
    record: SubtaskRecord
    accepted: SyncPoint
    last_send: float
    rows_received: int = 0
    uncommitted_rows: int = 0  # a follower knows nothing in flight

    @property
    def settled(self) -> SyncPoint:
        return self.record.committed

    def pending_since(self) -> float | None:
        """A follower knows nothing in flight."""
        return None

    @classmethod
    def of(cls, rec: SubtaskRecord) -> StoredPartition:
        age = max(0.0, time.time() - rec.updated_ms / 1000) if rec.updated_ms else 0.0
        return cls(rec.pid, rec, rec.committed, time.monotonic() - age)


PartitionView = Partition | StoredPartition
"""What views read: a live partition (leader) or a stored one (follower)."""


class SyncManager:
    def __init__(
        self,
        config: SynctoolConfig,
        zk: Any,
        store: Store,
        *,
        root_path: str = "/openmldb",
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        self.config = config
        self.endpoint = config.synctool.endpoint
        self.zk = zk
        self.store = store
        self.paths = ZkPaths(root_path)
        self.may_write = may_write
        self.budget = Budget(config.sink.memory_per_subtask, config.sink.memory_total)
        self._tables: dict[int, Table] = {}
        self._lock = threading.RLock()
        self._leading = False
        self._assigner = Assigner(config.synctool, zk, self.paths, save=self._save, reconcile=self._reconcile)

    # -- leadership ------------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        return self._leading

    def lead(self) -> None:
        with self._lock:
            self._leading = True
            for task in self.store.tasks():
                try:
                    self._adopt(task)
                except OmsyncError as exc:
                    log.error("task %s cannot be resumed: %s", task.name, exc.message)
        log.info("leading %d task(s)", len(self._tables))

    def step_down(self, reason: str) -> None:
        with self._lock:
            self._leading = False
            tables, self._tables = self._tables, {}
        for t in tables.values():
            for p in t.parts.values():
                p.close(commit=False)
        log.warning("no longer the leader (%s): dropped open files of %d task(s)", reason, len(tables))

    def shutdown(self) -> None:
        """Clean stop while still leader: commit what is open, then let go."""
        with self._lock:
            tables, self._tables = self._tables, {}
            self._leading = False
        for t in tables.values():
            for p in t.parts.values():
                p.close(commit=self.may_write())

    def _adopt(self, task: TaskRecord) -> Table:
        dest = destination.open_destination(task.dest, self.config.hdfs)
        try:
            info = table_by_tid(self.zk, self.paths, task.tid)
        except NotFoundError:
            # The table was dropped: the task stays visible with its FAILED subtasks (and causes);
            # the watch loop fails the others with table_dropped. Nothing is decoded any more.
            log.warning("task %s: its table (tid %d) no longer exists", task.name, task.tid)
            table = Table(task, dest, _DROPPED_SCHEMA)
        else:
            schema = TableSchema.from_proto(info, where=f"table tid {task.tid}")
            description = newtask.Description(dest, newtask.table_json(task, info), None)
            table = Table(task, dest, schema, description.ensure)
        for versioned in self.store.subtasks(task.tid):
            rec = versioned.record
            try:
                rec = self._reconcile(table, rec)
            except OmsyncError as exc:
                # The destination is down or damaged: keep the subtask (visible, with its state and
                # cause); it is reconciled before its next assignment, which the retry budget bounds.
                log.warning("%s pid %d: cannot reconcile with the destination: %s", task.name, rec.pid, exc)
                table.unreconciled.add(rec.pid)
            table.parts[rec.pid] = self._partition(table, rec)
            if not rec.state.final:
                table.next_try[rec.pid] = 0.0  # assign now, from the committed point, with a new token
                table.due_cause[rec.pid] = "takeover"
        self._tables[task.tid] = table  # complete, or not at all: a task without parts would sit idle
        return table

    def _reconcile(self, table: Table, rec: SubtaskRecord) -> SubtaskRecord:
        """Largest committed end wins: files renamed just before a crash count."""
        readback.remove_temporaries(table.dest, rec.pid)
        files = readback.list_files(table.dest, rec.pid)
        if files and files[-1].next.key() > rec.committed.key():
            last = files[-1]
            newer = [f for f in files if f.first.key() >= rec.committed.key()]
            log.info(
                "%s pid %d: the destination holds up to %s, ZooKeeper said %s; taking the destination's",
                table.record.name,
                rec.pid,
                last.next,
                rec.committed,
            )
            rec = rec.but(
                committed=last.next,
                rows=rec.rows + sum(f.rows for f in newer),
                bytes=rec.bytes + sum(f.size for f in newer),
                files=rec.files + len(newer),
            )
            rec = self._save(rec, None)
        return rec

    def _partition(self, table: Table, rec: SubtaskRecord) -> Partition:
        s = self.config.sink
        tid = table.record.tid
        return Partition(
            table.record,
            rec,
            table.dest,
            lambda: table.schema,
            lambda: self._refresh_schema(tid),
            self._save,
            self.budget,
            roll_rows=s.roll_rows,
            roll_bytes=s.roll_bytes,
            commit_seconds=s.commit_seconds,
            csv_timezone=s.csv_timezone,
            max_retries=self.config.synctool.max_retries,
            described=table.described,
        )

    def _save(self, rec: SubtaskRecord, reason: str | None) -> SubtaskRecord:
        if not self.may_write():
            raise ClusterError("not the leader with a live ZooKeeper session: not storing")
        stored = self.store.update_subtask(rec.tid, rec.pid, lambda _old: rec, reason=reason)
        if stored is None:
            raise NotFoundError(f"subtask {rec.tid}-{rec.pid} is gone from ZooKeeper (task deleted?)")
        return stored

    def _schema(self, tid: int) -> TableSchema:
        return TableSchema.from_proto(table_by_tid(self.zk, self.paths, tid), where=f"table tid {tid}")

    def _refresh_schema(self, tid: int) -> TableSchema:
        schema = self._schema(tid)
        with self._lock:
            t = self._tables.get(tid)
            if t is not None:
                t.schema = schema
        return schema

    # -- SendData ------------------------------------------------------------------------------

    def send_data(self, req: data_sync_pb2.SendDataRequest, attachment: bytes) -> Answer:
        if not self._leading:
            return refuse(f"synctool {self.endpoint} is not the leader")
        t = self._tables.get(req.tid)
        p = t.parts.get(req.pid) if t is not None else None
        if t is None or p is None:
            return refuse(f"can't find sync task {req.tid}-{req.pid}")
        if req.pid in t.unreconciled:
            return refuse(f"sync task {req.tid}-{req.pid} is not reconciled with its destination yet")
        return p.receive(req, attachment)

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
        collectors = list_collectors(self.zk, self.paths)
        hosts = {host_of(c) for c in collectors}
        missing = sorted({host_of(ep) for ep in leaders.values()} - hosts)
        if missing:
            raise ClusterError(
                f"no collector is registered for the host(s) of {opts.name}'s partition leaders: "
                f"{', '.join(missing)}",
                hint="start `omsync collector` on each tablet host (same host text as the tablet endpoint)",
            )
        self._assigner.check_answering(sorted({self._assigner.collector_for(ep) for ep in leaders.values()}))
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
        # ~0.5 s while the NameNode waits for the DataNode's block report) goes on in a thread
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
        with self._lock:
            table = Table(task, dest, TableSchema.from_proto(info, where=opts.name), description.ensure)
            for rec in subs:
                table.parts[rec.pid] = self._partition(table, rec)
            self._tables[tid] = table
        self._assigner.assign_all(table, sorted(leaders), cause="created")
        return task

    def delete(self, name: str) -> TaskRecord:
        self._need_leader()
        t = self._find(name)
        with self._lock:
            self._tables.pop(t.record.tid, None)
        for p in t.parts.values():
            p.close(commit=True)
        self.store.delete_task(t.record.tid)
        return t.record

    def retry(self, name: str, pid: int | None = None) -> list[int]:
        self._need_leader()
        t = self._find(name)
        retried = []
        for p in t.parts.values():
            if (pid is None or p.pid == pid) and p.record.state is State.FAILED:
                with p.lock:
                    p.record = self._save(
                        p.record.but(state=State.REASSIGNING, retries=0, cause="retry"), "retry asked for"
                    )
                t.next_try.pop(p.pid, None)
                retried.append(p.pid)
        if pid is not None and pid not in t.parts:
            raise NotFoundError(f"{name} has no partition {pid}")
        self._assigner.assign_all(t, retried, cause="retry")
        return retried

    def _find(self, name: str) -> Table:
        with self._lock:
            for t in self._tables.values():
                if t.record.name == name or str(t.record.tid) == name:
                    return t
        raise NotFoundError(f"no sync task for {name}", hint="`omsync task status` lists the tasks")

    def _need_leader(self) -> None:
        if not self._leading or not self.may_write():
            leader = self.store.leader() if self.zk is not None else None
            raise UsageError(
                f"synctool {self.endpoint} is not the leader"
                + (f"; send this to the leader, {leader}" if leader else "; no leader is elected right now")
            )

    # -- the watch loop ------------------------------------------------------------------------

    def tick(self) -> None:
        """Roll files by age, reassign silent or misplaced subtasks; called about every second."""
        if not self._leading or not self.may_write():
            return
        self._assigner.tick(self._snapshot)

    def _snapshot(self) -> list[Table]:
        with self._lock:
            return list(self._tables.values())

    # -- views -----------------------------------------------------------------------------------

    def tables(self) -> list[tuple[TaskRecord, list[PartitionView]]]:
        """Every task with its partitions: live on the leader, as stored in ZooKeeper elsewhere."""
        if not self._leading:
            return self._stored_tables()
        with self._lock:
            return [(t.record, [t.parts[p] for p in sorted(t.parts)]) for t in self._tables.values()]

    def _stored_tables(self) -> list[tuple[TaskRecord, list[PartitionView]]]:
        # a follower answers reads from what the leader stored (committed progress, states, causes)
        out: list[tuple[TaskRecord, list[PartitionView]]] = []
        try:
            for task in self.store.tasks():
                parts: list[PartitionView] = [
                    StoredPartition.of(v.record) for v in self.store.subtasks(task.tid)
                ]
                out.append((task, parts))
        except OmsyncError as exc:
            log.warning("cannot read the tasks from ZooKeeper: %s", exc.message)
        return out

    def destination(self, name: str) -> tuple[TaskRecord, Destination]:
        t = self._find(name)
        return t.record, t.dest
