"""Binlog directories: naming, finding the start file, and reading LogEntries across files (§3.2, §3.6, A.1).

This module owns the rules for a partition's ``binlog/`` directory: file names
(``00000007.log``), which file holds an inclusive start ``log_index`` (the newest whose first
log_index ≤ start — the fix of OpenMLDB's off-by-one), rolling to the next file on EOF (or on WAIT
when a newer file exists), gap detection (missing file indexes or log_index discontinuities between
files), and turning framing damage and unparseable payloads into ``BadRecordError``.

``BinlogReader.read_batch`` is the collector's fast path: a ``RecordBlob`` from ``LogFileReader`` is
parsed as one ``LogEntryBatch`` message (``repeated openmldb.api.LogEntry entries = 1``), so the
protobuf runtime builds thousands of entries in a single call. Positions are kept as
``(file_index, byte offset)`` so a reader can be resumed without re-scanning a file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from omsync_tui.core.errors import BadRecordError, FormatError, NotFoundError
from omsync_tui.openmldb.logformat import (
    BLOCK_SIZE,
    LogFileReader,
    LogRead,
    ReadStatus,
    RecordBlob,
    split_blob,
)
from omsync_tui.openmldb.proto import tablet_pb2

LogEntry = tablet_pb2.LogEntry

DEFAULT_NAME_WIDTH = 8
DEFAULT_BATCH = 65536
_PROBE_READ = 64 << 10


def _batch_class() -> Any:
    """The wrapper message ``RecordBlob.data`` parses as, with LogEntry as the repeated field.

    Built at runtime so no .proto file changes; field 2 absorbs the filler bytes the blob puts
    where physical headers were.
    """
    name = "omsync/openmldb/logentry_batch.proto"
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(name)
    except KeyError:
        fdp = descriptor_pb2.FileDescriptorProto(
            name=name, package="omsync.internal", syntax="proto2", dependency=[tablet_pb2.DESCRIPTOR.name]
        )
        msg = fdp.message_type.add(name="LogEntryBatch")
        msg.field.add(
            name="entries",
            number=1,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
            type_name=".openmldb.api.LogEntry",
        )
        msg.field.add(
            name="filler",
            number=2,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
        pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("omsync.internal.LogEntryBatch"))


_LogEntryBatch = _batch_class()


def parse_entries(blob: RecordBlob | bytes) -> Sequence[tablet_pb2.LogEntry]:
    """All LogEntries of a ``RecordBlob`` (or its ``data``), one protobuf parse per chunk.

    Raises ``DecodeError`` if any payload is not a LogEntry.
    """
    batch = _LogEntryBatch()
    if isinstance(blob, bytes):
        batch.ParseFromString(blob)
    else:
        # Merging appends to the repeated field: no need to join the chunks first.
        for chunk in blob.chunks:
            batch.MergeFromString(chunk)
    entries: Sequence[tablet_pb2.LogEntry] = batch.entries
    return entries


# -- names ---------------------------------------------------------------------------------------


def binlog_name(index: int, width: int = DEFAULT_NAME_WIDTH) -> str:
    """``00000007.log``: the index zero-padded to ``width`` digits; higher digits that do not fit
    are dropped, as OpenMLDB's ``FormatToString`` does."""
    if index < 0:
        raise ValueError(f"binlog index must be >= 0, got {index}")
    return f"{index:0{width}d}"[-width:] + ".log"


def parse_binlog_name(name: str) -> int | None:
    """The index of a binlog file name, or None if ``name`` is not ``<digits>.log``."""
    if not name.endswith(".log"):
        return None
    stem = name[:-4]
    if not stem or not stem.isascii() or not stem.isdigit():
        return None
    return int(stem)


def list_binlogs(directory: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """``(index, path)`` of every binlog file in ``directory``, in numeric order."""
    d = Path(directory)
    try:
        names = os.listdir(d)
    except FileNotFoundError as exc:
        raise NotFoundError(f"binlog directory {d} does not exist") from exc
    found = []
    for name in names:
        index = parse_binlog_name(name)
        if index is not None and (d / name).is_file():
            found.append((index, d / name))
    found.sort()
    return found


def first_log_index(path: str | os.PathLike[str]) -> int | None:
    """log_index of the first readable entry of a binlog; None if it has none (yet).

    Damaged records before it are passed over, as the tablet does when it indexes its files.
    """
    try:
        reader = LogFileReader(path, read_size=_PROBE_READ)
    except NotFoundError:
        return None
    with reader:
        while True:
            r = reader.read()
            if r.status is ReadStatus.BAD:
                continue
            if r.status is not ReadStatus.RECORD or r.payload is None:
                return None
            try:
                entry = LogEntry.FromString(r.payload)
            except DecodeError:
                continue
            return int(entry.log_index)


def _probe(path: Path, block: int) -> tuple[int, int] | None:
    """(log_index, offset) of the first entry starting in or after ``block``; None if none is readable."""
    with LogFileReader(path, offset=block * BLOCK_SIZE, read_size=_PROBE_READ) as reader:
        # A block may begin inside a record: its orphan tail is one BAD before the first record.
        for _ in range(2):
            r = reader.read()
            if r.status is ReadStatus.RECORD and r.payload is not None:
                try:
                    return int(LogEntry.FromString(r.payload).log_index), r.offset
                except DecodeError:
                    return None
            if r.status is not ReadStatus.BAD:
                return None
    return None


def find_offset(path: str | os.PathLike[str], log_index: int) -> int:
    """A record boundary in ``path`` at or before the entry ``log_index``, found by bisecting blocks.

    Every block starts on a physical record boundary and log_index grows through a file, so about
    log2(blocks) small probes find where to start instead of scanning a file that can be GiBs.
    Entries before the returned offset all have smaller log_indexes. Unreadable probes only make
    the answer earlier (0 at worst), never later.
    """
    p = Path(path)
    best = 0
    lo, hi = 0, p.stat().st_size // BLOCK_SIZE
    while lo <= hi:
        mid = (lo + hi) // 2
        found = _probe(p, mid)
        if found is not None and found[0] <= log_index:
            best = max(best, found[1])
            lo = mid + 1
        else:
            hi = mid - 1
    return best


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BinlogEntry:
    """One entry with where it was read: file index, path and the record's byte offset."""

    file_index: int
    path: Path
    offset: int
    entry: tablet_pb2.LogEntry


@dataclass(frozen=True, slots=True)
class BinlogBatch:
    """Consecutive entries of one binlog file.

    ``offsets[i]`` is the byte offset of entry i's record; ``resume_after(i)`` is where reading
    continues after entry i (``end`` after the last one). An empty batch means the end of the
    binlog for now (``BinlogReader.end`` says where).
    """

    file_index: int
    path: Path
    entries: Sequence[tablet_pb2.LogEntry]
    offsets: Sequence[int]
    end: int

    def __len__(self) -> int:
        return len(self.offsets)

    def resume_after(self, i: int) -> int:
        """Byte offset in ``path`` of the record after entry ``i``."""
        return self.offsets[i + 1] if i + 1 < len(self.offsets) else self.end

    def __iter__(self) -> Iterator[BinlogEntry]:
        for offset, entry in zip(self.offsets, self.entries, strict=True):
            yield BinlogEntry(self.file_index, self.path, offset, entry)


@dataclass(frozen=True, slots=True)
class BinlogEnd:
    """Where a reader stopped for lack of data: the newest file, the resume offset, what is after it."""

    file_index: int
    path: Path
    offset: int
    unread: int  # bytes present after ``offset``: 0 = nothing yet, > 0 = a torn / incomplete tail
    closed: bool = False  # the file ends with an EOF record and no newer file exists yet

    def __str__(self) -> str:
        if self.file_index < 0:
            return f"end of binlog: no binlog files in {self.path} yet"
        if self.closed:
            return (
                f"end of binlog: {self.path.name} is closed (EOF at byte offset {self.offset}), no newer file"
            )
        return (
            f"end of binlog, with {self.unread} unread bytes after byte offset {self.offset} in {self.path}"
        )


@dataclass(frozen=True, slots=True)
class BinlogGap:
    """Entries that should be between two reads and are not: missing files and/or log_indexes."""

    directory: Path
    missing_files: tuple[int, int] | None  # inclusive file index range
    missing_log_indexes: tuple[int, int] | None  # inclusive log_index range, when known
    note: str = ""  # other discontinuities (log_index going backwards)

    def __str__(self) -> str:
        parts = [self.note] if self.note else []
        if self.missing_files is not None:
            lo, hi = self.missing_files
            files = binlog_name(lo) if lo == hi else f"{binlog_name(lo)}..{binlog_name(hi)}"
            parts.append(f"binlog file(s) {files} missing")
        if self.missing_log_indexes is not None:
            lo, hi = self.missing_log_indexes
            parts.append(f"log_index {lo}..{hi} missing" if lo != hi else f"log_index {lo} missing")
        return f"gap in {self.directory}: " + "; ".join(parts)


class BinlogGapError(FormatError):
    """A gap in a binlog sequence (``BinlogReader`` created without ``allow_gaps``)."""

    def __init__(self, gap: BinlogGap) -> None:
        hint = "entries in the gap cannot be read from this partition's binlogs; resync from a snapshot"
        super().__init__(str(gap), path=str(gap.directory), hint=hint)
        self.gap = gap


class BinlogStartError(NotFoundError):
    """The requested start log_index is older than every binlog file still present."""


# -- reader --------------------------------------------------------------------------------------


class BinlogReader:
    """Reads LogEntries of one partition's binlog directory from an inclusive start log_index.

    * The first file is the newest whose first log_index ≤ ``start``; ``position=(file_index,
      offset)`` resumes at a known record instead (entries below ``start`` are still skipped).
    * EOF → next file; WAIT → next file if a newer one exists (after one more look at the current
      file, since the tablet closes it before creating the next), else the end of the binlog:
      ``read_batch`` returns an empty batch and ``end`` describes it. Calling again re-checks.
    * Damage (framing BAD or a payload that is not a LogEntry) raises ``BadRecordError`` with the
      path and byte offset; the reader is already past it, so calling again continues. With
      ``skip_bad=True`` it is counted in ``skipped`` instead.
    * Gaps — file indexes that are not consecutive, a file whose first log_index is not the
      previous entry's + 1, or a first entry above ``start`` — raise ``BinlogGapError`` once
      (calling again continues after the gap), or with ``allow_gaps=True`` are appended to ``gaps``.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        start: int = 1,
        verify_crc: bool = True,
        skip_bad: bool = False,
        allow_gaps: bool = False,
        position: tuple[int, int] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.start = start
        self.verify_crc = verify_crc
        self.skip_bad = skip_bad
        self.allow_gaps = allow_gaps
        self.skipped = 0
        self.gaps: list[BinlogGap] = []
        self.abandoned_tails: list[BinlogEnd] = []
        self.end: BinlogEnd | None = None
        self._file_index = -1
        self._path = self.directory
        self._reader: LogFileReader | None = None
        self._last_log_index: int | None = None  # of the last entry read, skipped ones included
        self._skipping = True  # still before ``start``
        # A resumed reader (``position``) without an explicit start has nothing to check against.
        self._check_start = position is None or start > 1
        self._check_first = False  # the next entry opens a new file: check continuity
        self._pending: BinlogBatch | None = None  # held back while its gap is reported
        if position is not None:
            index, offset = position
            self._open(index, offset)
        else:
            self._select()

    # -- public API ---------------------------------------------------------------------------
    @property
    def position(self) -> tuple[int, int] | None:
        """``(file_index, byte offset)`` of the next record to read; None before a file is chosen."""
        if self._pending is not None:
            return (self._pending.file_index, self._pending.offsets[0])
        if self._reader is None:
            return None
        return (self._file_index, self._reader.offset)

    def read_batch(self, max_entries: int = DEFAULT_BATCH) -> BinlogBatch:
        """Up to ``max_entries`` consecutive entries of one file; empty at the end (see ``end``)."""
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        if self._pending is not None:
            batch, self._pending = self._pending, None
            return batch
        rechecked = False
        while True:
            if self._reader is None and not self._select():
                self.end = BinlogEnd(-1, self.directory, 0, 0)
                return self._empty(0)
            reader = self._reader
            assert reader is not None
            blob = reader.read_blob(max_entries)
            if blob.offsets:
                rechecked = False
                got = self._entries(blob)
                if got is None:
                    continue
                self.end = None
                return got
            stop = blob.stop
            assert stop is not None
            if stop.status is ReadStatus.BAD:
                self._bad(stop.offset, stop.reason)
                continue
            if stop.status is ReadStatus.EOF:
                if self._advance():
                    continue
                self.end = BinlogEnd(self._file_index, self._path, stop.offset, 0, closed=True)
                return self._empty(stop.offset)
            # WAIT: the tablet closes a file (EOF) before it creates the next one, so once a newer
            # file is seen one more read of this one catches anything appended in between.
            if self._newer_exists():
                if not rechecked:
                    rechecked = True
                    continue
                if stop.unread:
                    # A file left without EOF and with a torn tail: the tablet never acknowledged
                    # those bytes; keep a note of them and move on as OpenMLDB does.
                    self.abandoned_tails.append(
                        BinlogEnd(self._file_index, self._path, stop.offset, stop.unread)
                    )
                if self._advance():
                    continue
            self.end = BinlogEnd(self._file_index, self._path, stop.offset, stop.unread)
            return self._empty(stop.offset)

    def __iter__(self) -> Iterator[BinlogEntry]:
        """Every entry up to the current end of the binlog, one object each (convenient, slower)."""
        while True:
            batch = self.read_batch()
            if not batch:
                return
            yield from batch

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> BinlogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files --------------------------------------------------------------------------------
    def _select(self) -> bool:
        """Open the file that holds ``start``; False if the directory has no binlog yet."""
        files = list_binlogs(self.directory)
        if not files:
            return False
        oldest_known: tuple[int, Path, int] | None = None
        for index, path in reversed(files):
            first = first_log_index(path)
            if first is None:
                continue
            if first <= self.start:
                self._open(index, find_offset(path, self.start) if first < self.start else 0)
                return True
            oldest_known = (index, path, first)
        if oldest_known is None:
            # No file has a readable entry yet (fresh or damaged): read from the oldest; the
            # continuity check on the first entry catches a start that is not there.
            self._open(files[0][0], 0)
            return True
        index, path, first = oldest_known
        raise BinlogStartError(
            f"log_index {self.start} is no longer in {self.directory}: the oldest binlog "
            f"{path.name} starts at log_index {first}",
            hint=f"binlogs hold log_index {first} and later; start from a snapshot instead",
        )

    def _open(self, index: int, offset: int) -> None:
        path = self.directory / binlog_name(index)
        if not path.exists():
            # Names wider than the default width: find the file by its parsed index.
            path = next((p for i, p in list_binlogs(self.directory) if i == index), path)
        reader = LogFileReader(path, offset=offset, verify_crc=self.verify_crc)
        if self._reader is not None:
            self._reader.close()
        self._reader = reader
        self._file_index = index
        self._path = path

    def _newer_exists(self) -> bool:
        return any(i > self._file_index for i, _ in list_binlogs(self.directory))

    def _advance(self) -> bool:
        """Move to the next file; False if there is none yet."""
        newer = [(i, p) for i, p in list_binlogs(self.directory) if i > self._file_index]
        if not newer:
            return False
        index = newer[0][0]
        previous = self._file_index
        self._open(index, 0)
        self._check_first = True
        if index != previous + 1:
            missing = None
            if self._last_log_index is not None:
                first = first_log_index(self._path)
                if first is not None and first > self._last_log_index + 1:
                    missing = (self._last_log_index + 1, first - 1)
                    # Reported here with the files; the first entry need not report it again.
                    self._check_first = False
            self._gap(BinlogGap(self.directory, (previous + 1, index - 1), missing))
        return True

    # -- entries ------------------------------------------------------------------------------
    def _entries(self, blob: RecordBlob) -> BinlogBatch | None:
        """The batch for ``blob`` after the checks and skipping; None if nothing is left of it."""
        offsets: Sequence[int] = blob.offsets
        end = blob.end
        try:
            entries = parse_entries(blob)
        except DecodeError:
            salvaged = self._salvage(blob)
            if salvaged is None:
                return None
            entries, offsets, end = salvaged
        gap: BinlogGap | None = None
        if self._check_first:
            # First entry of a file we rolled to: it must continue the previous file.
            self._check_first = False
            first = int(entries[0].log_index)
            last = self._last_log_index
            if last is not None and first != last + 1:
                if first > last + 1:
                    gap = BinlogGap(self.directory, None, (last + 1, first - 1))
                else:
                    gap = BinlogGap(
                        self.directory, None, None, f"log_index goes back to {first} after {last}"
                    )
        if self._skipping:
            n = len(entries)
            k = 0
            while k < n and entries[k].log_index < self.start:
                k += 1
            if k == n:
                self._last_log_index = int(entries[-1].log_index)
                if gap is not None:
                    self._gap(gap)
                return None
            self._skipping = False
            first_kept = int(entries[k].log_index)
            if first_kept > self.start and gap is None and self._check_start:
                # The start entry itself is missing (deleted, or never written).
                gap = BinlogGap(self.directory, None, (self.start, first_kept - 1))
            if k:
                entries, offsets = entries[k:], offsets[k:]
        self._last_log_index = int(entries[-1].log_index)
        batch = BinlogBatch(self._file_index, self._path, entries, offsets, end)
        if gap is not None:
            self._gap(gap, pending=batch)
        return batch

    def _salvage(self, blob: RecordBlob) -> tuple[list[tablet_pb2.LogEntry], list[int], int] | None:
        """Parse one by one after the batch parse failed.

        Returns the good entries before the first payload that is not a LogEntry (the reader is
        moved back to that record, reported on the next call), or reports a bad first payload
        and returns None (the reader is moved just past it). Nothing after it is lost.
        """
        reader = self._reader
        assert reader is not None
        good: list[tablet_pb2.LogEntry] = []
        for k, payload in enumerate(split_blob(blob.data)):
            try:
                good.append(LogEntry.FromString(payload))
            except DecodeError as exc:
                bad_offset = blob.offsets[k]
                if good:
                    reader.seek(bad_offset)
                    return good, list(blob.offsets[:k]), bad_offset
                reader.seek(blob.offsets[1] if len(blob.offsets) > 1 else blob.end)
                self._bad(bad_offset, f"record payload is not a LogEntry ({exc})")
                return None
        return good, list(blob.offsets), blob.end

    def _bad(self, offset: int, reason: str, log_index: int | None = None) -> None:
        if self.skip_bad:
            self.skipped += 1
            return
        if self._last_log_index is not None:
            reason += f" (the entry before it has log_index {self._last_log_index})"
        raise BadRecordError(
            reason,
            path=str(self._path),
            offset=offset,
            log_index=log_index,
            hint="the reader has moved past it; read again to continue, or create it with skip_bad=True",
        )

    def _gap(self, gap: BinlogGap, *, pending: BinlogBatch | None = None) -> None:
        self.gaps.append(gap)
        if not self.allow_gaps:
            self._pending = pending
            raise BinlogGapError(gap)

    def _empty(self, offset: int) -> BinlogBatch:
        return BinlogBatch(self._file_index, self._path, (), (), offset)


__all__ = [
    "BinlogBatch",
    "BinlogEnd",
    "BinlogEntry",
    "BinlogGap",
    "BinlogGapError",
    "BinlogReader",
    "BinlogStartError",
    "LogRead",
    "binlog_name",
    "find_offset",
    "first_log_index",
    "list_binlogs",
    "parse_binlog_name",
    "parse_entries",
    "split_blob",
]
