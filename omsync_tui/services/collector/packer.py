"""Turning a partition's files into SendData packs: the collector's read path (reference §1.5).

``PartitionPacker.pack(start, max_bytes)`` returns the encoded rows from ``start`` on, at most
``max_bytes`` of them (a single larger row goes alone, so a partition never stalls — the
original's bug 4), and the point where the next pack continues. It reads:

* the snapshot first — memory ``.sdb`` (entries carrying an index-0 dimension) or disk RocksDB
  index 0 (TTL applied by the reader) — pinned by name, positions counted by ordinal;
* then the binlog from ``MANIFEST.offset + 1``: puts carrying an index-0 dimension only (no
  multi-index duplicates, bug 7), deletes skipped, mode-1 rows with ``ts < start_ts`` skipped;
* values are always handed out snappy-decompressed (bug 8);
* with ``deletes=True``, binlog deletes come along as ``Deletion`` records that say how many of
  the pack's rows precede them (the original never forwards deletes, bug 11).

Between packs the open cursor (snapshot iterator or binlog reader with its byte positions) is
kept when the next ``start`` is the previous pack's ``next``, so nothing is re-scanned; any other
start reopens at that point. The hot paths work on batches of LogEntries read as columns
(``entries/scan.py``: ``BinlogReader.read_columns``, ``iter_sdb_columns``): rows are chosen with boolean
masks, the pack's size limit with a cumulative sum, its bytes cut out with one gather, and points
computed only where a pack ends — no per-row objects between the files and the pack (snappy
values are decompressed one by one, deletes forwarded one by one). Gaps and damaged records raise
the readers' errors: the caller turns them into terminal task errors instead of skipping data; a
fault in the middle of the rows (a value that is not snappy) drops the cursor, so a retry starts
over from ``start`` instead of skipping rows.

The directory read is the collector's work dir of hard links (``binlog/``, ``snapshot/``), or a
tablet's partition directory itself. This module walks the files; what a pack holds, and the
``Filler`` that sizes and gathers its rows, are ``pack``'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from omsync_tui.core.errors import BadRecordError, NotFoundError, OmsyncError
from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.openmldb.binlog.files import BinlogColumns, BinlogGapError, list_binlogs
from omsync_tui.openmldb.binlog.reader import BinlogReader
from omsync_tui.openmldb.entries.scan import DELETE, EntryColumns
from omsync_tui.openmldb.metadata import read_manifest
from omsync_tui.openmldb.proto import tablet_pb2, type_pb2
from omsync_tui.openmldb.row.codec import maybe_decompress
from omsync_tui.openmldb.snapshot.disk import DiskSnapshotReader, SnapshotRow
from omsync_tui.openmldb.snapshot.memory import iter_sdb_columns
from omsync_tui.services.collector.pack import Deletion, Filler, Pack, deletions_of

MODE_FULL, MODE_INCREMENTAL, MODE_CONTINUOUS = 0, 1, 2
_BATCH = 32768  # entries scanned at once: a few packs' worth, so numpy's per-call costs are noise
_U64_MAX = 0xFFFF_FFFF_FFFF_FFFF
MAX_DELETIONS = 10000  # per pack: deletes carry no row bytes, so bound them by count


def _ts_at_least(ts: npt.NDArray[np.uint64], start_ts: int) -> npt.NDArray[np.bool_]:
    """``ts >= start_ts`` for u64 timestamps and any Python int."""
    if start_ts <= 0:
        return np.ones(len(ts), dtype=np.bool_)
    if start_ts > _U64_MAX:
        return np.zeros(len(ts), dtype=np.bool_)
    return ts >= np.uint64(start_ts)


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
        deletes: bool = False,
    ) -> None:
        self.dir = data_dir
        self.deletes = deletes
        self.meta = meta
        self.mode = mode
        self.start_ts = start_ts
        self.verify_crc = verify_crc
        self.snappy = meta.compress_type == type_pb2.kSnappy
        self._at: SyncPoint | None = None  # the point the open cursor stands at
        # snapshot cursor: batches of entries (memory) or rows (disk), with the index into the
        # current batch and the ordinal of the row there
        self._snap_batches: Iterator[EntryColumns] | None = None
        self._rows: Iterator[SnapshotRow] | None = None
        self._entries: EntryColumns | None = None
        self._i = 0
        self._peek: SnapshotRow | None = None
        self._disk: DiskSnapshotReader | None = None
        # binlog cursor
        self._binlog: BinlogReader | None = None
        self._batch: BinlogColumns | None = None
        self._deferred: OmsyncError | None = None  # a fault met after the rows of the last pack

    def close(self) -> None:
        self._drop()

    def _drop(self) -> None:
        self._at = None
        self._deferred = None
        self._snap_batches = None
        self._rows = None
        self._entries = None
        self._i = 0
        self._peek = None
        if self._disk is not None:
            self._disk.close()
            self._disk = None
        if self._binlog is not None:
            self._binlog.close()
            self._binlog = None
        self._batch = None

    def pack(self, start: SyncPoint, max_bytes: int, *, position: tuple[int, int] | None = None) -> Pack:
        """Rows from ``start`` (inclusive); ``position`` resumes a binlog read at a known byte."""
        if self._at != start:
            self._drop()
        elif self._deferred is not None:
            exc, self._deferred = self._deferred, None
            raise exc
        try:
            if start.phase is Phase.BINLOG:
                pack = self._pack_binlog(start, max_bytes, position)
            else:
                pack = self._pack_snapshot(start, max_bytes)
        except (BinlogGapError, BadRecordError):
            if start.phase is not Phase.BINLOG:
                self._drop()
            raise  # the binlog reader is past the fault and consistent: a retry goes on after it
        except BaseException:
            # A fault in the middle of the rows (a value that is not snappy, a snapshot that ends
            # early): the cursor may stand anywhere in the batches read so far, so a retry must
            # start over from ``start`` rather than skip the rows of this failed pack.
            self._drop()
            raise
        if pack.next.phase is not start.phase:
            self._drop()  # the next pack opens the binlog
        else:
            self._at = pack.next
        return pack

    # -- snapshot ---------------------------------------------------------------------------------

    def _manifest(self) -> tablet_pb2.Manifest | None:
        path = self.dir / "snapshot" / "MANIFEST"
        return read_manifest(path) if path.exists() else None

    def _after_snapshot(self) -> SyncPoint:
        manifest = self._manifest()
        return SyncPoint.binlog(int(manifest.offset) + 1 if manifest is not None else 1)

    def _pack_snapshot(self, start: SyncPoint, max_bytes: int) -> Pack:
        manifest = self._manifest()
        if manifest is None or not manifest.name:
            return Pack(b"", 0, self._after_snapshot(), False)  # no snapshot: straight to the binlog
        if start.snapshot and start.snapshot != manifest.name:
            raise NotFoundError(
                f"{self.dir}: the task is pinned to snapshot {start.snapshot}, but the partition now "
                f"holds {manifest.name}",
                hint="the pinned snapshot's links are gone; re-create the task's work dir from its start",
            )
        name = manifest.name
        path = self.dir / "snapshot" / name
        fill = Filler(max_bytes)
        if ".sdb" in name:
            ordinal, done = self._fill_memory(path, start, fill)
            after = SyncPoint(Phase.SNAPSHOT, snapshot=name, ordinal=ordinal)
        else:
            ordinal, done, peek = self._fill_disk(path, start, fill)
            after = SyncPoint(
                Phase.SNAPSHOT,
                snapshot=name,
                ordinal=ordinal,
                pk=peek.pk if peek else None,
                ts=peek.ts if peek else None,
            )
        return Pack(
            fill.pack_rows(),
            fill.count,
            self._after_snapshot() if done else after,
            False,
            sizes=fill.row_sizes(),
        )

    def _fill_memory(self, path: Path, start: SyncPoint, fill: Filler) -> tuple[int, bool]:
        """Index-0 entries of a ``.sdb`` into ``fill``; (ordinal of the next one, exhausted?).

        The ordinal counts index-0 entries (mode 1's ts filter does not change it), so a fresh
        cursor finds its place by counting them.
        """
        if self._snap_batches is None:
            self._snap_batches = iter_sdb_columns(path, verify_crc=self.verify_crc, batch=_BATCH)
            self._entries, self._i = None, 0
            skip = start.ordinal
            while skip:  # a fresh cursor: walk past the index-0 rows already sent
                if self._entries is None or self._i >= len(self._entries):
                    self._entries, self._i = next(self._snap_batches, None), 0
                    if self._entries is None:
                        return start.ordinal, True
                sent = np.flatnonzero(self._entries.index0[self._i :])
                if len(sent) >= skip:
                    self._i += int(sent[skip - 1]) + 1
                    skip = 0
                else:
                    skip -= len(sent)
                    self._i = len(self._entries)
        ordinal = start.ordinal
        incremental = self.mode == MODE_INCREMENTAL
        while True:
            if self._entries is None or self._i >= len(self._entries):
                self._entries, self._i = next(self._snap_batches, None), 0
                if self._entries is None:
                    return ordinal, True
            cols, i0 = self._entries, self._i
            index0 = cols.index0[i0:]
            wanted = index0 & _ts_at_least(cols.ts[i0:], self.start_ts) if incremental else index0
            rows = np.flatnonzero(wanted) + i0
            k = fill.take(cols, rows, self.snappy)
            if k < len(rows):
                stop = int(rows[k])  # the row that did not fit: the next pack starts with it
                self._i = stop
                return ordinal + int(np.count_nonzero(index0[: stop - i0])), False
            ordinal += int(np.count_nonzero(index0))
            self._i = len(cols)

    def _fill_disk(self, path: Path, start: SyncPoint, fill: Filler) -> tuple[int, bool, SnapshotRow | None]:
        """Index-0 rows of a RocksDB checkpoint into ``fill``; (ordinal, exhausted?, next row)."""
        if self._rows is None:
            self._disk = DiskSnapshotReader(path, self.meta)
            seek = (start.pk, start.ts) if start.pk is not None and start.ts is not None else None
            self._rows = self._disk.iter_index0(start=seek)
            if seek is None:
                for _ in range(start.ordinal):  # no seek key: walk past the rows already sent
                    if next(self._rows, None) is None:
                        return start.ordinal, True, None
            self._peek = None
        ordinal = start.ordinal
        incremental = self.mode == MODE_INCREMENTAL
        rows = self._rows
        row = self._peek if self._peek is not None else next(rows, None)
        while row is not None:
            # mode 1 filters snapshot rows by index 0's ts, as the original does (§7.3 #10)
            if (not incremental or row.ts >= self.start_ts) and not fill.add(row.value):
                self._peek = row
                return ordinal, False, row
            ordinal += 1
            row = next(rows, None)
        self._peek = None
        return ordinal, True, None

    # -- binlog -----------------------------------------------------------------------------------

    def _pack_binlog(self, start: SyncPoint, max_bytes: int, position: tuple[int, int] | None) -> Pack:
        binlog_dir = self.dir / "binlog"
        if self._binlog is None:
            if not list_binlogs(binlog_dir):
                return Pack(b"", 0, start, True, position)
            self._binlog = BinlogReader(
                binlog_dir, start=start.offset, verify_crc=self.verify_crc, position=position
            )
            self._batch, self._i = None, 0
        reader = self._binlog
        fill = Filler(max_bytes)
        next_offset, where = start.offset, position
        deletions: list[Deletion] = []
        while True:
            batch = self._batch
            if batch is None or self._i >= len(batch):
                try:
                    batch = self._batch = reader.read_columns(_BATCH)
                except (BinlogGapError, BadRecordError) as exc:
                    if not fill.count and not deletions and next_offset == start.offset:
                        raise
                    # send what came before the fault; the next pack reports it
                    self._deferred = exc
                    self._batch = None
                    return Pack(
                        fill.pack_rows(),
                        fill.count,
                        SyncPoint.binlog(next_offset),
                        False,
                        where,
                        tuple(deletions),
                        fill.row_sizes(),
                    )
                self._i = 0
                if not len(batch):
                    return Pack(
                        fill.pack_rows(),
                        fill.count,
                        SyncPoint.binlog(next_offset),
                        True,
                        where,
                        tuple(deletions),
                        fill.row_sizes(),
                    )
            i = self._fill_binlog(batch.cols, self._i, fill, deletions)
            if i > self._i:
                next_offset = int(batch.cols.log_index[i - 1]) + 1
                where = (batch.file_index, batch.resume_after(i - 1))
            self._i = i
            if i < len(batch):
                return Pack(
                    fill.pack_rows(),
                    fill.count,
                    SyncPoint.binlog(next_offset),
                    False,
                    where,
                    tuple(deletions),
                    fill.row_sizes(),
                )

    def _fill_binlog(self, cols: EntryColumns, i0: int, fill: Filler, deletions: list[Deletion]) -> int:
        """Entries ``i0:`` of a batch into ``fill`` (and ``deletions``); returns where it stopped.

        Puts carrying an index-0 dimension (mode 1: ``ts >= start_ts``) are rows; deletes are
        forwarded when asked, at most ``MAX_DELETIONS`` per pack; the batch is consumed up to the
        first entry that does not fit (its index is returned; ``len(cols)``: all consumed).
        """
        n = len(cols)
        deletes = cols.method[i0:] == DELETE
        wanted = cols.index0[i0:] & ~deletes
        if self.mode == MODE_INCREMENTAL:
            wanted &= _ts_at_least(cols.ts[i0:], self.start_ts)
        rows = np.flatnonzero(wanted) + i0
        if not self.deletes or not deletes.any():
            k = fill.take(cols, rows, self.snappy)
            return int(rows[k]) if k < len(rows) else n
        if self.snappy:
            return self._fill_in_order(cols, i0, rows, np.flatnonzero(deletes) + i0, fill, deletions)
        # Plain values: which rows fit does not depend on the deletes in between, so find that
        # first, then forward the deletes before it in order (a full list of them stops earlier).
        fits = fill.fit(cols.value_end[rows] - cols.value_start[rows])
        stop = int(rows[fits]) if fits < len(rows) else n
        for d in (np.flatnonzero(deletes[: stop - i0]) + i0).tolist():
            if len(deletions) >= MAX_DELETIONS:
                stop = d
                break
            before = fill.count + int(np.searchsorted(rows, d))
            deletions += deletions_of(cols.entry(d), before)
        rows = rows[rows < stop]
        fill.take(cols, rows, False)
        return stop

    def _fill_in_order(
        self,
        cols: EntryColumns,
        i0: int,
        rows: npt.NDArray[np.int64],
        deletes: npt.NDArray[np.int64],
        fill: Filler,
        deletions: list[Deletion],
    ) -> int:
        """``_fill_binlog`` one entry at a time, for snappy values with deletes to forward."""
        is_row = set(rows.tolist())
        is_delete = set(deletes.tolist())
        for i in range(i0, len(cols)):
            if i in is_row:
                if not fill.add(maybe_decompress(cols.value(i), True)):
                    return i
            elif i in is_delete:
                if len(deletions) >= MAX_DELETIONS:
                    return i
                deletions += deletions_of(cols.entry(i), fill.count)
        return len(cols)
