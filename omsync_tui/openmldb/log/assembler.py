"""Logical records out of physical ones: the fragment state machine and the damage policy (§3.3).

This module owns ``RecordAssembler``, the logical-record state machine shared by ``LogFileReader``
(``logreader.py``) and the compressed framing (``compressed.py``): it turns physical records
(``Phys``) into four outcomes, ``ReadStatus`` RECORD / EOF / WAIT / BAD, each a ``LogRead`` with
byte offsets that a reader can be resumed from; and the physical-record checks both framings use
(``header_at``, ``crc_matches``, ``plausible_at``, ``resync_in_block``).

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
from typing import NamedTuple

from omsync_tui.openmldb.log.format import (
    HEADER,
    U32,
    LogRead,
    ReadStatus,
    RecordType,
    crc32c,
    unmask_crc,
)


class Phys(NamedTuple):
    """One physical record as a frame source sees it (``RecordAssembler``'s input)."""

    kind: int  # PHYS_OK / PHYS_WAIT / PHYS_BAD
    start: int  # position of the header
    end: int  # position after the payload; -1 when the header's length cannot be trusted
    rtype: int
    payload: bytes
    reason: str


PHYS_OK = 0
PHYS_WAIT = 1
PHYS_BAD = 2
WAIT_PHYS = Phys(PHYS_WAIT, -1, -1, -1, b"", "")
TYPE_NAMES = {t.value: t.name for t in RecordType}


class RecordAssembler:
    """Logical records out of physical ones: the fragment state machine and the damage policy.

    Subclasses provide the physical layer in their own position space (file offsets for
    ``LogFileReader``, offsets into the decompressed stream for compressed files) through
    ``_phys_at``, ``_resync``, ``_unread``, ``_zero_tail``, ``_discard_from`` and ``_where`` (the
    position reported to callers).
    """

    def __init__(self, pos: int) -> None:
        self._pos = pos
        self._eof: LogRead | None = None

    # -- physical layer, supplied by subclasses -------------------------------------------------
    def _phys_at(self, pos: int) -> Phys:
        raise NotImplementedError

    def _resync(self, bad: Phys) -> int:
        raise NotImplementedError

    def _unread(self, pos: int) -> int:
        raise NotImplementedError

    def _zero_tail(self, pos: int) -> bool:
        return False

    def _discard_from(self, pos: int) -> None:
        return None

    def _where(self, pos: int) -> int:
        return pos

    # -- logical layer --------------------------------------------------------------------------
    def read(self) -> LogRead:
        """The next outcome. After WAIT, calling again re-checks the file for appended bytes."""
        if self._eof is not None:
            # Bytes after an EOF record are never read: a repair EOF may sit in front of torn bytes.
            return self._eof
        pos = self._pos
        frag_start = -1
        frag_len = 0
        parts: list[bytes] = []
        while True:
            ph = self._phys_at(pos)
            if ph.kind == PHYS_WAIT:
                return self._wait()
            if ph.kind == PHYS_BAD:
                if ph.rtype == RecordType.ZERO and self._zero_tail(ph.start):
                    return self._wait()
                start = ph.start if frag_start < 0 else frag_start
                reason = ph.reason
                if frag_start >= 0:
                    reason += f"; dropped the unfinished record that began at {self._where(frag_start)}"
                return self._bad(start, self._resync(ph), reason, extend=True)
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
                    self._pos = ph.start
                    self._eof = LogRead(ReadStatus.EOF, None, self._where(ph.start), self._where(ph.end))
                    return self._eof
                if rtype == RecordType.FULL:
                    self._pos = ph.end
                    return LogRead(ReadStatus.RECORD, ph.payload, self._where(ph.start), self._where(ph.end))
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
                self._pos = ph.end
                payload = b"".join(parts)
                return LogRead(ReadStatus.RECORD, payload, self._where(frag_start), self._where(ph.end))

    def _wait(self) -> LogRead:
        resume = self._pos
        unread = self._unread(resume)
        # Forget buffered bytes past the resume point: a restarting tablet overwrites a torn tail
        # in place with an EOF record, and the next read must see that, not our stale copy.
        self._discard_from(resume)
        where = self._where(resume)
        return LogRead(ReadStatus.WAIT, None, where, where, unread=unread)

    def _bad(self, start: int, resume: int, reason: str, *, extend: bool = False) -> LogRead:
        pos = resume
        if extend:
            # Fold what directly follows into the same report: orphan fragments of the record we
            # just broke, and further damage — one BAD per damaged stretch, not one per fragment.
            while True:
                ph = self._phys_at(pos)
                if ph.kind == PHYS_OK and ph.rtype == RecordType.MIDDLE:
                    pos = ph.end
                    continue
                if ph.kind == PHYS_OK and ph.rtype == RecordType.LAST:
                    pos = ph.end
                    break
                if ph.kind == PHYS_BAD and not (ph.rtype == RecordType.ZERO and self._zero_tail(ph.start)):
                    pos = self._resync(ph)
                    continue
                break
        self._pos = pos
        return LogRead(ReadStatus.BAD, None, self._where(start), self._where(pos), reason=reason)


def header_at(buf: bytes | bytearray, i: int, header: struct.Struct = HEADER) -> tuple[int, int, int]:
    """(masked crc, length, type) of the physical header at ``buf[i]``."""
    crc, n, t = header.unpack_from(buf, i)
    return int(crc), int(n), int(t)


def crc_matches(buf: bytes | bytearray, i: int, n: int, header_size: int) -> bool:
    """Whether the record at ``buf[i]`` with payload length ``n`` carries a correct CRC."""
    stored = U32.unpack_from(buf, i)[0]
    return bool(unmask_crc(stored) == crc32c(memoryview(buf)[i + header_size - 1 : i + header_size + n]))


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
