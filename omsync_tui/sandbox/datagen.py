"""Deterministic table shapes and row values for the sandbox cluster.

Rows are a pure function of ``(seed, row number)`` so a test, the demo and a person at the shell
all see the same data. Values exercise the codec: NULLs (in key columns too), unicode, empty and
long strings, extreme integers, NaN/inf floats, dates at both ends of OpenMLDB's range.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from omsync_tui.core.errors import UsageError
from omsync_tui.openmldb.schema import Column, ColumnType

Value = object

_WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "naïve",
    "café",
    "日本語",
    "Ελληνικά",
    "emoji😀",
    "tab\tsep",
    'quote"d',
    "comma,sep",
    "back\\slash",
    "new\nline",
    "",
    "x",
]


@dataclass(frozen=True)
class IndexSpec:
    """One ``column_key``: key columns and an optional ts column (``None`` = insert time)."""

    name: str
    columns: tuple[str, ...]
    ts_column: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """What ``CREATE TABLE`` says: the sandbox turns it into TableInfo, TableMeta and files."""

    db: str
    name: str
    columns: tuple[Column, ...]
    indexes: tuple[IndexSpec, ...]
    partition_num: int = 2
    storage: str = "memory"  # memory | ssd | hdd
    snappy: bool = False
    abs_ttl_minutes: int = 0
    lat_ttl: int = 0

    def __post_init__(self) -> None:
        names = {c.name for c in self.columns}
        if self.storage not in ("memory", "ssd", "hdd"):
            raise UsageError(f"storage {self.storage!r} is not one of memory, ssd, hdd")
        if self.partition_num < 1:
            raise UsageError("a table needs at least one partition")
        if not self.indexes:
            raise UsageError(f"table {self.db}.{self.name} needs at least one index")
        for ix in self.indexes:
            missing = [c for c in (*ix.columns, *([ix.ts_column] if ix.ts_column else [])) if c not in names]
            if missing:
                raise UsageError(f"index {ix.name} names unknown columns {missing}")

    @property
    def full_name(self) -> str:
        return f"{self.db}.{self.name}"


def _c(name: str, t: ColumnType, not_null: bool = False) -> Column:
    return Column(name, t, not_null)


MIXED_COLUMNS = (
    _c("id", ColumnType.BIGINT, True),
    _c("user", ColumnType.STRING),
    _c("amount", ColumnType.DOUBLE),
    _c("qty", ColumnType.INT),
    _c("vip", ColumnType.BOOL),
    _c("level", ColumnType.SMALLINT),
    _c("ratio", ColumnType.FLOAT),
    _c("day", ColumnType.DATE),
    _c("ts", ColumnType.TIMESTAMP, True),
    _c("note", ColumnType.VARCHAR),
)

PRESETS: dict[str, tuple[tuple[Column, ...], tuple[IndexSpec, ...]]] = {
    # one index: the shape most OpenMLDB tables have
    "mixed": (MIXED_COLUMNS, (IndexSpec("idx_user", ("user",), "ts"),)),
    # three indexes on different keys: each row lands in up to three partitions' binlogs
    "multiindex": (
        MIXED_COLUMNS,
        (
            IndexSpec("idx_user", ("user",), "ts"),
            IndexSpec("idx_id", ("id",), "ts"),
            IndexSpec("idx_user_day", ("user", "day"), None),
        ),
    ),
    # two indexes on the same key with different ts columns: a shared inner index (ts_pos keys)
    "sharedkey": (
        (*MIXED_COLUMNS, _c("ts2", ColumnType.TIMESTAMP, True)),
        (IndexSpec("idx_user", ("user",), "ts"), IndexSpec("idx_user2", ("user",), "ts2")),
    ),
}


def preset_spec(
    preset: str,
    db: str,
    name: str,
    *,
    partition_num: int = 2,
    storage: str = "memory",
    snappy: bool = False,
    abs_ttl_minutes: int = 0,
    lat_ttl: int = 0,
) -> TableSpec:
    if preset not in PRESETS:
        raise UsageError(f"unknown table preset {preset!r}", hint="choose one of: " + ", ".join(PRESETS))
    columns, indexes = PRESETS[preset]
    return TableSpec(db, name, columns, indexes, partition_num, storage, snappy, abs_ttl_minutes, lat_ttl)


def float32(value: float) -> float:
    """The float a FLOAT column really stores, so ground truth equals what a decoder returns."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


BASE_TS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


class RowGenerator:
    """Row ``n`` of a table, deterministic from ``seed``; ``ts``-typed key/ts columns grow with n."""

    def __init__(self, columns: Sequence[Column], seed: int, *, key_cardinality: int = 50) -> None:
        self.columns = tuple(columns)
        self.seed = seed
        self.key_cardinality = key_cardinality

    def row(self, n: int) -> list[Value]:
        rng = random.Random(self.seed * 1_000_003 + n)
        return [self._value(rng, col, n) for col in self.columns]

    def rows(self, start: int, count: int) -> list[list[Value]]:
        return [self.row(n) for n in range(start, start + count)]

    def _value(self, rng: random.Random, col: Column, n: int) -> Value:
        t = col.type
        if t == ColumnType.TIMESTAMP and col.not_null:
            # ts columns: unique per row so (pk, ts) never collides in generated data
            return BASE_TS + n * 7 + (1 if col.name.endswith("2") else 0)
        if not col.not_null and rng.random() < 0.06:
            return None
        if t == ColumnType.BIGINT:
            if col.not_null:
                return n
            return rng.choice([rng.randrange(-(2**63), 2**63), 0, -1, 2**63 - 1, -(2**63)])
        if t == ColumnType.INT:
            return rng.choice([rng.randrange(-(2**31), 2**31), 0, 2**31 - 1, -(2**31)])
        if t == ColumnType.SMALLINT:
            return rng.randrange(-(2**15), 2**15)
        if t == ColumnType.BOOL:
            return rng.random() < 0.5
        if t == ColumnType.DOUBLE:
            special = rng.random()
            if special < 0.02:
                return rng.choice([math.inf, -math.inf, -0.0, 1e308, 5e-324])
            return round(rng.uniform(-1e6, 1e6), 4)
        if t == ColumnType.FLOAT:
            if rng.random() < 0.02:
                return rng.choice([math.inf, -math.inf])
            return float32(rng.uniform(-1e4, 1e4))
        if t == ColumnType.DATE:
            if rng.random() < 0.02:
                return rng.choice([dt.date(1900, 1, 1), dt.date(9999, 12, 31)])
            return dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(0, 2000))
        if t == ColumnType.TIMESTAMP:
            return BASE_TS + rng.randrange(-(10**9), 10**9)
        # strings: key columns (user) have a bounded set of values so keys repeat
        if col.name == "user":
            k = rng.randrange(self.key_cardinality)
            return "" if k == 0 else f"user{k:03d}-{_WORDS[k % len(_WORDS)]}"
        roll = rng.random()
        if roll < 0.05:
            return ""
        if roll < 0.06:
            return "L" * rng.randrange(300, 3000) + "✓"
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(1, 4)))
