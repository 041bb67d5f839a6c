"""One uncompressed log file's bytes and physical records, for the reader that holds it (§3.3).

This module owns ``LogFileSource``: the open file (unbuffered; a tablet may still be appending),
the read buffer and the file offset it starts at, and the physical layer ``RecordAssembler``
reads in file offsets (``assembler.PhysicalLayer``: each record judged by
``assembler.judge_physical``). ``LogFileReader`` (``reader.py``) holds one and hands it to its
assembler and to its span framer (``framer.py``), which read the same buffer.
"""

from __future__ import annotations

import os
from pathlib import Path

from omsync_tui.core.errors import NotFoundError
from omsync_tui.openmldb.log.assembler import (
    WAIT_PHYS,
    Phys,
    PhysKind,
    judge_physical,
    resync_in_block,
)
from omsync_tui.openmldb.log.format import BLOCK_SIZE, HEADER_SIZE

# The bulk path reads this much at a time: large enough that a read() call and the joins it
# implies are noise next to per-record work, small enough to stay in cache-friendly territory.
READ_CHUNK = 4 << 20


class LogFileSource:
    """A log file's bytes from a block-aligned offset on: ``buf`` holds them from ``base``.

    Invariant: ``base`` is block-aligned and the file position is ``base + len(buf)``. ``fill``
    reads the next chunk of ``read_size`` bytes. Once a caller holds views of ``buf`` it marks the
    buffer ``shared``: it is then replaced, never resized.
    """

    def __init__(
        self, path: str | os.PathLike[str], offset: int, *, verify_crc: bool, read_size: int
    ) -> None:
        self.path = Path(path)
        self.verify = verify_crc
        self._read_size = max(BLOCK_SIZE, read_size)
        try:
            self._f = open(self.path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        except FileNotFoundError as exc:
            raise NotFoundError(f"{self.path}: no such log file") from exc
        self._fd = self._f.fileno()
        self.buf = bytearray()
        self.shared = False
        self.base = offset - offset % BLOCK_SIZE
        self._f.seek(self.base)

    def close(self) -> None:
        self._f.close()

    # -- buffer -----------------------------------------------------------------------------------
    def fill(self, keep: int) -> bool:
        """Read the next chunk; drops the bytes before ``keep``'s block first. False at the end of data.

        A ``shared`` buffer is not resized: the chunk goes into a new buffer behind the bytes kept.
        """
        drop = keep - keep % BLOCK_SIZE - self.base
        if not self.shared:
            if drop > 0:
                del self.buf[:drop]
                self.base += drop
            data = self._f.read(self._read_size)
            if not data:
                return False
            self.buf += data
            return True
        drop = max(0, drop)
        rest = len(self.buf) - drop
        new = bytearray(rest + self._read_size)
        with memoryview(new) as mv, memoryview(self.buf) as old:
            mv[:rest] = old[drop:]
            got = self._f.readinto(mv[rest:])
        if not got:
            return False
        if got < self._read_size:
            del new[rest + got :]
        self.buf = new
        self.base += drop
        self.shared = False
        return True

    def _ensure(self, keep: int, end: int) -> bool:
        while self.base + len(self.buf) < end:
            if not self.fill(keep):
                return False
        return True

    def _data_end(self) -> int:
        return max(os.fstat(self._fd).st_size, self.base + len(self.buf))

    # -- physical layer (assembler.PhysicalLayer) -------------------------------------------------
    def phys_at(self, pos: int) -> Phys:
        keep = pos
        while True:
            block_end = pos - pos % BLOCK_SIZE + BLOCK_SIZE
            base = self.base
            i = pos - base
            kind, end, t, reason = judge_physical(
                self.buf, i, len(self.buf), block_end - base, verify=self.verify
            )
            if kind == PhysKind.OK:
                buf = self.buf
                return Phys(kind, pos, base + end, t, bytes(buf[i + HEADER_SIZE : end]), "")
            if kind == PhysKind.TRAILER:
                pos = block_end
            elif kind == PhysKind.BAD:
                return Phys(kind, pos, base + end if end >= 0 else -1, t, b"", reason)
            elif not self.fill(keep):
                return WAIT_PHYS

    def resync(self, bad: Phys) -> int:
        block_end = bad.start - bad.start % BLOCK_SIZE + BLOCK_SIZE
        data_end = self._data_end()
        self._ensure(bad.start, min(block_end, data_end))
        base = self.base
        bad_end = bad.end - base if bad.end > 0 else -1
        q = resync_in_block(self.buf, bad.start - base, bad_end, block_end - base)
        if q >= 0:
            return base + q
        # Nothing trustworthy in the rest of the block: continue at the next block, or after the
        # damaged bytes if the block is not complete yet.
        return block_end if data_end >= block_end else max(data_end, bad.start + 1)

    def unread(self, pos: int) -> int:
        return max(0, os.fstat(self._fd).st_size - pos)

    def zero_tail(self, pos: int) -> bool:
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

    def discard_from(self, pos: int) -> None:
        self.buf = bytearray()
        self.shared = False
        self.base = pos - pos % BLOCK_SIZE
        self._f.seek(self.base)

    def where(self, pos: int) -> int:
        return pos


__all__ = ["READ_CHUNK", "LogFileSource"]
