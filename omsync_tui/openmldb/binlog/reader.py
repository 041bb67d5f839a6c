"""Reading LogEntries of one partition's binlog directory across files (§3.2, §3.6, A.1).

This module owns ``BinlogReader``: choosing the file that holds an inclusive start ``log_index``
(``files.py`` supplies names, first log_indexes and offsets), rolling to the next file on EOF (or
on WAIT when a newer file exists), gap detection (missing file indexes or log_index
discontinuities between files), and turning framing damage and unparseable payloads into
``BadRecordError``.

Entries are read one way: ``RecordSpans`` from ``LogFileReader.read_spans`` scanned as columns by
``entries.scan`` (``read_columns``, the collector's path, no object per entry); ``read_batch``
hands the same entries out as protobuf messages. Positions are kept as ``(file_index, byte
offset)`` so a reader can be resumed without re-scanning a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from omsync_tui.core.errors import BadRecordError
from omsync_tui.openmldb.binlog.files import (
    DEFAULT_BATCH,
    BinlogBatch,
    BinlogColumns,
    BinlogEnd,
    BinlogEntry,
    BinlogGap,
    BinlogGapError,
    BinlogStartError,
    binlog_name,
    find_offset,
    first_log_index,
    list_binlogs,
)
from omsync_tui.openmldb.entries.scan import resolve_irregular, scan_entries
from omsync_tui.openmldb.log.format import ReadStatus
from omsync_tui.openmldb.log.framer import RecordSpans
from omsync_tui.openmldb.log.reader import LogFileReader


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
        self._pending: BinlogColumns | None = None  # held back while its gap is reported
        self._gap_found: BinlogGap | None = None
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
            return (self._pending.file_index, int(self._pending.offsets[0]))
        if self._reader is None:
            return None
        return (self._file_index, self._reader.offset)

    def read_batch(self, max_entries: int = DEFAULT_BATCH) -> BinlogBatch:
        """``read_columns`` as protobuf messages: the same entries, offsets, ends, gaps and errors."""
        return self.read_columns(max_entries).to_batch()

    def read_columns(self, max_entries: int = DEFAULT_BATCH) -> BinlogColumns:
        """Up to ``max_entries`` consecutive entries of one file as columns (``BinlogColumns``), no
        object per entry; empty at the end (see ``end``)."""
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
            spans = reader.read_spans(max_entries)
            got = self._columns(spans) if len(spans) else None
            stop = spans.stop
            if stop is None:
                rechecked = False
                if got is None:
                    continue
                self.end = None
                return got
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
            requested=self.start,
            oldest=first,
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
    def _columns(self, spans: RecordSpans) -> BinlogColumns | None:
        """The batch for ``spans`` after the checks and skipping; None if nothing is left of it.

        Scanned as columns; irregular entries resolved with protobuf (``resolve_irregular``).
        """
        cols, failed, exc = resolve_irregular(scan_entries(spans.data, spans.starts, spans.ends))
        offsets = spans.offsets
        end = spans.end
        if failed >= 0:
            # The good entries before the first payload that is not a LogEntry, the reader moved
            # back to it (reported on the next call), or that one reported now: nothing after it
            # is lost.
            reader = self._reader
            assert reader is not None
            bad_offset = int(offsets[failed])
            if not failed:
                reader.seek(spans.resume_after(0))
                self._bad(bad_offset, f"record payload is not a LogEntry ({exc})")
                return None
            reader.seek(bad_offset)
            offsets, end = offsets[:failed], bad_offset
        n = len(cols)
        log_index = cols.log_index

        def first_at_start() -> int:
            if self.start > 0xFFFF_FFFF_FFFF_FFFF:
                return n
            below = log_index < self.start if self.start > 0 else np.zeros(n, dtype=np.bool_)
            return int(np.argmin(below)) if not below.all() else n

        k = self._check(n, lambda i: int(log_index[i]), first_at_start)
        if k < 0:
            return None
        if k:
            cols, offsets = cols.take(k), offsets[k:]
        return self._hold(BinlogColumns(self._file_index, self._path, cols, offsets, end))

    def _check(self, n: int, log_index: Callable[[int], int], first_at_start: Callable[[], int]) -> int:
        """Continuity and start checks for a batch of ``n`` entries; how many to skip (-1: all).

        A gap found here is kept in ``_gap_found`` for ``_hold``, which reports it with the batch.
        """
        gap: BinlogGap | None = None
        if self._check_first:
            # First entry of a file we rolled to: it must continue the previous file.
            self._check_first = False
            first = log_index(0)
            last = self._last_log_index
            if last is not None and first != last + 1:
                if first > last + 1:
                    gap = BinlogGap(self.directory, None, (last + 1, first - 1))
                else:
                    gap = BinlogGap(
                        self.directory, None, None, f"log_index goes back to {first} after {last}"
                    )
        k = 0
        if self._skipping:
            k = first_at_start()
            if k == n:
                self._last_log_index = log_index(n - 1)
                if gap is not None:
                    self._gap(gap)
                return -1
            self._skipping = False
            first_kept = log_index(k)
            if first_kept > self.start and gap is None and self._check_start:
                # The start entry itself is missing (deleted, or never written).
                gap = BinlogGap(self.directory, None, (self.start, first_kept - 1))
        self._last_log_index = log_index(n - 1)
        self._gap_found = gap
        return k

    def _hold(self, batch: BinlogColumns) -> BinlogColumns:
        """Return ``batch``, or hold it back while the gap found before it is reported."""
        gap, self._gap_found = self._gap_found, None
        if gap is not None:
            self._gap(gap, pending=batch)
        return batch

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

    def _gap(self, gap: BinlogGap, *, pending: BinlogColumns | None = None) -> None:
        self.gaps.append(gap)
        if not self.allow_gaps:
            self._pending = pending
            raise BinlogGapError(gap)

    def _empty(self, offset: int) -> BinlogColumns:
        return BinlogColumns.empty(self._file_index, self._path, offset)


__all__ = ["BinlogReader"]
