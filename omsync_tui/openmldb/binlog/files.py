"""Binlog directories: file names, start files and offsets, results (§3.2, §3.6, A.1).

This module owns the rules for a partition's ``binlog/`` directory that need no reading in order:
file names (``00000007.log``) and listing them in numeric order, a file's first log_index, and a
record boundary at or before a log_index (``find_offset``, by bisecting blocks). The file holding an
inclusive start ``log_index`` is the newest whose first log_index ≤ start — the fix of OpenMLDB's
off-by-one. The results and errors of ``BinlogReader`` (``reader.py``, which reads entries across
files) are defined here too: ``BinlogColumns``, the protobuf-free form it reads (``entries.scan``),
and ``BinlogBatch``, the same entries as protobuf messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from omsync_tui.core.errors import FormatError, NotFoundError
from omsync_tui.openmldb.entries.messages import parse_spans
from omsync_tui.openmldb.entries.scan import EntryColumns, resolve_irregular, scan_entries
from omsync_tui.openmldb.log.format import BLOCK_SIZE, ReadStatus
from omsync_tui.openmldb.log.reader import LogFileReader
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.spans import spans_of

LogEntry = tablet_pb2.LogEntry

DEFAULT_NAME_WIDTH = 8
DEFAULT_BATCH = 65536
_PROBE_READ = 64 << 10


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
class BinlogColumns:
    """Consecutive entries of one binlog file as columns (``BinlogReader.read_columns``).

    The entries of a ``BinlogBatch`` read without a protobuf object per entry (``entries.scan``);
    ``offsets``, ``resume_after`` and an empty batch as in ``BinlogBatch``.
    """

    file_index: int
    path: Path
    cols: EntryColumns
    offsets: npt.NDArray[np.int64]
    end: int

    def __len__(self) -> int:
        return len(self.offsets)

    def resume_after(self, i: int) -> int:
        """Byte offset in ``path`` of the record after entry ``i``."""
        return int(self.offsets[i + 1]) if i + 1 < len(self.offsets) else self.end

    def take(self, lo: int) -> BinlogColumns:
        """Entries ``lo:`` of the batch."""
        return BinlogColumns(self.file_index, self.path, self.cols.take(lo), self.offsets[lo:], self.end)

    def to_batch(self) -> BinlogBatch:
        """The same entries as protobuf messages (parsed in one call)."""
        entries = parse_spans(self.cols.data, self.cols.start, self.cols.end)
        return BinlogBatch(self.file_index, self.path, entries, self.offsets.tolist(), self.end)

    @classmethod
    def empty(cls, file_index: int, path: Path, end: int) -> BinlogColumns:
        """No entries: the end of the binlog for now, ``end`` the resume offset."""
        return cls.from_batch(BinlogBatch(file_index, path, (), (), end))

    @classmethod
    def from_batch(cls, batch: BinlogBatch) -> BinlogColumns:
        data, starts, ends = spans_of([e.SerializeToString() for e in batch.entries])
        cols, failed, _ = resolve_irregular(scan_entries(data, starts, ends))
        assert failed < 0  # serialized by protobuf itself
        offsets = np.array(batch.offsets, dtype=np.int64)
        return cls(batch.file_index, batch.path, cols, offsets, batch.end)


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
    """The requested start log_index is older than every binlog file still present.

    ``requested`` is that start; ``oldest`` the first log_index the binlogs still hold.
    """

    def __init__(self, message: str, *, hint: str | None = None, requested: int = 0, oldest: int = 0) -> None:
        super().__init__(message, hint=hint)
        self.requested = requested
        self.oldest = oldest


__all__ = [
    "BinlogBatch",
    "BinlogColumns",
    "BinlogEnd",
    "BinlogEntry",
    "BinlogGap",
    "BinlogGapError",
    "BinlogStartError",
    "binlog_name",
    "find_offset",
    "first_log_index",
    "list_binlogs",
    "parse_binlog_name",
]
