"""Reading a disk-table snapshot: a RocksDB checkpoint written by an OpenMLDB tablet (reference §3.8).

This module owns the collector's walk over index 0 (``disk_table_iterator.cc``
``DiskTableTraverseIterator``): seeking, skipping the other members of a shared inner index,
applying index 0's TTL and decompressing values. The key layout, comparator, inner indexes and
TTLs it walks by live in :mod:`omsync_tui.openmldb.snapshot.diskkeys`.

Reading uses aimrocks' Python API, opened read-only: a collector reads hard links to the tablet's
files, so nothing may be written next to them.

One deliberate difference from OpenMLDB: when a walk resumes with ``Seek(pk, ts)``, OpenMLDB
counts a pk's entries for the latest-N TTL from the seek point, so a resumed walk can emit rows a
walk from the start hides. Here an entry's rank is always counted from its pk's first entry, so a
resumed walk is exactly the suffix of a full walk — what exactly-once resumption needs.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import aimrocks
import cramjam

from omsync_tui.core.errors import FormatError, NotFoundError, UsageError
from omsync_tui.openmldb.proto import type_pb2
from omsync_tui.openmldb.snapshot.diskkeys import (
    MAX_TS,
    TS_LEN,
    TS_POS_LEN,
    ZERO_TS,
    KeyTSComparator,
    TableDefLike,
    encode_key,
    index0_ttl,
    table_inner_indexes,
)

_ROCKS_ERRORS = (
    aimrocks.errors.Corruption,
    aimrocks.errors.RocksIOError,
    aimrocks.errors.NotSupported,
    aimrocks.errors.InvalidArgument,
    aimrocks.errors.Incomplete,
)


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """One index-0 entry: its dimension key, its ts and the encoded row (decompressed)."""

    pk: bytes
    ts: int
    value: bytes


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class DiskSnapshotReader:
    """Walks index 0 of a disk-table checkpoint the way OpenMLDB's collector does.

    ``now_ms`` fixes the clock used for absolute TTLs (default: the clock when each walk starts);
    ``apply_ttl=False`` returns expired entries too.
    """

    def __init__(
        self,
        path: str | Path,
        table_meta: TableDefLike,
        *,
        now_ms: int | None = None,
        apply_ttl: bool = True,
    ) -> None:
        self.path = Path(path)
        self._now_ms = now_ms
        self._apply_ttl = apply_ttl
        compress_type = getattr(table_meta, "compress_type", type_pb2.kNoCompress)
        self._snappy = compress_type == type_pb2.kSnappy
        self.inner_indexes = table_inner_indexes(table_meta)
        self.index0 = self.inner_indexes[0]
        self.ttl = index0_ttl(table_meta)
        self._live: weakref.WeakSet[Generator[tuple[bytes, int, bytes], None, None]] = weakref.WeakSet()
        self._db: aimrocks.DB | None = None
        self._cf: aimrocks.ColumnFamilyHandle | None = None
        self.column_families: list[str] = []
        self._open()

    def _open(self) -> None:
        where = str(self.path)
        if not self.path.exists():
            raise NotFoundError(
                f"{where}: disk snapshot directory does not exist",
                hint="check MANIFEST's name and the path; the tablet may have replaced the checkpoint",
            )
        if not self.path.is_dir() or not (self.path / "CURRENT").is_file():
            raise FormatError(
                "not a RocksDB checkpoint (no CURRENT file)",
                path=where,
                hint="a disk-table snapshot is the directory snapshot/<MANIFEST name>/ of a disk table",
            )
        try:
            listed = aimrocks.list_column_families(where, aimrocks.Options())
            names = [n.decode("utf-8", "replace") for n in listed]
            column_families = {
                n.encode(): aimrocks.ColumnFamilyOptions(comparator=KeyTSComparator())
                for n in names
                if n != "default"
            }
            # "default" keeps the bytewise comparator: OpenMLDB opens it with ColumnFamilyOptions().
            db = aimrocks.DB(where, aimrocks.Options(), column_families=column_families, read_only=True)
        except Exception as exc:  # aimrocks raises its own classes and plain Exception
            detail = exc.args[0] if exc.args else exc  # aimrocks passes RocksDB's status as bytes
            text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
            hint = "the directory must be a complete RocksDB checkpoint of an OpenMLDB disk table"
            if "comparator" in text.lower():
                hint = "not an OpenMLDB disk table: its comparator is not KeyTSComparator"
            raise FormatError(f"cannot open as RocksDB read-only: {text}", path=where, hint=hint) from exc
        cf = db.get_column_family(self.index0.cf_name.encode())
        if cf is None:
            del db  # not db.close(): see close()
            raise FormatError(
                f"column family {self.index0.cf_name!r} of index 0 is missing (found {', '.join(names)})",
                path=where,
                hint="the table meta does not belong to this snapshot (index names differ)",
            )
        self.column_families = names
        self._db = db
        self._cf = cf

    def iter_index0(self, start: tuple[bytes, int] | None = None) -> Iterator[SnapshotRow]:
        """Live index-0 rows in comparator order, from the start or from the first entry ≥ ``start``."""
        snappy = self._snappy
        for pk, ts, value in self._walk(start):
            if snappy:
                try:
                    value = bytes(cramjam.snappy.decompress_raw(value))
                except Exception as exc:  # cramjam raises its own DecompressionError
                    raise FormatError(
                        f"value of pk {pk!r} ts {ts} is not raw snappy: {exc}",
                        path=str(self.path),
                        hint="table meta says compress_type kSnappy; check that it is this table's meta",
                    ) from exc
            yield SnapshotRow(pk, ts, value)

    def count(self, start: tuple[bytes, int] | None = None) -> int:
        """Number of rows :meth:`iter_index0` would return (values are not decompressed)."""
        return sum(1 for _ in self._walk(start))

    def _walk(self, start: tuple[bytes, int] | None) -> Generator[tuple[bytes, int, bytes], None, None]:
        gen = self._walk_impl(start)
        self._live.add(gen)
        return gen

    def _walk_impl(self, start: tuple[bytes, int] | None) -> Generator[tuple[bytes, int, bytes], None, None]:
        if self._db is None:
            raise UsageError(f"{self.path}: snapshot reader is closed")
        shared = self.index0.has_ts_pos
        pos_bytes = self.index0.ts_positions[0].to_bytes(TS_POS_LEN, "little") if shared else b""
        suffix = TS_LEN + len(pos_bytes)
        expired = None
        if self._apply_ttl:
            expired = self.ttl.checker(self._now_ms if self._now_ms is not None else _now_ms())
        it = self._db.iteritems(self._cf)
        try:
            last_pk: bytes | None = None
            rank = 0
            skip_pk: bytes | None = None
            if start is None:
                it.seek_to_first()
            else:
                pk0, ts0 = start
                if expired is not None and self.ttl.ranks_matter():
                    rank = self._rank_before(it, pk0, ts0, pos_bytes)
                    last_pk = pk0
                it.seek(encode_key(pk0, ts0, self.index0.key_ts_pos(0)))
            # seek() inside the loop repositions `it`; the for loop just continues from there.
            for key, value in it:
                if len(key) < suffix:
                    raise FormatError(
                        f"key {key!r} in column family {self.index0.cf_name!r} is under {suffix} bytes",
                        path=str(self.path),
                    )
                # Shared inner index: the other members' entries sit in the same CF; not ours.
                if shared and key[-suffix:-TS_LEN] != pos_bytes:
                    continue
                pk = key[:-suffix]
                if pk == skip_pk:
                    continue
                ts = int.from_bytes(key[-TS_LEN:], "little")
                if pk != last_pk:
                    last_pk = pk
                    rank = 1
                else:
                    rank += 1
                if expired is not None and expired(ts, rank):
                    # Expiry is monotone within a pk (ts falls, rank grows): everything older is
                    # expired too, so jump past the pk as DiskTableTraverseIterator::NextPK does.
                    skip_pk = pk
                    it.seek(pk + pos_bytes + ZERO_TS)
                    continue
                yield pk, ts, value
        except _ROCKS_ERRORS as exc:
            detail = exc.args[0] if exc.args else exc
            text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
            raise FormatError(
                f"reading column family {self.index0.cf_name!r}: {text}", path=str(self.path)
            ) from exc
        finally:
            # An aimrocks iterator keeps its DB alive: drop it now, not when the generator is collected.
            del it

    def _rank_before(self, it: aimrocks.BaseIterator, pk0: bytes, ts0: int, pos_bytes: bytes) -> int:
        """Entries of ``pk0`` newer than ``ts0``, capped at the lat TTL (only "> lat" matters)."""
        cap = self.ttl.lat
        suffix = TS_LEN + len(pos_bytes)
        it.seek(pk0 + pos_bytes + MAX_TS)
        n = 0
        for key, _ in it:
            if n >= cap or len(key) < suffix or key[:-suffix] != pk0 or key[-suffix:-TS_LEN] != pos_bytes:
                break
            if int.from_bytes(key[-TS_LEN:], "little") <= ts0:
                break
            n += 1
        return n

    def close(self) -> None:
        """Release the checkpoint; unfinished walks are closed first (their iterators keep the DB open)."""
        for gen in list(self._live):
            gen.close()
        self._live.clear()
        # Dropping the last reference closes the DB. aimrocks 0.5.2's DB.close() deletes the
        # C++ DB without forgetting it, so its destructor deletes it again and crashes the process.
        self._cf = None
        self._db = None

    def __enter__(self) -> DiskSnapshotReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
