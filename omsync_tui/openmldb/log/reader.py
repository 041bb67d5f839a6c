"""Reading one uncompressed log file that a tablet may still be appending to (reference §3.3).

This module owns ``LogFileReader``: it reads a binlog or an uncompressed snapshot (through a hard
link) from a byte offset, never re-reading what is before, by supplying ``RecordAssembler``'s
physical layer (``logassembler.py``) in file offsets over a chunked read buffer. Its bulk paths
(the framing itself is ``logblob.py`` and ``logspans.py``): ``read_blob`` frames a few MiB at a
time into one buffer the protobuf runtime parses in a single call; ``read_spans`` hands out payload
spans — views of the read buffer, which is therefore replaced rather than resized once shared —
for ``entryscan``.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import numpy as np

from omsync_tui.core.errors import NotFoundError
from omsync_tui.openmldb.log.assembler import (
    PHYS_BAD,
    PHYS_OK,
    TYPE_NAMES,
    WAIT_PHYS,
    Phys,
    RecordAssembler,
    crc_matches,
    header_at,
    resync_in_block,
)
from omsync_tui.openmldb.log.blob import BulkFramer, RecordBlob, RunStatus, wrap_payload
from omsync_tui.openmldb.log.format import (
    BLOCK_SIZE,
    HEADER_SIZE,
    LEN_TYPE,
    LogRead,
    ReadStatus,
    RecordType,
)
from omsync_tui.openmldb.log.framer import RecordSpans, SpanFramer, empty_spans
from omsync_tui.openmldb.log.frames import SpanPart
from omsync_tui.openmldb.spans import padded

# The bulk path reads this much at a time: large enough that a read() call and the joins it
# implies are noise next to per-record work, small enough to stay in cache-friendly territory.
READ_CHUNK = 4 << 20


class LogFileReader(RecordAssembler, BulkFramer, SpanFramer):
    """Reads one binlog / uncompressed snapshot file from a byte offset, never re-reading what is before.

    ``offset`` must be a record boundary (an ``end``/``offset`` this class reported). ``verify_crc``
    checks every record's CRC (OpenMLDB itself does not by default); damaged bytes are found either
    way when their type or length is impossible. ``read()`` returns one outcome; ``read_blob`` is the
    bulk path; ``offset`` is the resume point. The file is opened unbuffered and read in chunks of
    ``read_size`` bytes (default ``READ_CHUNK``; small for probing reads).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        offset: int = 0,
        verify_crc: bool = True,
        read_size: int = READ_CHUNK,
    ) -> None:
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        self._read_size = max(BLOCK_SIZE, read_size)
        super().__init__(offset)
        self.path = Path(path)
        self._verify = verify_crc
        try:
            self._f = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed by close()/__exit__
        except FileNotFoundError as exc:
            raise NotFoundError(f"{self.path}: no such log file") from exc
        self._fd = self._f.fileno()
        self._buf = bytearray()
        self._shared = False  # read_spans handed out views of _buf: never resize it
        # Invariant: _base is block-aligned and the file position is _base + len(_buf).
        self._base = offset - offset % BLOCK_SIZE
        self._f.seek(self._base)

    # -- public API -------------------------------------------------------------------------------
    @property
    def offset(self) -> int:
        """Resume point: where the next record starts (after EOF: the EOF record itself)."""
        return self._pos

    def seek(self, offset: int) -> None:
        """Continue at another record boundary (forgets buffered bytes and a seen EOF)."""
        self._pos = offset
        self._eof = None
        self._discard_from(offset)

    def read(self) -> LogRead:
        """The next outcome (see ``RecordAssembler.read``); after WAIT, re-checks for appended bytes."""
        if self._eof is None:
            # Shortcut for the common case, a buffered intact FULL record; the rest goes through
            # the general state machine.
            pos = self._pos
            i = pos - self._base
            buf = self._buf
            room = BLOCK_SIZE - HEADER_SIZE - pos % BLOCK_SIZE
            if room >= 0 and i + HEADER_SIZE <= len(buf):
                n, t = LEN_TYPE.unpack_from(buf, i)
                e = i + HEADER_SIZE + n
                if (
                    t == RecordType.FULL
                    and n <= room
                    and e <= len(buf)
                    and (not self._verify or crc_matches(buf, i, n, HEADER_SIZE))
                ):
                    self._pos = end = pos + HEADER_SIZE + n
                    return LogRead(ReadStatus.RECORD, bytes(buf[i + HEADER_SIZE : e]), pos, end)
        return super().read()

    def read_blob(self, max_records: int) -> RecordBlob:
        """Up to ``max_records`` records framed for one protobuf parse (see ``RecordBlob``).

        Runs of intact records are framed in place in the read buffer; anything unusual (EOF, damage,
        a torn tail) ends the run and is left to ``read()``, whose outcome comes back as ``stop``
        when no record precedes it.
        """
        if max_records <= 0:
            raise ValueError("max_records must be positive")
        chunks: list[bytes] = []
        offsets: list[int] = []
        if self._eof is None:
            while len(offsets) < max_records:
                status = self._scan(max_records - len(offsets), chunks, offsets)
                if status != RunStatus.NEED_DATA or not self._fill():
                    break
        if not offsets:
            r = self.read()
            if r.status is not ReadStatus.RECORD or r.payload is None:
                return RecordBlob([], offsets, self._pos, r)
            chunks.append(wrap_payload(r.payload))
            offsets.append(r.offset)
        return RecordBlob(chunks, offsets, self._pos)

    def read_spans(self, max_records: int) -> RecordSpans:
        """Up to ``max_records`` records as payload spans in one buffer (see ``RecordSpans``).

        The same records, offsets and outcomes as ``read_blob``, framed without a Python step per
        record (``SpanFramer``); anything unusual ends the run and is left to ``read()``.
        """
        if max_records <= 0:
            raise ValueError("max_records must be positive")
        part: SpanPart | None = None
        if self._eof is None:
            while True:
                status, part = self._scan_spans(max_records)
                # Records up to the end of the buffer make a batch of their own: reading on first
                # would mean copying them into a new buffer with the next chunk.
                if part is not None or status != RunStatus.NEED_DATA or not self._fill():
                    break
        if part is None:
            r = self.read()
            if r.status is not ReadStatus.RECORD or r.payload is None:
                return empty_spans(self._pos, r)
            n = len(r.payload)
            one = np.array([0], dtype=np.int64)
            part = (padded(r.payload), one, one + n, one + r.offset)
        data, starts, ends, offsets = part
        if data.base is not None:
            self._shared = True  # a view of _buf (see SpanFramer)
        return RecordSpans(data, starts, ends, offsets, self._pos)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> LogFileReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- buffer management ------------------------------------------------------------------------
    def _fill(self) -> bool:
        """Read the next chunk; drops consumed bytes first (keeping the resume point's block).

        A buffer that ``read_spans`` handed out views of is never resized: the chunk goes into a
        new buffer behind the bytes kept instead.
        """
        drop = self._pos - self._pos % BLOCK_SIZE - self._base
        if not self._shared:
            if drop > 0:
                del self._buf[:drop]
                self._base += drop
            data = self._f.read(self._read_size)
            if not data:
                return False
            self._buf += data
            return True
        drop = max(0, drop)
        rest = len(self._buf) - drop
        new = bytearray(rest + self._read_size)
        with memoryview(new) as mv, memoryview(self._buf) as old:
            mv[:rest] = old[drop:]
            got = self._f.readinto(mv[rest:])
        if not got:
            return False
        if got < self._read_size:
            del new[rest + got :]
        self._buf = new
        self._base += drop
        self._shared = False
        return True

    def _ensure(self, end: int) -> bool:
        while self._base + len(self._buf) < end:
            if not self._fill():
                return False
        return True

    def _data_end(self) -> int:
        return max(os.fstat(self._fd).st_size, self._base + len(self._buf))

    # -- physical layer ---------------------------------------------------------------------------
    def _phys_at(self, pos: int) -> Phys:
        while True:
            rem = BLOCK_SIZE - pos % BLOCK_SIZE
            if rem >= HEADER_SIZE:
                break
            if not self._ensure(pos + rem):
                return WAIT_PHYS
            pos += rem
        if not self._ensure(pos + HEADER_SIZE):
            return WAIT_PHYS
        _, n, t = header_at(self._buf, pos - self._base)
        if n > rem - HEADER_SIZE:
            return Phys(
                PHYS_BAD,
                pos,
                -1,
                t,
                b"",
                f"length {n} does not fit the {rem - HEADER_SIZE} bytes left in its block",
            )
        end = pos + HEADER_SIZE + n
        if not self._ensure(end):
            return WAIT_PHYS
        i = pos - self._base
        buf = self._buf
        if t == RecordType.ZERO:
            return Phys(PHYS_BAD, pos, end, t, b"", "zero record type")
        if t > RecordType.EOF:
            return Phys(PHYS_BAD, pos, end, t, b"", f"unknown record type {t}")
        if self._verify and not crc_matches(buf, i, n, HEADER_SIZE):
            return Phys(PHYS_BAD, pos, end, t, b"", f"CRC mismatch in a {TYPE_NAMES[t]} record")
        if t == RecordType.EOF and n:
            return Phys(PHYS_BAD, pos, end, t, b"", f"EOF record with a {n}-byte payload")
        return Phys(PHYS_OK, pos, end, t, bytes(buf[i + HEADER_SIZE : i + HEADER_SIZE + n]), "")

    def _resync(self, bad: Phys) -> int:
        block_end = bad.start - bad.start % BLOCK_SIZE + BLOCK_SIZE
        data_end = self._data_end()
        self._ensure(min(block_end, data_end))
        base = self._base
        bad_end = bad.end - base if bad.end > 0 else -1
        q = resync_in_block(self._buf, bad.start - base, bad_end, block_end - base)
        if q >= 0:
            return base + q
        # Nothing trustworthy in the rest of the block: continue at the next block, or after the
        # damaged bytes if the block is not complete yet.
        return block_end if data_end >= block_end else max(data_end, bad.start + 1)

    def _unread(self, pos: int) -> int:
        return max(0, os.fstat(self._fd).st_size - pos)

    def _zero_tail(self, pos: int) -> bool:
        size = os.fstat(self._fd).st_size
        step = 4096
        while pos < size:
            # Small first read: a non-zero byte usually shows up at once.
            chunk = os.pread(self._fd, min(step, size - pos), pos)
            step = READ_CHUNK
            if not chunk:
                break
            if chunk.count(0) != len(chunk):
                return False
            pos += len(chunk)
        return True

    def _discard_from(self, pos: int) -> None:
        self._buf = bytearray()
        self._shared = False
        self._base = pos - pos % BLOCK_SIZE
        self._f.seek(self._base)
