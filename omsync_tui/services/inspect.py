"""What ``omsync inspect`` shows: binlog entries, snapshot rows and single rows, decoded.

This module turns files into plain records (dicts ready for JSON) and a summary; the CLI only
prints them. Damaged input raises ``FormatError`` naming file, byte offset and log_index, unless
the caller asked to skip bad records, in which case each one is counted and reported.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omsync_tui.core.errors import FormatError, NotFoundError, RowDecodeError, UsageError
from omsync_tui.openmldb.proto import name_server_pb2, tablet_pb2, type_pb2
from omsync_tui.openmldb.schema import TableSchema

Record = dict[str, Any]


@dataclass(frozen=True)
class SchemaSource:
    """The schema rows are decoded with, where it came from, and whether values are snappy.

    ``table`` is the TableMeta or TableInfo it was read from: disk snapshots need its indexes.
    Without one (``--schema F``, a flat column list) the schema has no versions: every row is
    decoded with its columns whatever its version byte says, as OpenMLDB's ``RowView`` does, and
    ``on_note`` (when given) hears that once.
    """

    schema: TableSchema
    snappy: bool
    origin: str
    table: tablet_pb2.TableMeta | name_server_pb2.TableInfo | None = None
    on_note: Callable[[str], None] | None = None

    @property
    def flat(self) -> bool:
        return self.table is None


def load_schema(
    *,
    schema_file: Path | None = None,
    table_info_file: Path | None = None,
    table_meta_file: Path | None = None,
    default_table_meta: Path | None = None,
) -> SchemaSource:
    """One of ``--schema`` / ``--table-info`` / ``--table-meta``, else the partition's table_meta.txt."""
    given = [p for p in (schema_file, table_info_file, table_meta_file) if p is not None]
    if len(given) > 1:
        raise UsageError("give only one of --schema, --table-info, --table-meta")
    if schema_file is not None:
        return SchemaSource(TableSchema.from_json_file(schema_file), False, str(schema_file))
    if table_info_file is not None:
        from omsync_tui.openmldb.metadata import read_table_info_file

        info = read_table_info_file(table_info_file)
        return SchemaSource(
            TableSchema.from_proto(info, str(table_info_file)),
            info.compress_type == type_pb2.kSnappy,
            str(table_info_file),
            info,
        )
    meta_path = table_meta_file or default_table_meta
    if meta_path is None or not meta_path.exists():
        where = f" (looked for {meta_path})" if meta_path is not None else ""
        raise NotFoundError(
            f"no schema to decode rows with{where}",
            hint="pass --schema FILE (JSON columns), --table-info FILE or --table-meta FILE",
        )
    from omsync_tui.openmldb.metadata import read_table_meta

    meta = read_table_meta(meta_path)
    return SchemaSource(
        TableSchema.from_proto(meta, str(meta_path)),
        meta.compress_type == type_pb2.kSnappy,
        str(meta_path),
        meta,
    )


def json_value(value: object) -> object:
    """One decoded value as JSON: floats that are not finite become strings, dates ISO text."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def json_values(values: Sequence[object]) -> list[object]:
    return [json_value(v) for v in values]


@dataclass
class Summary:
    """What a dump ended with: counts, skipped bad records, and an open file's unread tail."""

    records: int = 0
    skipped: list[FormatError] = field(default_factory=list)
    open_tail: tuple[str, int, int] | None = None  # (file, offset, unread bytes)

    def absorb(self, exc: FormatError, skip_bad: bool) -> None:
        """Count a bad record when skipping them, else let it end the dump."""
        if not skip_bad:
            raise exc
        self.skipped.append(exc)


class RowDecoder:
    """Decode stored row values with the row's schema version.

    ``decompress`` (default: the table's compress_type) applies to values as stored in binlogs
    and memory snapshots; the disk snapshot reader hands out values already decompressed.
    """

    def __init__(self, source: SchemaSource, *, decompress: bool | None = None) -> None:
        self.source = source
        self.snappy = source.snappy if decompress is None else decompress
        self._noted = False

    def __call__(self, value: bytes) -> list[object]:
        from omsync_tui.openmldb.row.codec import decode_row, decode_row_versioned, maybe_decompress

        row = maybe_decompress(value, self.snappy)
        if not self.source.flat:
            return decode_row_versioned(row, self.source.schema)
        columns = self.source.schema.latest
        if len(row) > 1 and row[1] != 1 and not self._noted and self.source.on_note is not None:
            self._noted = True
            self.source.on_note(
                f"note: rows carry schema version {row[1]}; {self.source.origin} lists columns without "
                f"versions, so every row is decoded with its {len(columns)} columns (as OpenMLDB's RowView "
                "does); --table-info or --table-meta pick the columns by each row's version"
            )
        return decode_row(row, columns)


def entry_record(entry: tablet_pb2.LogEntry, decode: RowDecoder) -> Record:
    """A LogEntry as ``omsync inspect`` prints it in jsonl."""
    is_delete = entry.method_type == tablet_pb2.kDelete
    values = None if is_delete else json_values(decode(entry.value))
    return {
        "log_index": entry.log_index,
        "term": entry.term,
        "ts": entry.ts,
        "method": "delete" if is_delete else "put",
        "dimensions": [[d.idx, d.key] for d in entry.dimensions],
        "values": values,
    }


def _decode_or_locate(entry: tablet_pb2.LogEntry, decode: RowDecoder, path: str, offset: int) -> Record:
    try:
        return entry_record(entry, decode)
    except RowDecodeError as exc:
        raise RowDecodeError(
            exc.reason,
            path=path,
            offset=offset,
            log_index=entry.log_index,
            hint=exc.hint or "is the schema the table's? try --table-meta",
        ) from None


def iter_binlog(
    path: Path,
    source: SchemaSource,
    summary: Summary,
    *,
    start: int = 0,
    verify_crc: bool = True,
    skip_bad: bool = False,
) -> Iterator[tuple[str, int, Record]]:
    """(file, byte offset, record) for a ``.log`` file or a binlog directory, in log order."""
    if not path.exists():
        raise NotFoundError(f"{path} does not exist")
    decode = RowDecoder(source)
    entries = (
        _file_entries(path, summary, verify_crc)
        if path.is_file()
        else _dir_entries(path, summary, start, verify_crc)
    )
    for item in entries:
        if isinstance(item, FormatError):  # bad record or gap: the reader already moved past it
            summary.absorb(item, skip_bad)
            continue
        file, offset, entry = item
        if entry.log_index < start:
            continue
        try:
            record = _decode_or_locate(entry, decode, file, offset)
        except FormatError as exc:
            summary.absorb(exc, skip_bad)
            continue
        summary.records += 1
        yield Path(file).name, offset, record


_Item = tuple[str, int, tablet_pb2.LogEntry] | FormatError


def _dir_entries(path: Path, summary: Summary, start: int, verify_crc: bool) -> Iterator[_Item]:
    """Entries of a binlog directory; damage and gaps are yielded as errors, not raised.

    ``start`` 0 means "from the oldest entry still there": tablets delete old binlogs.
    """
    from omsync_tui.openmldb.binlog.files import first_log_index, list_binlogs
    from omsync_tui.openmldb.binlog.reader import BinlogReader

    if start == 0:
        files = list_binlogs(path)
        start = (first_log_index(files[0][1]) or 1) if files else 1
    with BinlogReader(path, start=start, verify_crc=verify_crc) as reader:
        while True:
            try:
                batch = reader.read_batch()
            except FormatError as exc:  # raised once; the reader already stands past it
                yield exc
                continue
            if not len(batch):
                break
            for entry, offset in zip(batch.entries, batch.offsets, strict=True):
                yield str(batch.path), offset, entry
        end = reader.end
        if end is not None and end.file_index >= 0 and not end.closed:
            summary.open_tail = (end.path.name, end.offset, end.unread)


def _file_entries(path: Path, summary: Summary, verify_crc: bool) -> Iterator[_Item]:
    """One binlog file on its own: every record up to EOF or the open end."""
    from google.protobuf.message import DecodeError

    from omsync_tui.core.errors import BadRecordError
    from omsync_tui.openmldb.log.format import ReadStatus
    from omsync_tui.openmldb.log.reader import LogFileReader

    last_index: int | None = None
    with LogFileReader(path, verify_crc=verify_crc) as reader:
        while True:
            rec = reader.read()
            if rec.status is ReadStatus.EOF:
                return
            if rec.status is ReadStatus.WAIT:
                summary.open_tail = (path.name, rec.end, rec.unread)
                return
            after = f" (after log_index {last_index})" if last_index is not None else ""
            if rec.status is ReadStatus.BAD:
                yield BadRecordError(rec.reason + after, path=str(path), offset=rec.offset)
                continue
            try:
                entry = tablet_pb2.LogEntry.FromString(rec.payload or b"")
            except DecodeError:
                yield BadRecordError("record is not a LogEntry" + after, path=str(path), offset=rec.offset)
                continue
            last_index = entry.log_index
            yield str(path), rec.offset, entry


def iter_memory_snapshot(
    path: Path,
    source: SchemaSource,
    summary: Summary,
    *,
    verify_crc: bool = True,
    skip_bad: bool = False,
) -> Iterator[tuple[str, int, Record]]:
    from omsync_tui.openmldb.snapshot.memory import iter_sdb

    decode = RowDecoder(source)
    on_bad = summary.skipped.append if skip_bad else None
    for offset, entry in iter_sdb(path, verify_crc=verify_crc, on_bad=on_bad):
        try:
            record = _decode_or_locate(entry, decode, str(path), offset)
        except FormatError as exc:
            summary.absorb(exc, skip_bad)
            continue
        summary.records += 1
        yield path.name, offset, record


def iter_disk_snapshot(
    path: Path,
    source: SchemaSource,
    summary: Summary,
    *,
    skip_bad: bool = False,
) -> Iterator[tuple[str, int, Record]]:
    """Rows of index 0 of a RocksDB checkpoint, in comparator order, TTL applied as the tablet does."""
    from omsync_tui.openmldb.snapshot.disk import DiskSnapshotReader

    if source.table is None:
        raise UsageError(
            f"{path}: a disk snapshot needs the table's index layout, which --schema does not have",
            hint="pass --table-meta (the partition's table_meta.txt) or --table-info",
        )
    decode = RowDecoder(source, decompress=False)
    with DiskSnapshotReader(path, source.table) as reader:
        for ordinal, row in enumerate(reader.iter_index0()):
            try:
                values = json_values(decode(row.value))
            except RowDecodeError as exc:
                err = RowDecodeError(
                    f"row #{ordinal} (pk {row.pk!r}, ts {row.ts}): {exc.reason}",
                    path=str(path),
                    hint=exc.hint,
                )
                summary.absorb(err, skip_bad)
                continue
            summary.records += 1
            yield (
                path.name,
                ordinal,
                {"pk": row.pk.decode("utf-8", "backslashreplace"), "ts": row.ts, "values": values},
            )


def describe_snapshot(path: Path) -> tuple[str, Path, Path | None]:
    """("memory"|"disk", snapshot path, partition dir guess) for a snapshot file or directory.

    A path to the ``snapshot/`` directory itself is resolved through its MANIFEST.
    """
    if not path.exists():
        raise NotFoundError(f"{path} does not exist")
    if path.is_dir() and (path / "MANIFEST").is_file() and not (path / "CURRENT").exists():
        from omsync_tui.openmldb.metadata import read_manifest

        manifest = read_manifest(path / "MANIFEST")
        if not manifest.name:
            raise NotFoundError(f"{path / 'MANIFEST'} names no snapshot (empty table?)")
        return describe_snapshot(path / manifest.name)
    part = path.parent.parent if path.parent.name == "snapshot" else None
    if path.is_file() and ".sdb" in path.name:
        return "memory", path, part
    if path.is_dir() and (path / "CURRENT").exists():
        return "disk", path, part
    raise UsageError(
        f"{path} is neither a .sdb file nor a RocksDB checkpoint directory",
        hint="pass a snapshot/<name>.sdb[.zlib|.snappy] file or a snapshot/<name>/ directory",
    )


def text_line(file: str, offset: int, record: Record) -> str:
    """A human line per record, like mysqlbinlog's ``# at`` lines."""
    if "log_index" in record:
        dims = " ".join(f"{i}:{k!r}" for i, k in record["dimensions"])
        head = (
            f"# {file} at {offset}  log_index {record['log_index']}  term {record['term']}  "
            f"ts {record['ts']}  {record['method']}  dims [{dims}]"
        )
    else:
        head = f"# {file} row {offset}  pk {record['pk']!r}  ts {record['ts']}"
    if record["values"] is None:
        return head
    return head + "\n    " + ", ".join(_text_value(v) for v in record["values"])


def _text_value(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value not in ("NaN", "Infinity", "-Infinity"):
        return repr(value)
    return str(value)
