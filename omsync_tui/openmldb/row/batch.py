"""Vectorised decoding of many v1 rows into one Arrow ``RecordBatch``.

This is the hot path between the binlog / SendData attachments and the Parquet writer, so no Python
code runs per row or per value (STYLE 15): every fixed slot is gathered for all rows at once through
an overlapping-window numpy view of the buffer, NULLs come from the bitmap bytes, and string columns
become Arrow arrays whose bytes are copied by one Arrow ``take``. The rules for a valid row are the
scalar decoder's (``rowcodec``); rows the fast path rejects are re-checked with the narrower address
width (Correction 2) and anything still wrong is handed to the scalar decoder only to word the error,
so both decoders accept, recover and reject exactly the same rows.

This module owns the driver (rows grouped by schema version, failures turned into errors) and the
assembly of Arrow arrays, string UTF-8 checks included; the numpy kernels that read the row bytes live
in ``rowkernels``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from omsync_tui.core.errors import RowDecodeError, UsageError
from omsync_tui.openmldb.row.codec import decode_row, split_rows
from omsync_tui.openmldb.row.kernels import address_table, dates_to_days, gather, prefix_dtype
from omsync_tui.openmldb.row.layout import HEADER_SIZE, RowLayout, layout_for
from omsync_tui.openmldb.schema import Column, ColumnType, TableSchema

__all__ = ["arrow_schema", "arrow_type", "decode_batch"]

_ARROW_TYPE: dict[ColumnType, pa.DataType] = {
    ColumnType.BOOL: pa.bool_(),
    ColumnType.SMALLINT: pa.int16(),
    ColumnType.INT: pa.int32(),
    ColumnType.BIGINT: pa.int64(),
    ColumnType.FLOAT: pa.float32(),
    ColumnType.DOUBLE: pa.float64(),
    ColumnType.DATE: pa.date32(),
    ColumnType.TIMESTAMP: pa.timestamp("ms"),
    ColumnType.VARCHAR: pa.string(),
    ColumnType.STRING: pa.string(),
}

_INT32_MAX = 2**31 - 1


def arrow_type(ctype: ColumnType) -> pa.DataType:
    """The Arrow type a column of this type decodes to."""
    return _ARROW_TYPE[ctype]


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    """Arrow schema of a decoded batch; every field is nullable (older schema versions lack columns)."""
    return pa.schema([pa.field(c.name, _ARROW_TYPE[c.type]) for c in columns])


@dataclass
class _Out:
    """Decoded values of one output column for all rows of the batch (filled group by group)."""

    ctype: ColumnType
    values: np.ndarray | None = None  # fixed columns: slot values (dates already as days)
    starts: np.ndarray | None = None  # string columns: absolute byte ranges in the buffer
    ends: np.ndarray | None = None
    valid: np.ndarray | None = None


class _BatchDecoder:
    def __init__(
        self, buf: memoryview, schema: TableSchema, offsets: np.ndarray, lengths: np.ndarray, ordered: bool
    ):
        self.buf = buf
        self.ordered = ordered  # rows in buffer order without overlap (lets strings use one take)
        self.schema = schema
        self.offsets = offsets
        self.lengths = lengths
        self.n = len(offsets)
        self.latest = schema.latest
        self.outs = [_Out(c.type) for c in self.latest]

    # -- errors ------------------------------------------------------------------------------------

    def fail(self, row: int, columns: Sequence[Column] | None, fallback: str) -> RowDecodeError:
        """The error for batch row ``row``, worded by the scalar decoder when it agrees."""
        start = int(self.offsets[row])
        if columns is not None:
            try:
                decode_row(self.buf[start : start + int(self.lengths[row])], columns)
            except RowDecodeError as exc:
                return RowDecodeError(f"row #{row} of the batch: {exc.reason}", offset=start, hint=exc.hint)
        return RowDecodeError(f"row #{row} of the batch: {fallback}", offset=start)

    # -- driver ------------------------------------------------------------------------------------

    def run(self) -> pa.RecordBatch:
        # Two one-byte gathers; the size field is checked with the rest of the prefix per version.
        whole = np.frombuffer(self.buf, dtype=np.uint8)
        bad = whole[self.offsets] != 1
        if bad.any():
            raise self.fail(int(np.argmax(bad)), self.latest, "bad format version")
        versions = whole[self.offsets + 1]
        if self.n == 0 or versions.min() == versions.max():
            self.decode_group(int(versions[0]) if self.n else 1, None)
        else:
            for version in np.unique(versions):
                self.decode_group(int(version), np.flatnonzero(versions == version))
        arrays = [self.to_arrow(i, out) for i, out in enumerate(self.outs)]
        return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema(self.latest))

    def put(self, out: _Out, rows: np.ndarray | None, **parts: np.ndarray) -> None:
        """Store one group's arrays; with several groups scatter them into batch-sized arrays."""
        for name, part in parts.items():
            if rows is None:
                setattr(out, name, part)
                continue
            full = getattr(out, name)
            if full is None:
                if name in ("starts", "ends"):
                    full = self.offsets.copy()  # rows lacking the column: an empty range in place
                else:
                    full = np.zeros(self.n, dtype=part.dtype)
                setattr(out, name, full)
            full[rows] = part

    def decode_group(self, version: int, rows: np.ndarray | None) -> None:
        """Decode all rows of one schema version (``rows`` = their batch indices, None = all)."""
        first = 0 if rows is None else int(rows[0])
        try:
            columns = self.schema.columns_for(version)
        except RowDecodeError as exc:
            raise RowDecodeError(
                f"row #{first} of the batch: {exc.reason}", offset=int(self.offsets[first]), hint=exc.hint
            ) from None
        if len(columns) > len(self.latest):
            raise self.fail(first, None, f"schema version {version} has more columns than the latest")
        layout = layout_for(columns)
        offs = self.offsets if rows is None else self.offsets[rows]
        lens = self.lengths if rows is None else self.lengths[rows]

        def batch_row(k: int) -> int:
            return k if rows is None else int(rows[k])

        short = lens < layout.string_table
        if short.any():
            raise self.fail(batch_row(int(np.argmax(short))), columns, "row too short for its schema")

        m = len(layout.string_columns)
        # Reading S + m bytes must stay inside every row (the last one may end the buffer).
        with_table = m > 0 and bool(np.all(lens >= layout.string_table + m))
        dtype = prefix_dtype(layout, with_table)
        prefix = gather(self.buf, offs, dtype.itemsize).view(dtype).reshape(len(offs))
        bad = prefix["size"] != lens
        if bad.any():
            raise self.fail(batch_row(int(np.argmax(bad))), columns, "size field does not match")
        null_bits = np.unpackbits(prefix["bitmap"], axis=1, count=len(columns), bitorder="little")

        for i in layout.fixed_columns:
            ctype = columns[i].type
            valid = null_bits[:, i] == 0
            raw = prefix[f"c{i}"]
            if ctype is ColumnType.BOOL:
                values = raw != 0
            elif ctype is ColumnType.DATE:
                values, bad = dates_to_days(raw, valid)
                if bad.any():
                    raise self.fail(batch_row(int(np.argmax(bad))), columns, f"bad date in column #{i}")
            else:
                values = np.ascontiguousarray(raw)
            self.put(self.outs[i], rows, values=values, valid=valid)

        if not layout.string_columns:
            extra = lens != layout.string_table
            if extra.any():
                raise self.fail(batch_row(int(np.argmax(extra))), columns, "bytes after the fixed slots")
            return
        string_nulls = null_bits[:, list(layout.string_columns)] != 0
        one_byte = prefix["table"] if with_table else None
        starts, ends = self.string_ranges(layout, offs, lens, string_nulls, one_byte, columns, batch_row)
        for j, i in enumerate(layout.string_columns):
            null = string_nulls[:, j]
            # A NULL gets the empty range at its end, which is inside its row, so the ranges of a
            # column stay in buffer order (what string_array's take() relies on).
            self.put(
                self.outs[i],
                rows,
                starts=offs + np.where(null, ends[j], starts[:, j]),
                ends=offs + ends[j],
                valid=~null,
            )

    def string_ranges(
        self,
        layout: RowLayout,
        offs: np.ndarray,
        lens: np.ndarray,
        nulls: np.ndarray,
        one_byte: np.ndarray | None,
        columns: Sequence[Column],
        batch_row: Callable[[int], int],
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Starts (k, m) and ends (per column) relative to each row, validated like ``string_bounds``."""
        width = 1 + (lens > 0xFF) + (lens > 0xFFFF) + (lens > 0xFFFFFF)
        starts, ends, ok = address_table(self.buf, layout, offs, lens, width, nulls, one_byte)
        if not ok.all():
            # Correction 2: FlexibleRowBuilder may have written addresses one byte narrower.
            retry = np.flatnonzero(~ok & (width > 1))
            if len(retry):
                s2, e2, ok2 = address_table(
                    self.buf, layout, offs[retry], lens[retry], width[retry] - 1, nulls[retry]
                )
                fixed = retry[ok2]
                starts[fixed] = s2[ok2]
                ends = [e.copy() for e in ends]
                for j, e in enumerate(e2):
                    ends[j][fixed] = e[ok2]
                ok[fixed] = True
            if not ok.all():
                raise self.fail(batch_row(int(np.argmax(~ok))), columns, "bad string address table")
        return starts, ends

    # -- Arrow -------------------------------------------------------------------------------------

    def to_arrow(self, i: int, out: _Out) -> pa.Array:
        atype = _ARROW_TYPE[out.ctype]
        n = self.n
        if out.valid is None:  # no row of the batch has this column
            return pa.nulls(n, type=atype)
        valid = out.valid
        null_count = n - int(np.count_nonzero(valid))
        validity = None if null_count == 0 else pa.py_buffer(np.packbits(valid, bitorder="little"))
        if out.ctype.is_string:
            assert out.starts is not None and out.ends is not None
            return self.string_array(i, out.starts, out.ends, validity, null_count)
        assert out.values is not None
        values = out.values
        if out.ctype is ColumnType.BOOL:
            data = pa.py_buffer(np.packbits(values, bitorder="little"))
        else:
            data = pa.py_buffer(np.ascontiguousarray(values))
        return pa.Array.from_buffers(atype, n, [validity, data], null_count=null_count)

    def string_array(
        self, i: int, starts: np.ndarray, ends: np.ndarray, validity: pa.Buffer | None, null_count: int
    ) -> pa.Array:
        n = self.n
        if n == 0:
            return pa.array([], type=pa.string())
        lengths = ends - starts
        total = int(lengths.sum())
        if total > _INT32_MAX:
            raise RowDecodeError(
                f"column {self.latest[i].name!r} holds {total} string bytes in one batch, more than Arrow's "
                "string type can (2 GiB)",
                hint="decode fewer rows per batch",
            )
        if self.ordered:
            # Interleave [s0, e0, s1, e1, ...]: as Arrow binary offsets over the untouched buffer the
            # even elements are exactly the values, so one take() memcpys them, no Python per row.
            big = len(self.buf) > _INT32_MAX
            bounds = np.empty(2 * n, dtype=np.int64 if big else np.int32)
            bounds[0::2] = starts
            bounds[1::2] = ends
            src = pa.Array.from_buffers(
                pa.large_binary() if big else pa.binary(),
                2 * n - 1,
                [None, pa.py_buffer(bounds), pa.py_buffer(self.buf)],
            )
            taken = src.take(_even_indices(n))
            value_offsets, data = taken.buffers()[1], taken.buffers()[2]
            if big:
                narrow = np.frombuffer(value_offsets, dtype=np.int64)[: n + 1].astype(np.int32)
                value_offsets = pa.py_buffer(narrow)
        else:
            # Caller-supplied rows out of buffer order: gather the bytes with numpy instead.
            offsets32 = np.zeros(n + 1, dtype=np.int32)
            offsets32[1:] = np.cumsum(lengths)
            index = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets32[:-1], lengths)
            data = pa.py_buffer(np.frombuffer(self.buf, dtype=np.uint8)[index])
            value_offsets = pa.py_buffer(offsets32)
        if not _valid_utf8(value_offsets, data, n, total):
            raise self.utf8_error(i, starts, ends)
        return pa.Array.from_buffers(pa.string(), n, [validity, value_offsets, data], null_count=null_count)

    def utf8_error(self, i: int, starts: np.ndarray, ends: np.ndarray) -> RowDecodeError:
        valid = self.outs[i].valid
        assert valid is not None
        for row in np.flatnonzero(valid):
            try:
                str(self.buf[int(starts[row]) : int(ends[row])], "utf-8")
            except UnicodeDecodeError:
                version = self.buf[int(self.offsets[row]) + 1]
                return self.fail(int(row), self.schema.columns_for(version), "invalid UTF-8")
        return RowDecodeError(f"column {self.latest[i].name!r}: Arrow rejected the decoded strings")


@functools.lru_cache(maxsize=16)
def _even_indices(n: int) -> pa.Array:
    return pa.array(np.arange(0, 2 * n - 1, 2, dtype=np.int64))


def _valid_utf8(value_offsets: pa.Buffer, data: pa.Buffer, n: int, total: int) -> bool:
    """Whether every value of a string column is UTF-8, checked over the whole data buffer at once.

    The concatenation is validated once (Arrow validates per value, ~3× slower on short strings)
    and every value must start on a character, i.e. not on a continuation byte 10xxxxxx: then
    no value can end inside a character either, so each one is valid on its own.
    """
    if total == 0:
        return True
    chars = np.frombuffer(data, dtype=np.uint8, count=total)
    if int(chars.max()) < 0x80:
        return True  # pure ASCII, the common case
    value_starts = np.frombuffer(value_offsets, dtype=np.int32, count=n)
    value_starts = value_starts[value_starts < total]
    if bool(np.any((chars[value_starts] & 0xC0) == 0x80)):
        return False
    whole = pa.Array.from_buffers(
        pa.string(), 1, [None, pa.py_buffer(np.array([0, total], dtype=np.int32)), data]
    )
    try:
        whole.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _as_byte_view(buf: bytes | memoryview) -> memoryview:
    view = memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def decode_batch(
    buf: bytes | memoryview,
    schema: TableSchema,
    *,
    offsets: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
) -> pa.RecordBatch:
    """Decode the rows at ``offsets``/``lengths`` of ``buf`` (default: ``split_rows(buf)``).

    The batch has the columns of ``schema.latest``; rows of older schema versions get NULL for the
    columns they lack. Malformed rows raise ``RowDecodeError`` naming the row number in the batch and
    its byte offset in ``buf``.
    """
    view = _as_byte_view(buf)
    if offsets is None and lengths is None:
        offs, lens = split_rows(view)
        ordered = True
    elif offsets is None or lengths is None:
        raise UsageError("decode_batch needs both offsets and lengths, or neither")
    else:
        offs = np.asarray(offsets, dtype=np.int64)
        lens = np.asarray(lengths, dtype=np.int64)
        if offs.shape != lens.shape or offs.ndim != 1:
            raise UsageError(f"offsets {offs.shape} and lengths {lens.shape} must be 1-D and the same shape")
        out_of_bounds = (offs < 0) | (lens < HEADER_SIZE) | (offs + lens > len(view))
        if out_of_bounds.any():
            row = int(np.argmax(out_of_bounds))
            raise RowDecodeError(
                f"row #{row} of the batch: {int(lens[row])} bytes at offset {int(offs[row])} do not fit a "
                f"row header inside the {len(view)}-byte buffer",
                offset=int(offs[row]),
            )
        ordered = len(offs) < 2 or bool(np.all(offs[1:] >= offs[:-1] + lens[:-1]))
    return _BatchDecoder(view, schema, offs, lens, ordered).run()
