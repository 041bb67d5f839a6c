"""The SendData path of the leader synctool: check, decode, append, commit (DESIGN §3).

``Partition`` is one subtask's live state: the stored record (token, committed point), the point
the collector must send next (``accepted`` — ahead of ``committed`` by what sits in the open
file), and the open ``PartitionWriter``. ``receive`` handles one SendData under the partition's
lock:

1. token and start point must match (else ``delete_task``, as the original);
2. a ``TaskError`` from the collector fails the subtask (what came before it is committed first);
3. over the memory budget → "busy, retry after N ms" (nothing accepted, nothing lost);
4. rows are decoded vectorised with each row's schema version and appended; deletes are kept
   with the range; the file rolls at a phase or schema change, by rows/bytes, and at the latest
   ``commit_seconds`` after its first row;
5. ``commit``: rename the file to its range name, *then* store the committed point in
   ZooKeeper. A file that rolls mid-stream is closed and renamed in a thread of its own
   (``Closing``) while the next rows go into a new file; its point is stored before anything
   else changes the record (``_settle``), and if it fails the open file is dropped too. A crash
   between rename and store is repaired at start-up (``reconcile``: the largest committed end at
   the destination wins), a crash before the rename loses only uncommitted rows, which the
   collector is asked to send again from the committed point. Nothing is lost, nothing twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from omsync_tui.core.errors import OmsyncError, RowDecodeError
from omsync_tui.core.inthread import InThread
from omsync_tui.core.states import Mode, State
from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.openmldb.row.batch import arrow_schema, decode_batch
from omsync_tui.openmldb.schema import TableSchema
from omsync_tui.services import syncwire
from omsync_tui.services.sinks import destination
from omsync_tui.services.sinks.iceberg.writer import IcebergWriter
from omsync_tui.services.sinks.writer import FileRange, PartitionWriter, write_deletes
from omsync_tui.services.synctool.model import SubtaskRecord, TaskRecord

BUSY_CODE = 1  # "not accepted, not an error: send the same pack again after retry_after_ms"

log = logging.getLogger("omsync.synctool")


@dataclass
class Budget:
    """Bytes of accepted-but-uncommitted rows, per partition and in total (backpressure)."""

    per_partition: int
    total: int
    used: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, n: int, partition_used: int) -> bool:
        with self.lock:
            if partition_used and (partition_used + n > self.per_partition or self.used + n > self.total):
                return False  # an empty partition may always take one pack (never starve)
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self.lock:
            self.used = max(0, self.used - n)


@dataclass(frozen=True, slots=True)
class Answer:
    code: int = 0
    msg: str = ""
    delete_task: bool = False
    retry_after_ms: int = 0

    def to_proto(self) -> data_sync_pb2.SendDataResponse:
        r = data_sync_pb2.SendDataResponse()
        r.response.code = self.code
        if self.msg:
            r.response.msg = self.msg
        if self.delete_task:
            r.delete_task = True
        if self.retry_after_ms:
            r.retry_after_ms = self.retry_after_ms
        return r


def refuse(msg: str) -> Answer:
    return Answer(code=-1, msg=msg, delete_task=True)


SaveRecord = Callable[[SubtaskRecord, str | None], SubtaskRecord]
"""Store a changed subtask record (compare-and-set in ZooKeeper); the reason names a state change."""


# sealed files of one partition closing at once; a roll past it waits for the oldest
MAX_CLOSING = 2


class Closing:
    """A sealed file closing and renaming in a thread of its own (``Partition._commit_behind``);
    ``None`` for a range of deletes only."""

    def __init__(
        self,
        first: SyncPoint,
        nxt: SyncPoint,
        finish: Callable[[], FileRange | None],
        since: float | None,
        rows: int,
    ) -> None:
        self.first, self.next = first, nxt
        self.rows = rows  # in its file, not yet committed
        self.since = since  # when its oldest row arrived (wall clock), for the lag in seconds
        self._work = InThread(finish, "omsync-close")

    def done(self) -> bool:
        return self._work.done()

    def result(self) -> FileRange | None:
        return self._work.result()

    def drop(self) -> None:
        """Leaving without storing: the file may still be renamed (start-up reconciles it)."""
        self._work.join()


class Partition:
    def __init__(
        self,
        task: TaskRecord,
        record: SubtaskRecord,
        dest: destination.Destination,
        schema: Callable[[], TableSchema],
        reload_schema: Callable[[], TableSchema],
        save: SaveRecord,
        budget: Budget,
        *,
        roll_rows: int,
        roll_bytes: int,
        commit_seconds: float,
        csv_timezone: str = "UTC",
        max_retries: int = 5,
        described: Callable[[], None] = lambda: None,
    ) -> None:
        self.task = task
        self._described = described  # raises unless the table's description is in place
        self.max_retries = max_retries
        self.tid, self.pid = record.tid, record.pid
        self.lock = threading.RLock()
        self.record = record
        self.accepted = record.committed
        self.dest = dest
        self._schema = schema
        self._reload_schema = reload_schema
        self._save = save
        self.budget = budget
        self.roll = (roll_rows, roll_bytes, commit_seconds)
        self.csv_timezone = csv_timezone
        self.writer: PartitionWriter | IcebergWriter | None = None
        self.writer_schema: pa.Schema | None = None
        self.closing: list[Closing] = []  # sealed files being closed and renamed, in order
        self._sealing = False  # a file's rows on their way from the writer to ``closing``
        self.buffered = 0  # budget bytes held by the open file
        self.deletes: list[data_sync_pb2.DeleteOp] = []
        self.last_send = time.monotonic()  # grace from (re)assignment: a full timeout
        self.rows_received = 0  # since this process took the subtask (original's Task.count)
        self.open_since: float | None = None  # when the open file's oldest row arrived (wall clock)
        # (wall clock, binlog_latest) when the collector reported newer entries than it had sent:
        # the first whose entries are not all received says how long the oldest has waited
        self.reports: deque[tuple[float, int]] = deque(maxlen=1024)

    @property
    def settled(self) -> SyncPoint:
        """Every row before this point is in committed files: the accepted point when nothing is
        being closed and the open range holds no rows (only entries the collector skipped, or
        forwarded deletes, which are not rows), else the committed one. ``task wait`` waits for it."""
        # read without the lock, in the reverse order of a file's way (open rows → sealing →
        # closing → renamed): whatever moves meanwhile is seen at one of the steps
        accepted = self.accepted
        w = self.writer
        if (w is not None and w.rows) or self._sealing or self.closing:
            return self.record.committed
        return accepted

    @property
    def uncommitted_rows(self) -> int:
        """Rows received and not yet in committed files: the open file's and those closing."""
        return (self.writer.rows if self.writer is not None else 0) + sum(c.rows for c in self.closing)

    def pending_since(self) -> float | None:
        """When the oldest row the offline side does not have yet was known (wall clock): the
        arrival of the oldest row not in committed files, or the first report of the collector
        that the tablet holds entries it has not sent; None when nothing is pending."""
        times = [c.since for c in self.closing if c.since is not None]
        if self.open_since is not None:
            times.append(self.open_since)
        if self.reports:
            times.append(self.reports[0][0])
        return min(times, default=None)

    def _note_reported(self, latest: int, nxt: SyncPoint) -> None:
        """Keep ``reports`` to those whose entries are not all received (see ``pending_since``)."""
        now = time.time()
        if nxt.phase is not Phase.BINLOG:  # the snapshot is not all sent: behind since it began
            if not self.reports:
                self.reports.append((now, 0))
            return
        while self.reports and self.reports[0][1] < nxt.offset:
            self.reports.popleft()
        if latest >= nxt.offset and (
            not self.reports or (latest > self.reports[-1][1] and now - self.reports[-1][0] >= 0.2)
        ):
            self.reports.append((now, latest))

    # -- SendData ------------------------------------------------------------------------------

    def receive(self, req: data_sync_pb2.SendDataRequest, attachment: bytes) -> Answer:
        with self.lock:
            rec = self.record
            if rec.state not in (State.INIT, State.RUNNING):
                return refuse(f"sync task {self.tid}-{self.pid} is {rec.state.value}, not INIT or RUNNING")
            if req.token != rec.token:
                return refuse(f"token not match for sync task {self.tid}-{self.pid}")
            try:
                start = syncwire.from_proto(req.start_point)
                nxt = syncwire.from_proto(req.next_point) if req.HasField("next_point") else start
            except OmsyncError as exc:
                return refuse(f"sync task {self.tid}-{self.pid}: {exc.message}")
            if start != self.accepted:
                return refuse(
                    f"start point {start} of sync task {self.tid}-{self.pid} does not match the "
                    f"expected {self.accepted}"
                )
            self.last_send = time.monotonic()
            if not self._settle(wait=False):  # a file did not close: send again from the stored point
                return self._trouble(
                    "destination", f"writing to {self.task.dest} failed: {self.record.last_error}"
                )
            rec = self.record
            if req.binlog_latest and req.binlog_latest != rec.binlog_latest:
                self.record = rec = rec.but(binlog_latest=req.binlog_latest)
            self._note_reported(rec.binlog_latest, nxt)
            if req.HasField("error"):
                return self._collector_failed(req.error)
            if not self._reserve(len(attachment)):
                return Answer(code=BUSY_CODE, msg="synctool busy: memory budget full", retry_after_ms=200)
            self.buffered += len(attachment)
            try:
                batch = self._decode(attachment, req.count, req.row_sizes)
            except RowDecodeError as exc:
                self._unbuffer(len(attachment))
                self.commit()  # the rows before these are good
                return self._fail("bad_rows", f"rows of the pack from {start} do not decode: {exc.message}")
            try:
                self._append(batch, start, nxt, req)
            except OmsyncError as exc:
                self._abort()
                self.accepted = self.record.committed
                return self._trouble("destination", f"writing to {self.task.dest} failed: {exc.message}")
            self.accepted = nxt
            self.rows_received += req.count
            rec = self.record  # commit() may have stored a newer one
            if rec.state is State.INIT or (rec.retries and req.count):
                self._store(
                    rec.but(state=State.RUNNING, retries=0 if req.count else rec.retries), "first data"
                )
            if req.finished:
                if not self.commit():
                    return Answer(code=-1, msg="could not commit the last file; send again")
                self._store(self.record.but(state=State.SUCCESS), "FULL sync reached the binlog's end")
            elif self.writer is not None and self.writer.due():
                self._commit_behind()
            return Answer()

    def _decode(self, attachment: bytes, count: int, row_sizes: bytes) -> pa.RecordBatch:
        schema = self._schema()
        offsets, lengths = _row_bounds(attachment, count, row_sizes)
        if not attachment:
            if count:
                raise RowDecodeError(f"the pack says {count} rows, its attachment is empty")
            return pa.RecordBatch.from_pylist([], schema=arrow_schema(schema.latest))
        try:
            batch = decode_batch(attachment, schema, offsets=offsets, lengths=lengths)
        except RowDecodeError:
            # a row of a schema version we have not seen yet (ALTER TABLE ADD COLUMN meanwhile)?
            fresh = self._reload_schema()
            if fresh == schema:
                raise  # no: the rows are bad
            batch = decode_batch(attachment, fresh, offsets=offsets, lengths=lengths)
        if batch.num_rows != count:
            raise RowDecodeError(f"the pack says {count} rows, its attachment holds {batch.num_rows}")
        return batch

    def _append(
        self, batch: pa.RecordBatch, start: SyncPoint, nxt: SyncPoint, req: data_sync_pb2.SendDataRequest
    ) -> None:
        if req.count == 0 and nxt == start and not req.deletes:
            return  # a heartbeat
        w = self.writer
        if w is not None and w.first is not None:
            # a file holds one snapshot; "" (a partition's start) is the one the collector then
            # pinned, so the first pack's file goes on with the rows after it
            phase_change = w.first.phase is not start.phase or (
                start.phase is Phase.SNAPSHOT and w.first.snapshot not in ("", start.snapshot)
            )
            schema_change = self.writer_schema is not None and not self.writer_schema.equals(batch.schema)
            if phase_change or schema_change:
                self._commit_behind()
        if self.writer is None:
            self.writer = self._open_writer(batch.schema)
            self.writer_schema = batch.schema
        if self.open_since is None and batch.num_rows:
            self.open_since = time.time()
        self.writer.append(batch, start, nxt)
        if req.deletes and self.task.deletes:
            self.deletes.extend(req.deletes)

    def _open_writer(self, schema: pa.Schema) -> PartitionWriter | IcebergWriter:
        rows, size, seconds = self.roll
        meta = {"omsync.table": self.task.name, "omsync.tid": str(self.tid)}
        if self.dest.iceberg is not None:  # an Iceberg table: a commit is a transaction of the table
            return IcebergWriter(
                self.dest,
                self.pid,
                schema,
                compact=self.task.mode is not Mode.FULL,
                roll_rows=rows,
                roll_bytes=size,
                commit_seconds=seconds,
                metadata=meta,
            )
        return PartitionWriter(
            self.dest,
            self.pid,
            self.task.format,
            schema,
            roll_rows=rows,
            roll_bytes=size,
            commit_seconds=seconds,
            csv_timezone=self.csv_timezone,
            metadata=meta,
        )

    # -- commit --------------------------------------------------------------------------------

    def commit(self) -> bool:
        """Rename the open file to its range, then store the committed point; False on failure."""
        with self.lock:
            self._commit_behind()
            return self._settle(wait=True)

    def _commit_behind(self) -> None:
        """Seal the open file and close it in the background while the next rows go on into a
        new file: on HDFS a close waits ~0.5 s for the DataNode's block report. Closes overlap,
        renames keep their order (a file is renamed only after the one before it), and points are
        stored by ``_settle`` in that order; a failed close makes the collector send again from
        the last stored point."""
        w = self.writer
        if w is None or w.first is None or w.next is None:
            return
        first, nxt, deletes = w.first, w.next, self.deletes
        since, self.open_since = self.open_since, None
        self.deletes = []
        self._sealing = True
        try:
            self._seal_and_close(w, first, nxt, deletes, since)
        finally:
            self._sealing = False

    def _seal_and_close(
        self,
        w: PartitionWriter | IcebergWriter,
        first: SyncPoint,
        nxt: SyncPoint,
        deletes: list[data_sync_pb2.DeleteOp],
        since: float | None,
    ) -> None:
        try:
            sealed = w.seal()
        except BaseException as exc:
            self.writer = self.writer_schema = None  # the next rows open a new file
            self._release()
            if not isinstance(exc, OmsyncError):
                raise
            if self._settle(wait=True):
                self._commit_failed(first, nxt, exc)
            return
        self._release()
        if len(self.closing) >= MAX_CLOSING and not self._settle(wait=True, keep=MAX_CLOSING - 1):
            self.writer = self.writer_schema = None
            if sealed is not None:
                sealed.drop()
            return
        before = self.closing[-1].result if self.closing else None

        def finish() -> FileRange | None:
            self._described()
            if sealed is None:  # deletes only
                if before is not None:
                    before()
                done = None
            else:
                done = sealed.finish(before=before)
            if deletes:
                write_deletes(self.dest, self.pid, first, nxt, _deletes_table(deletes))
            return done

        self.closing.append(Closing(first, nxt, finish, since, sealed.range.rows if sealed else 0))
        self.writer = self.writer_schema = None  # the next rows open a new file

    def _settle(self, *, wait: bool, keep: int = 0) -> bool:
        """Store the points of the files closed in the background, in order, down to ``keep``
        still closing; without ``wait``, only of those already closed. False when one failed:
        the files after it and the open file are dropped too. A Closing leaves the list only
        once its file is renamed (``settled`` counts on it)."""
        while len(self.closing) > keep:
            closing = self.closing[0]
            if not wait and not closing.done():
                break
            try:
                done = closing.result()
            except OmsyncError as exc:
                for later in self.closing[1:]:
                    later.drop()  # each fails at its rename, after this one: its file is deleted
                self.closing = []
                self._abort()
                self._commit_failed(closing.first, closing.next, exc)
                return False
            self.closing.pop(0)
            self._committed(closing.next, done)
        return True

    def _commit_failed(self, first: SyncPoint, nxt: SyncPoint, exc: OmsyncError) -> None:
        log.error("%s pid %d: commit of %s..%s failed: %s", self.task.name, self.pid, first, nxt, exc)
        self._abort()
        self.accepted = self.record.committed  # the collector must send from there again
        self._store(self.record.but(last_error=f"commit failed: {exc.message}"), None)

    def _committed(self, nxt: SyncPoint, done: FileRange | None) -> None:
        rec = self.record
        self._store(
            rec.but(
                committed=nxt,
                rows=rec.rows + (done.rows if done else 0),
                bytes=rec.bytes + (done.size if done else 0),
                files=rec.files + (1 if done else 0),
            ),
            None,
        )

    def commit_if_due(self, now: float | None = None) -> None:
        with self.lock:
            # files the data path closed in the background: their points now, not at the next
            # SendData (an idle collector's heartbeat comes every few seconds)
            if not self._settle(wait=False):
                return
            if self.writer is not None and self.writer.first is not None and self.writer.due(now):
                self.commit()

    def _abort(self) -> None:
        self.open_since = None  # its rows come again from the collector
        if self.writer is not None:
            try:
                self.writer.abort()
            except OmsyncError as exc:
                log.warning("%s pid %d: dropping the open file failed: %s", self.task.name, self.pid, exc)
            self.writer = None
            self.writer_schema = None
        self._release()

    def _reserve(self, n: int) -> bool:
        if self.budget.take(n, self.buffered):
            return True
        # over budget: roll this partition's file early to free its share, else wait for the others
        return bool(self.buffered) and self.commit() and self.budget.take(n, 0)

    def _unbuffer(self, n: int) -> None:
        self.budget.give(n)
        self.buffered = max(0, self.buffered - n)

    def _release(self) -> None:
        if self.buffered:
            self.budget.give(self.buffered)
            self.buffered = 0

    def close(self, *, commit: bool) -> None:
        """Leave the partition (leadership lost, task deleted, shutdown)."""
        with self.lock:
            if commit:
                self.commit()
            for closing in self.closing:
                closing.drop()
            self.closing = []
            self._abort()

    # -- state ---------------------------------------------------------------------------------

    def _store(self, new: SubtaskRecord, reason: str | None) -> None:
        stamped = new.but(updated_ms=int(time.time() * 1000))
        try:
            self.record = self._save(stamped, reason)
        except OmsyncError as exc:
            # keep going in memory; the check loop stores it again (progress is also in the files)
            log.warning("%s pid %d: storing the subtask failed: %s", self.task.name, self.pid, exc)
            self.record = stamped

    def _fail(self, cause: str, message: str) -> Answer:
        log.error("%s pid %d FAILED (%s): %s", self.task.name, self.pid, cause, message)
        self._store(
            self.record.but(state=State.FAILED, cause=cause, last_error=message), f"{cause}: {message}"
        )
        return refuse(message)

    def _trouble(self, cause: str, message: str) -> Answer:
        """A fault that may go away (the destination): reassign with the retry budget, then FAILED."""
        rec = self.record
        retries = rec.retries + 1
        if retries > self.max_retries:
            return self._fail(cause, f"{message} (gave up after {self.max_retries} attempts)")
        log.warning("%s pid %d: %s; will retry (attempt %d)", self.task.name, self.pid, message, retries)
        self._store(
            rec.but(state=State.REASSIGNING, cause=cause, last_error=message, retries=retries),
            f"{cause}: {message}",
        )
        return refuse(message)

    def _collector_failed(self, err: data_sync_pb2.TaskError) -> Answer:
        self.commit()  # the rows before the fault are good
        text = err.message
        if err.code == "binlog_gap" and err.missing_from:
            text = f"binlog entries {err.missing_from}..{err.missing_to or '?'} are gone: {err.message}"
        self._fail(err.code or "collector_error", text)
        return Answer(code=0, msg="task failed", delete_task=True)

    def reset(self, record: SubtaskRecord) -> None:
        """A new assignment (token): continue from the committed point."""
        with self.lock:
            self.record = record
            self.accepted = record.committed
            self.last_send = time.monotonic()


def _row_bounds(
    attachment: bytes, count: int, row_sizes: bytes
) -> tuple[npt.NDArray[np.int64] | None, npt.NDArray[np.int64] | None]:
    """(offsets, lengths) of the attachment's rows from an omsync collector's ``row_sizes``;
    (None, None) without them (an original collector): ``decode_batch`` walks the size fields.

    ``decode_batch`` checks each row's own size field against its length, so a wrong list fails
    there; here only its shape: one u32 per row, adding up to the attachment.
    """
    if not row_sizes:
        return None, None
    if len(row_sizes) != 4 * count:
        raise RowDecodeError(
            f"row_sizes holds {len(row_sizes)} bytes, not 4 per row for the {count} rows of the pack"
        )
    lengths = np.frombuffer(row_sizes, dtype="<u4").astype(np.int64)
    ends = np.cumsum(lengths)
    if count and int(ends[-1]) != len(attachment):
        raise RowDecodeError(
            f"row_sizes add up to {int(ends[-1])} bytes, the attachment holds {len(attachment)}"
        )
    return ends - lengths, lengths


def _deletes_table(ops: list[data_sync_pb2.DeleteOp]) -> pa.Table:
    return pa.table(
        {
            "log_index": pa.array([o.log_index for o in ops], pa.uint64()),
            "idx": pa.array([o.idx for o in ops], pa.uint32()),
            "key": pa.array([o.key for o in ops], pa.binary()),
            "ts": pa.array([o.ts if o.HasField("ts") else None for o in ops], pa.uint64()),
            "end_ts": pa.array([o.end_ts if o.HasField("end_ts") else None for o in ops], pa.uint64()),
        }
    )
