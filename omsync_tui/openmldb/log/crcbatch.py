"""Every physical record's CRC of a read buffer checked with one hardware CRC call.

A log record is ``[masked crc 4][length 2][type 1][payload]``; its CRC-32C covers type + payload
(its "data"). Calling the CRC once per record costs ~0.3 µs of Python per ~100-byte row, more than
the checksum itself, so ``first_bad_crc`` checks all of a buffer's records at once:

CRC-32C without its initial and final inversion ("raw") is linear, and a raw CRC followed by its
own value (4 bytes, little-endian) leaves a remainder of zero: ``raw(d + le32(raw(d))) == 0``;
zero bytes appended to a zero remainder keep it zero, and leading zero bytes change nothing. So
in a copy of the buffer, each record's data followed by its raw CRC (written over the next
record's header) and zeros up to the next record's data has remainder zero, and the whole copy
has remainder zero exactly when every record's CRC is right — one wrong record always shows (the
operator is invertible); several wrong ones cancel out with probability 2**-32, as for a single
CRC. The raw CRC of a record is its stored CRC, unmasked, xor the CRC of as many zero bytes as
its data (a table). Only when the copy fails are the records checked one by one, up to the first
bad one.
"""

from __future__ import annotations

import crc32c as _crc32c
import numpy as np
import numpy.typing as npt

from omsync_tui.openmldb.log.format import BLOCK_SIZE, CRC_MASK_DELTA, HEADER_SIZE
from omsync_tui.openmldb.spans import I64

U32 = npt.NDArray[np.uint32]

_ALL_ONES = 0xFFFFFFFF
_CRC_AT = 4  # the check value's 4 bytes sit right after a record's data
_ZERO_CRCS: U32 | None = None  # CRC-32C of n zero bytes, n = 0 .. BLOCK_SIZE


def zero_crcs() -> U32:
    """CRC-32C of ``n`` zero bytes for every ``n`` a physical record's data can have."""
    global _ZERO_CRCS
    if _ZERO_CRCS is None:
        crc = _crc32c.crc32c
        out = np.empty(BLOCK_SIZE + 1, dtype=np.uint32)
        value = 0
        zero = b"\0"
        for n in range(BLOCK_SIZE + 1):
            out[n] = value
            value = crc(zero, value)
        _ZERO_CRCS = out
    return _ZERO_CRCS


def unmask(masked: U32) -> U32:
    """LevelDB's CRC masking undone, vectorised (``format.unmask_crc``)."""
    rot = masked - np.uint32(CRC_MASK_DELTA)
    return (rot >> np.uint32(17)) | (rot << np.uint32(15))


class Scratch:
    """The copy buffer, reused by every check of one reader: fresh multi-MiB arrays cost page faults."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = np.zeros(0, dtype=np.uint8)

    def get(self, size: int) -> npt.NDArray[np.uint8]:
        if len(self.buf) < size:
            self.buf = np.empty(size + (size >> 2), dtype=np.uint8)
        return self.buf[:size]


def first_bad_crc(buf: bytearray, u32: U32, phys: tuple[I64, I64, I64], kept: int, scratch: Scratch) -> int:
    """The first record (< ``kept``) with a physical record whose CRC does not match; else ``kept``.

    ``phys`` lists physical records as (header index, payload end, record number); ``u32`` reads
    the buffer as unaligned little-endian u32s.
    """
    heads, ends, rec = phys
    if len(rec) and rec.max() >= kept:
        m = rec < kept
        heads, ends, rec = heads[m], ends[m], rec[m]
    if not len(heads):
        return kept
    if len(heads) > 1 and not (heads[1:] > heads[:-1]).all():
        order = np.argsort(heads, kind="stable")
        heads, ends, rec = heads[order], ends[order], rec[order]
    if all_match(buf, u32, heads, ends, scratch):
        return kept
    # One by one up to the first mismatch (file order is record order): a file with many damaged
    # records then costs each run only the records before its first bad one.
    crc = _crc32c.crc32c
    want = unmask(u32[heads]).tolist()
    starts = (heads + (HEADER_SIZE - 1)).tolist()
    with memoryview(buf) as view:
        for x, y, w, r in zip(starts, ends.tolist(), want, rec.tolist(), strict=True):
            if crc(view[x:y]) != w:
                return int(r)
    return kept


def all_match(buf: bytearray, u32: U32, heads: I64, ends: I64, scratch: Scratch) -> bool:
    """Whether the physical records ``heads[i]..ends[i]`` (file order, disjoint) all carry their CRC."""
    data_at = heads + (HEADER_SIZE - 1)  # type byte: the CRC's first byte
    lo = int(data_at[0])
    size = int(ends[-1]) - lo + _CRC_AT
    copy = scratch.get(size)
    src = np.frombuffer(buf, dtype=np.uint8)
    try:
        copy[: size - _CRC_AT] = src[lo : lo + size - _CRC_AT]
    finally:
        del src  # the buffer must not stay exported: the reader resizes it
    raw = unmask(u32[heads]) ^ zero_crcs()[ends - data_at]
    as_u32 = np.ndarray(shape=(size - 3,), dtype="<u4", buffer=copy, strides=(1,))
    as_u32[ends - lo] = raw
    # Between a check value and the next record's data: that record's length field (2 bytes) and,
    # at a block's end, its trailer; all must read zero.
    gap_from = ends[:-1] - lo + _CRC_AT
    gap_to = data_at[1:] - lo
    as_u16 = np.ndarray(shape=(size - 1,), dtype="<u2", buffer=copy, strides=(1,))
    as_u16[gap_from] = 0
    for i in np.flatnonzero(gap_to - gap_from > 2).tolist():
        copy[gap_from[i] + 2 : gap_to[i]] = 0
    del as_u32, as_u16
    return int(_crc32c.crc32c(copy.data, _ALL_ONES)) == _ALL_ONES
