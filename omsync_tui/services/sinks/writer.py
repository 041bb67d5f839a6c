"""The synctool's destination: files named by the range of positions they hold (DESIGN §3).

Layout under the destination root (local directory, ``s3://bucket/prefix`` or ``hdfs://nn/path``)::

    pid=<pid>/<first>_<next>.parquet|csv          committed: rows of positions [first, next)
    pid=<pid>/_tmp-<uuid>.<ext>.tmp               being written
    _omsync/table.json                            omsync's own small files (write_json)
    _omsync/deletes/pid=<pid>/<first>_<next>.parquet   forwarded binlog deletes

A file is streamed to a temporary, closed, then renamed to its range's name; the synctool stores
its progress only after that. A replayed range gets the same name and replaces the file, so a
crash anywhere writes nothing twice; start-up reconciles with ``readback.list_files`` and drops
leftover temporaries (``readback.remove_temporaries``). Temporaries start with ``_`` and end in
``.tmp``, so Spark, pyarrow datasets and a ``*.parquet`` glob in duckdb never see them;
``pid=<n>`` directories read as a hive partition.

Opening a destination, its errors and its small files are ``destination``'s.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from omsync_tui.core.errors import UsageError
from omsync_tui.core.states import Format
from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.services.sinks import csvformat
from omsync_tui.services.sinks.destination import (
    OMSYNC_DIR,
    TMP_PREFIX,
    Destination,
    ensure_dir,
    translated,
    write_whole,
)

log = logging.getLogger("omsync.synctool.sink")

ROW_GROUP_ROWS = 256 * 1024
ROW_GROUP_BYTES = 64 * 1024 * 1024
_EXTS = tuple(f.value for f in Format)


# -- names -------------------------------------------------------------------------------------

_SAFE_CHAR = re.compile(r"[A-Za-z0-9.\-]")
_BINLOG_TOKEN = re.compile(r"b([0-9]{20,})")
_SNAPSHOT_TOKEN = re.compile(r"s((?:[A-Za-z0-9.\-]|~[0-9a-f]{2})*)-([0-9]{20,})")


def point_token(p: SyncPoint) -> str:
    """A point as a file-name part: ``b%020d`` or ``s<escaped snapshot name>-%020d``.

    Snapshot names keep ``[A-Za-z0-9.-]``; every other byte of their UTF-8 becomes ``~xx``, so a
    token never holds ``_`` (the separator of a file's two points) or ``/``. pk/ts are not kept.
    """
    if p.phase is Phase.BINLOG:
        return f"b{p.offset:020d}"
    name = "".join(
        c if _SAFE_CHAR.fullmatch(c) else "".join(f"~{b:02x}" for b in c.encode()) for c in p.snapshot
    )
    return f"s{name}-{p.ordinal:020d}"


def parse_point_token(t: str) -> SyncPoint:
    """Inverse of ``point_token``; ValueError for anything it would not have written."""
    if m := _BINLOG_TOKEN.fullmatch(t):
        p = SyncPoint.binlog(int(m.group(1)))
    elif m := _SNAPSHOT_TOKEN.fullmatch(t):
        raw = re.sub(rb"~([0-9a-f]{2})", lambda e: bytes([int(e.group(1), 16)]), m.group(1).encode())
        try:
            p = SyncPoint(Phase.SNAPSHOT, snapshot=raw.decode(), ordinal=int(m.group(2)))
        except UnicodeDecodeError:
            raise ValueError(f"not a sync point token: {t!r}") from None
    else:
        raise ValueError(f"not a sync point token: {t!r}")
    if point_token(p) != t:  # one name per range: no other spelling is accepted
        raise ValueError(f"not a canonical sync point token: {t!r}")
    return p


def file_name(first: SyncPoint, next: SyncPoint, ext: str) -> str:
    return f"{point_token(first)}_{point_token(next)}.{ext}"


def parse_file_name(name: str) -> tuple[SyncPoint, SyncPoint, str]:
    """(first, next, ext) of a committed file's name; ValueError for any other name."""
    for ext in _EXTS:
        if name.endswith(f".{ext}"):
            parts = name[: -len(ext) - 1].split("_")
            if len(parts) == 2:
                return parse_point_token(parts[0]), parse_point_token(parts[1]), ext
    raise ValueError(f"not a range file name: {name!r}")


@dataclass(frozen=True)
class FileRange:
    pid: int
    first: SyncPoint
    next: SyncPoint
    rows: int
    path: str
    size: int


# -- writing -----------------------------------------------------------------------------------


class PartitionWriter:
    """Streams one partition's rows into range-named files; not thread-safe (the caller serialises).

    The first ``append`` of a file sets ``first``; each later one must start at ``next``. Parquet
    batches are gathered into row groups of ``row_group_rows`` rows / ``row_group_bytes`` bytes,
    so memory stays bounded by one row group whatever the batch size.
    """

    def __init__(
        self,
        dest: Destination,
        pid: int,
        fmt: Format,
        schema: pa.Schema,
        *,
        roll_rows: int = 5_000_000,
        roll_bytes: int = 256 * 1024 * 1024,
        commit_seconds: float = 60.0,
        csv_timezone: str = "UTC",
        metadata: dict[str, str] | None = None,
        row_group_rows: int = ROW_GROUP_ROWS,
        row_group_bytes: int = ROW_GROUP_BYTES,
    ) -> None:
        if fmt is Format.CSV:
            csvformat.check_timezone(csv_timezone)
        self.dest, self.pid, self.format, self.schema = dest, pid, Format(fmt), schema
        self.roll_rows, self.roll_bytes, self.commit_seconds = roll_rows, roll_bytes, commit_seconds
        self.csv_timezone = csv_timezone
        self.metadata = dict(metadata or {})
        self.row_group_rows, self.row_group_bytes = row_group_rows, row_group_bytes
        self.dir = dest.path(f"pid={pid}")
        self._reset()

    def _reset(self) -> None:
        self.first: SyncPoint | None = None
        self.next: SyncPoint | None = None
        self.rows = 0
        self.opened_at: float | None = None
        self._tmp: str | None = None
        self._out: pa.NativeFile | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._buf: list[pa.RecordBatch] = []
        self._buf_rows = self._buf_bytes = self._written = 0

    @property
    def bytes(self) -> int:
        """Bytes written to the open file (compressed) plus rows buffered for it (in memory)."""
        return self._written + self._buf_bytes

    def due(self, now: float | None = None) -> bool:
        """Time to commit: a file with rows that reached the row or byte limit, or whose first row
        came ``commit_seconds`` ago (however few rows it holds)."""
        if self.rows == 0:
            return False
        if self.rows >= self.roll_rows or self.bytes >= self.roll_bytes:
            return True
        now = time.monotonic() if now is None else now
        return self.opened_at is not None and now - self.opened_at >= self.commit_seconds

    def append(self, batch: pa.RecordBatch, first: SyncPoint, next: SyncPoint) -> None:
        if self.next is not None and first.key() != self.next.key():
            raise UsageError(
                f"pid {self.pid}: a batch from {first} does not continue the file ending at {self.next}"
            )
        if next.key() < first.key():
            raise UsageError(f"pid {self.pid}: a batch from {first} to {next} ends before it starts")
        if batch.num_rows:
            if not batch.schema.equals(self.schema):
                if self.rows:
                    raise UsageError(
                        f"pid {self.pid}: rows with columns {batch.schema.names} cannot join the open file "
                        f"with columns {self.schema.names}",
                        hint="commit() the open file before a schema change (ALTER TABLE ADD COLUMN)",
                    )
                self.schema = batch.schema
            with translated(self.dest, "cannot write to"):
                if self._out is None:
                    self._open()
                self._write(batch)
            self.rows += batch.num_rows
        if self.first is None:
            self.first, self.opened_at = first, time.monotonic()
        self.next = next

    def commit(self) -> FileRange | None:
        """Close the file and rename it to its range; None (nothing written) when it has no rows."""
        sealed = self.seal()
        return sealed.finish() if sealed is not None else None

    def seal(self) -> Sealed | None:
        """Finish writing the open file (Parquet footer) and hand it over: ``Sealed.finish()``
        closes and renames it, possibly in another thread, while this writer starts the next
        file. None (nothing written) when it has no rows."""
        first, nxt, rows = self.first, self.next, self.rows
        if first is None or nxt is None or rows == 0 or self._out is None or self._tmp is None:
            self.abort()
            return None
        final = f"{self.dir}/{file_name(first, nxt, self.format.value)}"
        out, tmp = self._out, self._tmp
        try:
            with translated(self.dest, "cannot commit a file to"):
                if self._parquet is not None:
                    self._flush()
                    self._parquet.add_key_value_metadata(self._footer(first, nxt, rows))
                    self._parquet.close()
                    self._parquet = None
                size = out.tell()
        except BaseException:
            self.abort()
            raise
        self._reset()
        return Sealed(self.dest, out, tmp, FileRange(self.pid, first, nxt, rows, final, size))

    def abort(self) -> None:
        """Drop the open file (its temporary is deleted); the writer is empty afterwards."""
        tmp, closers = self._tmp, [self._parquet, self._out]
        self._reset()
        for c in closers:
            if c is not None:
                try:
                    c.close()
                except (OSError, pa.ArrowException) as exc:
                    log.debug("closing a dropped file: %s", exc)
        if tmp is not None:
            with translated(self.dest, "cannot remove a temporary file from"), suppress(FileNotFoundError):
                self.dest.fs.delete_file(tmp)

    def _open(self) -> None:
        ensure_dir(self.dest, self.dir)
        self._tmp = f"{self.dir}/{TMP_PREFIX}{uuid.uuid4().hex}.{self.format.value}.tmp"
        self._out = self.dest.fs.open_output_stream(self._tmp, compression=None, buffer_size=1 << 20)
        if self.format is Format.PARQUET:
            self._parquet = pq.ParquetWriter(self._out, self.schema, compression="zstd")

    def _write(self, batch: pa.RecordBatch) -> None:
        assert self._out is not None
        if self._parquet is None:
            data = csvformat.render_csv(batch, self.csv_timezone)
            self._out.write(data)
            self._written += len(data)
            return
        self._buf.append(batch)
        self._buf_rows += batch.num_rows
        self._buf_bytes += batch.nbytes
        if self._buf_rows >= self.row_group_rows or self._buf_bytes >= self.row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        if self._buf and self._parquet is not None and self._out is not None:
            table = pa.Table.from_batches(self._buf, schema=self.schema)
            self._parquet.write_table(table, row_group_size=table.num_rows)  # one row group
            self._buf, self._buf_rows, self._buf_bytes = [], 0, 0
            self._written = self._out.tell()

    def _footer(self, first: SyncPoint, nxt: SyncPoint, rows: int) -> dict[str, str]:
        return {
            **self.metadata,
            "omsync.first": point_token(first),
            "omsync.next": point_token(nxt),
            "omsync.rows": str(rows),
            # the whole points: a disk snapshot's pk/ts let a reader seek after a restart
            "omsync.first_point": json.dumps(first.to_dict()),
            "omsync.next_point": json.dumps(nxt.to_dict()),
        }


@dataclass
class Sealed:
    """A file whose bytes are all written: ``finish`` closes it and renames it to its range."""

    dest: Destination
    out: pa.NativeFile
    tmp: str
    range: FileRange

    def finish(self, before: Callable[[], object] | None = None) -> FileRange:
        """Close and rename (a replayed range replaces its file); the temporary is removed on
        failure. ``before`` runs between the two (the rename of the file before this one: it
        raises if that failed, and this file is dropped)."""
        try:
            with translated(self.dest, "cannot commit a file to"):
                self.out.close()
                if before is not None:
                    before()
                self.dest.fs.move(self.tmp, self.range.path)
        except BaseException:
            self.drop()
            raise
        return self.range

    def drop(self) -> None:
        try:
            self.out.close()
        except (OSError, pa.ArrowException) as exc:
            log.debug("closing a dropped file: %s", exc)
        with suppress(OSError, pa.ArrowException):
            self.dest.fs.delete_file(self.tmp)


def write_deletes(dest: Destination, pid: int, first: SyncPoint, next: SyncPoint, table: pa.Table) -> str:
    """Store forwarded binlog deletes of [first, next) as ``_omsync/deletes/pid=<pid>/...``; the path."""
    path = dest.path(OMSYNC_DIR, "deletes", f"pid={pid}", file_name(first, next, Format.PARQUET.value))
    meta = {
        "omsync.first": point_token(first),
        "omsync.next": point_token(next),
        "omsync.rows": str(len(table)),
    }
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    write_whole(dest, path, lambda out: pq.write_table(table, out, compression="zstd"))
    return path
