"""The 10-column mixed table both benchmarks use: its columns and a pool of encoded rows."""

from __future__ import annotations

import datetime
import random

from omsync_tui.openmldb.row.encode import encode_row
from omsync_tui.openmldb.schema import Column, ColumnType

COLUMNS = (
    Column("id", ColumnType.BIGINT, not_null=True),
    Column("qty", ColumnType.INT),
    Column("code", ColumnType.SMALLINT),
    Column("flag", ColumnType.BOOL),
    Column("score", ColumnType.FLOAT),
    Column("amount", ColumnType.DOUBLE),
    Column("day", ColumnType.DATE),
    Column("ts", ColumnType.TIMESTAMP),
    Column("name", ColumnType.VARCHAR),
    Column("note", ColumnType.STRING),
)


def _maybe_null(rng: random.Random, value: object) -> object:
    return None if rng.random() < 0.05 else value


def _text(rng: random.Random, unicode_share: float) -> str:
    """5–40 characters; ``unicode_share`` of the strings carry some non-ASCII characters."""
    letters = "abcdefghijklmnopqrstuvwxyz0123456789 "
    if rng.random() < unicode_share:
        letters += "éüß中文字😀"
    return "".join(rng.choices(letters, k=rng.randint(5, 40)))


def random_row(rng: random.Random, i: int, unicode_share: float) -> list[object]:
    return [
        i,
        _maybe_null(rng, rng.randint(-(2**31), 2**31 - 1)),
        _maybe_null(rng, rng.randint(-(2**15), 2**15 - 1)),
        _maybe_null(rng, rng.random() < 0.5),
        _maybe_null(rng, rng.uniform(-1e6, 1e6)),
        _maybe_null(rng, rng.uniform(-1e12, 1e12)),
        _maybe_null(rng, datetime.date(2000, 1, 1) + datetime.timedelta(days=rng.randint(0, 9000))),
        _maybe_null(rng, 1_700_000_000_000 + rng.randint(-(10**11), 10**11)),
        _maybe_null(rng, _text(rng, unicode_share)),
        _maybe_null(rng, _text(rng, unicode_share)),
    ]


def row_pool(distinct: int, unicode_share: float = 0.1, seed: int = 42) -> list[bytes]:
    """``distinct`` encoded rows (~90 bytes each), deterministic from ``seed``."""
    rng = random.Random(seed)
    return [encode_row(COLUMNS, random_row(rng, i, unicode_share)) for i in range(distinct)]
