"""Rows of one partition into an Iceberg table: ``IcebergWriter`` and ``table_of`` (issue 17).

The synctool's data path (``ingest.Partition``) drives an ``IcebergWriter`` exactly as it drives
a ``PartitionWriter``: the writer holds one and streams the rows, converted to the table's
column types (``iceberg.to_table_batch``), into ``<table dir>/data/pid=<pid>/``. Sealing a file
gives an ``IcebergSealed`` whose ``finish`` renames it to a name of its own (range + random
suffix: a replayed range must never replace a file the table references) and then commits it
(``IcebergTable.commit``, one transaction recording the range). A range the table already
holds is not appended: its file is deleted and ``finish`` reports no rows.

This module does not import pyiceberg: ``table_of`` loads ``iceberg`` for ``iceberg://``
destinations only, with a clear error where pyiceberg is not installed (the zipapp).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from omsync_tui.core.errors import OmsyncError, UsageError
from omsync_tui.core.states import Format
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.services.sinks.destination import Destination
from omsync_tui.services.sinks.writer import FileRange, PartitionWriter, Sealed

if TYPE_CHECKING:
    from omsync_tui.services.sinks.iceberg.table import IcebergTable

log = logging.getLogger("omsync.synctool.sink")


def table_of(dest: Destination) -> IcebergTable:
    """The table of an ``iceberg://`` destination; UsageError when pyiceberg is missing."""
    try:
        from omsync_tui.services.sinks.iceberg import (
            table as iceberg,  # pyiceberg: only for iceberg:// destinations
        )
    except ImportError as exc:
        raise UsageError(
            f"{dest.display}: iceberg:// destinations need pyiceberg, which is not installed ({exc.name})",
            hint="pip install 'omsync[iceberg]' (the omsync.pyz zipapp does not carry pyiceberg)",
        ) from None
    return iceberg.table_of(dest)


class IcebergWriter:
    """One partition's rows into files the table then appends; not thread-safe (as PartitionWriter).

    With ``partition=day(<col>)`` each day of ``<col>`` in the range gets a file of its own (a
    data file holds one partition value): one ``PartitionWriter`` per day, each given every
    batch's range (an empty slice where the batch has no rows of its day), committed together."""

    def __init__(
        self,
        dest: Destination,
        pid: int,
        schema: pa.Schema,
        *,
        compact: bool,
        roll_rows: int,
        roll_bytes: int,
        commit_seconds: float,
        metadata: dict[str, str],
    ) -> None:
        from omsync_tui.services.sinks.iceberg import table as iceberg

        self.table = table_of(dest)
        self.pid, self.compact = pid, compact
        self.roll_rows, self.roll_bytes = roll_rows, roll_bytes
        self._file_schema = iceberg.arrow_schema_for(schema)  # a schema change rolls the writer
        self._convert: Callable[[pa.RecordBatch], pa.RecordBatch] = lambda b: iceberg.to_table_batch(
            b, pid, self._file_schema
        )
        self.day_column = dest.iceberg.day_column if dest.iceberg is not None else None
        self._files_dest = dataclasses.replace(dest, root=dest.path("data"))
        self._commit_seconds, self._metadata = commit_seconds, metadata
        self.files: dict[int | None, PartitionWriter] = {}  # by day (days since 1970; None: no day)
        self.first: SyncPoint | None = None
        self.next: SyncPoint | None = None

    def _new_writer(self) -> PartitionWriter:
        return PartitionWriter(
            self._files_dest,
            self.pid,
            Format.PARQUET,
            self._file_schema,
            roll_rows=self.roll_rows,
            roll_bytes=self.roll_bytes,
            commit_seconds=self._commit_seconds,
            metadata=self._metadata,
        )

    @property
    def rows(self) -> int:
        return sum(w.rows for w in self.files.values())

    def due(self, now: float | None = None) -> bool:
        if self.rows >= self.roll_rows or sum(w.bytes for w in self.files.values()) >= self.roll_bytes:
            return True
        return any(w.due(now) for w in self.files.values())

    def append(self, batch: pa.RecordBatch, first: SyncPoint, next: SyncPoint) -> None:
        rows = self._convert(batch)
        parts: dict[int | None, pa.RecordBatch] = {0: rows}
        if self.day_column is not None and rows.num_rows:
            parts = by_day(rows, self.day_column)
        for key in parts:
            if key not in self.files:
                self.files[key] = self._new_writer()
        for key, w in self.files.items():
            w.append(parts.get(key, rows.slice(0, 0)), first, next)
        if self.first is None:
            self.first = first
        self.next = next

    def seal(self) -> IcebergSealed | None:
        first, nxt = self.first, self.next
        writers, self.files, self.first, self.next = self.files, {}, None, None
        if first is None or nxt is None:
            return None
        schema = next((w.schema for w in writers.values() if w.rows), None)
        sealed: list[Sealed] = []
        try:
            for w in writers.values():
                one = w.seal()
                if one is not None:
                    unique = one.range.path.removesuffix(".parquet") + f"-{uuid.uuid4().hex[:12]}.parquet"
                    sealed.append(dataclasses.replace(one, range=dataclasses.replace(one.range, path=unique)))
        except BaseException:
            for one in sealed:
                one.drop()
            for w in writers.values():
                w.abort()
            raise
        if not sealed or schema is None:
            return None
        whole = FileRange(
            self.pid,
            first,
            nxt,
            sum(x.range.rows for x in sealed),
            sealed[0].range.path,
            sum(x.range.size for x in sealed),
        )
        return IcebergSealed(self.table, sealed, whole, schema, self.compact)

    def commit(self) -> FileRange | None:
        sealed = self.seal()
        return sealed.finish() if sealed is not None else None

    def abort(self) -> None:
        writers, self.files, self.first, self.next = self.files, {}, None, None
        for w in writers.values():
            w.abort()


def by_day(rows: pa.RecordBatch, column: str) -> dict[int | None, pa.RecordBatch]:
    """The rows split by the day (days since 1970-01-01, UTC) of a timestamp or date column."""
    col = rows.column(column)
    if pa.types.is_timestamp(col.type):
        per_day = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}[
            col.type.unit
        ]
        values = np.floor_divide(col.cast(pa.int64()).fill_null(0).to_numpy(), per_day)
    else:
        values = col.cast(pa.int32()).fill_null(0).to_numpy().astype(np.int64)
    valid = col.is_valid().to_numpy(zero_copy_only=False)
    out: dict[int | None, pa.RecordBatch] = {}
    for day in np.unique(values[valid]):
        out[int(day)] = rows.filter(pa.array(valid & (values == day)))
    if not valid.all():
        out[None] = rows.filter(pa.array(~valid))
    return out


@dataclasses.dataclass
class IcebergSealed:
    """Written files of one range: ``finish`` renames them into place and commits them to the
    table in one transaction."""

    table: IcebergTable
    sealed: list[Sealed]
    range: FileRange
    schema: pa.Schema
    compact: bool

    def finish(self, before: Callable[[], object] | None = None) -> FileRange:
        done: list[FileRange] = []
        try:
            for i, one in enumerate(self.sealed):
                done.append(one.finish(before if i == 0 else None))
            appended = self.table.commit(self.range, self.schema, [d.path for d in done])
        except BaseException:
            for later in self.sealed[len(done) :]:
                later.drop()
            self._remove([d.path for d in done])
            raise
        if not appended:  # the table holds this range already (a replay): nothing twice
            self._remove([d.path for d in done])
            return dataclasses.replace(self.range, rows=0, size=0)
        if self.compact:
            try:
                self.table.maybe_compact(self.range.pid)
            except OmsyncError as exc:  # compaction is housekeeping: the commit stands
                log.warning("pid %d: compaction failed: %s", self.range.pid, exc)
        return self.range

    def drop(self) -> None:
        for one in self.sealed:
            one.drop()

    def _remove(self, paths: list[str]) -> None:
        for path in paths:
            try:
                self.sealed[0].dest.fs.delete_file(path)
            except (OSError, pa.ArrowException) as exc:
                log.debug("removing %s: %s", path, exc)
