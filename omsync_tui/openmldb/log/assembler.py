"""Logical records out of physical ones: the damage rule and the fragment state machine (§3.3).

This module owns the damage rule of both framings, in two parts:

* ``judge_physical``: what one physical record at a position of a buffer is — intact (``PhysKind.OK``),
  not all there yet (``WAIT``: a torn tail, or bytes still to read), damaged (``BAD``, with the
  reason), or a block trailer (``TRAILER``). Every reader asks it: the file's and the compressed
  file's physical layers (``source.py``, ``compressed.py``), ``LogFileReader.read``'s shortcut, and
  the span path wherever its numpy walk stops (``frames.at_problem``).
* ``RecordAssembler``: the logical-record state machine over a ``PhysicalLayer`` it holds: it turns
  physical records (``Phys``) into four outcomes, ``ReadStatus`` RECORD / EOF / WAIT / BAD, each a
  ``LogRead`` with byte offsets that a reader can be resumed from; and where to resume after
  damage (``resync_in_block``, ``plausible_at``).

Damage policy (what a BAD outcome covers): a bad physical record (CRC mismatch, zero or unknown type,
a length that cannot fit its block, an EOF record with a payload, a fragment out of order) is
reported once, as one BAD spanning from the start of the logical record it broke to the point
where reading resumes. The resume point is the end the bad header declares if a plausible record
(or a block trailer, or the end of the data) follows it; otherwise the first position in the same
block where a complete record with a valid CRC starts; otherwise the next block start (blocks
always begin on a record boundary). Orphan MIDDLE/LAST fragments and further bad records right
after it are folded into the same BAD. So a good record after damage is never dropped without a
BAD that names the byte range it sat in. Two cases are WAIT, not BAD: a declared length running
past the bytes present (a torn tail), and zero bytes from the position to the end of the file (what
a crash leaves; the tablet overwrites it with an EOF record on restart, correction 10).
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple, Protocol

import crc32c as _crc32c

from omsync_tui.openmldb.log.format import (
    HEADER,
    U32,
    LogRead,
    ReadStatus,
    RecordType,
    mask_crc,
)


class PhysKind(IntEnum):
    """What ``judge_physical`` found at a position (``Phys.kind``)."""

    OK = 0  # an intact physical record
    WAIT = 1  # its bytes are not all there yet: a torn tail, or more to read
    BAD = 2  # damaged here; ``reason`` says how
    TRAILER = 3  # fewer bytes than a header left in the block: the next block is where to look


class Phys(NamedTuple):
    """One physical record as a physical layer sees it (``RecordAssembler``'s input)."""

    kind: PhysKind  # OK, WAIT or BAD (a layer steps over trailers itself)
    start: int  # position of the header
    end: int  # position after the payload; -1 when the header's length cannot be trusted
    rtype: int
    payload: bytes
    reason: str


WAIT_PHYS = Phys(PhysKind.WAIT, -1, -1, -1, b"", "")
TYPE_NAMES = {t.value: t.name for t in RecordType}


# Plain names for the hot path: a class attribute lookup per check costs more than the check.
_OK, _WAIT, _BAD, _TRAILER = PhysKind.OK, PhysKind.WAIT, PhysKind.BAD, PhysKind.TRAILER
_ZERO, _EOF = int(RecordType.ZERO), int(RecordType.EOF)


def judge_physical(
    buf: bytes | bytearray,
    i: int,
    limit: int,
    block_end: int,
    header: struct.Struct = HEADER,
    *,
    verify: bool,
) -> tuple[PhysKind, int, int, str]:
    """The damage rule for the physical record at ``buf[i]``: (kind, end, type, reason).

    ``limit`` is where the bytes present in ``buf`` end and ``block_end`` where the block holding
    ``i`` ends, both in ``buf`` coordinates. ``end`` is the index after the payload (-1 when the
    header is not all there or its length cannot be trusted). The order of the checks is the rule:
    a length that cannot fit the block is damage at once; a record running past the bytes present
    is WAIT whatever its type (a torn tail is judged when it is complete); then the type, the CRC
    (``verify``) and the EOF record's empty payload.
    """
    hs = header.size
    room = block_end - i - hs
    if room < 0:
        return (_TRAILER if block_end <= limit else _WAIT), -1, -1, ""
    if i + hs > limit:
        return _WAIT, -1, -1, ""
    _, n, t = header.unpack_from(buf, i)
    if n > room:
        return _BAD, -1, t, f"length {n} does not fit the {room} bytes left in its block"
    end = i + hs + n
    if end > limit:
        return _WAIT, -1, t, ""
    if t == _ZERO:
        return _BAD, end, t, "zero record type"
    if t > _EOF:
        return _BAD, end, t, f"unknown record type {t}"
    if verify and not crc_matches(buf, i, n, hs):
        return _BAD, end, t, f"CRC mismatch in a {TYPE_NAMES[t]} record"
    if t == _EOF and n:
        return _BAD, end, t, f"EOF record with a {n}-byte payload"
    return _OK, end, t, ""


class PhysicalLayer(Protocol):
    """Physical records in a reader's own position space, for the ``RecordAssembler`` holding it.

    File offsets for a log file (``source.LogFileSource``), offsets into the decompressed stream
    for a compressed file (``compressed.py``).
    """

    def phys_at(self, pos: int) -> Phys:
        """The physical record at ``pos`` (after a block trailer there, if any): OK, WAIT or BAD."""
        ...

    def resync(self, bad: Phys) -> int:
        """Where reading resumes after the bad physical record ``bad`` (the module's damage policy)."""
        ...

    def unread(self, pos: int) -> int:
        """Bytes present after ``pos`` (a WAIT outcome's ``unread``)."""
        ...

    def zero_tail(self, pos: int) -> bool:
        """Whether everything from ``pos`` to the end of the file is zero bytes (a crash's tail)."""
        ...

    def discard_from(self, pos: int) -> None:
        """Forget bytes held from ``pos`` on: they may be rewritten (a WAIT)."""
        ...

    def where(self, pos: int) -> int:
        """The offset callers are told for ``pos``."""
        ...


class RecordAssembler:
    """Logical records out of physical ones: the fragment state machine and the damage policy.

    It holds the ``PhysicalLayer`` it reads and the resume point ``pos`` (in the layer's positions);
    a bulk path that framed records itself moves ``pos`` past them.
    """

    def __init__(self, layer: PhysicalLayer, pos: int) -> None:
        self._layer = layer
        self.pos = pos
        self._eof: LogRead | None = None

    @property
    def eof(self) -> LogRead | None:
        """The EOF outcome once met: nothing after it is read."""
        return self._eof

    def seek(self, pos: int) -> None:
        """Continue at another record boundary (forgets a seen EOF and the layer's bytes from there)."""
        self.pos = pos
        self._eof = None
        self._layer.discard_from(pos)

    def read(self) -> LogRead:
        """The next outcome. After WAIT, calling again re-checks the file for appended bytes."""
        if self._eof is not None:
            # Bytes after an EOF record are never read: a repair EOF may sit in front of torn bytes.
            return self._eof
        layer = self._layer
        where = layer.where
        pos = self.pos
        frag_start = -1
        frag_len = 0
        parts: list[bytes] = []
        while True:
            ph = layer.phys_at(pos)
            if ph.kind == PhysKind.WAIT:
                return self._wait()
            if ph.kind == PhysKind.BAD:
                if ph.rtype == RecordType.ZERO and layer.zero_tail(ph.start):
                    return self._wait()
                start = ph.start if frag_start < 0 else frag_start
                reason = ph.reason
                if frag_start >= 0:
                    reason += f"; dropped the unfinished record that began at {where(frag_start)}"
                return self._bad(start, layer.resync(ph), reason, extend=True)
            rtype = ph.rtype
            if rtype in (RecordType.FULL, RecordType.FIRST, RecordType.EOF):
                # LevelDB tolerates an empty FIRST followed by a new record (an old writer bug);
                # an unfinished record with data is damage and is reported before this record.
                if frag_start >= 0 and frag_len > 0:
                    name = TYPE_NAMES[rtype]
                    return self._bad(
                        frag_start, ph.start, f"fragmented record has no LAST fragment (next is {name})"
                    )
                if rtype == RecordType.EOF:
                    self.pos = ph.start
                    self._eof = LogRead(ReadStatus.EOF, None, where(ph.start), where(ph.end))
                    return self._eof
                if rtype == RecordType.FULL:
                    self.pos = ph.end
                    return LogRead(ReadStatus.RECORD, ph.payload, where(ph.start), where(ph.end))
                frag_start = ph.start
                frag_len = len(ph.payload)
                parts = [ph.payload]
                pos = ph.end
                continue
            if frag_start < 0:
                name = TYPE_NAMES[rtype]
                if rtype == RecordType.LAST:
                    return self._bad(ph.start, ph.end, f"{name} fragment without a FIRST")
                return self._bad(ph.start, ph.end, f"{name} fragment without a FIRST", extend=True)
            parts.append(ph.payload)
            frag_len += len(ph.payload)
            pos = ph.end
            if rtype == RecordType.LAST:
                self.pos = ph.end
                payload = b"".join(parts)
                return LogRead(ReadStatus.RECORD, payload, where(frag_start), where(ph.end))

    def _wait(self) -> LogRead:
        resume = self.pos
        unread = self._layer.unread(resume)
        # Forget buffered bytes past the resume point: a restarting tablet overwrites a torn tail
        # in place with an EOF record, and the next read must see that, not our stale copy.
        self._layer.discard_from(resume)
        where = self._layer.where(resume)
        return LogRead(ReadStatus.WAIT, None, where, where, unread=unread)

    def _bad(self, start: int, resume: int, reason: str, *, extend: bool = False) -> LogRead:
        layer = self._layer
        pos = resume
        if extend:
            # Fold what directly follows into the same report: orphan fragments of the record we
            # just broke, and further damage — one BAD per damaged stretch, not one per fragment.
            while True:
                ph = layer.phys_at(pos)
                if ph.kind == PhysKind.OK and ph.rtype == RecordType.MIDDLE:
                    pos = ph.end
                    continue
                if ph.kind == PhysKind.OK and ph.rtype == RecordType.LAST:
                    pos = ph.end
                    break
                if ph.kind == PhysKind.BAD and not (
                    ph.rtype == RecordType.ZERO and layer.zero_tail(ph.start)
                ):
                    pos = layer.resync(ph)
                    continue
                break
        self.pos = pos
        return LogRead(ReadStatus.BAD, None, layer.where(start), layer.where(pos), reason=reason)


def header_at(buf: bytes | bytearray, i: int, header: struct.Struct = HEADER) -> tuple[int, int, int]:
    """(masked crc, length, type) of the physical header at ``buf[i]``."""
    crc, n, t = header.unpack_from(buf, i)
    return int(crc), int(n), int(t)


def crc_matches(buf: bytes | bytearray, i: int, n: int, header_size: int) -> bool:
    """Whether the record at ``buf[i]`` with payload length ``n`` carries a correct CRC."""
    crc = _crc32c.crc32c(memoryview(buf)[i + header_size - 1 : i + header_size + n])
    return bool(mask_crc(crc) == U32.unpack_from(buf, i)[0])


def plausible_at(
    buf: bytes | bytearray, i: int, room: int, header: struct.Struct = HEADER, *, need_complete: bool
) -> bool:
    """Whether a real record could start at ``buf[i]``: known type, length fitting ``room``, valid CRC.

    ``room`` is the space left in the block at ``i``. With ``need_complete=False`` a record whose
    header or payload runs past the buffer counts as plausible (a torn tail will WAIT there).
    """
    hs = header.size
    if i + hs > len(buf):
        return not need_complete
    _, n, t = header_at(buf, i, header)
    if not RecordType.FULL <= t <= RecordType.EOF or n > room - hs or (t == RecordType.EOF and n):
        return False
    if i + hs + n > len(buf):
        return not need_complete
    return crc_matches(buf, i, n, hs)


def resync_in_block(
    buf: bytes | bytearray,
    bad_start: int,
    bad_end: int,
    block_end: int,
    header: struct.Struct = HEADER,
) -> int:
    """Where to resume after a bad physical record, in ``buf`` coordinates (see the module docstring).

    ``buf`` holds at least the bytes up to ``min(block_end, end of data)``; ``bad_end`` is -1 when
    the bad header's length cannot be trusted. Returns -1 if nothing in the block qualifies.
    """
    hs = header.size
    if bad_end > bad_start:
        if block_end - bad_end < hs or bad_end >= len(buf):
            return bad_end
        if plausible_at(buf, bad_end, block_end - bad_end, header, need_complete=False):
            return bad_end
    limit = min(block_end, len(buf)) - hs
    for q in range(bad_start + 1, limit + 1):
        # Cheap filters first: ~2% of random positions pass the type test, few the length test.
        t = buf[q + hs - 1]
        if RecordType.FULL <= t <= RecordType.EOF and plausible_at(
            buf, q, block_end - q, header, need_complete=True
        ):
            return q
    return -1
