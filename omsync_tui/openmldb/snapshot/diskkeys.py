"""The layout of an OpenMLDB disk table: what its RocksDB holds and in which order (reference §3.8).

This module owns what a reader (:mod:`omsync_tui.openmldb.snapshot.disk`) and the sandbox writer
(:mod:`omsync_tui.sandbox.rocks_writer`) must agree on with OpenMLDB's ``src/storage``: the key
layout ``pk ‖ [ts_pos u32 LE] ‖ ts u64 LE`` (``key_transform.h``), the ``KeyTSComparator`` order
(``disk_table.h``), how column keys are grouped into inner indexes and column families
(``schema.cc`` ``FillIndexVal``) and index TTLs (``schema.h`` ``TTLSt``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import aimrocks.interfaces

from omsync_tui.core.errors import FormatError, UsageError
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
ZERO_TS = bytes(TS_LEN)
"""ts 0 as a key suffix: a pk's last possible entry in comparator order."""
MAX_TS = b"\xff" * TS_LEN
"""ts UINT64_MAX as a key suffix: a pk's first possible entry in comparator order."""


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
    ta = a[: -TS_LEN - 1 : -1] if len(a) >= TS_LEN else ZERO_TS
    tb = b[: -TS_LEN - 1 : -1] if len(b) >= TS_LEN else ZERO_TS
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


class TableDefLike(Protocol):
    """What ``TableMeta`` (tablet) and ``TableInfo`` (nameserver) share for indexes."""

    @property
    def column_desc(self) -> Sequence[_ColumnDescLike]: ...
    @property
    def added_column_desc(self) -> Sequence[_ColumnDescLike]: ...
    @property
    def column_key(self) -> Sequence[common_pb2.ColumnKey]: ...


def table_inner_indexes(table: TableDefLike) -> list[InnerIndex]:
    """:func:`inner_indexes` of a ``TableMeta`` or ``TableInfo``."""
    columns = [c.name for c in table.column_desc] + [c.name for c in table.added_column_desc]
    return inner_indexes(columns, list(table.column_key))


def index0_ttl(table: TableDefLike) -> Ttl:
    """TTL of column key 0 (never expiring when the table has no column keys)."""
    return Ttl.from_column_key(table.column_key[0]) if table.column_key else Ttl()
