"""The leader synctool's task manager: create, delete, retry, assign, watch (DESIGN §1, §4).

Only the leader manages: ``lead()`` loads every task from ZooKeeper, reconciles each partition
with its destination (largest committed end wins, leftover temporaries go) and re-assigns every
unfinished subtask with a fresh token from its committed point — the collectors' in-flight
batches of the previous leader are refused and re-sent. A partition whose destination cannot
be read then (down, damaged) is reconciled before its next assignment instead, within the retry
budget; a task whose table was dropped is loaded all the same, so its FAILED subtasks stay
visible. ``step_down()`` drops open files without committing them (the new leader owns the
ranges now). ``create`` refuses a table unless the collector of every partition leader's host
answers a call: a registration outlives a dead process by a session timeout.

The watch loop (``tick``, every second) rolls files by age, reassigns subtasks whose collector
went silent (``collector_timeout_s``; INIT ones after ``init_timeout_s``), whose partition leader
moved to another host, or whose assignment failed, with exponential backoff and a bounded
budget; then FAILED with a machine-readable cause, kept in ZooKeeper across restarts.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from omsync_tui.core.errors import ClusterError, NotFoundError, OmsyncError, RpcRemoteError, UsageError
from omsync_tui.core.states import Format, Mode, State, TaskState, task_state
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.proto import data_sync_pb2, name_server_pb2
from omsync_tui.openmldb.schema import Column, ColumnType, TableSchema
from omsync_tui.openmldb.zkpaths import (
    ZkPaths,
    list_collectors,
    partition_leaders,
    resolve_table,
    table_by_tid,
)
from omsync_tui.rpc.client import BaiduStdClient
from omsync_tui.services import syncwire
from omsync_tui.services.synctool import readback, sink
from omsync_tui.services.synctool.ingest import Answer, Budget, Partition, refuse
from omsync_tui.services.synctool.model import SubtaskRecord, TaskRecord
from omsync_tui.services.synctool.store import Store

DATA_COLLECTOR = "openmldb.datasync.DataCollector"
_DROPPED_SCHEMA = TableSchema((Column("dropped", ColumnType.STRING),))  # a dropped table's stand-in
log = logging.getLogger("omsync.synctool")


@dataclass(frozen=True, slots=True)
class Settings:
    endpoint: str
    collector_timeout_s: float = 30.0
    init_timeout_s: float = 60.0
    check_period_s: float = 10.0
    request_timeout_s: float = 5.0
    max_retries: int = 5
    retry_backoff_s: float = 2.0
    roll_rows: int = 5_000_000
    roll_bytes: int = 256 * 1024 * 1024
    roll_seconds: float = 300.0
    memory_per_subtask: int = 64 * 1024 * 1024
    memory_total: int = 512 * 1024 * 1024
    csv_timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class CreateOptions:
    name: str  # db.table
    dest: str
    mode: Mode = Mode.FULL
    start_ts: int = 0
    format: Format = Format.PARQUET
    start_offset: int | None = None  # every partition from this binlog offset
    resume_from_dest: bool = False  # every partition from what the destination already holds
    deletes: bool = False


def storage_name(mode: int) -> str:
    """``openmldb.common.StorageMode`` as a word (memory / ssd / hdd)."""
    return {1: "memory", 2: "ssd", 3: "hdd"}.get(mode, str(mode))


def host_of(endpoint: str) -> str:
    host = endpoint.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


class _Table:
    """A task being managed: its record, destination, schema and partitions."""

    def __init__(self, record: TaskRecord, dest: sink.Destination, schema: TableSchema) -> None:
        self.record = record
        self.dest = dest
        self.schema = schema
        self.parts: dict[int, Partition] = {}
        self.next_try: dict[int, float] = {}  # pid -> monotonic time of the next assignment attempt
        self.unreconciled: set[int] = set()  # pids whose destination could not be read at take-over


@dataclass(frozen=True, slots=True)
class StoredPartition:
    """A subtask as a follower sees it: the stored record, nothing in flight."""

    pid: int
    record: SubtaskRecord
    accepted: SyncPoint
    last_send: float
    rows_received: int = 0
    writer: None = None

    @classmethod
    def of(cls, rec: SubtaskRecord) -> StoredPartition:
        age = max(0.0, time.time() - rec.updated_ms / 1000) if rec.updated_ms else 0.0
        return cls(rec.pid, rec, rec.committed, time.monotonic() - age)


PartitionView = Partition | StoredPartition
"""What views read: a live partition (leader) or a stored one (follower)."""


class SyncManager:
    def __init__(
        self,
        settings: Settings,
        zk: Any,
        store: Store,
        *,
        root_path: str = "/openmldb",
        may_write: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.zk = zk
        self.store = store
        self.paths = ZkPaths(root_path)
        self.may_write = may_write
        self.budget = Budget(settings.memory_per_subtask, settings.memory_total)
        self._tables: dict[int, _Table] = {}
        self._lock = threading.RLock()
        self._leading = False
        self._last_check = 0.0

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

    def _adopt(self, task: TaskRecord) -> _Table:
        dest = sink.open_destination(task.dest)
        try:
            schema = self._schema(task.tid)
        except NotFoundError:
            # The table was dropped: the task stays visible with its FAILED subtasks (and causes);
            # the watch loop fails the others with table_dropped. Nothing is decoded any more.
            log.warning("task %s: its table (tid %d) no longer exists", task.name, task.tid)
            schema = _DROPPED_SCHEMA
        table = _Table(task, dest, schema)
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
                table.next_try[rec.pid] = 0.0  # assign now
        self._tables[task.tid] = table  # complete, or not at all: a task without parts would sit idle
        return table

    def _reconcile(self, table: _Table, rec: SubtaskRecord) -> SubtaskRecord:
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

    def _partition(self, table: _Table, rec: SubtaskRecord) -> Partition:
        s = self.settings
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
            roll_seconds=s.roll_seconds,
            csv_timezone=s.csv_timezone,
            max_retries=s.max_retries,
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
            return refuse(f"synctool {self.settings.endpoint} is not the leader")
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
        self._check_answering(sorted({self._collector_for(ep) for ep in leaders.values()}))
        dest = sink.open_destination(opts.dest)
        sink.probe_writable(dest)
        starts = self._starts(opts, dest, sorted(leaders))
        now = int(time.time() * 1000)
        task = TaskRecord(
            tid=tid,
            db=info.db,
            table=info.name,
            mode=opts.mode,
            dest=opts.dest,
            format=opts.format,
            start_ts=opts.start_ts,
            deletes=opts.deletes,
            partitions=len(leaders),
            created_ms=now,
            storage=storage_name(int(info.storage_mode)),
        )
        subs = []
        for pid in sorted(leaders):
            rec = SubtaskRecord(tid=tid, pid=pid, committed=starts[pid], updated_ms=now, tablet=leaders[pid])
            if opts.resume_from_dest:
                rows, size, files = self._held(dest, pid)
                rec = rec.but(rows=rows, bytes=size, files=files)
            subs.append(rec)
        sink.write_json(dest, "_omsync/table.json", _table_json(task, info))
        self.store.create_task(task, subs)
        with self._lock:
            table = _Table(task, dest, TableSchema.from_proto(info, where=opts.name))
            for rec in subs:
                table.parts[rec.pid] = self._partition(table, rec)
            self._tables[tid] = table
        self._assign_all(table, sorted(leaders), cause="created")
        return task

    def _starts(self, opts: CreateOptions, dest: sink.Destination, pids: list[int]) -> dict[int, SyncPoint]:
        if opts.start_offset is not None and opts.resume_from_dest:
            raise UsageError("give either a start offset or resume-from-destination, not both")
        if opts.start_offset is not None:
            if opts.start_offset < 1:
                raise UsageError(f"start offset {opts.start_offset}: binlog offsets start at 1")
            return {pid: SyncPoint.binlog(opts.start_offset) for pid in pids}
        starts = {pid: SyncPoint.start() for pid in pids}
        if opts.resume_from_dest:
            for pid in pids:
                files = readback.list_files(dest, pid)
                if files:
                    starts[pid] = files[-1].next
        return starts

    @staticmethod
    def _held(dest: sink.Destination, pid: int) -> tuple[int, int, int]:
        """What a resumed task takes over (rows, bytes, files): the destination's files are its own."""
        files = readback.list_files(dest, pid)
        return sum(f.rows for f in files), sum(f.size for f in files), len(files)

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
        self._assign_all(t, retried, cause="retry")
        return retried

    def _find(self, name: str) -> _Table:
        with self._lock:
            for t in self._tables.values():
                if t.record.name == name or str(t.record.tid) == name:
                    return t
        raise NotFoundError(f"no sync task for {name}", hint="`omsync task status` lists the tasks")

    def _need_leader(self) -> None:
        if not self._leading or not self.may_write():
            leader = self.store.leader() if self.zk is not None else None
            raise UsageError(
                f"synctool {self.settings.endpoint} is not the leader"
                + (f"; send this to the leader, {leader}" if leader else "; no leader is elected right now")
            )

    # -- assignment ------------------------------------------------------------------------------

    def _assign_all(self, t: _Table, pids: list[int], *, cause: str) -> None:
        """``_assign`` each partition, at the same time: each one is a few ZooKeeper round trips and
        an AddSyncTask call, so one after the other a table of many partitions would start slowly."""
        if len(pids) <= 1:
            for pid in pids:
                self._assign(t, pid, cause=cause)
            return
        with ThreadPoolExecutor(max_workers=min(8, len(pids)), thread_name_prefix="omsync-assign") as pool:
            list(pool.map(lambda pid: self._assign(t, pid, cause=cause), pids))

    def _assign(self, t: _Table, pid: int, *, cause: str) -> bool:
        p = t.parts[pid]
        s = self.settings
        with p.lock:
            if p.record.state.final and cause not in ("retry",):
                return False
            if pid in t.unreconciled:  # the destination's files first: they may be ahead of ZooKeeper
                try:
                    p.reset(self._reconcile(t, p.record))
                except OmsyncError as exc:
                    return self._assign_failed(t, p, "destination", exc.message)
                t.unreconciled.discard(pid)
            p.commit()  # accepted rows are good: the new assignment continues after them
            try:
                info = table_by_tid(self.zk, self.paths, t.record.tid)
                leader = partition_leaders(info)[pid]
                collector = self._collector_for(leader)
            except OmsyncError as exc:
                return self._assign_failed(t, p, cause, exc.message)
            token = str(uuid.uuid4())
            state = State.INIT if p.record.state is State.INIT else State.RUNNING
            rec = p.record.but(
                token=token,
                collector=collector,
                tablet=leader,
                assigned_ms=int(time.time() * 1000),
                state=state,
                cause=cause if cause != "created" else "",
            )
            try:
                rec = self._save(rec, f"assigned to {collector} ({cause})" if cause != "created" else None)
            except OmsyncError as exc:
                return self._assign_failed(t, p, cause, exc.message)
            p.reset(rec)
            req = data_sync_pb2.AddSyncTaskRequest(
                tid=t.record.tid,
                pid=pid,
                mode=t.record.mode.wire,  # type: ignore[arg-type]
                sync_point=syncwire.to_proto(rec.committed),
                tablet_endpoint=leader,
                des_endpoint=s.endpoint,
                token=token,
                dest=t.record.dest,
            )
            if t.record.mode is Mode.INCREMENTAL:
                req.start_ts = t.record.start_ts
            if t.record.deletes:
                req.deletes = True
        try:
            with BaiduStdClient(collector, timeout=s.request_timeout_s) as client:
                resp, _ = client.call(DATA_COLLECTOR, "AddSyncTask", req, data_sync_pb2.GeneralResponse)
        except OmsyncError as exc:
            return self._assign_failed(t, p, cause, f"AddSyncTask to {collector}: {exc.message}")
        if resp.code != 0:
            return self._assign_failed(t, p, cause, f"collector {collector} refused: {resp.msg}")
        t.next_try.pop(pid, None)
        log.info("%s pid %d assigned to %s from %s (%s)", t.record.name, pid, collector, rec.committed, cause)
        return True

    def _check_answering(self, collectors: list[str]) -> None:
        """ClusterError naming every collector that does not answer a call (nothing is created then).

        A registration outlives its process by up to a session timeout, and a stopped process
        keeps its port open: only an answer tells. The probe calls a method no collector has; any
        answer, the "no such method" error included (brpc and omsync alike), means it is alive.
        """

        def probe(endpoint: str) -> str | None:
            try:
                with BaiduStdClient(endpoint, timeout=self.settings.request_timeout_s) as client:
                    ping = data_sync_pb2.TaskStatusRequest()
                    client.call(DATA_COLLECTOR, "Ping", ping, data_sync_pb2.GeneralResponse)
            except RpcRemoteError:
                return None
            except OmsyncError as exc:
                return f"{endpoint} on {host_of(endpoint)}: {exc.message}"
            return None

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(collectors)))) as pool:
            silent = [why for why in pool.map(probe, collectors) if why is not None]
        if silent:
            raise ClusterError(
                f"the collector(s) of this table's partition leaders do not answer: {'; '.join(silent)}",
                hint="check that `omsync collector` runs (not stopped or hung) on each tablet host",
            )

    def _collector_for(self, leader: str) -> str:
        host = host_of(leader)
        for ep in list_collectors(self.zk, self.paths):
            if host_of(ep) == host:
                return ep
        raise ClusterError(f"no collector registered on {host} (the partition leader {leader}'s host)")

    def _assign_failed(self, t: _Table, p: Partition, cause: str, why: str) -> bool:
        s = self.settings
        with p.lock:
            retries = p.record.retries + 1
            if retries > s.max_retries:
                new = p.record.but(state=State.FAILED, cause=cause, last_error=why, retries=retries)
                reason = f"{cause}: gave up after {s.max_retries} attempts: {why}"
            else:
                new = p.record.but(state=State.REASSIGNING, cause=cause, last_error=why, retries=retries)
                reason = f"{cause}: {why}"
            try:
                p.record = self._save(new, reason)
            except OmsyncError:
                p.record = new
            t.next_try[p.pid] = time.monotonic() + self._backoff(retries)
        log.warning("%s pid %d: %s (attempt %d)", t.record.name, p.pid, why, retries)
        return False

    def _backoff(self, retries: int) -> float:
        base = min(60.0, self.settings.retry_backoff_s * float(2 ** max(0, retries - 1)))
        return base * (0.8 + 0.4 * random.random())  # jitter: partitions do not retry in lockstep

    # -- the watch loop ------------------------------------------------------------------------

    def tick(self) -> None:
        """Roll files by age, reassign silent or misplaced subtasks; called about every second."""
        if not self._leading or not self.may_write():
            return
        now = time.monotonic()
        s = self.settings
        full_check = now - self._last_check >= s.check_period_s
        if full_check:
            self._last_check = now
        with self._lock:
            tables = list(self._tables.values())
        for t in tables:
            leaders: dict[int, str] | None = None
            if full_check:
                leaders = self._leaders_or_fail(t)
            for pid, p in t.parts.items():
                p.commit_if_due()
                state = p.record.state
                if state.final:
                    continue
                due = t.next_try.get(pid)
                if due is None and state is State.REASSIGNING:
                    # put there by the data path (e.g. the destination failed): back off, then assign
                    due = t.next_try[pid] = now + self._backoff(p.record.retries)
                if due is not None:
                    if now >= due:
                        self._assign(t, pid, cause=p.record.cause or "retry")
                    continue
                silent = now - p.last_send
                if state is State.RUNNING and silent > s.collector_timeout_s:
                    self._reassign(t, pid, "collector_silent", f"no SendData for {silent:.0f} s")
                elif state is State.INIT and silent > s.init_timeout_s:
                    self._reassign(t, pid, "init_timeout", f"no first SendData after {silent:.0f} s")
                elif (
                    leaders is not None
                    and pid in leaders
                    and host_of(leaders[pid]) != host_of(p.record.tablet)
                ):
                    self._reassign(t, pid, "leader_changed", f"leader moved to {leaders[pid]}")

    def _reassign(self, t: _Table, pid: int, cause: str, why: str) -> None:
        p = t.parts[pid]
        with p.lock:
            p.record = self._save(
                p.record.but(state=State.REASSIGNING, cause=cause, last_error=why), f"{cause}: {why}"
            )
        self._assign(t, pid, cause=cause)

    def _leaders_or_fail(self, t: _Table) -> dict[int, str] | None:
        try:
            info = table_by_tid(self.zk, self.paths, t.record.tid)
        except NotFoundError:
            for p in t.parts.values():
                if not p.record.state.final:
                    with p.lock:
                        p.commit()
                        p.record = self._save(
                            p.record.but(
                                state=State.FAILED, cause="table_dropped", last_error="the table is gone"
                            ),
                            "table_dropped: the table no longer exists in ZooKeeper",
                        )
            return None
        except OmsyncError:
            return None
        try:
            return partition_leaders(info)
        except OmsyncError:
            return None  # failing over right now: look again next period

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

    def table_state(self, tid: int) -> TaskState | None:
        with self._lock:
            t = self._tables.get(tid)
        return task_state(p.record.state for p in t.parts.values()) if t is not None else None

    def destination(self, name: str) -> tuple[TaskRecord, sink.Destination]:
        t = self._find(name)
        return t.record, t.dest


def _table_json(task: TaskRecord, info: name_server_pb2.TableInfo) -> dict[str, object]:
    schema = TableSchema.from_proto(info, where=task.name)
    return {
        "db": task.db,
        "table": task.table,
        "tid": task.tid,
        "partitions": task.partitions,
        "mode": task.mode.value,
        "format": task.format.value,
        "schema": schema.to_json(),
        "layout": "pid=<pid>/<first>_<next>.<ext>; points: b<binlog offset> or s<snapshot>-<ordinal>",
    }
