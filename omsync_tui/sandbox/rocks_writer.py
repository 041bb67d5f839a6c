"""The sandbox tablet's disk-table storage: a RocksDB laid out as OpenMLDB's ``DiskTable`` lays it out.

Column families ``default`` + one per inner index (named after its first index), keys
``pk ‖ [ts_pos] ‖ ts`` under the ``KeyTSComparator``, values stored as given (already snappy
compressed for kSnappy tables, as in the binlog), deletes as range deletions over
``(end_ts, start_ts]``, WAL disabled, checkpoints by RocksDB's ``Checkpoint`` — so a
:class:`~omsync_tui.openmldb.snapshot.disk.DiskSnapshotReader` cannot tell it from a real tablet's.

The RocksDB calls go through the ctypes binding in :mod:`omsync_tui.sandbox.rocks_capi`, whose
comparator is a Python callback, slow on RocksDB's background threads. So writes avoid the
memtable: puts are buffered, sorted in Python and written with ``SstFileWriter`` (one comparison
per key, on the calling thread), then ingested; auto compactions are off. Only range deletions go
through the memtable (a handful of comparisons when it is flushed).
"""

from __future__ import annotations

import ctypes
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

from omsync_tui.core.errors import UsageError
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.snapshot.diskkeys import (
    TS_LEN,
    TS_POS_LEN,
    InnerIndex,
    encode_key,
    table_inner_indexes,
)
from omsync_tui.sandbox.rocks_capi import ErrorSlot, load_rocks, release_db

_U64_MAX = (1 << 64) - 1


class DiskTableWriter:
    """A disk table's RocksDB, written the way ``DiskTable::Put`` / ``Delete`` write it.

    Puts are buffered (at most ``max_pending`` entries) and reach RocksDB on :meth:`flush`,
    :meth:`checkpoint`, :meth:`close` or when the buffer is full; within and across flushes the
    latest put of a key wins.
    """

    def __init__(
        self, db_path: str | Path, table_meta: tablet_pb2.TableMeta, *, max_pending: int = 500_000
    ) -> None:
        self.path = Path(db_path)
        self.inner_indexes: list[InnerIndex] = table_inner_indexes(table_meta)
        self._max_pending = max_pending
        self._rocks = load_rocks()
        lib = self._rocks.lib
        self._lib = lib
        self._err = ErrorSlot(lib, str(self.path))
        # index position -> (inner index, ts_pos bytes in its keys ("" unless shared))
        self._index: dict[int, tuple[InnerIndex, bytes]] = {}
        for inner in self.inner_indexes:
            for member in inner.members:
                pos = inner.key_ts_pos(member)
                self._index[member] = (inner, b"" if pos is None else pos.to_bytes(TS_POS_LEN, "little"))
        # per inner index: (pk ‖ ts_pos) -> {ts: value}; the nesting lets a delete find its pk's
        # pending entries without scanning the buffer.
        self._pending: list[dict[bytes, dict[int, bytes]]] = [{} for _ in self.inner_indexes]
        self._n_pending = 0

        self._db_opts = lib.rocksdb_options_create()
        lib.rocksdb_options_set_create_if_missing(self._db_opts, 1)
        lib.rocksdb_options_set_create_missing_column_families(self._db_opts, 1)
        self._cf_opts = lib.rocksdb_options_create()
        lib.rocksdb_options_set_comparator(self._cf_opts, self._rocks.comparator)
        # Compaction would run the Python comparator on background threads (slow, and it holds
        # up close()); a reader copes with any number of files.
        lib.rocksdb_options_set_disable_auto_compactions(self._cf_opts, 1)

        try:
            self.path.mkdir(parents=True, exist_ok=True)
            names = ["default"] + [inner.cf_name for inner in self.inner_indexes]
            for existing in self._existing_column_families():
                if existing not in names:
                    names.append(existing)  # RocksDB insists every column family is opened
            c_names = (ctypes.c_char_p * len(names))(*(n.encode() for n in names))
            c_opts = (ctypes.c_void_p * len(names))(
                *(self._db_opts if n == "default" else self._cf_opts for n in names)
            )
            c_handles = (ctypes.c_void_p * len(names))()
            self._db: int = lib.rocksdb_open_column_families(
                self._db_opts, str(self.path).encode(), len(names), c_names, c_opts, c_handles, self._err.ref
            )
            self._err.check("open")
        except BaseException:
            for opts in (self._db_opts, self._cf_opts):
                lib.rocksdb_options_destroy(opts)
            raise
        handles = [int(h or 0) for h in c_handles]
        self._cf = {name: handle for name, handle in zip(names, handles, strict=True)}
        self._write_opts = lib.rocksdb_writeoptions_create()
        lib.rocksdb_writeoptions_disable_WAL(self._write_opts, 1)  # OpenMLDB's --disable_wal=true
        self._flush_opts = lib.rocksdb_flushoptions_create()
        lib.rocksdb_flushoptions_set_wait(self._flush_opts, 1)
        owned = [
            ("rocksdb_options_destroy", self._db_opts),
            ("rocksdb_options_destroy", self._cf_opts),
            ("rocksdb_writeoptions_destroy", self._write_opts),
            ("rocksdb_flushoptions_destroy", self._flush_opts),
        ]
        # Also closes a writer nobody closed, at the latest when the interpreter exits — while
        # Python can still run the comparator callbacks RocksDB calls on shutdown.
        self._finalizer = weakref.finalize(self, release_db, lib, self._db, handles, owned)

    def _existing_column_families(self) -> list[str]:
        if not (self.path / "CURRENT").exists():
            return []
        count = ctypes.c_size_t()
        listed = self._lib.rocksdb_list_column_families(
            self._db_opts, str(self.path).encode(), ctypes.byref(count), self._err.ref
        )
        self._err.check("list column families")
        try:
            return [(listed[i] or b"").decode() for i in range(count.value)]
        finally:
            self._lib.rocksdb_list_column_families_destroy(listed, count.value)

    def _require_open(self) -> None:
        if not self._finalizer.alive:
            raise UsageError(f"{self.path}: disk table writer is closed")

    def put(self, dimensions: Iterable[tuple[int, bytes]], ts: int | Mapping[int, int], value: bytes) -> None:
        """Store ``value`` under each ``(index_position, key)`` dimension of this partition.

        ``ts`` is the row's ts for every index, or index position -> ts (the row's ts-column value,
        or the put time for an index without ts column). Like ``DiskTable::Put``, a negative ts
        rejects the whole row, and dimensions of deleted indexes are written all the same.
        """
        self._require_open()
        entries = []
        for index_pos, key in dimensions:
            found = self._index.get(index_pos)
            if found is None:
                raise UsageError(f"{self.path}: table has no index at position {index_pos}")
            inner, pos_bytes = found
            try:
                row_ts = ts if isinstance(ts, int) else ts[index_pos]
            except KeyError:
                raise UsageError(f"{self.path}: no ts given for index {index_pos}") from None
            if not 0 <= row_ts <= _U64_MAX:
                raise UsageError(f"{self.path}: ts {row_ts} of index {index_pos} is negative or too large")
            entries.append((inner.position, key + pos_bytes, row_ts))
        for inner_pos, prefix, row_ts in entries:
            by_ts = self._pending[inner_pos].setdefault(prefix, {})
            if row_ts not in by_ts:
                self._n_pending += 1
            by_ts[row_ts] = value
        if self._n_pending >= self._max_pending:
            self._write_pending()

    def delete(
        self, index_pos: int, key: bytes, *, start_ts: int | None = None, end_ts: int | None = None
    ) -> None:
        """Delete ``key``'s entries of index ``index_pos`` with ``end_ts < ts <= start_ts``.

        Defaults as in ``DiskTable::Delete``: start = UINT64_MAX, end = 0 — so even a whole-key
        delete keeps an entry with ts 0, as OpenMLDB's range deletion does.
        """
        self._require_open()
        found = self._index.get(index_pos)
        if found is None:
            raise UsageError(f"{self.path}: table has no index at position {index_pos}")
        inner, pos_bytes = found
        if not inner.ready[inner.members.index(index_pos)]:
            raise UsageError(f"{self.path}: index {index_pos} is deleted; OpenMLDB refuses deletes on it")
        high = _U64_MAX if start_ts is None else start_ts
        low = 0 if end_ts is None else end_ts
        if not (0 <= low <= _U64_MAX and 0 <= high <= _U64_MAX):
            raise UsageError(f"{self.path}: delete range ({low}, {high}] is outside unsigned 64-bit")
        if high <= low:
            return
        prefix = key + pos_bytes
        pending = self._pending[inner.position].get(prefix)
        if pending:
            for stamp in [t for t in pending if low < t <= high]:
                del pending[stamp]
                self._n_pending -= 1
            if not pending:
                del self._pending[inner.position][prefix]
        begin = encode_key(prefix, high)
        end = encode_key(prefix, low)
        lib = self._lib
        batch = lib.rocksdb_writebatch_create()
        try:
            lib.rocksdb_writebatch_delete_range_cf(
                batch, self._cf[inner.cf_name], begin, len(begin), end, len(end)
            )
            lib.rocksdb_write(self._db, self._write_opts, batch, self._err.ref)
            self._err.check("delete range")
        finally:
            lib.rocksdb_writebatch_destroy(batch)

    def _write_pending(self) -> None:
        """Buffered puts → one sorted SST per inner index → ingested (newer than all it overlaps)."""
        if not self._n_pending:
            return
        lib = self._lib
        env = lib.rocksdb_envoptions_create()
        ingest = lib.rocksdb_ingestexternalfileoptions_create()
        lib.rocksdb_ingestexternalfileoptions_set_move_files(ingest, 1)
        workdir = Path(tempfile.mkdtemp(prefix=".omsync-ingest-", dir=self.path))
        try:
            for inner, pending in zip(self.inner_indexes, self._pending, strict=True):
                if not pending:
                    continue
                sst = workdir / f"{inner.position}.sst"
                writer = lib.rocksdb_sstfilewriter_create(env, self._cf_opts)
                try:
                    lib.rocksdb_sstfilewriter_open(writer, str(sst).encode(), self._err.ref)
                    self._err.check("open SST writer")
                    put = lib.rocksdb_sstfilewriter_put
                    ref = self._err.ref
                    # Sorted by (pk ‖ ts_pos) ascending, then ts descending: KeyTSComparator order,
                    # which SstFileWriter demands.
                    for prefix in sorted(pending):
                        by_ts = pending[prefix]
                        for stamp in sorted(by_ts, reverse=True):
                            k = prefix + stamp.to_bytes(TS_LEN, "little")
                            v = by_ts[stamp]
                            put(writer, k, len(k), v, len(v), ref)
                            if self._err.slot.value:
                                self._err.check("write SST")
                    lib.rocksdb_sstfilewriter_finish(writer, ref)
                    self._err.check("finish SST")
                finally:
                    lib.rocksdb_sstfilewriter_destroy(writer)
                files = (ctypes.c_char_p * 1)(str(sst).encode())
                lib.rocksdb_ingest_external_file_cf(
                    self._db, self._cf[inner.cf_name], files, 1, ingest, self._err.ref
                )
                self._err.check("ingest SST")
                pending.clear()
            self._n_pending = 0
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            lib.rocksdb_ingestexternalfileoptions_destroy(ingest)
            lib.rocksdb_envoptions_destroy(env)

    def flush(self) -> None:
        """Make everything written so far part of the SST files (buffer and memtables)."""
        self._require_open()
        self._write_pending()
        for handle in self._cf.values():
            self._lib.rocksdb_flush_cf(self._db, self._flush_opts, handle, self._err.ref)
            self._err.check("flush")

    def checkpoint(self, dest_dir: str | Path) -> Path:
        """RocksDB checkpoint of the table at ``dest_dir`` (must not exist), as ``CreateCheckPoint``."""
        dest = Path(dest_dir)
        if dest.exists():
            raise UsageError(f"{dest}: checkpoint directory already exists", hint="RocksDB creates it itself")
        self.flush()
        dest.parent.mkdir(parents=True, exist_ok=True)
        lib = self._lib
        checkpoint = lib.rocksdb_checkpoint_object_create(self._db, self._err.ref)
        self._err.check("create checkpoint object")
        try:
            # log_size_for_flush 0 = always flush, CreateCheckpoint's default (WAL is off, so
            # data still in a memtable would otherwise be missing from the checkpoint).
            lib.rocksdb_checkpoint_create(checkpoint, str(dest).encode(), 0, self._err.ref)
            self._err.check("create checkpoint")
        finally:
            lib.rocksdb_checkpoint_object_destroy(checkpoint)
        return dest

    def close(self) -> None:
        """Flush and close; later calls do nothing."""
        if not self._finalizer.alive:
            return
        try:
            self.flush()
        finally:
            self._finalizer()

    def __enter__(self) -> DiskTableWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
