"""The uncompressed LevelDB-style log framing of OpenMLDB binlogs and memory snapshots (reference §3.3).

This module owns the byte layout — 4096-byte blocks, 7-byte physical headers (masked CRC-32C u32 LE,
length u16 LE, type), FULL/FIRST/MIDDLE/LAST fragments and OpenMLDB's EOF record — and:

* ``LogWriter``, whose output is byte-identical to OpenMLDB's (LevelDB's) writer;
* the outcomes every reader returns: ``ReadStatus`` RECORD / EOF / WAIT / BAD, each a ``LogRead``
  with byte offsets that a reader can be resumed from.

Reading lives next door (the package docstring maps it): ``assembler.py`` (the damage rule and
logical records), ``reader.py`` (``LogFileReader``) with ``source.py`` (its file and buffer) and
``framer.py`` (its bulk path, ``RecordSpans``).
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import BinaryIO

import crc32c as _crc32c

BLOCK_SIZE = 4096
HEADER_SIZE = 7
MAX_FRAGMENT = BLOCK_SIZE - HEADER_SIZE
BLOCK_MASK = BLOCK_SIZE - 1
CRC_MASK_DELTA = 0xA282EAD8
HEADER = struct.Struct("<IHB")
U32 = struct.Struct("<I")
LEN_TYPE = struct.Struct("<4xHB")  # one call is cheaper than three subscripts in the hot loop


class RecordType(IntEnum):
    """Physical record types (OpenMLDB ``src/log/log_format.h``)."""

    ZERO = 0
    FULL = 1
    FIRST = 2
    MIDDLE = 3
    LAST = 4
    EOF = 5


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, continuing from ``value`` (the CRC of the bytes before it)."""
    return int(_crc32c.crc32c(data, value))


def mask_crc(crc: int) -> int:
    """LevelDB's CRC masking: rotate right by 15 and add a constant, so CRCs of CRCs stay strong."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + CRC_MASK_DELTA) & 0xFFFFFFFF


def unmask_crc(masked: int) -> int:
    """Inverse of ``mask_crc``."""
    rot = (masked - CRC_MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# CRC of the type byte alone, so a fragment's CRC is chained over its payload without concatenating.
_TYPE_CRC = tuple(crc32c(bytes([t])) for t in range(len(RecordType)))

#: The EOF record OpenMLDB writes when it rotates or repairs a file (Appendix B).
EOF_RECORD = HEADER.pack(mask_crc(_TYPE_CRC[RecordType.EOF]), 0, RecordType.EOF)


def physical_record(rtype: int, payload: bytes | bytearray | memoryview) -> bytes:
    """One uncompressed physical record: header (masked CRC over type ‖ payload) + payload."""
    crc = mask_crc(crc32c(payload, _TYPE_CRC[rtype]))
    return HEADER.pack(crc, len(payload), rtype) + bytes(payload)


def fragment_type(begin: bool, end: bool) -> RecordType:
    """The physical type of a fragment: FULL, or FIRST / MIDDLE... / LAST across blocks."""
    if begin:
        return RecordType.FULL if end else RecordType.FIRST
    return RecordType.LAST if end else RecordType.MIDDLE


class LogWriter:
    """Appends logical records to a binlog / uncompressed snapshot exactly as OpenMLDB does.

    ``block_offset`` defaults to the current file size modulo 4096 (OpenMLDB's appending writer);
    the stream is positioned at its end. Each ``add_record`` issues one ``write``; call ``flush``
    to make it visible to readers (the tablet flushes after every record).
    """

    def __init__(self, f: BinaryIO, *, block_offset: int | None = None) -> None:
        self._f = f
        if block_offset is None:
            block_offset = f.seek(0, os.SEEK_END) % BLOCK_SIZE
        if not 0 <= block_offset < BLOCK_SIZE:
            raise ValueError(f"block_offset must be in [0, {BLOCK_SIZE}), got {block_offset}")
        self._block_offset = block_offset

    @property
    def block_offset(self) -> int:
        """Bytes already used in the current 4096-byte block."""
        return self._block_offset

    def add_record(self, payload: bytes | bytearray | memoryview) -> int:
        """Write one logical record; returns the bytes written (headers and block trailers included)."""
        n = len(payload)
        bo = self._block_offset
        if bo + HEADER_SIZE + n <= BLOCK_SIZE:
            # The common case (small entries) is one FULL record; skip the general loop.
            out = HEADER.pack(mask_crc(crc32c(payload, _TYPE_CRC[1])), n, 1) + bytes(payload)
            self._block_offset = bo + HEADER_SIZE + n
        else:
            out = self._fragment(memoryview(payload).cast("B"))
        self._f.write(out)
        return len(out)

    def _fragment(self, data: memoryview) -> bytes:
        parts: list[bytes] = []
        left = len(data)
        pos = 0
        bo = self._block_offset
        begin = True
        # Mirrors log_writer.cc AddRecord: a do-while, so an empty payload still emits one record,
        # and exactly 7 free bytes give a zero-length FIRST fragment.
        while True:
            leftover = BLOCK_SIZE - bo
            if leftover < HEADER_SIZE:
                parts.append(bytes(leftover))
                bo = 0
            avail = BLOCK_SIZE - bo - HEADER_SIZE
            frag = min(left, avail)
            end = frag == left
            rtype = fragment_type(begin, end)
            parts.append(physical_record(rtype, data[pos : pos + frag]))
            bo += HEADER_SIZE + frag
            pos += frag
            left -= frag
            begin = False
            if left <= 0:
                break
        self._block_offset = bo
        return b"".join(parts)

    def add_eof(self) -> int:
        """Write the EOF record that marks a closed (rotated or repaired) file; returns bytes written."""
        out = b""
        leftover = BLOCK_SIZE - self._block_offset
        if leftover < HEADER_SIZE:
            out = bytes(leftover)
            self._block_offset = 0
        out += EOF_RECORD
        self._block_offset += HEADER_SIZE
        self._f.write(out)
        return len(out)

    def flush(self) -> None:
        self._f.flush()


def encode_records(payloads: list[bytes], *, block_offset: int = 0, eof: bool = False) -> bytes:
    """The bytes ``LogWriter`` would write for ``payloads`` (and an EOF record) — for tests and tools."""
    buf = io.BytesIO()
    w = LogWriter(buf, block_offset=block_offset)
    for p in payloads:
        w.add_record(p)
    if eof:
        w.add_eof()
    return buf.getvalue()


class ReadStatus(Enum):
    """What one ``read()`` found."""

    RECORD = "record"  # a complete logical record; ``payload`` holds it
    EOF = "eof"  # an EOF record: the file is closed, go to the next one
    WAIT = "wait"  # no complete record yet (end of data or a torn tail); ``unread`` says how much
    BAD = "bad"  # damaged bytes, reported once; ``reason`` says what; reading continues after it


@dataclass(frozen=True, slots=True)
class LogRead:
    """One outcome of a log reader.

    ``offset`` is where the logical record (its first fragment's header) starts, ``end`` the byte
    right after it — the resume point. For WAIT both are the resume point and ``unread`` counts the
    bytes present after it (0: nothing yet; > 0: a torn or incomplete tail). For BAD they delimit the
    skipped bytes. Compressed files report file offsets of compressed blocks instead (``compressed.py``).
    """

    status: ReadStatus
    payload: bytes | None
    offset: int
    end: int
    unread: int = 0
    reason: str = ""
