"""One partition's sync loop: pack from the last accepted point, SendData, persist, repeat.

``SyncTask.step()`` is one turn of the loop (the scheduler calls it again after the delay it
returns). A turn links new binlog files, packs from the accepted point (or re-sends the pack the
synctool has not accepted yet), sends it, and on acceptance advances and persists the point
together with the binlog byte position, so neither a restart nor the next turn re-scans a file.

What the synctool answers decides the rest (reference §1.5 step 7, plus omsync's extensions):
accepted → advance; ``delete_task`` or a finished FULL task → the task ends and its work dir goes;
``retry_after_ms`` → the synctool is busy, the same pack goes again later; an error code → retry
the same pack after the long interval. A transport failure is retried the same way.

Idle tasks poll their binlog every ``poll_interval`` (a new entry reaches the synctool well within
a second) and send an empty SendData as a heartbeat every ``long_interval``.

Faults the task cannot get past — a binlog gap, a damaged record, a snapshot or partition that is
gone — are terminal: the task reports them to the synctool in ``SendDataRequest.error`` (with the
missing log_index range for gaps) and stops reading; nothing is skipped silently.

This module owns the loop and its state; the connections it sends over are ``clients``', the
TaskError a terminal fault becomes is ``failures``', and the packs come from ``packer``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from omsync_tui.core.errors import BadRecordError, NotFoundError, OmsyncError, RpcError
from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.openmldb.binlog.files import BinlogGapError, BinlogStartError, first_log_index, list_binlogs
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.services import syncwire
from omsync_tui.services.collector.clients import Send
from omsync_tui.services.collector.failures import TaskFailure, failure_of
from omsync_tui.services.collector.pack import Pack
from omsync_tui.services.collector.packer import MODE_FULL, PartitionPacker
from omsync_tui.services.collector.workdir import WorkDir


@dataclass(frozen=True, slots=True)
class TaskSettings:
    endpoint: str
    """The collector's advertised endpoint, sent along with each SendData."""
    max_pack_size: int = 1024 * 1024
    request_timeout_s: float = 20.0
    short_interval_s: float = 0.0
    """Pause between packs while more data is waiting."""
    long_interval_s: float = 5.0
    """Heartbeat period when idle; pause after a failed send."""
    poll_interval_s: float = 0.2
    """How often an idle task looks for new binlog entries."""
    verify_crc: bool = True


@dataclass
class TaskStats:
    """What ``/status`` and ``/metrics`` show about a task; written by its loop only."""

    state: str = "starting"
    rows_sent: int = 0
    bytes_sent: int = 0
    deletes_sent: int = 0
    sends: int = 0
    failed_sends: int = 0
    last_accepted: float = 0.0  # wall clock
    last_error: str = ""
    binlog_latest: int = 0
    created: float = field(default_factory=time.time)


class SyncTask:
    """The sync loop of one partition for one token (a re-add with a new token is a new SyncTask)."""

    def __init__(
        self,
        request: data_sync_pb2.AddSyncTaskRequest,
        work: WorkDir,
        settings: TaskSettings,
        send: Send,
        *,
        may_send: Callable[[], bool] = lambda: True,
        on_end: Callable[[SyncTask, str], None] = lambda task, why: None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.request = request  # sync_point = the last point the synctool accepted
        self.tid, self.pid, self.token = request.tid, request.pid, request.token
        self.key = (self.tid, self.pid)
        self.work = work
        self.settings = settings
        self._send = send
        self._may_send = may_send
        self._on_end = on_end
        self.log = logger or logging.getLogger("omsync.collector")
        self.point = syncwire.from_proto(request.sync_point)
        self.position: tuple[int, int] | None = (
            (request.binlog_file, request.binlog_byte) if request.HasField("binlog_file") else None
        )
        self.stats = TaskStats(rows_sent=request.rows_sent, bytes_sent=request.bytes_sent)
        self.failure: data_sync_pb2.TaskError | None = None
        self.cancelled = False  # stop after the current turn (which still records an accepted pack)
        self.superseded = False  # a newer task owns the partition: record nothing more
        self._packer: PartitionPacker | None = None
        self._pending: Pack | None = None
        self._last_send = 0.0  # monotonic
        self._floor = request.binlog_file if request.HasField("binlog_file") else 0
        self._prefetch: tuple[SyncPoint, threading.Thread, list[Pack | OmsyncError]] | None = None
        self._newest_probed = -1

    def __repr__(self) -> str:
        return f"SyncTask({self.tid}-{self.pid}, token {self.token[:8]}, at {self.point})"

    @property
    def mode(self) -> int:
        return int(self.request.mode)

    # -- set-up ------------------------------------------------------------------------------------

    def open(self) -> None:
        """Link what the start point needs and persist the task: AddSyncTask's work, or a recovery."""
        work = self.work
        work.create()
        if self.point.phase is Phase.SNAPSHOT:
            fresh = self.point == SyncPoint.start()
            work.prepare_snapshot(self.point.snapshot, fresh)
        else:
            work.drop_snapshot()
        meta = work.table_meta()
        work.link_binlogs(self._floor)
        self._packer = PartitionPacker(
            work.path,
            meta,
            mode=self.mode,
            start_ts=self.request.start_ts,
            verify_crc=self.settings.verify_crc,
            deletes=self.request.deletes,
        )
        self._persist()
        self.stats.state = "running"

    def close(self) -> None:
        self._drop_prefetch()
        if self._packer is not None:
            self._packer.close()
            self._packer = None

    # -- the loop ----------------------------------------------------------------------------------

    def step(self) -> float | None:
        """One turn; the delay until the next one, or None when the task has ended."""
        if self.cancelled:
            self.close()
            return None
        if not self._may_send():
            self.stats.state = "paused"
            return 0.5
        if self.failure is not None:
            return self._report_failure()
        pack = self._pending
        if pack is None:
            try:
                pack = self._take_prefetch() or self._pack()
            except TaskFailure as exc:
                self.failure = exc.error
                self.stats.state = "failed"
                self.stats.last_error = f"{exc.error.code}: {exc.error.message}"
                self.log.error("task %s-%s failed: %s", self.tid, self.pid, self.stats.last_error)
                return self._report_failure()
            except OmsyncError as exc:  # transient (I/O): try again later
                self.stats.last_error = exc.message
                self.stats.state = "retrying"
                self.log.warning("task %s-%s: %s; retrying", self.tid, self.pid, exc.message)
                return self.settings.long_interval_s
        idle = pack.count == 0 and not pack.deletions and pack.next == self.point
        if idle and time.monotonic() - self._last_send < self.settings.long_interval_s:
            self.stats.state = "tailing"
            return self.settings.poll_interval_s
        self._pending = pack
        return self._deliver(pack)

    def _pack(self, point: SyncPoint | None = None, position: tuple[int, int] | None = None) -> Pack:
        """The pack from ``point`` (default: the accepted point, at the remembered position)."""
        assert self._packer is not None, "open() first"
        if point is None:
            point, position = self.point, self.position
        try:
            new = self.work.link_binlogs(self._floor)
            if new:
                self._probe_latest()
            return self._packer.pack(point, self.settings.max_pack_size, position=position)
        except (BinlogGapError, BinlogStartError, BadRecordError) as exc:
            raise TaskFailure(failure_of(exc, point)) from exc
        except NotFoundError as exc:
            raise TaskFailure(failure_of(exc, point)) from exc

    # -- packing the next pack while the synctool works on this one --------------------------------

    def _start_prefetch(self, after: Pack) -> None:
        """Pack what follows ``after`` on a helper thread during its SendData (collector and synctool
        then work at the same time instead of in turns). Only used while more data is waiting."""
        result: list[Pack | OmsyncError] = []

        def run() -> None:
            try:
                result.append(self._pack(after.next, after.position))
            except OmsyncError as exc:
                result.append(exc)

        thread = threading.Thread(target=run, name=f"omsync-pack-{self.tid}-{self.pid}", daemon=True)
        thread.start()
        self._prefetch = (after.next, thread, result)

    def _take_prefetch(self) -> Pack | None:
        """The prefetched pack when it starts at the accepted point; errors surface here."""
        entry, self._prefetch = self._prefetch, None
        if entry is None:
            return None
        start, thread, result = entry
        thread.join()
        if start != self.point or not result:
            return None  # not accepted after all: the packer reopens at the accepted point
        got = result[0]
        if isinstance(got, OmsyncError):
            raise got
        return got

    def _drop_prefetch(self) -> None:
        entry, self._prefetch = self._prefetch, None
        if entry is not None:
            entry[1].join()

    def _probe_latest(self) -> None:
        files = list_binlogs(self.work.binlog)
        if files and files[-1][0] != self._newest_probed:
            self._newest_probed = files[-1][0]
            first = first_log_index(files[-1][1])
            if first:
                self.stats.binlog_latest = max(self.stats.binlog_latest, first - 1)

    def _request(self, pack: Pack, finished: bool) -> data_sync_pb2.SendDataRequest:
        request = data_sync_pb2.SendDataRequest(
            tid=self.tid,
            pid=self.pid,
            token=self.token,
            count=pack.count,
            finished=finished,
            collector=self.settings.endpoint,
        )
        request.start_point.CopyFrom(self.request.sync_point)
        request.next_point.CopyFrom(
            self.request.sync_point if pack.next == self.point else syncwire.to_proto(pack.next)
        )
        if self.stats.binlog_latest:
            request.binlog_latest = self.stats.binlog_latest
        if pack.sizes:
            request.row_sizes = pack.sizes
        for d in pack.deletions:
            op = request.deletes.add(log_index=d.log_index, row=d.row, idx=d.idx, key=d.key)
            if d.ts is not None:
                op.ts = d.ts
            if d.end_ts is not None:
                op.end_ts = d.end_ts
            if d.ts_name is not None:
                op.ts_name = d.ts_name
        return request

    def _deliver(self, pack: Pack) -> float | None:
        if pack.next.phase is Phase.BINLOG and pack.at_end:
            self.stats.binlog_latest = max(self.stats.binlog_latest, pack.next.offset - 1)
        finished = pack.at_end and self.mode == MODE_FULL
        request = self._request(pack, finished)
        if not pack.at_end and pack.next != self.point:
            self._start_prefetch(pack)
        response = self._call(request, pack.rows)
        accepted = (
            response is not None
            and not response.delete_task
            and not response.retry_after_ms
            and response.response.code == 0
            and not self.superseded
            and not self.cancelled
        )
        if not accepted:
            self._drop_prefetch()  # the packer is needed again from the accepted point
        if response is None:
            return self.settings.long_interval_s
        if self.superseded:
            return None
        if response.delete_task:
            self.log.info(
                "task %s-%s: the synctool asked to drop it (%s)",
                self.tid,
                self.pid,
                response.response.msg or "no reason given",
            )
            self._end("dropped by the synctool: " + (response.response.msg or "delete_task"))
            return None
        if response.retry_after_ms:
            self.stats.state = "throttled"
            return response.retry_after_ms / 1000
        if response.response.code != 0:
            self.stats.failed_sends += 1
            self.stats.last_error = f"synctool answered {response.response.code}: {response.response.msg}"
            self.stats.state = "retrying"
            return self.settings.long_interval_s
        self._accepted(pack, request)
        if finished:
            self._end("finished")
            return None
        if self.cancelled:
            return None
        self.stats.state = "tailing" if pack.at_end else "sending"
        return self.settings.poll_interval_s if pack.at_end else self.settings.short_interval_s

    def _call(
        self, request: data_sync_pb2.SendDataRequest, rows: bytes
    ) -> data_sync_pb2.SendDataResponse | None:
        timeout = self.settings.request_timeout_s
        try:
            response = self._send(self.request.des_endpoint, request, rows, timeout)
        except RpcError as exc:
            self.stats.failed_sends += 1
            self.stats.last_error = exc.message
            self.stats.state = "retrying"
            self.log.warning(
                "task %s-%s: SendData to %s failed: %s", self.tid, self.pid, self.request.des_endpoint, exc
            )
            return None
        self._last_send = time.monotonic()
        self.stats.sends += 1
        return response

    def _accepted(self, pack: Pack, request: data_sync_pb2.SendDataRequest) -> None:
        self._pending = None
        self.stats.rows_sent += pack.count
        self.stats.bytes_sent += len(pack.rows)
        self.stats.deletes_sent += len(pack.deletions)
        self.stats.last_accepted = time.time()
        self.stats.last_error = ""
        if pack.next == self.point:
            return  # a heartbeat: nothing to persist
        self.request.sync_point.CopyFrom(request.next_point)
        self.point = pack.next
        self.position = pack.position if pack.next.phase is Phase.BINLOG else None
        if self.position is not None and self.position[0] > self._floor:
            self.work.prune_binlogs(self.position[0])
            self._floor = self.position[0]
        if self.point.phase is Phase.BINLOG and self.work.snapshot.exists():
            self.work.drop_snapshot()  # the pinned snapshot is behind us
        self._persist()

    def _persist(self) -> None:
        r = self.request
        if self.position is not None:
            r.binlog_file, r.binlog_byte = self.position
        else:
            r.ClearField("binlog_file")
            r.ClearField("binlog_byte")
        r.rows_sent, r.bytes_sent = self.stats.rows_sent, self.stats.bytes_sent
        self.work.write_progress(r)

    def _report_failure(self) -> float | None:
        assert self.failure is not None
        if self._last_send and time.monotonic() - self._last_send < self.settings.long_interval_s:
            return self.settings.long_interval_s
        request = data_sync_pb2.SendDataRequest(
            tid=self.tid, pid=self.pid, token=self.token, count=0, collector=self.settings.endpoint
        )
        request.start_point.CopyFrom(self.request.sync_point)
        request.next_point.CopyFrom(self.request.sync_point)
        request.error.CopyFrom(self.failure)
        response = self._call(request, b"")
        self.stats.state = "failed"
        if response is not None and response.delete_task:
            self._end("failed: " + self.failure.code)
            return None
        return self.settings.long_interval_s

    def _end(self, why: str) -> None:
        self.stats.state = "done" if why == "finished" else "ended"
        self.close()
        self._on_end(self, why)
