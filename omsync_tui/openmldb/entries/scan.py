"""Columns of serialized ``openmldb.api.LogEntry`` messages, read with numpy over a whole batch (§2.2, §3.5).

This module owns ``scan_entries``: given one buffer and the spans of N serialized LogEntries in it,
it returns the columns the collector needs — ``log_index``, ``ts`` (and whether it is present),
``method_type``, the span of ``value`` and whether a dimension with idx 0 is present — without a
protobuf object per entry. ``pbwalk`` walks "field k of every entry" at once; Dimensions (and the
deprecated TSDimensions) are walked the same way, as a second batch of messages.

Whatever the walker cannot read exactly as the protobuf runtime does (see ``pbwalk``), and a
``method_type`` outside the enum, marks that entry *irregular*. ``resolve_irregular`` parses those
with protobuf and fills their columns from the parsed message (or reports the first that does not
parse), so the result never differs from parsing every entry with protobuf. Regular entries are the
ones the runtime is certain to parse into exactly these columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from omsync_tui.openmldb.entries.pbwalk import U64, Bools, Step, u64_view, walk
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.spans import I64, SPAN_PAD, U8

PUT = 1
DELETE = 2

_M32 = np.uint64(0xFFFFFFFF)

# LogEntry field -> expected wire type (-1: unknown field, any skippable wire type)
_ENTRY_WIRE = np.full(16, -1, dtype=np.int8)
for _f, _w in ((1, 0), (2, 0), (3, 2), (4, 2), (5, 0), (6, 2), (7, 0), (8, 2), (9, 0), (10, 2)):
    _ENTRY_WIRE[_f] = _w
# Dimension {1 key string, 2 idx uint32}; TSDimension {1 ts uint64, 2 idx uint32}
_DIM_WIRE = np.full(16, -1, dtype=np.int8)
_DIM_WIRE[1], _DIM_WIRE[2] = 2, 0
_TSDIM_WIRE = np.full(16, -1, dtype=np.int8)
_TSDIM_WIRE[1], _TSDIM_WIRE[2] = 0, 0


@dataclass(frozen=True, slots=True)
class EntryColumns:
    """What the collector reads of N LogEntries; entry i's payload is ``data[start[i]:end[i]]``.

    ``value_start``/``value_end`` delimit ``value`` in ``data`` (equal when absent: an empty
    value). ``method`` is 1 (put, also when absent) or 2 (delete). ``index0``: a Dimension with
    idx 0 (an absent idx is 0). ``irregular`` entries have unreliable columns until
    ``resolve_irregular`` fills them.
    """

    data: U8
    start: I64
    end: I64
    log_index: U64
    ts: U64
    has_ts: Bools
    method: npt.NDArray[np.uint8]
    value_start: I64
    value_end: I64
    index0: Bools
    irregular: Bools

    def __len__(self) -> int:
        return len(self.start)

    def payload(self, i: int) -> bytes:
        return self.data[int(self.start[i]) : int(self.end[i])].tobytes()

    def entry(self, i: int) -> tablet_pb2.LogEntry:
        """Entry ``i`` parsed by protobuf (for the few rows that need every field, e.g. deletes)."""
        return tablet_pb2.LogEntry.FromString(self.payload(i))

    def value(self, i: int) -> bytes:
        return self.data[int(self.value_start[i]) : int(self.value_end[i])].tobytes()

    def take(self, lo: int, hi: int | None = None) -> EntryColumns:
        """Entries ``lo:hi`` (views, no copy)."""
        s = slice(lo, hi)
        return EntryColumns(
            self.data,
            self.start[s],
            self.end[s],
            self.log_index[s],
            self.ts[s],
            self.has_ts[s],
            self.method[s],
            self.value_start[s],
            self.value_end[s],
            self.index0[s],
            self.irregular[s],
        )


class _EntryFields:
    """Field handler for LogEntry walks: stores the columns, collects dimension submessages."""

    def __init__(self, n: int) -> None:
        self.log_index = np.zeros(n, dtype=np.uint64)
        self.ts = np.zeros(n, dtype=np.uint64)
        self.has_ts = np.zeros(n, dtype=np.bool_)
        self.method = np.ones(n, dtype=np.uint8)
        self.method_bad = np.zeros(n, dtype=np.bool_)
        self.value_start = np.zeros(n, dtype=np.int64)
        self.value_end = np.zeros(n, dtype=np.int64)
        self.subs: list[tuple[I64 | slice, I64, I64, bool]] = []  # (entries, start, end, TSDimension?)

    def __call__(self, s: Step) -> None:
        f = s.field
        if isinstance(f, int):
            self._one(f, s.rec, s.value, s.body, s.nxt)
            return
        for k in np.unique(f).tolist():
            m = f == k
            rec = np.flatnonzero(m) if isinstance(s.rec, slice) else s.rec[m]
            self._one(k, rec, None if s.value is None else s.value[m], s.body[m], s.nxt[m])

    def _one(self, field: int, rec: I64 | slice, value: U64 | None, body: I64, nxt: I64) -> None:
        if field == 2:
            assert value is not None
            self.log_index[rec] = value
        elif field == 4:
            self.value_start[rec] = body
            self.value_end[rec] = nxt
        elif field == 5:
            assert value is not None
            self.ts[rec] = value
            self.has_ts[rec] = True
        elif field == 6:
            self.subs.append((rec, body, nxt, False))
        elif field == 7:
            assert value is not None
            ok = (value == PUT) | (value == DELETE)
            self.method[rec] = np.where(ok, value, 1).astype(np.uint8)
            if not ok.all():  # closed enum: protobuf keeps other values as unknown fields
                self.method_bad[np.flatnonzero(~ok) if isinstance(rec, slice) else rec[~ok]] = True
        elif field == 8:
            self.subs.append((rec, body, nxt, True))


class _DimFields:
    """Field handler for Dimension / TSDimension walks: the last idx of each (absent: 0)."""

    def __init__(self, n: int) -> None:
        self.idx = np.zeros(n, dtype=np.uint64)

    def __call__(self, s: Step) -> None:
        if isinstance(s.field, int):
            if s.field == 2:
                assert s.value is not None
                self.idx[s.rec] = s.value
            return
        m = s.field == 2
        if m.any():
            assert s.value is not None
            rec = np.flatnonzero(m) if isinstance(s.rec, slice) else s.rec[m]
            self.idx[rec] = s.value[m]


def scan_entries(data: U8, start: I64, end: I64) -> EntryColumns:
    """The columns of the LogEntries at ``data[start[i]:end[i]]`` (``data`` padded, see ``SPAN_PAD``)."""
    n = len(start)
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    irregular = np.zeros(n, dtype=np.bool_)
    index0 = np.zeros(n, dtype=np.bool_)
    fields = _EntryFields(n)
    if n:
        if len(data) < int(end.max()) + SPAN_PAD:
            raise ValueError("scan_entries needs SPAN_PAD bytes after the last payload")
        w8 = u64_view(data)
        walk(w8, start, end, _ENTRY_WIRE, irregular, fields)
        irregular |= fields.method_bad
        for is_ts in (False, True):
            subs = [s for s in fields.subs if s[3] is is_ts]
            if not subs:
                continue
            owner = np.concatenate([np.arange(n) if isinstance(s[0], slice) else s[0] for s in subs])
            s_start = np.concatenate([s[1] for s in subs])
            s_end = np.concatenate([s[2] for s in subs])
            sub_bad = np.zeros(len(owner), dtype=np.bool_)
            dims = _DimFields(len(owner))
            walk(w8, s_start, s_end, _TSDIM_WIRE if is_ts else _DIM_WIRE, sub_bad, dims)
            if sub_bad.any():
                irregular[owner[sub_bad]] = True
            if not is_ts:
                index0[owner[(dims.idx & _M32) == 0]] = True  # uint32: protobuf truncates
    return EntryColumns(
        data,
        start,
        end,
        fields.log_index,
        fields.ts,
        fields.has_ts,
        fields.method,
        fields.value_start,
        fields.value_end,
        index0,
        irregular,
    )


def resolve_irregular(cols: EntryColumns) -> tuple[EntryColumns, int, DecodeError | None]:
    """Fill the columns of irregular entries from protobuf parses.

    Returns (columns with no irregular entry, -1, None), or — when an entry does not parse as a
    LogEntry — the columns of the entries before the first such one, its index and the error.
    """
    bad = np.flatnonzero(cols.irregular)
    if not len(bad):
        return cols, -1, None
    parsed: list[tuple[int, tablet_pb2.LogEntry]] = []
    failed, error = -1, None
    for i in bad.tolist():
        try:
            parsed.append((i, tablet_pb2.LogEntry.FromString(cols.payload(i))))
        except DecodeError as exc:
            failed, error = i, exc
            break
    log_index = cols.log_index.copy()
    ts = cols.ts.copy()
    has_ts = cols.has_ts.copy()
    method = cols.method.copy()
    value_start = cols.value_start.copy()
    value_end = cols.value_end.copy()
    index0 = cols.index0.copy()
    extra: list[bytes] = []
    at = len(cols.data) - SPAN_PAD
    for i, e in parsed:
        log_index[i] = e.log_index
        ts[i] = e.ts
        has_ts[i] = e.HasField("ts")
        method[i] = e.method_type
        value = e.value
        value_start[i], value_end[i] = at, at + len(value)
        at += len(value)
        extra.append(value)
        index0[i] = any(d.idx == 0 for d in e.dimensions)
    data = cols.data
    if any(extra):
        data = np.concatenate((data[: len(data) - SPAN_PAD], np.frombuffer(b"".join(extra), np.uint8)))
        data = np.concatenate((data, np.zeros(SPAN_PAD, dtype=np.uint8)))
    out = EntryColumns(
        data,
        cols.start,
        cols.end,
        log_index,
        ts,
        has_ts,
        method,
        value_start,
        value_end,
        index0,
        np.zeros(len(cols), dtype=np.bool_),
    )
    if failed >= 0:
        out = out.take(0, failed)
    return out, failed, error


__all__ = ["DELETE", "PUT", "EntryColumns", "resolve_irregular", "scan_entries"]
