"""What a new sync task is made of before ``SyncManager.create`` stores it (DESIGN §1).

``CreateOptions`` is the request as the CLI and the TUI give it. From it come each partition's
start point (the beginning, a given binlog offset, or what the destination already holds), what
a task resumed from its destination takes over as its own (rows, bytes, files), and the
``_omsync/table.json`` that tells a reader of the destination what the files hold.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from omsync_tui.core.errors import OmsyncError, UsageError
from omsync_tui.core.inthread import InThread
from omsync_tui.core.states import Format, Mode
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.proto import name_server_pb2
from omsync_tui.openmldb.schema import TableSchema
from omsync_tui.services.sinks import destination, readback
from omsync_tui.services.sinks.iceberg.writer import table_of
from omsync_tui.services.synctool.model import TaskRecord

log = logging.getLogger(__name__)

TABLE_JSON = "_omsync/table.json"


@dataclass(frozen=True, slots=True)
class CreateOptions:
    name: str  # db.table
    dest: str
    mode: Mode = Mode.FULL
    start_ts: int = 0
    format: Format = Format.PARQUET
    start_offset: int | None = None  # every partition from this binlog offset
    start_offsets: dict[int, int] | None = None  # pid → binlog offset, one per partition
    resume_from_dest: bool = False  # every partition from what the destination already holds
    deletes: bool = False


def storage_name(mode: int) -> str:
    """``openmldb.common.StorageMode`` as a word (memory / ssd / hdd)."""
    return {1: "memory", 2: "ssd", 3: "hdd"}.get(mode, str(mode))


def start_points(opts: CreateOptions, dest: destination.Destination, pids: list[int]) -> dict[int, SyncPoint]:
    given = [opts.start_offset is not None, opts.start_offsets is not None, opts.resume_from_dest]
    if sum(given) > 1:
        raise UsageError(
            "give one start: a start offset, start offsets per partition or resume-from-destination, not both"
        )
    if opts.start_offsets is not None:
        missing = sorted(set(pids) - set(opts.start_offsets))
        extra = sorted(set(opts.start_offsets) - set(pids))
        if missing or extra:
            raise UsageError(
                f"start offsets per partition must name each of the table's partitions {pids}: "
                + "; ".join(
                    part
                    for part in (
                        f"missing pid {', '.join(map(str, missing))}" if missing else "",
                        f"no pid {', '.join(map(str, extra))} in the table" if extra else "",
                    )
                    if part
                ),
                hint="write them as PID=OFFSET,PID=OFFSET (binlog offsets start at 1)",
            )
        bad = {pid: off for pid, off in opts.start_offsets.items() if off < 1}
        if bad:
            raise UsageError(f"start offsets {bad}: binlog offsets start at 1")
        return {pid: SyncPoint.binlog(opts.start_offsets[pid]) for pid in pids}
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


def held(dest: destination.Destination, pid: int) -> tuple[int, int, int]:
    """What a resumed task takes over (rows, bytes, files): the destination's files are its own."""
    files = readback.list_files(dest, pid)
    return sum(f.rows for f in files), sum(f.size for f in files), len(files)


def table_json(task: TaskRecord, info: name_server_pb2.TableInfo) -> dict[str, object]:
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


def ensure_iceberg_table(
    dest: destination.Destination, task: TaskRecord, info: name_server_pb2.TableInfo
) -> None:
    """An ``iceberg://`` destination's table: made if missing, refused if its columns differ."""
    if task.format is not Format.PARQUET:
        raise UsageError(
            f"an Iceberg table holds Parquet files, not {task.format.value}", hint="drop --format"
        )
    schema = TableSchema.from_proto(info, where=task.name)
    table_of(dest).ensure(list(schema.latest), task.name, task.tid)


class Description:
    """A task's ``_omsync/table.json`` on its way into the destination.

    ``SyncManager.create`` writes it up to the close (``destination.begin_json``: that proves
    the destination takes files); the close, ~0.5 s on HDFS, finishes in a thread while the
    partitions start. ``ensure()``, which each partition (on whichever synctool) calls before it
    renames a file, waits for it and writes the file again if that failed (or finds another
    synctool's copy in place), so no data is committed before the description.
    A task taken over (``finish=None``) is checked once: a crash within that close leaves none.
    """

    def __init__(self, dest: destination.Destination, obj: object, finish: Callable[[], None] | None) -> None:
        self._dest, self._obj = dest, obj
        self._closing = InThread(finish, "omsync-describe") if finish is not None else None
        self._lock = threading.Lock()
        self._in_place = False

    def ensure(self) -> None:
        with self._lock:
            if self._in_place:
                return
            closing, self._closing = self._closing, None
            if closing is not None:
                try:
                    closing.result()
                    self._in_place = True
                    return
                except OmsyncError as exc:
                    log.warning("%s: writing %s failed (%s); again", self._dest.display, TABLE_JSON, exc)
            elif destination.read_json(self._dest, TABLE_JSON) is not None:
                self._in_place = True
                return
            try:
                destination.write_json(self._dest, TABLE_JSON, self._obj)
            except OmsyncError:
                # another synctool's copy may have landed first (the leader's, a worker's)
                if destination.read_json(self._dest, TABLE_JSON) is None:
                    raise
            self._in_place = True
