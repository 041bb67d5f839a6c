"""Ground truth: which rows a FULL sync of a sandbox partition must produce.

Derived from the sandbox's operation journal, not from omsync's readers, so tests that compare a
sync's output with it check the readers instead of agreeing with them. The rules follow
reference §1.4–§1.5 and §3.8: the snapshot part holds index 0's live rows as of
``MANIFEST.offset`` (disk tables: one row per ``(pk, ts)``, latest put wins, comparator order
pk ascending / ts descending; memory tables: every live put, in write order), then every put
with ``log_index > MANIFEST.offset`` that carries an index-0 dimension, in log order. Deletes
remove index-0 rows from the snapshot part and are not rows themselves.

Disk snapshots are read with index 0's TTL applied at read time (reference §3.8): a row is
expired when ``ts <= now - abs_ttl`` or when it is beyond the first ``lat_ttl`` rows of its pk
(the sandbox's TTL types, kAbsoluteTime / kLatestTime / kAbsOrLat, all reduce to that "or").
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
    abs_ttl_minutes: int = 0,
    lat_ttl: int = 0,
    now_ms: int = 0,
) -> list[TruthRow]:
    """Rows a FULL sync of one partition yields, in the order the collector reads them."""
    width = len(schema.latest)
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
        ordered = sorted(live_disk.values(), key=lambda r: (r.pk.encode(), -r.ts))
        if abs_ttl_minutes or lat_ttl:
            ordered = _unexpired(ordered, abs_ttl_minutes * 60_000, lat_ttl, now_ms)
    else:
        ordered = live_mem
    return ordered + tail


def _unexpired(ordered: list[TruthRow], abs_ms: int, lat: int, now_ms: int) -> list[TruthRow]:
    """Rows (pk ascending, ts descending) that index 0's TTL keeps at ``now_ms``."""
    kept: list[TruthRow] = []
    rank = 0
    pk = None
    for row in ordered:
        rank = rank + 1 if row.pk == pk else 1
        pk = row.pk
        if (abs_ms and row.ts <= now_ms - abs_ms) or (lat and rank > lat):
            continue
        kept.append(row)
    return kept
