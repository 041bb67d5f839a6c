"""Memory-table snapshot files, ``snapshot/<YYYYMMDDHHMM>.sdb[.zlib|.snappy]`` (reference §3.9).

This module owns reading and writing them: a sequence of serialized ``LogEntry`` records (one per
stored row) in the uncompressed framing (``log/format.py``) or, when the name says so, the
compressed framing (``log/compressed.py``), terminated by an EOF record. Compression is detected by substring
because OpenMLDB appends the suffix twice (``….sdb.snappy.snappy``, correction 6).

A snapshot is complete only with its EOF record: a file that ends without one (an interrupted
write; for compressed files, the missing last partial block) is reported as a ``FormatError``
rather than read as if whole.

``iter_sdb`` yields protobuf LogEntries one by one (``inspect``); ``iter_sdb_columns`` (the
collector's path) yields the same entries as ``entries.scan`` columns, a batch at a time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from google.protobuf.message import DecodeError

from omsync_tui.core.errors import BadRecordError, FormatError, UsageError
from omsync_tui.openmldb.entries.scan import EntryColumns, resolve_irregular, scan_entries
from omsync_tui.openmldb.log.compressed import CompressedLogReader, CompressedLogWriter
from omsync_tui.openmldb.log.format import LogRead, LogWriter, ReadStatus
from omsync_tui.openmldb.log.reader import LogFileReader
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.spans import I64, U8, spans_of

COMPRESSIONS = ("zlib", "snappy")


def snapshot_compression(name: str) -> str | None:
    """``"zlib"`` / ``"snappy"`` if the file name says so (``.zlib`` / ``.snappy`` anywhere), else None."""
    for compression in COMPRESSIONS:
        if f".{compression}" in name:
            return compression
    return None


def iter_sdb(
    path: str | os.PathLike[str],
    *,
    verify_crc: bool = True,
    skip_bad: bool = False,
    on_bad: Callable[[FormatError], None] | None = None,
) -> Iterator[tuple[int, tablet_pb2.LogEntry]]:
    """``(offset, entry)`` for every entry of a snapshot file, in file order.

    ``offset`` is the record's byte offset, or for compressed files the file offset of the
    compressed block holding it. Damaged records and payloads that are not LogEntries raise
    ``BadRecordError`` unless ``skip_bad`` (dropped silently) or ``on_bad`` (handed the error,
    then reading goes on); a file without its EOF record raises ``FormatError``.
    """
    p = Path(path)
    compression = snapshot_compression(p.name)
    reader = (
        CompressedLogReader(p, verify_crc=verify_crc)
        if compression
        else LogFileReader(p, verify_crc=verify_crc)
    )
    with reader:
        while True:
            r = reader.read()
            if r.status is ReadStatus.RECORD:
                assert r.payload is not None
                try:
                    entry = tablet_pb2.LogEntry.FromString(r.payload)
                except DecodeError as exc:
                    err = BadRecordError(
                        f"record payload is not a LogEntry ({exc})", path=str(p), offset=r.offset
                    )
                    if on_bad is not None:
                        on_bad(err)
                    elif not skip_bad:
                        raise err from None
                    continue
                yield r.offset, entry
            elif r.status is ReadStatus.BAD:
                err = BadRecordError(r.reason, path=str(p), offset=r.offset)
                if on_bad is not None:
                    on_bad(err)
                elif not skip_bad:
                    raise err
            elif r.status is ReadStatus.EOF:
                return
            else:
                _raise_for(p, r)


def write_sdb(
    path: str | os.PathLike[str],
    entries: Iterable[tablet_pb2.LogEntry | bytes],
    compression: str | None,
) -> int:
    """Write a snapshot file ending with an EOF record; returns the number of entries.

    ``compression`` is None (or ``"off"``), ``"zlib"`` or ``"snappy"`` and must agree with what the
    name says, or readers would misread the file. The file appears atomically (written next to
    it, then renamed), as the tablet's snapshots do.
    """
    p = Path(path)
    if compression == "off":
        compression = None
    if compression is not None and compression not in COMPRESSIONS:
        raise UsageError(f"unknown snapshot compression {compression!r} (off, zlib or snappy)")
    named = snapshot_compression(p.name)
    if named != compression:
        raise UsageError(
            f"snapshot name {p.name!r} implies compression {named or 'off'}, not {compression or 'off'}",
            hint="name compressed snapshots <name>.sdb.zlib or <name>.sdb.snappy",
        )
    tmp = p.with_name(p.name + ".tmp")
    count = 0
    try:
        with open(tmp, "wb") as f:
            writer: LogWriter | CompressedLogWriter
            writer = CompressedLogWriter(f, compression) if compression else LogWriter(f, block_offset=0)
            for entry in entries:
                writer.add_record(entry if isinstance(entry, bytes) else entry.SerializeToString())
                count += 1
            writer.add_eof()
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def iter_sdb_columns(
    path: str | os.PathLike[str], *, verify_crc: bool = True, batch: int = 4096
) -> Iterator[EntryColumns]:
    """The entries of ``iter_sdb``, ``batch`` at a time as columns (``entries.scan``): the
    collector's path, no object per entry.

    Plain files are framed as payload spans (``LogFileReader.read_spans``); compressed files are
    read record by record. Damage raises ``BadRecordError`` and a missing EOF record
    ``FormatError``, as in ``iter_sdb``.
    """
    p = Path(path)
    if snapshot_compression(p.name):
        payloads: list[bytes] = []
        offsets: list[int] = []
        for offset, payload in _compressed_payloads(p, verify_crc):
            payloads.append(payload)
            offsets.append(offset)
            if len(payloads) >= batch:
                yield _scan_located(p, *spans_of(payloads), offsets)
                payloads, offsets = [], []
        if payloads:
            yield _scan_located(p, *spans_of(payloads), offsets)
        return
    with LogFileReader(p, verify_crc=verify_crc) as reader:
        while True:
            spans = reader.read_spans(batch)
            if len(spans):
                yield _scan_located(p, spans.data, spans.starts, spans.ends, spans.offsets)
                continue
            stop = spans.stop
            assert stop is not None
            if stop.status is ReadStatus.EOF:
                return
            _raise_for(p, stop)


def _scan_located(path: Path, data: U8, starts: I64, ends: I64, offsets: Sequence[int] | I64) -> EntryColumns:
    cols, failed, exc = resolve_irregular(scan_entries(data, starts, ends))
    if failed >= 0:
        raise BadRecordError(
            f"record payload is not a LogEntry ({exc})", path=str(path), offset=int(offsets[failed])
        ) from None
    return cols


def _compressed_payloads(path: Path, verify_crc: bool) -> Iterator[tuple[int, bytes]]:
    with CompressedLogReader(path, verify_crc=verify_crc) as reader:
        while True:
            r = reader.read()
            if r.status is ReadStatus.RECORD:
                assert r.payload is not None
                yield r.offset, r.payload
            elif r.status is ReadStatus.EOF:
                return
            else:
                _raise_for(path, r)


def _raise_for(path: Path, r: LogRead) -> NoReturn:
    if r.status is ReadStatus.BAD:
        raise BadRecordError(r.reason, path=str(path), offset=r.offset)
    what = f"{r.unread} bytes after it cannot be read" if r.unread else "nothing follows"
    raise FormatError(
        f"snapshot ends without an EOF record ({what}): it is incomplete",
        path=str(path),
        offset=r.offset,
        hint="the snapshot was not finished; use the previous one or a newer one",
    )
