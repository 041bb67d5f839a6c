"""Ground truth: which rows a FULL sync of a sandbox partition must produce.

Derived from the sandbox's operation journal, not from omsync's readers, so tests that compare a
sync's output with it check the readers instead of agreeing with them. The rules follow
reference §1.4–§1.5 and §3.8: the snapshot part holds index 0's live rows as of
``MANIFEST.offset`` (disk tables: one row per ``(pk, ts)``, latest put wins, comparator order
pk ascending / ts descending; memory tables: every live put, in write order), then every put
with ``log_index > MANIFEST.offset`` that carries an index-0 dimension, in log order. Deletes
remove index-0 rows from the snapshot part and are not rows themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from omsync_tui.openmldb.schema import Column, ColumnType, TableSchema


@dataclass(frozen=True, slots=True)
class TruthRow:
    log_index: int
    pk: str
    ts: int
    values: tuple[object, ...]


def to_json_values(values: Sequence[object]) -> list[object]:
    return [v.isoformat() if isinstance(v, dt.date) else v for v in values]


def from_json_values(raw: Sequence[object], columns: Sequence[Column], width: int) -> tuple[object, ...]:
    out: list[object] = []
    for value, col in zip(raw, columns, strict=True):
        if value is not None and col.type == ColumnType.DATE:
            out.append(dt.date.fromisoformat(str(value)))
        elif value is not None and col.type in (ColumnType.FLOAT, ColumnType.DOUBLE):
            out.append(float(value))  # type: ignore[arg-type]
        else:
            out.append(value)
    out.extend([None] * (width - len(out)))  # columns added after this row was written
    return tuple(out)


def expected_rows(
    ops: Iterable[dict[str, Any]],
    schema: TableSchema,
    *,
    snapshot_offset: int,
    disk: bool,
) -> list[TruthRow]:
    """Rows a FULL sync of one partition yields, in the order the collector reads them."""
    width = len(schema.latest)
    live: dict[tuple[str, int], TruthRow] | list[TruthRow]
    live_disk: dict[tuple[str, int], TruthRow] = {}
    live_mem: list[TruthRow] = []
    tail: list[TruthRow] = []
    for op in ops:
        dims = {int(i): str(k) for i, k in op["dims"]}
        if 0 not in dims:
            continue  # a row another index brought here: not part of index 0
        pk = dims[0]
        if op["op"] == "del":
            if op["i"] <= snapshot_offset:
                live_disk = {k: r for k, r in live_disk.items() if k[0] != pk}
                live_mem = [r for r in live_mem if r.pk != pk]
            continue
        row = TruthRow(
            int(op["i"]),
            pk,
            int(op["t0"]),
            from_json_values(op["v"], schema.columns_for(int(op["sv"])), width),
        )
        if op["i"] <= snapshot_offset:
            live_disk[(pk, row.ts)] = row
            live_mem.append(row)
        else:
            tail.append(row)
    if disk:
        live = live_disk
        ordered = sorted(live.values(), key=lambda r: (r.pk.encode(), -r.ts))
    else:
        ordered = live_mem
    return ordered + tail
