"""Reading one uncompressed log file that a tablet may still be appending to (reference §3.3).

This module owns ``LogFileReader``: it reads a binlog or an uncompressed snapshot (through a hard
link) from a byte offset, never re-reading what is before. It holds three parts and calls them:
the file's bytes and physical records (``source.LogFileSource``), the logical-record state machine
over them (``assembler.RecordAssembler``, which owns the resume point and the damage policy), and
the bulk path (``framer.SpanFramer``). ``read`` returns one outcome; ``read_spans`` hands out
payload spans — views of the read buffer, which is therefore replaced rather than resized once
shared — for ``entries.scan``, and leaves whatever ends a run to ``read``.
"""

from __future__ import annotations

import os
from types import TracebackType

import numpy as np

from omsync_tui.openmldb.log.assembler import PhysKind, RecordAssembler, judge_physical
from omsync_tui.openmldb.log.format import BLOCK_SIZE, HEADER_SIZE, LogRead, ReadStatus, RecordType
from omsync_tui.openmldb.log.framer import RecordSpans, SpanFramer, empty_spans
from omsync_tui.openmldb.log.frames import RunStatus, SpanPart
from omsync_tui.openmldb.log.source import READ_CHUNK, LogFileSource
from omsync_tui.openmldb.spans import padded

_OK = PhysKind.OK
_FULL = int(RecordType.FULL)


class LogFileReader:
    """Reads one binlog / uncompressed snapshot file from a byte offset, never re-reading what is before.

    ``offset`` must be a record boundary (an ``end``/``offset`` this class reported). ``verify_crc``
    checks every record's CRC (OpenMLDB itself does not by default); damaged bytes are found either
    way when their type or length is impossible. ``read()`` returns one outcome; ``read_spans`` is
    the bulk path; ``offset`` is the resume point. The file is opened unbuffered and read in chunks
    of ``read_size`` bytes (default ``READ_CHUNK``; small for probing reads).
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
        self._source = LogFileSource(path, offset, verify_crc=verify_crc, read_size=read_size)
        self.path = self._source.path
        self._records = RecordAssembler(self._source, offset)
        self._spans = SpanFramer(self._source)

    @property
    def offset(self) -> int:
        """Resume point: where the next record starts (after EOF: the EOF record itself)."""
        return self._records.pos

    def seek(self, offset: int) -> None:
        """Continue at another record boundary (forgets buffered bytes and a seen EOF)."""
        self._records.seek(offset)

    def read(self) -> LogRead:
        """The next outcome (see ``RecordAssembler.read``); after WAIT, re-checks for appended bytes."""
        records = self._records
        if records.eof is None:
            # Shortcut for the common case, a buffered intact FULL record, judged by the same rule;
            # the rest goes through the state machine.
            source = self._source
            pos = records.pos
            base = source.base
            buf = source.buf
            i = pos - base
            kind, end, t, _ = judge_physical(
                buf, i, len(buf), pos - pos % BLOCK_SIZE + BLOCK_SIZE - base, verify=source.verify
            )
            if kind is _OK and t == _FULL:
                records.pos = after = base + end
                return LogRead(ReadStatus.RECORD, bytes(buf[i + HEADER_SIZE : end]), pos, after)
        return records.read()

    def read_spans(self, max_records: int) -> RecordSpans:
        """Up to ``max_records`` records as payload spans in one buffer (see ``RecordSpans``).

        Runs of intact records are framed by ``SpanFramer``; anything unusual (EOF, damage, a torn
        tail) ends the run and is left to ``read()``, whose outcome comes back as ``stop`` when no
        record precedes it.
        """
        if max_records <= 0:
            raise ValueError("max_records must be positive")
        records = self._records
        part: SpanPart | None = None
        if records.eof is None:
            while True:
                status, part, records.pos = self._spans.scan(records.pos, max_records)
                # Records up to the end of the buffer make a batch of their own: reading on first
                # would mean copying them into a new buffer with the next chunk.
                if part is not None or status != RunStatus.NEED_DATA or not self._source.fill(records.pos):
                    break
        if part is None:
            r = self.read()
            if r.status is not ReadStatus.RECORD or r.payload is None:
                return empty_spans(records.pos, r)
            n = len(r.payload)
            one = np.array([0], dtype=np.int64)
            part = (padded(r.payload), one, one + n, one + r.offset)
        data, starts, ends, offsets = part
        return RecordSpans(data, starts, ends, offsets, records.pos)

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> LogFileReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["LogFileReader"]
