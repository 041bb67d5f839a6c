"""Disk-table snapshots: RocksDB checkpoints written by an OpenMLDB tablet (reference §3.8).

This module owns what a reader (and the sandbox writer) must agree on with OpenMLDB's
``src/storage``: the key layout ``pk ‖ [ts_pos u32 LE] ‖ ts u64 LE`` (``key_transform.h``), the
``KeyTSComparator`` order (``disk_table.h``), how column keys are grouped into inner indexes and
column families (``schema.cc`` ``FillIndexVal``), index TTLs (``schema.h`` ``TTLSt``) and the
collector's walk over index 0 (``disk_table_iterator.cc`` ``DiskTableTraverseIterator``).

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
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import Protocol

import aimrocks
import aimrocks.interfaces
import cramjam

from omsync_tui.core.errors import FormatError, NotFoundError, UsageError
from omsync_tui.openmldb.proto import common_pb2, type_pb2

COMPARATOR_NAME = b"KeyTSComparator"
AUTO_TS_POS = 0xFFFFFFFF
"""ts_pos of an index without a ts column (OpenMLDB ``DEFAULT_TS_COL_ID`` = UINT32_MAX)."""
DEFAULT_INDEX_NAME = "idx0"
"""Index (and column family) OpenMLDB invents for a table without column keys."""

TS_LEN = 8
TS_POS_LEN = 4
_U64_MAX = (1 << 64) - 1
_U32_MAX = (1 << 32) - 1
_ZERO_TS = bytes(TS_LEN)
_MAX_TS = b"\xff" * TS_LEN
_ROCKS_ERRORS = (
    aimrocks.errors.Corruption,
    aimrocks.errors.RocksIOError,
    aimrocks.errors.NotSupported,
    aimrocks.errors.InvalidArgument,
    aimrocks.errors.Incomplete,
)


# --------------------------------------------------------------------------------------------
# keys and their order


def encode_key(pk: bytes, ts: int, ts_pos: int | None = None) -> bytes:
    """RocksDB key of one entry: ``pk ‖ [ts_pos u32 LE] ‖ ts u64 LE`` (``CombineKeyTs``).

    ``ts_pos`` is given only for inner indexes shared by several indexes.
    """
    if not 0 <= ts <= _U64_MAX:
        raise UsageError(f"timestamp {ts} does not fit an unsigned 64-bit key suffix")
    if ts_pos is None:
        return pk + ts.to_bytes(TS_LEN, "little")
    if not 0 <= ts_pos <= _U32_MAX:
        raise UsageError(f"ts_pos {ts_pos} does not fit an unsigned 32-bit key field")
    return pk + ts_pos.to_bytes(TS_POS_LEN, "little") + ts.to_bytes(TS_LEN, "little")


def decode_key(key: bytes, with_ts_pos: bool) -> tuple[bytes, int | None, int]:
    """``(pk, ts_pos, ts)`` of a key; ``ts_pos`` is None unless ``with_ts_pos``."""
    suffix = TS_LEN + TS_POS_LEN if with_ts_pos else TS_LEN
    if len(key) < suffix:
        raise FormatError(f"RocksDB key of {len(key)} bytes is shorter than its {suffix}-byte suffix")
    ts = int.from_bytes(key[-TS_LEN:], "little")
    if with_ts_pos:
        return key[:-suffix], int.from_bytes(key[-suffix:-TS_LEN], "little"), ts
    return key[:-suffix], None, ts


def compare_keys(a: bytes, b: bytes) -> int:
    """OpenMLDB's ``KeyTSComparator``: all but the last 8 bytes bytewise ascending, then ts descending.

    Keys shorter than 8 bytes compare as (empty, ts 0), as ``ParseKeyAndTs`` leaves them. This runs
    inside RocksDB for every comparison, hence slices instead of decoding: the reversed LE suffix is
    the big-endian ts, and equal-length big-endian bytes order like the numbers.
    """
    ra = a[:-TS_LEN]
    rb = b[:-TS_LEN]
    if ra != rb:
        return -1 if ra < rb else 1
    ta = a[: -TS_LEN - 1 : -1] if len(a) >= TS_LEN else _ZERO_TS
    tb = b[: -TS_LEN - 1 : -1] if len(b) >= TS_LEN else _ZERO_TS
    if ta == tb:
        return 0
    return -1 if ta > tb else 1


def key_sort_key(key: bytes) -> tuple[bytes, int]:
    """A ``sorted`` key that orders keys as :func:`compare_keys` does (for keys of ≥ 8 bytes)."""
    return key[:-TS_LEN], -int.from_bytes(key[-TS_LEN:], "little")


class KeyTSComparator(aimrocks.interfaces.Comparator):  # type: ignore[misc]
    """``compare_keys`` under the name RocksDB recorded in an OpenMLDB table's MANIFEST."""

    def compare(self, a: bytes, b: bytes) -> int:
        return compare_keys(a, b)

    def name(self) -> bytes:
        return COMPARATOR_NAME


# --------------------------------------------------------------------------------------------
# inner indexes and TTLs


class TtlType(IntEnum):
    """The four TTL kinds a tablet applies (``storage::TTLType``; kRelativeTime maps to ABSOLUTE)."""

    ABSOLUTE = type_pb2.kAbsoluteTime
    LATEST = type_pb2.kLatestTime
    ABS_AND_LAT = type_pb2.kAbsAndLat
    ABS_OR_LAT = type_pb2.kAbsOrLat


@dataclass(frozen=True, slots=True)
class Ttl:
    """An index's TTL as the tablet holds it: ``abs_ms`` in milliseconds (0 = none), ``lat`` entries."""

    ttl_type: TtlType = TtlType.ABSOLUTE
    abs_ms: int = 0
    lat: int = 0

    @classmethod
    def from_column_key(cls, column_key: common_pb2.ColumnKey) -> Ttl:
        # No ttl field → TTLSt(): absolute, 0 → never expires. Unknown types fall back to absolute,
        # as TTLSt::ConvertTTLType does.
        if not column_key.HasField("ttl"):
            return cls()
        proto = column_key.ttl
        try:
            kind = TtlType(proto.ttl_type)
        except ValueError:
            kind = TtlType.ABSOLUTE
        return cls(kind, proto.abs_ttl * 60_000, proto.lat_ttl)

    def checker(self, now_ms: int) -> Callable[[int, int], bool] | None:
        """``expired(ts, rank)`` for a walk started at ``now_ms``, or None when nothing can expire.

        Same arithmetic as ``DiskTable::GetExpireTime`` + ``ExpiredChecker``: the cut-off is an
        unsigned ``now - abs_ttl`` and a cut-off of 0 means "no absolute TTL"; ``rank`` counts a
        pk's entries from 1.
        """
        cutoff = 0
        if self.ttl_type != TtlType.LATEST and self.abs_ms:
            cutoff = (now_ms - self.abs_ms) & _U64_MAX
        lat = self.lat
        kind = self.ttl_type
        if kind == TtlType.ABSOLUTE or (kind == TtlType.ABS_OR_LAT and not lat):
            return None if not cutoff else (lambda ts, rank: ts <= cutoff)
        if kind == TtlType.LATEST or (kind == TtlType.ABS_OR_LAT and not cutoff):
            return None if not lat else (lambda ts, rank: rank > lat)
        if kind == TtlType.ABS_AND_LAT:
            if not cutoff or not lat:
                return None
            return lambda ts, rank: ts <= cutoff and rank > lat
        return lambda ts, rank: ts <= cutoff or rank > lat

    def ranks_matter(self) -> bool:
        """Whether expiry depends on an entry's rank within its pk."""
        return bool(self.lat) and self.ttl_type != TtlType.ABSOLUTE


@dataclass(frozen=True, slots=True)
class InnerIndex:
    """Column keys stored together in one column family.

    ``members`` are column-key positions; ``ts_positions[i]`` is the schema position of member i's
    ts column (``AUTO_TS_POS`` without one), ``ready[i]`` is False for a deleted index (flag 1).
    """

    position: int
    cf_name: str
    members: tuple[int, ...]
    ts_positions: tuple[int, ...]
    ready: tuple[bool, ...]

    @property
    def has_ts_pos(self) -> bool:
        # Counted over all members, deleted ones included: DiskTable::Put tests
        # inner_index->GetIndex().size() > 1 and deleted indexes stay in the inner index.
        return len(self.members) > 1

    def ts_pos_of(self, index_pos: int) -> int:
        """Schema position of ``index_pos``'s ts column (``AUTO_TS_POS`` without one)."""
        return self.ts_positions[self.members.index(index_pos)]

    def key_ts_pos(self, index_pos: int) -> int | None:
        """The ``ts_pos`` field of ``index_pos``'s keys: None unless the inner index is shared."""
        return self.ts_pos_of(index_pos) if self.has_ts_pos else None


def inner_indexes(columns: Sequence[str], column_keys: Sequence[common_pb2.ColumnKey]) -> list[InnerIndex]:
    """Group column keys into inner indexes exactly as ``TableIndex::FillIndexVal`` does.

    ``columns`` are the column names in schema order (``column_desc`` then ``added_column_desc``).
    Column keys with the same key columns (one name; several joined with a trailing ``|`` each; the
    index name when there are none) share one inner index named after its first member. Deleted
    indexes are grouped like live ones: the tablet still opens their column family.
    """
    positions = {name: pos for pos, name in enumerate(columns)}
    if not column_keys:
        # ParseFromMeta's fallback: one index "idx0" on the insert time, never expiring.
        return [InnerIndex(0, DEFAULT_INDEX_NAME, (0,), (AUTO_TS_POS,), (True,))]
    seen_names: set[str] = set()
    groups: dict[str, list[int]] = {}
    ts_of: list[int] = []
    for pos, key in enumerate(column_keys):
        if key.index_name in seen_names:
            raise FormatError(
                f"index name {key.index_name!r} appears twice in column_key",
                hint="OpenMLDB refuses to load such a table (TableIndex::AddIndex)",
            )
        seen_names.add(key.index_name)
        for col in key.col_name:
            if col not in positions:
                raise FormatError(f"index {key.index_name!r} uses unknown key column {col!r}")
        if key.ts_name:
            if key.ts_name not in positions:
                raise FormatError(f"index {key.index_name!r} uses unknown ts column {key.ts_name!r}")
            ts_of.append(positions[key.ts_name])
        else:
            ts_of.append(AUTO_TS_POS)
        if not key.col_name:
            combined = key.index_name
        elif len(key.col_name) == 1:
            combined = key.col_name[0]
        else:
            combined = "".join(col + "|" for col in key.col_name)
        groups.setdefault(combined, []).append(pos)
    result = []
    for inner_pos, members in enumerate(groups.values()):
        result.append(
            InnerIndex(
                position=inner_pos,
                cf_name=column_keys[members[0]].index_name,
                members=tuple(members),
                ts_positions=tuple(ts_of[m] for m in members),
                ready=tuple(column_keys[m].flag == 0 for m in members),
            )
        )
    return result


class _ColumnDescLike(Protocol):
    name: str


class _TableDefLike(Protocol):
    """What ``TableMeta`` (tablet) and ``TableInfo`` (nameserver) share for indexes."""

    @property
    def column_desc(self) -> Sequence[_ColumnDescLike]: ...
    @property
    def added_column_desc(self) -> Sequence[_ColumnDescLike]: ...
    @property
    def column_key(self) -> Sequence[common_pb2.ColumnKey]: ...


def table_inner_indexes(table: _TableDefLike) -> list[InnerIndex]:
    """:func:`inner_indexes` of a ``TableMeta`` or ``TableInfo``."""
    columns = [c.name for c in table.column_desc] + [c.name for c in table.added_column_desc]
    return inner_indexes(columns, list(table.column_key))


def index0_ttl(table: _TableDefLike) -> Ttl:
    """TTL of column key 0 (never expiring when the table has no column keys)."""
    return Ttl.from_column_key(table.column_key[0]) if table.column_key else Ttl()


# --------------------------------------------------------------------------------------------
# reading a checkpoint


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
        table_meta: _TableDefLike,
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
                    it.seek(pk + pos_bytes + _ZERO_TS)
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
        it.seek(pk0 + pos_bytes + _MAX_TS)
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
