"""Turning a partition's files into SendData packs: the collector's read path (reference §1.5).

``PartitionPacker.pack(start, max_bytes)`` returns the encoded rows from ``start`` on, at most
``max_bytes`` of them (a single larger row goes alone, so a partition never stalls — the
original's bug 4), and the point where the next pack continues. It reads:

* the snapshot first — memory ``.sdb`` (entries carrying an index-0 dimension) or disk RocksDB
  index 0 (TTL applied by the reader) — pinned by name, positions counted by ordinal;
* then the binlog from ``MANIFEST.offset + 1``: puts carrying an index-0 dimension only (no
  multi-index duplicates, bug 7), deletes skipped, mode-1 rows with ``ts < start_ts`` skipped;
* values are always handed out snappy-decompressed (bug 8).

Between packs the open cursor (snapshot iterator or binlog reader with its byte positions) is
kept when the next ``start`` is the previous pack's ``next``, so nothing is re-scanned; any other
start reopens at that point. Gaps and damaged records raise the readers' errors: the caller turns
them into terminal task errors instead of skipping data.

The directory read is the collector's work dir of hard links (``binlog/``, ``snapshot/``), or a
tablet's partition directory itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from omsync_tui.core.errors import NotFoundError
from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.openmldb.binlog import list_binlogs
from omsync_tui.openmldb.binlogreader import BinlogReader
from omsync_tui.openmldb.proto import tablet_pb2, type_pb2
from omsync_tui.openmldb.rowcodec import maybe_decompress

MODE_FULL, MODE_INCREMENTAL, MODE_CONTINUOUS = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Pack:
    """One SendData's worth: ``count`` rows concatenated in ``rows``, and where to go on."""

    rows: bytes
    count: int
    next: SyncPoint
    at_end: bool  # the binlog has nothing more right now (FULL mode: the partition is done)
    position: tuple[int, int] | None = None  # binlog (file_index, byte offset) of ``next``


@dataclass
class _Item:
    """A row or entry the packer looked at: its point, and its value if it is to be sent."""

    point: SyncPoint
    value: bytes | None
    after: SyncPoint  # the point right after it
    position: tuple[int, int] | None = None


class PartitionPacker:
    """Reads one partition for one task; not thread-safe (one sync loop owns it)."""

    def __init__(
        self,
        data_dir: Path,
        meta: tablet_pb2.TableMeta,
        *,
        mode: int = MODE_FULL,
        start_ts: int = 0,
        verify_crc: bool = True,
    ) -> None:
        self.dir = data_dir
        self.meta = meta
        self.mode = mode
        self.start_ts = start_ts
        self.verify_crc = verify_crc
        self.snappy = meta.compress_type == type_pb2.kSnappy
        self._cursor: Iterator[_Item | None] | None = None
        self._cursor_at: SyncPoint | None = None  # the point the cursor's next item has
        self._peeked: _Item | None = None
        self._binlog: BinlogReader | None = None

    def close(self) -> None:
        self._drop_cursor()

    def _drop_cursor(self) -> None:
        self._cursor = None
        self._cursor_at = None
        self._peeked = None
        if self._binlog is not None:
            self._binlog.close()
            self._binlog = None

    # -- packing ----------------------------------------------------------------------------------

    def pack(self, start: SyncPoint, max_bytes: int, *, position: tuple[int, int] | None = None) -> Pack:
        """Rows from ``start`` (inclusive); ``position`` resumes a binlog read at a known byte."""
        if self._cursor_at != start:
            self._drop_cursor()
            self._cursor = self._open(start, position)
            self._cursor_at = start
        assert self._cursor is not None
        parts: list[bytes] = []
        size = 0
        next_point = start
        next_position = position
        at_end = False
        while True:
            item = self._peeked if self._peeked is not None else next(self._cursor, None)
            self._peeked = None
            if item is None:
                at_end = next_point.phase is Phase.BINLOG
                if not at_end:
                    # the snapshot is exhausted: the binlog continues after it
                    next_point = self._after_snapshot()
                break
            if item.value is not None:
                if parts and size + len(item.value) > max_bytes:
                    self._peeked = item
                    break
                parts.append(item.value)
                size += len(item.value)
            next_point = item.after
            next_position = item.position
        if next_point.phase is not start.phase:
            self._drop_cursor()  # the next pack opens the binlog
        else:
            self._cursor_at = next_point
        return Pack(b"".join(parts), len(parts), next_point, at_end, next_position)

    def _open(self, start: SyncPoint, position: tuple[int, int] | None) -> Iterator[_Item | None]:
        if start.phase is Phase.BINLOG:
            return self._binlog_items(start, position)
        return self._snapshot_items(start)

    # -- snapshot ---------------------------------------------------------------------------------

    def _manifest(self) -> tablet_pb2.Manifest | None:
        path = self.dir / "snapshot" / "MANIFEST"
        if not path.exists():
            return None
        from omsync_tui.openmldb.metadata import read_manifest

        return read_manifest(path)

    def _after_snapshot(self) -> SyncPoint:
        manifest = self._manifest()
        return SyncPoint.binlog(int(manifest.offset) + 1 if manifest is not None else 1)

    def _snapshot_items(self, start: SyncPoint) -> Iterator[_Item | None]:
        manifest = self._manifest()
        if manifest is None or not manifest.name:
            return  # no snapshot: straight to the binlog from log_index 1
        if start.snapshot and start.snapshot != manifest.name:
            raise NotFoundError(
                f"{self.dir}: the task is pinned to snapshot {start.snapshot}, but the partition now "
                f"holds {manifest.name}",
                hint="the pinned snapshot's links are gone; re-create the task's work dir from its start",
            )
        name = manifest.name
        path = self.dir / "snapshot" / name
        if ".sdb" in name:
            yield from self._memory_items(path, name, start.ordinal)
        else:
            yield from self._disk_items(path, name, start)

    def _memory_items(self, path: Path, name: str, skip: int) -> Iterator[_Item]:
        from omsync_tui.openmldb.memsnapshot import iter_sdb

        ordinal = 0
        for _, entry in iter_sdb(path, verify_crc=self.verify_crc):
            if not any(d.idx == 0 for d in entry.dimensions):
                continue  # stored here for another index: index 0 has it elsewhere
            point = SyncPoint(Phase.SNAPSHOT, snapshot=name, ordinal=ordinal)
            ordinal += 1
            if point.ordinal < skip:
                continue
            after = SyncPoint(Phase.SNAPSHOT, snapshot=name, ordinal=ordinal)
            keep = self.mode != MODE_INCREMENTAL or entry.ts >= self.start_ts
            value = maybe_decompress(entry.value, self.snappy) if keep else None
            yield _Item(point, value, after)

    def _disk_items(self, path: Path, name: str, start: SyncPoint) -> Iterator[_Item]:
        from omsync_tui.openmldb.disksnapshot import DiskSnapshotReader

        seek = (start.pk, start.ts) if start.pk is not None and start.ts is not None else None
        ordinal = start.ordinal
        with DiskSnapshotReader(path, self.meta) as reader:
            rows = reader.iter_index0(start=seek)
            if seek is None:
                # no seek key (a memory-style point): walk past the rows already sent
                for _ in range(ordinal):
                    if next(rows, None) is None:
                        return
            row = next(rows, None)
            while row is not None:
                point = SyncPoint(Phase.SNAPSHOT, snapshot=name, ordinal=ordinal, pk=row.pk, ts=row.ts)
                ordinal += 1
                following = next(rows, None)
                after = (
                    SyncPoint(
                        Phase.SNAPSHOT, snapshot=name, ordinal=ordinal, pk=following.pk, ts=following.ts
                    )
                    if following is not None
                    else SyncPoint(Phase.SNAPSHOT, snapshot=name, ordinal=ordinal)
                )
                # mode 1 filters snapshot rows by index 0's ts, as the original does (§7.3 #10)
                keep = self.mode != MODE_INCREMENTAL or row.ts >= self.start_ts
                yield _Item(point, row.value if keep else None, after)
                row = following

    # -- binlog -----------------------------------------------------------------------------------

    def _binlog_items(self, start: SyncPoint, position: tuple[int, int] | None) -> Iterator[_Item | None]:
        """Binlog entries from ``start``; ``None`` whenever the binlog has nothing more *yet*.

        The generator never ends: the next ``next()`` re-checks the files (the tablet appends and
        rotates), so a cached cursor keeps its byte positions across idle rounds.
        """
        binlog_dir = self.dir / "binlog"
        while not list_binlogs(binlog_dir):
            yield None
        reader = BinlogReader(binlog_dir, start=start.offset, verify_crc=self.verify_crc, position=position)
        self._binlog = reader
        while True:
            batch = reader.read_batch()
            if not len(batch):
                yield None
                continue
            for i, entry in enumerate(batch.entries):
                index = int(entry.log_index)
                where = (batch.file_index, batch.resume_after(i))
                value: bytes | None = None
                if (
                    entry.method_type != tablet_pb2.kDelete
                    and any(d.idx == 0 for d in entry.dimensions)
                    and (self.mode != MODE_INCREMENTAL or entry.ts >= self.start_ts)
                ):
                    value = maybe_decompress(entry.value, self.snappy)
                yield _Item(SyncPoint.binlog(index), value, SyncPoint.binlog(index + 1), where)
