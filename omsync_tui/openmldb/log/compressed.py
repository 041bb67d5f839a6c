"""The compressed framing of memory-table snapshots (reference §3.4, corrections 6 and 7).

This module owns the layout OpenMLDB uses when a tablet runs with ``--snapshot_compression``: the
log is cut into 1 MiB logical blocks of 9-byte physical headers (masked CRC-32C u32 LE, length u32
LE, type) — the same FULL/FIRST/MIDDLE/LAST/EOF records as ``format.py`` — and each full block is
stored as a 64-byte block header (``compressed_len`` i32 LE, compress type u8: 1 zlib, 2 snappy,
59 zero bytes) followed by the compressed block. Zlib is ``compress()`` with its header; snappy is
the raw block format.

The writer emits whole blocks only (an EOF record zero-pads and emits the last one), so a file that
was never closed lacks its last partial block — the reader then reports WAIT with the bytes of the
incomplete block as ``unread``. Trailer bytes inside a block (fewer than 9 left) are skipped
unchecked: OpenMLDB fills them from an uninitialised buffer (correction 7).

Positions: ``LogRead.offset``/``end`` are file offsets of compressed blocks — of the block holding
the record's first header, and of the block where reading continues. A compressed file cannot be
entered in the middle of a block, so there is no resume offset; snapshots are read whole.

``CompressedLogReader`` holds the file's decompressed blocks as a physical layer (``_Blocks``,
each record judged by ``assembler.judge_physical``) and a ``RecordAssembler`` over them: the
same logical records, outcomes and damage policy as ``LogFileReader``.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import cramjam

from omsync_tui.core.errors import NotFoundError, UsageError
from omsync_tui.openmldb.log.assembler import (
    WAIT_PHYS,
    Phys,
    PhysKind,
    RecordAssembler,
    judge_physical,
    resync_in_block,
)
from omsync_tui.openmldb.log.format import LogRead, RecordType, crc32c, fragment_type, mask_crc

COMPRESS_BLOCK_SIZE = 1 << 20
COMPRESSED_HEADER_SIZE = 9
BLOCK_HEADER_SIZE = 64
COMPRESS_TYPES = {"zlib": 1, "snappy": 2}
TYPE_NAMES = {v: k for k, v in COMPRESS_TYPES.items()}
_HEADER = struct.Struct("<IIB")
_BLOCK_HEADER = struct.Struct("<iB59x")
_TYPE_CRC = tuple(crc32c(bytes([t])) for t in range(len(RecordType)))
# A block cache of two covers a record whose fragments straddle one block boundary while reading on.
_CACHE_BLOCKS = 2


def compress_block(block: bytes, compression: str) -> bytes:
    """One stored block: the 64-byte block header and the compressed bytes of a 1 MiB block."""
    if len(block) != COMPRESS_BLOCK_SIZE:
        raise ValueError(f"a compressed block holds exactly {COMPRESS_BLOCK_SIZE} bytes, got {len(block)}")
    if compression == "zlib":
        data = zlib.compress(block)
    elif compression == "snappy":
        data = bytes(cramjam.snappy.compress_raw(block))
    else:
        raise UsageError(f"unknown snapshot compression {compression!r} (zlib or snappy)")
    return _BLOCK_HEADER.pack(len(data), COMPRESS_TYPES[compression]) + data


class CompressedLogWriter:
    """Writes the compressed framing like OpenMLDB's ``log::Writer`` with zlib or snappy.

    Records accumulate in a 1 MiB block that is compressed and written when full; ``add_eof``
    zero-pads and writes the last block. ``close`` flushes the stream (it does not close it); a block
    still partial at that point is dropped, exactly as OpenMLDB would leave it — call ``add_eof``
    first.
    """

    def __init__(self, f: BinaryIO, compression: str) -> None:
        if compression not in COMPRESS_TYPES:
            raise UsageError(f"unknown snapshot compression {compression!r} (zlib or snappy)")
        self._f = f
        self._compression = compression
        self._block = bytearray(COMPRESS_BLOCK_SIZE)
        self._offset = 0
        self._closed = False

    def add_record(self, payload: bytes | bytearray | memoryview) -> int:
        """Append one logical record; returns the compressed bytes written to the file by this call."""
        data = memoryview(payload).cast("B")
        left = len(data)
        pos = 0
        begin = True
        written = 0
        while True:
            written += self._start_block_if_full()
            avail = COMPRESS_BLOCK_SIZE - self._offset - COMPRESSED_HEADER_SIZE
            frag = min(left, avail)
            end = frag == left
            rtype = fragment_type(begin, end)
            written += self._put(rtype, data[pos : pos + frag])
            pos += frag
            left -= frag
            begin = False
            if left <= 0:
                return written

    def add_eof(self) -> int:
        """Append the EOF record, zero-pad the block and write it; returns bytes written."""
        written = self._start_block_if_full()
        return written + self._put(RecordType.EOF, memoryview(b""))

    def _start_block_if_full(self) -> int:
        """When no header fits in the block any more: zero the trailer, emit it, start anew."""
        leftover = COMPRESS_BLOCK_SIZE - self._offset
        if leftover >= COMPRESSED_HEADER_SIZE:
            return 0
        written = 0
        if leftover > 0:
            self._block[self._offset :] = bytes(leftover)
            written = self._emit()
        self._offset = 0
        return written

    def close(self) -> None:
        """Flush the stream; a partial block is dropped (see the class docstring)."""
        if not self._closed:
            self._closed = True
            self._f.flush()

    def _put(self, rtype: int, payload: memoryview) -> int:
        n = len(payload)
        o = self._offset
        crc = mask_crc(crc32c(payload, _TYPE_CRC[rtype]))
        _HEADER.pack_into(self._block, o, crc, n, rtype)
        o += COMPRESSED_HEADER_SIZE
        self._block[o : o + n] = payload
        o += n
        if rtype == RecordType.EOF:
            self._block[o:] = bytes(COMPRESS_BLOCK_SIZE - o)
            o = COMPRESS_BLOCK_SIZE
        self._offset = o
        return self._emit() if o == COMPRESS_BLOCK_SIZE else 0

    def _emit(self) -> int:
        stored = compress_block(bytes(self._block), self._compression)
        self._f.write(stored)
        return len(stored)


def _decompress(data: bytes, ctype: int) -> bytes:
    """Decompress one block, never inflating much past 1 MiB however damaged the input is."""
    if ctype == 1:
        d = zlib.decompressobj()
        out = d.decompress(data, COMPRESS_BLOCK_SIZE + 1)
        if len(out) == COMPRESS_BLOCK_SIZE and not d.eof:
            out += d.decompress(d.unconsumed_tail, 1)  # a longer stream is reported by its length
        return out
    # Raw snappy starts with the uncompressed length as a varint: check it before allocating.
    size, shift, i = 0, 0, 0
    while i < min(len(data), 5):
        size |= (data[i] & 0x7F) << shift
        shift += 7
        i += 1
        if data[i - 1] < 0x80:
            break
    if size != COMPRESS_BLOCK_SIZE:
        raise ValueError(f"snappy block declares {size} uncompressed bytes, not {COMPRESS_BLOCK_SIZE}")
    return bytes(cramjam.snappy.decompress_raw(data))


class _BlockError(Exception):
    def __init__(self, reason: str, *, locatable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        # Whether the next block's position is known (the bad block's length could be trusted).
        self.locatable = locatable


class CompressedLogReader:
    """Reads a compressed snapshot file; the same ``read() -> LogRead`` outcomes as ``LogFileReader``.

    Internally positions are offsets into the decompressed stream (block k covers
    ``[k MiB, (k+1) MiB)``); outcomes report file offsets of compressed blocks (module docstring).
    A block whose header is invalid, that does not decompress, or that does not decompress to
    exactly 1 MiB is one BAD; reading resumes at the next block when its position is known, else
    the rest of the file is unreadable and reads return WAIT with those bytes as ``unread``.
    """

    def __init__(self, path: str | os.PathLike[str], *, verify_crc: bool = True) -> None:
        self.path = Path(path)
        try:
            f = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed by close()/__exit__
        except FileNotFoundError as exc:
            raise NotFoundError(f"{self.path}: no such snapshot file") from exc
        self._blocks = _Blocks(f, verify_crc=verify_crc)
        self._records = RecordAssembler(self._blocks, 0)

    @property
    def offset(self) -> int:
        """File offset of the block where reading continues."""
        return self._blocks.where(self._records.pos)

    def read(self) -> LogRead:
        """The next outcome (see ``RecordAssembler.read``)."""
        return self._records.read()

    def close(self) -> None:
        self._blocks.close()

    def __enter__(self) -> CompressedLogReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Blocks:
    """A compressed file's decompressed blocks, as the physical layer of its ``RecordAssembler``."""

    def __init__(self, f: BinaryIO, *, verify_crc: bool) -> None:
        self._f = f
        self._fd = f.fileno()
        self._verify = verify_crc
        # _starts[k] = file offset of block k's 64-byte header; one past the last read block is known.
        self._starts = [0]
        self._cache: dict[int, bytes] = {}
        self._errors: dict[int, _BlockError] = {}

    def close(self) -> None:
        self._f.close()

    # -- blocks -----------------------------------------------------------------------------------
    def _block(self, k: int) -> bytes | None:
        """Decompressed block ``k``; None when it is not (completely) in the file yet."""
        cached = self._cache.get(k)
        if cached is not None:
            return cached
        if k in self._errors:
            raise self._errors[k]
        if k >= len(self._starts):
            return None  # an earlier block was unlocatable: nothing after it can be found
        start = self._starts[k]
        head = os.pread(self._fd, BLOCK_HEADER_SIZE, start)
        if len(head) < BLOCK_HEADER_SIZE:
            return None
        clen, ctype = _BLOCK_HEADER.unpack(head)
        if ctype not in TYPE_NAMES or clen <= 0:
            raise self._fail(k, f"bad compressed block header (length {clen}, compress type {ctype})", None)
        data = os.pread(self._fd, clen, start + BLOCK_HEADER_SIZE)
        if len(data) < clen:
            return None
        after = start + BLOCK_HEADER_SIZE + clen
        try:
            block = _decompress(data, ctype)
        except ValueError as exc:
            raise self._fail(k, str(exc), after) from None
        except (zlib.error, cramjam.DecompressionError) as exc:
            raise self._fail(k, f"{TYPE_NAMES[ctype]} block does not decompress: {exc}", after) from None
        if len(block) != COMPRESS_BLOCK_SIZE:
            reason = f"block decompresses to {len(block)} bytes, not {COMPRESS_BLOCK_SIZE}"
            raise self._fail(k, reason, after)
        if len(self._starts) == k + 1:
            self._starts.append(after)
        self._cache[k] = block
        for old in [b for b in self._cache if b < k - _CACHE_BLOCKS + 1]:
            del self._cache[old]
        return block

    def _fail(self, k: int, reason: str, after: int | None) -> _BlockError:
        if after is not None and len(self._starts) == k + 1:
            self._starts.append(after)
        err = _BlockError(reason, locatable=after is not None)
        self._errors[k] = err
        return err

    # -- physical layer (assembler.PhysicalLayer) -------------------------------------------------
    def phys_at(self, pos: int) -> Phys:
        k, off = divmod(pos, COMPRESS_BLOCK_SIZE)
        if COMPRESS_BLOCK_SIZE - off < COMPRESSED_HEADER_SIZE:
            pos += COMPRESS_BLOCK_SIZE - off
            k, off = k + 1, 0
        try:
            block = self._block(k)
        except _BlockError as exc:
            end = (k + 1) * COMPRESS_BLOCK_SIZE if exc.locatable else -1
            return Phys(PhysKind.BAD, pos, end, -1, b"", exc.reason)
        if block is None:
            return WAIT_PHYS
        # A whole block is there: the rule finds no WAIT and, past the trailer check above, no trailer.
        kind, end, t, reason = judge_physical(
            block, off, COMPRESS_BLOCK_SIZE, COMPRESS_BLOCK_SIZE, _HEADER, verify=self._verify
        )
        at = pos - off
        if kind == PhysKind.OK:
            return Phys(kind, pos, at + end, t, block[off + COMPRESSED_HEADER_SIZE : end], "")
        return Phys(kind, pos, at + end if end >= 0 else -1, t, b"", reason)

    def resync(self, bad: Phys) -> int:
        k = bad.start // COMPRESS_BLOCK_SIZE
        block_start = k * COMPRESS_BLOCK_SIZE
        next_block = block_start + COMPRESS_BLOCK_SIZE
        block = self._cache.get(k)
        if block is None:
            # The block itself is damaged: skip it whole. If its successor cannot be located,
            # _block() answers None from then on and reads WAIT on the unreadable rest.
            return next_block
        bad_end = bad.end - block_start if bad.end > 0 else -1
        q = resync_in_block(block, bad.start - block_start, bad_end, COMPRESS_BLOCK_SIZE, _HEADER)
        return block_start + q if q >= 0 else next_block

    def unread(self, pos: int) -> int:
        # Everything from the first block that could not be read to the end of the file.
        return max(0, os.fstat(self._fd).st_size - self._starts[-1])

    def zero_tail(self, pos: int) -> bool:
        return False  # a crash leaves no zeros here: the last partial block is simply missing

    def discard_from(self, pos: int) -> None:
        return None  # whole blocks only: nothing held can be rewritten in place

    def where(self, pos: int) -> int:
        k = pos // COMPRESS_BLOCK_SIZE
        if k < len(self._starts):
            return self._starts[k]
        # Past a block whose successor cannot be located: nothing before the end of file is readable.
        return os.fstat(self._fd).st_size
