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

import pyarrow as pa

from omsync_tui.core.errors import OmsyncError, UsageError
from omsync_tui.core.states import Format
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.services.sinks.destination import Destination
from omsync_tui.services.sinks.writer import FileRange, PartitionWriter, Sealed

if TYPE_CHECKING:
    from omsync_tui.services.sinks.iceberg import IcebergTable

log = logging.getLogger("omsync.synctool.sink")


def table_of(dest: Destination) -> IcebergTable:
    """The table of an ``iceberg://`` destination; UsageError when pyiceberg is missing."""
    try:
        from omsync_tui.services.sinks import iceberg  # pyiceberg: only for iceberg:// destinations
    except ImportError as exc:
        raise UsageError(
            f"{dest.display}: iceberg:// destinations need pyiceberg, which is not installed ({exc.name})",
            hint="pip install 'omsync[iceberg]' (the omsync.pyz zipapp does not carry pyiceberg)",
        ) from None
    return iceberg.table_of(dest)


class IcebergWriter:
    """One partition's rows into files the table then appends; not thread-safe (as PartitionWriter)."""

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
        from omsync_tui.services.sinks import iceberg

        self.table = table_of(dest)
        self.pid, self.compact = pid, compact
        self._convert: Callable[[pa.RecordBatch], pa.RecordBatch] = lambda b: iceberg.to_table_batch(
            b, pid, iceberg.arrow_schema_for(b.schema)
        )
        self.files = PartitionWriter(
            dataclasses.replace(dest, root=dest.path("data")),
            pid,
            Format.PARQUET,
            iceberg.arrow_schema_for(schema),
            roll_rows=roll_rows,
            roll_bytes=roll_bytes,
            commit_seconds=commit_seconds,
            metadata=metadata,
        )

    @property
    def first(self) -> SyncPoint | None:
        return self.files.first

    @property
    def next(self) -> SyncPoint | None:
        return self.files.next

    @property
    def rows(self) -> int:
        return self.files.rows

    def due(self, now: float | None = None) -> bool:
        return self.files.due(now)

    def append(self, batch: pa.RecordBatch, first: SyncPoint, next: SyncPoint) -> None:
        self.files.append(self._convert(batch), first, next)

    def seal(self) -> IcebergSealed | None:
        schema = self.files.schema
        sealed = self.files.seal()
        if sealed is None:
            return None
        unique = sealed.range.path.removesuffix(".parquet") + f"-{uuid.uuid4().hex[:12]}.parquet"
        sealed = dataclasses.replace(sealed, range=dataclasses.replace(sealed.range, path=unique))
        return IcebergSealed(self.table, sealed, schema, self.compact)

    def commit(self) -> FileRange | None:
        sealed = self.seal()
        return sealed.finish() if sealed is not None else None

    def abort(self) -> None:
        self.files.abort()


@dataclasses.dataclass
class IcebergSealed:
    """A written file: ``finish`` renames it into place and commits it to the table."""

    table: IcebergTable
    sealed: Sealed
    schema: pa.Schema
    compact: bool

    @property
    def range(self) -> FileRange:
        return self.sealed.range

    def finish(self, before: Callable[[], object] | None = None) -> FileRange:
        done = self.sealed.finish(before)
        try:
            appended = self.table.commit(done, self.schema)
        except BaseException:
            self._remove(done.path)
            raise
        if not appended:  # the table holds this range already (a replay): nothing twice
            self._remove(done.path)
            return dataclasses.replace(done, rows=0, size=0)
        if self.compact:
            try:
                self.table.maybe_compact(done.pid)
            except OmsyncError as exc:  # compaction is housekeeping: the commit stands
                log.warning("pid %d: compaction failed: %s", done.pid, exc)
        return done

    def drop(self) -> None:
        self.sealed.drop()

    def _remove(self, path: str) -> None:
        fs = self.sealed.dest.fs
        try:
            fs.delete_file(path)
        except (OSError, pa.ArrowException) as exc:
            log.debug("removing %s: %s", path, exc)
