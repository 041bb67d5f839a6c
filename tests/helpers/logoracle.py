"""The blob path of the log reader, kept as an oracle: the span path must frame the same runs.

Before ``LogFileReader.read_spans``, the bulk path framed runs of intact records into one buffer
that the protobuf runtime parsed in a single call (a "blob": each physical header overwritten in
place by filler varints, the payloads as field 1 of a wrapper message). Its run rule — where a run
of records ends, what is left to ``read()`` — was written independently of the span path's numpy
kernels, in a Python walk over the headers, so the tests compare the two: ``BlobReader`` (the old
framer over the whole file; what ends a run goes to ``LogFileReader.read`` at that offset, as
before) and ``iter_sdb_batches`` (snapshot entries parsed from blobs). ``binlog_outcomes`` is the
record-at-a-time reference for ``BinlogReader``: entries and damage, file by file.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import crc32c as _crc32c
import numpy as np
from google.protobuf.message import DecodeError

from omsync_tui.core.errors import BadRecordError, FormatError
from omsync_tui.openmldb.binlog.files import list_binlogs
from omsync_tui.openmldb.log.format import (
    BLOCK_MASK,
    BLOCK_SIZE,
    CRC_MASK_DELTA,
    HEADER_SIZE,
    LEN_TYPE,
    MAX_FRAGMENT,
    U32,
    LogRead,
    ReadStatus,
    RecordType,
    mask_crc,
)
from omsync_tui.openmldb.log.reader import LogFileReader
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.snapshot.memory import iter_sdb, snapshot_compression


@dataclass(frozen=True, slots=True)
class RecordBlob:
    """Up to N records framed for one protobuf parse (``BlobReader.read_blob``).

    ``chunks`` hold the payloads in file order (``payloads``); ``offsets[i]`` is the file offset of
    record i, ``end`` the resume point after the last one. ``stop`` is the non-record outcome met
    when no record could be returned (empty ``offsets``).
    """

    chunks: list[bytes]
    offsets: list[int]
    end: int
    stop: LogRead | None = None

    def __len__(self) -> int:
        return len(self.offsets)

    def payloads(self) -> list[bytes]:
        return split_blob(b"".join(self.chunks))


def split_blob(data: bytes) -> list[bytes]:
    """The payloads of a ``RecordBlob.data``, in order (the fallback when the one-shot parse fails)."""
    out: list[bytes] = []
    pos = 0
    end = len(data)
    while pos < end:
        tag = data[pos]
        pos += 1
        value = 0
        shift = 0
        while True:
            b = data[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        if tag == 0x0A:
            out.append(data[pos : pos + value])
            pos += value
        elif tag != 0x10:
            raise ValueError(f"unexpected tag {tag:#x} in a record blob")
    return out


class RunStatus(IntEnum):
    """How a run of the blob framer ended."""

    NEED_DATA = 1  # the buffer ends inside a record
    ANOMALY = 2  # a record only read() may judge


class BlobReader:
    """The blob framer over a whole file; what ends a run is read by ``LogFileReader.read``.

    The file is read once, whole (test files are small), so a run that needs more data is one the
    file ends in: exactly what the old reader did with a file shorter than its 4 MiB read chunk.
    """

    def __init__(self, path: str | os.PathLike[str], *, verify_crc: bool = True) -> None:
        self.path = Path(path)
        self._buf = bytearray(self.path.read_bytes())
        self._base = 0
        self._pos = 0
        self._verify = verify_crc
        self._eof: LogRead | None = None

    def read_blob(self, max_records: int) -> RecordBlob:
        """Up to ``max_records`` intact records; else the outcome of ``read()`` at the resume point."""
        chunks: list[bytes] = []
        offsets: list[int] = []
        if self._eof is None:
            self._scan(max_records, chunks, offsets)
        if offsets:
            return RecordBlob(chunks, offsets, self._pos)
        if self._eof is not None:
            return RecordBlob([], [], self._pos, self._eof)
        with LogFileReader(self.path, offset=self._pos, verify_crc=self._verify) as reader:
            r = reader.read()
            self._pos = reader.offset
        if r.status is ReadStatus.EOF:
            self._eof = r
        if r.status is not ReadStatus.RECORD or r.payload is None:
            return RecordBlob([], [], self._pos, r)
        return RecordBlob([b"\x0a" + _varint(len(r.payload)) + r.payload], [r.offset], self._pos)

    def _scan(self, max_records: int, chunks: list[bytes], offsets: list[int]) -> RunStatus:
        """Frame intact records from the buffer into ``chunks``; returns why it stopped.

        Two passes: a Python walk over the headers that only collects positions (and CRCs), then
        ``_frame`` checks the CRCs and rewrites all headers with numpy — about twice as fast as
        doing either per record in Python. Nothing is copied but the final join.
        """
        buf = self._buf
        base = self._base
        start = i = self._pos - base
        limit = len(buf)
        verify = self._verify
        crc = _crc32c.crc32c
        len_type = LEN_TYPE.unpack_from
        full: list[int] = []
        add_full = full.append
        crcs: list[int] = []
        add_crc = crcs.append
        firsts: list[tuple[int, int]] = []  # (position, total payload length) of fragmented records
        frag_checks: list[tuple[int, int, int]] = []  # (fragment position, its CRC, record position)
        # Byte ranges left out of the blob, in file order: block trailers and the headers of
        # MIDDLE/LAST fragments (the FIRST header is rewritten to announce the whole payload).
        holes: list[tuple[int, int]] = []
        frag_end = -1
        status = RunStatus.ANOMALY
        while len(full) + len(firsts) < max_records:
            bend = (i | BLOCK_MASK) + 1
            lim = bend if bend < limit else limit
            lim7 = lim - HEADER_SIZE
            if verify:
                while i <= lim7:
                    n, t = len_type(buf, i)
                    e = i + HEADER_SIZE + n
                    if t != 1 or e > lim:
                        break
                    add_crc(crc(buf[i + 6 : e]))
                    add_full(i)
                    i = e
            else:
                while i <= lim7:
                    n, t = len_type(buf, i)
                    e = i + HEADER_SIZE + n
                    if t != 1 or e > lim:
                        break
                    add_full(i)
                    i = e
            if i > lim7:
                if lim < bend:
                    status = RunStatus.NEED_DATA
                    break
                if i < bend:
                    holes.append((i, bend))
                i = bend
                continue
            n, t = len_type(buf, i)
            if t == RecordType.FULL:
                # Either the record continues past the buffer (read more) or its length cannot fit
                # the block (damage: leave it to read()).
                if lim < bend and i + HEADER_SIZE + n <= bend:
                    status = RunStatus.NEED_DATA
                break
            if t != RecordType.FIRST:
                break
            end, total = self._scan_fragments(i, limit, holes, frag_checks)
            if end < 0:
                status = RunStatus(-end)
                break
            firsts.append((i, total))
            i = frag_end = end
        if not full and not firsts:
            # Nothing framed: stay at the last record's end even if a trailer was skipped, so
            # outcomes report the same resume point as read().
            return status
        # Resume right after the last framed record (not after a trailer that follows it).
        last = full[-1] if full else -1
        i = last + HEADER_SIZE + len_type(buf, last)[0] if last >= frag_end else frag_end
        i, status = self._frame(full, crcs, firsts, frag_checks, holes, i, status, max_records)
        starts = np.array(full, dtype=np.int64)
        if firsts:
            frag_starts = np.array([f[0] for f in firsts], dtype=np.int64)
            starts = np.sort(np.concatenate((starts, frag_starts)))
        offsets.extend((starts + base).tolist())
        with memoryview(buf) as mv:
            parts: list[memoryview] = []
            cur = start
            for hole_start, hole_end in holes:
                if hole_start >= i:
                    break
                if hole_start > cur:
                    parts.append(mv[cur:hole_start])
                cur = hole_end
            if i > cur:
                parts.append(mv[cur:i])
            chunks.append(b"".join(parts))
            for part in parts:
                part.release()
        self._pos = base + i
        return status

    def _frame(
        self,
        full: list[int],
        crcs: list[int],
        firsts: list[tuple[int, int]],
        frag_checks: list[tuple[int, int, int]],
        holes: list[tuple[int, int]],
        i: int,
        status: RunStatus,
        max_records: int,
    ) -> tuple[int, RunStatus]:
        """Second pass of ``_scan``: cut at ``max_records`` or the first CRC mismatch, rewrite headers.

        Trims ``full``, ``firsts`` and ``holes`` in place; returns the new scan end and status.
        """
        buf = self._buf
        cut = -1
        if len(full) + len(firsts) > max_records:
            cut = sorted(full + [f[0] for f in firsts])[max_records]
        for pos, value, record in frag_checks:
            if record >= cut >= 0:
                break
            if U32.unpack_from(buf, pos)[0] != mask_crc(value):
                cut = record
                break
        a = np.frombuffer(buf, dtype=np.uint8)
        try:
            keep = len(full) if cut < 0 else bisect_left(full, cut)
            p = np.array(full[:keep], dtype=np.intp)
            if self._verify and keep:
                u32 = np.uint32
                stored = a[p].astype(u32) | (a[p + 1].astype(u32) << 8)
                stored |= (a[p + 2].astype(u32) << 16) | (a[p + 3].astype(u32) << 24)
                c = np.array(crcs[:keep], dtype=u32)
                masked = ((c >> 15) | (c << 17)) + u32(CRC_MASK_DELTA)
                bad = np.flatnonzero(stored != masked)
                if len(bad):
                    keep = int(bad[0])
                    cut = full[keep]
                    p = p[:keep]
            if cut >= 0:
                del full[keep:]
                firsts[:] = [f for f in firsts if f[0] < cut]
                holes[:] = [h for h in holes if h[0] < cut]
                i = cut
                status = RunStatus.ANOMALY
            if keep:
                # Each FULL header (crc4 len2 type1) becomes "field 2 = 0" as a padded 3-byte varint
                # (10 80 80 00) + "field 1, length n" with a 2-byte varint (0a lo hi): the same 7
                # bytes, so the payload that follows is wrapped in place.
                n = a[p + 4].astype(np.uint16) | (a[p + 5].astype(np.uint16) << 8)
                a[p] = 0x10
                a[p + 1] = 0x80
                a[p + 2] = 0x80
                a[p + 3] = 0x00
                a[p + 4] = 0x0A
                a[p + 5] = ((n & 0x7F) | 0x80).astype(np.uint8)
                a[p + 6] = (n >> 7).astype(np.uint8)
        finally:
            del a
        for pos, total in firsts:
            buf[pos : pos + HEADER_SIZE] = _first_header(total)
        return i, status

    def _scan_fragments(
        self, i: int, limit: int, holes: list[tuple[int, int]], checks: list[tuple[int, int, int]]
    ) -> tuple[int, int]:
        """Check the FIRST..LAST record at buffer index ``i``: laid out as a writer does, all buffered?

        Returns (end, payload length) and appends the ranges to leave out to ``holes`` and the
        fragments' CRCs to ``checks``, or returns (``-RunStatus.NEED_DATA`` or
        ``-RunStatus.ANOMALY``, 0). Only the writer's layout is accepted here (FIRST and MIDDLE
        fill their block); anything else, and payloads of 256 MiB or more (``_first_header``), is
        left to ``read()``.
        """
        buf = self._buf
        len_type = LEN_TYPE.unpack_from
        crc = _crc32c.crc32c if self._verify else None
        n, _ = len_type(buf, i)
        j = i + HEADER_SIZE + n
        if j & BLOCK_MASK or j - i > BLOCK_SIZE:
            return -RunStatus.ANOMALY, 0
        if j > limit:
            return -RunStatus.NEED_DATA, 0
        mine_checks = [(i, crc(buf[i + 6 : j]), i)] if crc is not None else []
        mine_holes: list[tuple[int, int]] = []
        total = n
        while True:
            if j + HEADER_SIZE > limit:
                return -RunStatus.NEED_DATA, 0
            n, t = len_type(buf, j)
            e = j + HEADER_SIZE + n
            if n > MAX_FRAGMENT or not (
                t == RecordType.LAST or (t == RecordType.MIDDLE and n == MAX_FRAGMENT)
            ):
                return -RunStatus.ANOMALY, 0
            if e > limit:
                return -RunStatus.NEED_DATA, 0
            if crc is not None:
                mine_checks.append((j, crc(buf[j + 6 : e]), i))
            mine_holes.append((j, j + HEADER_SIZE))
            total += n
            j = e
            if t == RecordType.LAST:
                if total >= 1 << 28:
                    return -RunStatus.ANOMALY, 0
                holes.extend(mine_holes)
                checks.extend(mine_checks)
                return j, total


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _first_header(total: int) -> bytes:
    """7 bytes replacing a FIRST header in a blob: field 2 = 0, then field 1 with a 4-byte length."""
    return bytes(
        (
            0x10,
            0x00,
            0x0A,
            (total & 0x7F) | 0x80,
            ((total >> 7) & 0x7F) | 0x80,
            ((total >> 14) & 0x7F) | 0x80,
            total >> 21,
        )
    )


def iter_sdb_batches(
    path: str | os.PathLike[str], *, verify_crc: bool = True, batch: int = 4096
) -> Iterator[Sequence[tablet_pb2.LogEntry]]:
    """The entries of a snapshot file, ``batch`` at a time, parsed from blobs (plain files) or
    read record by record (compressed files); the errors of ``iter_sdb``."""
    p = Path(path)
    if snapshot_compression(p.name):
        entries: list[tablet_pb2.LogEntry] = []
        for _, entry in iter_sdb(p, verify_crc=verify_crc):
            entries.append(entry)
            if len(entries) >= batch:
                yield entries
                entries = []
        if entries:
            yield entries
        return
    reader = BlobReader(p, verify_crc=verify_crc)
    while True:
        blob = reader.read_blob(batch)
        if blob.offsets:
            out = []
            for payload, offset in zip(blob.payloads(), blob.offsets, strict=True):
                try:
                    out.append(tablet_pb2.LogEntry.FromString(payload))
                except DecodeError as exc:
                    raise BadRecordError(
                        f"record payload is not a LogEntry ({exc})", path=str(p), offset=offset
                    ) from None
            yield out
            continue
        stop = blob.stop
        assert stop is not None
        if stop.status is ReadStatus.EOF:
            return
        if stop.status is ReadStatus.BAD:
            raise BadRecordError(stop.reason, path=str(p), offset=stop.offset)
        what = f"{stop.unread} bytes after it cannot be read" if stop.unread else "nothing follows"
        raise FormatError(
            f"snapshot ends without an EOF record ({what}): it is incomplete",
            path=str(p),
            offset=stop.offset,
            hint="the snapshot was not finished; use the previous one or a newer one",
        )


def binlog_outcomes(
    directory: Path, position: tuple[int, int], start: int, *, verify_crc: bool
) -> tuple[list[tuple[int, int, bytes]], list[tuple[int, int]]]:
    """What ``BinlogReader`` must read from ``position`` on, one record at a time.

    Returns the entries — (file index, offset, payload) from the first one at or above ``start``
    on — and the damage — (file index, offset) of every BAD outcome and every payload that is not
    a LogEntry. Files follow in index order: after EOF, or after WAIT when a newer file exists.
    """
    entries: list[tuple[int, int, bytes]] = []
    damage: list[tuple[int, int]] = []
    skipping = True
    first_index, offset = position
    files = [(i, p) for i, p in list_binlogs(directory) if i >= first_index]
    for k, (index, path) in enumerate(files):
        with LogFileReader(path, offset=offset if k == 0 else 0, verify_crc=verify_crc) as reader:
            while True:
                r = reader.read()
                if r.status is ReadStatus.BAD:
                    damage.append((index, r.offset))
                    continue
                if r.status is not ReadStatus.RECORD or r.payload is None:
                    break  # EOF, or WAIT: the next file if there is one
                try:
                    entry = tablet_pb2.LogEntry.FromString(r.payload)
                except DecodeError:
                    damage.append((index, r.offset))
                    continue
                if skipping and entry.log_index < start:
                    continue
                skipping = False
                entries.append((index, r.offset, r.payload))
    return entries, damage
