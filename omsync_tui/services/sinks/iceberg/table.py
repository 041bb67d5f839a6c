"""An Iceberg table as the synctool's destination, through pyiceberg (issue 17).

Loaded only for ``iceberg://`` destinations (``writer.table_of``). ``IcebergTable`` is one
table of one catalog:

- ``ensure`` (``task create``) makes the table if missing — OpenMLDB's columns mapped by
  ``ICEBERG_TYPES``, plus ``omsync_pid`` (int), identity-partitioned by it (and by ``day(col)``
  with ``partition=day(col)``) — or refuses an existing one whose columns or partitioning
  differ, naming each difference;
- ``commit`` is exactly-once: one Iceberg transaction appends a range's data files and records
  the range in the snapshot's summary (``omsync.pid``, ``omsync.first``, ``omsync.next``, point
  tokens as in file names) and the partition's progress in table properties
  (``omsync.pid.<pid>.next``/``.rows``); a range whose end the table already holds for that pid
  is not appended again. New columns (ALTER TABLE ADD COLUMN) are added in the same
  transaction, and snapshots beyond the newest ``KEEP_SNAPSHOTS`` expire in it. A commit that
  loses a race (``CommitFailedException``: another committer moved the table) is retried from a
  fresh read of the table, pyiceberg's own retry being off;
- ``ranges`` reads the committed ranges back from the retained snapshots (the current one and
  its ancestors): start-up and takeover reconcile from these, and ``task verify`` audits them;
- ``compact`` rewrites a partition's small files into one per partition value with an overwrite
  snapshot that deletes them and adds the new files atomically.

The catalog and its FileIO are ``catalog``'s.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.exceptions import (
    CommitFailedException,
    NoSuchTableError,
)
from pyiceberg.io.pyarrow import parquet_file_to_data_file
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update.snapshot import ExpireSnapshots
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
)
from sqlalchemy.exc import SQLAlchemyError

from omsync_tui.core.errors import UsageError
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.core.synctool_config import HdfsSection
from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.services.sinks import hdfs
from omsync_tui.services.sinks.destination import (
    Destination,
    DestinationError,
    cause_of,
    translated,
)
from omsync_tui.services.sinks.iceberg.catalog import FAILURES, OmsyncFileIO, catalog_for, settings_json
from omsync_tui.services.sinks.writer import FileRange, parse_point_token, point_token

log = logging.getLogger("omsync.synctool.sink")

PID_COLUMN = "omsync_pid"
ICEBERG_TYPES: dict[ColumnType, IcebergType] = {
    ColumnType.BOOL: BooleanType(),
    ColumnType.SMALLINT: IntegerType(),  # Iceberg has no 16-bit integer
    ColumnType.INT: IntegerType(),
    ColumnType.BIGINT: LongType(),
    ColumnType.FLOAT: FloatType(),
    ColumnType.DOUBLE: DoubleType(),
    ColumnType.DATE: DateType(),
    ColumnType.TIMESTAMP: TimestampType(),  # microseconds, no zone; OpenMLDB's milliseconds × 1000
    ColumnType.VARCHAR: StringType(),
    ColumnType.STRING: StringType(),
}
# the Arrow types of the files omsync adds (what pyarrow writes as these Iceberg types)
_ARROW_OF: dict[IcebergType, pa.DataType] = {
    BooleanType(): pa.bool_(),
    IntegerType(): pa.int32(),
    LongType(): pa.int64(),
    FloatType(): pa.float32(),
    DoubleType(): pa.float64(),
    DateType(): pa.date32(),
    TimestampType(): pa.timestamp("us"),
    StringType(): pa.string(),
}
COMMIT_DEADLINE_S = 120.0
SMALL_FILE_BYTES = 64 * 1024 * 1024  # compaction rewrites files below this
_SUMMARY_PID, _SUMMARY_FIRST, _SUMMARY_NEXT = "omsync.pid", "omsync.first", "omsync.next"
# pyiceberg's own retry rebases a lost commit onto the winner's snapshot without asking whether
# the winner wrote the same range: omsync retries itself, re-checking the recorded range first
_OWN_RETRIES = {"commit.retry.num-retries": "0"}
KEEP_SNAPSHOTS = 64  # the newest snapshots a commit keeps; older ones expire in the same commit
_EXPIRE_EVERY = 16  # expire once this many are beyond KEEP_SNAPSHOTS (each expiry is a pass over them)


def pid_key(pid: int, what: str) -> str:
    """The table property that records one partition's progress: ``next`` (the end of its last
    commit, a point token), ``next_point`` (the whole point, JSON), ``rows`` (rows committed)."""
    return f"omsync.pid.{pid}.{what}"


# -- a table -------------------------------------------------------------------------------------


def location_of(dest: Destination, path: str) -> str:
    """A path of ``dest.fs`` as a URI Iceberg's metadata holds (and Spark reads)."""
    if dest.scheme in hdfs.SCHEMES and dest.iceberg is not None:
        return hdfs.split_url(dest.iceberg.warehouse)[0] + path
    if dest.scheme == "s3":
        return f"s3://{path}"
    return f"file://{path}"


def iceberg_schema(columns: list[Column]) -> Schema:
    """The table's schema: OpenMLDB's columns (all optional: older schema versions lack the added
    ones) and ``omsync_pid``."""
    out = [NestedField(i + 1, c.name, ICEBERG_TYPES[c.type], required=False) for i, c in enumerate(columns)]
    out.append(NestedField(len(columns) + 1, PID_COLUMN, IntegerType(), required=False))
    return Schema(*out)


def arrow_schema_for(schema: pa.Schema) -> pa.Schema:
    """A decoded batch's schema as omsync's Iceberg files hold it: ms → us, int16 → int32, + pid."""
    out = []
    for f in schema:
        t = f.type
        if pa.types.is_timestamp(t):
            t = pa.timestamp("us")
        elif pa.types.is_int16(t):
            t = pa.int32()
        out.append(pa.field(f.name, t))
    out.append(pa.field(PID_COLUMN, pa.int32()))
    return pa.schema(out)


def to_table_batch(batch: pa.RecordBatch, pid: int, target: pa.Schema) -> pa.RecordBatch:
    cols = [batch.column(i).cast(target.field(i).type) for i in range(batch.num_columns)]
    cols.append(pa.array(np.full(batch.num_rows, pid, dtype=np.int32)))
    return pa.RecordBatch.from_arrays(cols, schema=target)


@dataclass(frozen=True)
class PidFiles:
    """The data files one partition's rows are in now (after any compaction)."""

    files: int
    rows: int
    small: list[Any]  # DataFiles below SMALL_FILE_BYTES


class IcebergTable:
    """One table of one catalog, as the synctool writes and reads it back (thread-safe)."""

    def __init__(self, dest: Destination, settings: HdfsSection) -> None:
        assert dest.iceberg is not None
        self.dest, self.uri = dest, dest.iceberg
        self.catalog = catalog_for(self.uri, settings)
        self.lock = threading.Lock()  # this process's commits to the table, one at a time
        self.since_compact: dict[int, int] = {}

    @property
    def location(self) -> str:
        return location_of(self.dest, self.dest.root)

    def _fail(self, what: str, exc: BaseException) -> DestinationError:
        return DestinationError(
            f"{what} {self.dest.display}: {cause_of(exc)}",
            hint="check the catalog (uri=), the warehouse and that this user may write both",
        )

    def load(self) -> Table | None:
        try:
            return self.catalog.load_table(self.uri.identifier)
        except NoSuchTableError:
            return None
        except FAILURES as exc:
            raise self._fail("cannot read the table", exc) from None

    def ensure(self, columns: list[Column], source: str, tid: int) -> Table:
        """Create the table if missing; refuse one whose columns differ from OpenMLDB's."""
        want = iceberg_schema(columns)
        spec = self._spec(want)
        table = self.load()
        if table is None:
            props = {
                "omsync.source": source,
                "omsync.tid": str(tid),
                "schema.name-mapping.default": want.name_mapping.model_dump_json(),
                "commit.manifest-merge.enabled": "true",
                **_OWN_RETRIES,
                "write.parquet.compression-codec": "zstd",
            }
            try:
                self.catalog.create_namespace_if_not_exists(self.uri.namespace)
                return self.catalog.create_table(
                    self.uri.identifier, want, location=self.location, partition_spec=spec, properties=props
                )
            except FAILURES as exc:
                raise self._fail("cannot create the table", exc) from None
        diff = schema_difference(table.schema(), want)
        if diff:
            raise DestinationError(
                f"{self.dest.display}: the existing table {self.uri.identifier} has another schema: "
                + "; ".join(diff),
                hint="sync into a new table name, or alter the Iceberg table to match OpenMLDB's columns",
            )
        have = [(f.name, str(f.transform)) for f in table.spec().fields]
        asked = [(f.name, str(f.transform)) for f in spec.fields]
        if have != asked:
            raise DestinationError(
                f"{self.dest.display}: the existing table {self.uri.identifier} is partitioned by "
                f"{have or 'nothing'}, not {asked}",
                hint="give the table's partitioning in partition= (pid or day(<col>)), or another table",
            )
        if any(table.properties.get(k) != v for k, v in _OWN_RETRIES.items()):
            try:
                table = table.transaction().set_properties(_OWN_RETRIES).commit_transaction()
            except FAILURES as exc:
                raise self._fail("cannot set the table's properties in", exc) from None
        return table

    def _spec(self, schema: Schema) -> PartitionSpec:
        """By ``omsync_pid``; with ``partition=day(<col>)`` also by that column's day."""
        fields = [
            PartitionField(
                source_id=schema.find_field(PID_COLUMN).field_id,
                field_id=1000,
                transform=IdentityTransform(),
                name=PID_COLUMN,
            )
        ]
        col = self.uri.day_column
        if col is not None:
            found = next((f for f in schema.fields if f.name == col), None)
            if found is None or not isinstance(found.field_type, TimestampType | DateType):
                what = "no such column" if found is None else f"it is {found.field_type}"
                raise UsageError(
                    f"{self.dest.display}: partition=day({col}) needs a timestamp or date column ({what})",
                    hint="name one of the table's timestamp or date columns, or drop partition=",
                )
            fields.append(
                PartitionField(
                    source_id=found.field_id, field_id=1001, transform=DayTransform(), name=f"{col}_day"
                )
            )
        return PartitionSpec(*fields)

    # -- reading back ------------------------------------------------------------------------------

    def ranges(self, pid: int | None = None) -> list[FileRange]:
        """The committed ranges (one per append commit), of one pid or all, sorted by ``first``."""
        table = self.load()
        if table is None:
            return []
        out = []
        for snap in _ancestry(table):
            r = _range_of(snap)
            if r is not None and (pid is None or r.pid == pid):
                out.append(r)
        return sorted(out, key=lambda r: (r.pid, r.first.key(), r.next.key()))

    def pid_files(self, table: Table, pid: int) -> PidFiles:
        try:
            tasks = list(table.scan(row_filter=f"{PID_COLUMN} == {pid}").plan_files())
        except FAILURES as exc:
            raise self._fail("cannot list the data files of", exc) from None
        small = [t.file for t in tasks if t.file.file_size_in_bytes < SMALL_FILE_BYTES]
        return PidFiles(len(tasks), sum(t.file.record_count for t in tasks), small)

    # -- writing -----------------------------------------------------------------------------------

    def commit(self, r: FileRange, schema: pa.Schema, paths: list[str] | None = None) -> bool:
        """Append ``r``'s files (``paths`` in ``dest.fs``, default ``[r.path]``; one per day with
        ``partition=day(...)``) with its range, exactly once: False when the table already holds
        the range's end for that pid (nothing appended)."""
        props = {
            _SUMMARY_PID: str(r.pid),
            _SUMMARY_FIRST: point_token(r.first),
            _SUMMARY_NEXT: point_token(r.next),
            "omsync.first_point": json.dumps(r.first.to_dict()),
            "omsync.next_point": json.dumps(r.next.to_dict()),
            "omsync.rows": str(r.rows),
        }
        locations = [location_of(self.dest, p) for p in paths or [r.path]]
        deadline = time.monotonic() + COMMIT_DEADLINE_S
        attempt = 0
        with self.lock:
            while True:
                attempt += 1
                try:  # SQLite answers "database is locked" while another process commits: again
                    table = self.catalog.load_table(self.uri.identifier)
                except NoSuchTableError:
                    raise DestinationError(
                        f"{self.dest.display}: the table {self.uri.identifier} is gone",
                        hint="it was dropped after the task was created; delete the task and create it again",
                    ) from None
                except SQLAlchemyError as exc:
                    if time.monotonic() > deadline:
                        raise self._fail("cannot read the table", exc) from None
                    time.sleep(random.uniform(0.005, min(0.2, 0.01 * attempt)))
                    continue
                except FAILURES as exc:
                    raise self._fail("cannot read the table", exc) from None
                end = recorded_end(table, r.pid)
                if end is not None and end.key() >= r.next.key():
                    log.info(
                        "%s pid %d: %s..%s is committed already", self.dest.display, r.pid, r.first, r.next
                    )
                    return False
                if end is not None and end.key() > r.first.key():
                    raise DestinationError(
                        f"{self.dest.display} pid {r.pid}: the table holds up to {end}, "
                        f"inside {r.first}..{r.next}",
                        hint="another writer appended to this partition; `omsync task verify` shows it",
                    )
                try:
                    tx = table.transaction()
                    expire_old_snapshots(table, tx)
                    rows_before = int(table.properties.get(pid_key(r.pid, "rows"), "0"))
                    tx.set_properties(
                        {
                            pid_key(r.pid, "next"): point_token(r.next),
                            pid_key(r.pid, "next_point"): json.dumps(r.next.to_dict()),
                            pid_key(r.pid, "rows"): str(rows_before + r.rows),
                        }
                    )
                    have = set(table.schema().column_names)
                    new = [f for f in schema if f.name not in have]
                    if new:  # ALTER TABLE ADD COLUMN: in the commit that first writes rows with it
                        with tx.update_schema() as update:
                            for f in new:
                                update.add_column(f.name, _iceberg_type(f.type))
                    tx.add_files(locations, snapshot_properties=props, check_duplicate_files=False)
                    tx.commit_transaction()
                    break
                except (CommitFailedException, SQLAlchemyError) as exc:
                    if time.monotonic() > deadline:
                        raise self._fail(f"gave up after {attempt} commit attempts to", exc) from None
                    log.debug("%s pid %d: commit conflict (%s); again", self.dest.display, r.pid, exc)
                    time.sleep(random.uniform(0.005, min(0.2, 0.01 * attempt)))
                except FAILURES as exc:
                    raise self._fail("cannot commit to", exc) from None
            self.since_compact[r.pid] = self.since_compact.get(r.pid, 0) + 1
        return True

    def recorded_rows(self, table: Table, pid: int) -> int | None:
        """The rows the table's commits recorded for ``pid`` (None: a table of before the record)."""
        text = table.properties.get(pid_key(pid, "rows"))
        return int(text) if text is not None and text.isdigit() else None

    def maybe_compact(self, pid: int) -> int:
        """Rewrite ``pid``'s small files into one once ``compact_files`` commits came since the
        last look and at least that many small files are there; the files rewritten (0: none)."""
        n = self.uri.compact_files
        if n == 0 or self.since_compact.get(pid, 0) < n:
            return 0
        self.since_compact[pid] = 0
        return self.compact(pid, min_files=n)

    def compact(self, pid: int, *, min_files: int = 2) -> int:
        """One overwrite snapshot: the partition's small files deleted, one file per partition
        value (per day with ``partition=day(...)``) with their rows added. Loses to any
        concurrent commit (then nothing changes: the next call tries again). The files rewritten."""
        with self.lock:
            table = self.load()
            if table is None:
                return 0
            groups: dict[str, list[Any]] = {}
            for df in self.pid_files(table, pid).small:
                groups.setdefault(repr(df.partition), []).append(df)
            groups = {k: g for k, g in groups.items() if len(g) >= min_files}
            if not groups:
                return 0
            target = pa.schema([pa.field(f.name, _ARROW_OF[f.field_type]) for f in table.schema().fields])
            written: list[str] = []
            try:
                for group in groups.values():
                    merged = pa.concat_tables([self._read(df.file_path, target) for df in group])
                    path = self.dest.path("data", f"pid={pid}", f"compacted-{uuid.uuid4().hex}.parquet")
                    written.append(path)
                    with (
                        translated(self.dest, "cannot write a compacted file to"),
                        self.dest.fs.open_output_stream(path) as out,
                    ):
                        pq.write_table(merged, out, compression="zstd", row_group_size=256 * 1024)
                old = [df for g in groups.values() for df in g]
                tx = table.transaction()
                new = [
                    parquet_file_to_data_file(table.io, tx.table_metadata, location_of(self.dest, p))
                    for p in written
                ]
                props = {"omsync.compacted_pid": str(pid), "omsync.compacted_files": str(len(old))}
                with tx.update_snapshot(snapshot_properties=props).overwrite() as rewrite:
                    for df in old:
                        rewrite.delete_data_file(df)
                    for df in new:
                        rewrite.append_data_file(df)
                tx.commit_transaction()
            except (CommitFailedException, SQLAlchemyError) as exc:
                log.info("%s pid %d: compaction lost a race (%s); later", self.dest.display, pid, exc)
                for p in written:
                    self._remove(p)
                return 0
            except BaseException as exc:
                for p in written:
                    self._remove(p)
                if isinstance(exc, FAILURES):
                    raise self._fail("cannot compact", exc) from None
                raise
            log.info("%s pid %d: %d files rewritten into %d", self.dest.display, pid, len(old), len(new))
            return len(old)

    def _read(self, location: str, target: pa.Schema) -> pa.Table:
        """One of omsync's data files with the table's columns now (added ones null)."""
        scheme, _netloc, path = OmsyncFileIO.parse_location(location)
        fs = self.dest.fs if scheme in (self.dest.scheme, "file") else None
        with translated(self.dest, "cannot read a data file of"):
            t = pq.read_table(path, filesystem=fs)
        cols = [
            t.column(f.name).cast(f.type) if f.name in t.column_names else pa.nulls(len(t), f.type)
            for f in target
        ]
        return pa.Table.from_arrays(cols, schema=target)

    def _remove(self, path: str) -> None:
        try:
            self.dest.fs.delete_file(path)
        except (OSError, pa.ArrowException) as exc:
            log.debug("removing %s: %s", path, exc)


def recorded_end(table: Table, pid: int) -> SyncPoint | None:
    """Where ``pid``'s committed rows end in the table: its property, written in each commit's
    transaction (it outlives expired snapshots), or failing that its snapshots' largest end."""
    token = table.properties.get(pid_key(pid, "next"))
    if token is not None:
        try:
            return _point(table.properties.get(pid_key(pid, "next_point")), parse_point_token(token))
        except ValueError:
            log.warning(
                "table property %s=%r does not parse; reading the snapshots", pid_key(pid, "next"), token
            )
    held = [r.next for s in _ancestry(table) if (r := _range_of(s)) is not None and r.pid == pid]
    return max(held, key=SyncPoint.key, default=None)


def expire_old_snapshots(table: Table, tx: Any) -> None:
    """Stage, in ``tx``, the expiry of every snapshot but the newest ``KEEP_SNAPSHOTS`` once
    ``_EXPIRE_EVERY`` more have gathered: pyiceberg copies the whole metadata several times per
    commit, so a history that grows without end makes each commit slower (1,045 commits/min at
    100 snapshots, 93 at 600). Their data files stay (those of compacted files become orphans
    for Iceberg's remove_orphan_files); each partition's progress is in the table's properties."""
    snaps = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms, reverse=True)
    if len(snaps) <= KEEP_SNAPSHOTS + _EXPIRE_EVERY:
        return
    cutoff = snaps[KEEP_SNAPSHOTS - 1].timestamp_ms
    ExpireSnapshots(tx).older_than(datetime.fromtimestamp(cutoff / 1000, tz=UTC)).commit()


def schema_difference(have: Schema, want: Schema) -> list[str]:
    """What differs between an existing table's columns and OpenMLDB's, in words."""
    out = []
    theirs = {f.name: f.field_type for f in have.fields}
    ours = {f.name: f.field_type for f in want.fields}
    for name, t in ours.items():
        if name not in theirs:
            out.append(f"column {name} ({t}) is missing from the table")
        elif theirs[name] != t:
            out.append(f"column {name} is {theirs[name]} in the table, {t} in OpenMLDB")
    out += [
        f"the table has a column {n} ({t}) OpenMLDB's table has not"
        for n, t in theirs.items()
        if n not in ours
    ]
    return out


def _iceberg_type(t: pa.DataType) -> IcebergType:
    for it, at in _ARROW_OF.items():
        if at == t:
            return it
    raise DestinationError(f"no Iceberg type for the Arrow type {t}")


def _ancestry(table: Table) -> list[Snapshot]:
    """The current snapshot and its ancestors (snapshots rolled back do not count)."""
    by_id = {s.snapshot_id: s for s in table.metadata.snapshots}
    out = []
    sid = table.metadata.current_snapshot_id
    while sid is not None and sid in by_id:
        s = by_id[sid]
        out.append(s)
        sid = s.parent_snapshot_id
    return out


def _range_of(snap: Snapshot) -> FileRange | None:
    summary = snap.summary
    if summary is None or summary.get(_SUMMARY_PID) is None:
        return None
    try:
        pid = int(summary[_SUMMARY_PID] or "")
        first = _point(summary.get("omsync.first_point"), parse_point_token(summary[_SUMMARY_FIRST] or ""))
        nxt = _point(summary.get("omsync.next_point"), parse_point_token(summary[_SUMMARY_NEXT] or ""))
        rows = int(summary.get("added-records") or 0)
        size = int(summary.get("added-files-size") or 0)
    except (ValueError, TypeError):
        log.warning("snapshot %d: omsync's summary does not parse; ignored", snap.snapshot_id)
        return None
    return FileRange(pid, first, nxt, rows, f"snapshot {snap.snapshot_id}", size)


def _point(text: str | None, from_token: SyncPoint) -> SyncPoint:
    try:
        p = SyncPoint.from_dict(json.loads(text or ""))
    except (ValueError, TypeError, KeyError):
        return from_token
    return p if p.key() == from_token.key() else from_token


_TABLES: dict[tuple[str, str], IcebergTable] = {}
_TABLES_LOCK = threading.Lock()


def table_of(dest: Destination) -> IcebergTable:
    """The ``IcebergTable`` of an ``iceberg://`` destination (one per table in a process)."""
    s = dest.hdfs_settings or HdfsSection()
    key = (dest.uri, settings_json(s))
    with _TABLES_LOCK:
        found = _TABLES.get(key)
    if found is None:
        made = IcebergTable(dest, s)
        with _TABLES_LOCK:
            found = _TABLES.setdefault(key, made)
    return found
