"""Assigning the leader's subtasks to collectors, and the watch loop that keeps them assigned (DESIGN §4).

``Assigner`` is the ``SyncManager``'s collaborator for everything that talks to collectors: an
assignment reconciles a partition left unreconciled at take-over, commits what was accepted, and
sends AddSyncTask with a fresh token from the committed point to the collector on the partition
leader's host. ``check_answering`` is the call ``create`` makes first: a registration outlives a
dead process by a session timeout, so only an answer tells a live collector.

The watch loop (``tick``, every second) rolls files by age, reassigns subtasks whose collector
went silent (``collector_timeout_s``; INIT ones after ``init_timeout_s``), whose partition leader
moved to another host, or whose assignment failed, with exponential backoff and a bounded
budget; then FAILED with a machine-readable cause, kept in ZooKeeper across restarts.

``Table`` is a managed task as both sides see it; the manager keeps the set of them.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from omsync_tui.core.errors import ClusterError, NotFoundError, OmsyncError, RpcRemoteError
from omsync_tui.core.states import Mode, State
from omsync_tui.core.synctool_config import SynctoolSection
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.openmldb.schema import TableSchema
from omsync_tui.openmldb.zkpaths import ZkPaths, partition_leaders
from omsync_tui.rpc.client import BaiduStdClient
from omsync_tui.services import syncwire
from omsync_tui.services.sinks import destination
from omsync_tui.services.synctool.ingest import Partition
from omsync_tui.services.synctool.model import SubtaskRecord, TaskRecord
from omsync_tui.services.zk.reads import list_collectors, table_by_tid

DATA_COLLECTOR = "openmldb.datasync.DataCollector"
log = logging.getLogger("omsync.synctool")


def host_of(endpoint: str) -> str:
    host = endpoint.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


class Table:
    """A task being managed: its record, destination, schema and partitions."""

    def __init__(
        self,
        record: TaskRecord,
        dest: destination.Destination,
        schema: TableSchema,
        described: Callable[[], None] = lambda: None,
    ) -> None:
        self.record = record
        self.dest = dest
        self.schema = schema
        self.described = described  # raises unless _omsync/table.json is in place (newtask.Description)
        self.parts: dict[int, Partition] = {}
        self.next_try: dict[int, float] = {}  # pid -> monotonic time of the next assignment attempt
        # pid -> why its pending assignment is due when the record's cause does not say: "takeover"
        # (a new leader adopted the task), so the journal tells a takeover from a retry
        self.due_cause: dict[int, str] = {}
        self.unreconciled: set[int] = set()  # pids whose destination could not be read at take-over


class Assigner:
    """The manager's hands toward the collectors. It stores records through the manager's ``save``
    (which refuses once this synctool may no longer write) and changes a partition only under the
    partition's own lock; the manager's lock, and the set of tables it guards, stay the manager's."""

    def __init__(
        self,
        settings: SynctoolSection,
        zk: Any,
        paths: ZkPaths,
        *,
        save: Callable[[SubtaskRecord, str | None], SubtaskRecord],
        reconcile: Callable[[Table, SubtaskRecord], SubtaskRecord],
    ) -> None:
        self.settings = settings
        self.zk = zk
        self.paths = paths
        self._save = save
        self._reconcile = reconcile
        self._last_check = 0.0

    # -- assignment ------------------------------------------------------------------------------

    def assign_all(self, t: Table, pids: list[int], *, cause: str) -> None:
        """``_assign`` each partition, at the same time: each one is a few ZooKeeper round trips and
        an AddSyncTask call, so one after the other a table of many partitions would start slowly."""
        if len(pids) <= 1:
            for pid in pids:
                self._assign(t, pid, cause=cause)
            return
        with ThreadPoolExecutor(max_workers=min(8, len(pids)), thread_name_prefix="omsync-assign") as pool:
            list(pool.map(lambda pid: self._assign(t, pid, cause=cause), pids))

    def _assign(self, t: Table, pid: int, *, cause: str) -> bool:
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
                collector = self.collector_for(leader)
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
                rec = self._save(rec, f"{cause}: assigned to {collector} from {rec.committed}")
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
                ready=True,  # the record is saved: SendData may come at once
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

    def check_answering(self, collectors: list[str]) -> None:
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

    def collector_for(self, leader: str) -> str:
        host = host_of(leader)
        for ep in list_collectors(self.zk, self.paths):
            if host_of(ep) == host:
                return ep
        raise ClusterError(f"no collector registered on {host} (the partition leader {leader}'s host)")

    def _assign_failed(self, t: Table, p: Partition, cause: str, why: str) -> bool:
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

    def tick(self, tables: Callable[[], Iterable[Table]]) -> None:
        """Roll files by age, reassign silent or misplaced subtasks; the manager calls it while it
        leads and may write, with its tables taken under its lock."""
        now = time.monotonic()
        s = self.settings
        full_check = now - self._last_check >= s.check_period_s
        if full_check:
            self._last_check = now
        for t in tables():
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
                        self._assign(t, pid, cause=t.due_cause.pop(pid, "") or p.record.cause or "retry")
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

    def _reassign(self, t: Table, pid: int, cause: str, why: str) -> None:
        p = t.parts[pid]
        with p.lock:
            p.record = self._save(
                p.record.but(state=State.REASSIGNING, cause=cause, last_error=why), f"{cause}: {why}"
            )
        self._assign(t, pid, cause=cause)

    def _leaders_or_fail(self, t: Table) -> dict[int, str] | None:
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
