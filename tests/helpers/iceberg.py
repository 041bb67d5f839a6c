"""Iceberg tables in tests: a local warehouse with the SQLite catalog, rows of a four-column
table, and one writer's commit of a range."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.services.sinks.destination import Destination
from omsync_tui.services.sinks.iceberg.writer import IcebergWriter

B = SyncPoint.binlog
COLUMNS = [
    Column("id", ColumnType.BIGINT),
    Column("name", ColumnType.STRING),
    Column("ts", ColumnType.TIMESTAMP),
    Column("small", ColumnType.SMALLINT),
]
ARROW = pa.schema(
    [
        pa.field("id", pa.int64()),
        pa.field("name", pa.string()),
        pa.field("ts", pa.timestamp("ms")),
        pa.field("small", pa.int16()),
    ]
)


def uri_of(tmp_path: Path, table: str = "db.t", extra: str = "") -> str:
    return f"iceberg://{table}?uri=sqlite:///{tmp_path}/cat.db&warehouse=file://{tmp_path}/wh{extra}"


def rows(start: int, n: int, schema: pa.Schema = ARROW) -> pa.RecordBatch:
    cols = {
        "id": pa.array(range(start, start + n), pa.int64()),
        "name": pa.array([f"n{i}" for i in range(start, start + n)]),
        "ts": pa.array([1_700_000_000_000 + i for i in range(start, start + n)], pa.timestamp("ms")),
        "small": pa.array([i % 100 for i in range(start, start + n)], pa.int16()),
        "extra": pa.array([f"x{i}" for i in range(start, start + n)]),
    }
    return pa.record_batch([cols[f.name] for f in schema], schema=schema)


def writer(dest: Destination, pid: int, schema: pa.Schema = ARROW, compact: bool = False) -> IcebergWriter:
    return IcebergWriter(
        dest,
        pid,
        schema,
        compact=compact,
        roll_rows=10**9,
        roll_bytes=1 << 40,
        commit_seconds=1e9,
        metadata={},
    )


def commit(dest: Destination, pid: int, first: int, n: int, schema: pa.Schema = ARROW) -> int:
    w = writer(dest, pid, schema)
    w.append(rows(first, n, schema), B(first), B(first + n))
    done = w.commit()
    assert done is not None
    return done.rows
