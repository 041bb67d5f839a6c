"""OpenMLDB row codec v1, one row at a time: the reference the vectorised decoder is checked against.

This module owns scalar decoding (error paths, ``omsync inspect``), splitting a SendData attachment into
rows (§4.7) and decompressing snappy values (§4.4); the row layout lives in ``rowlayout`` and the
encoder in ``rowencode``. ``rowbatch`` decodes whole batches with numpy and falls back to the helpers
here for malformed rows, so the validation rules below are the single definition of a "good" row.

Decoding is strict on purpose: a row that does not fit its schema raises ``RowDecodeError`` instead of
returning shifted values. Two real-world quirks are tolerated (reference Corrections 2 and 8): Java's
``FlexibleRowBuilder`` can write string addresses one byte narrower than the row size implies, and
NULL columns may leave arbitrary bytes in their slots, including the first string address.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Sequence

import cramjam
import numpy as np

from omsync_tui.core.errors import RowDecodeError
from omsync_tui.openmldb.row.layout import (
    BOOL,
    FORMAT_VERSION,
    HEADER_SIZE,
    MAX_DATE_YEAR,
    MIN_DATE_YEAR,
    PLAIN,
    U32,
    RowLayout,
    address_width,
    build_layout,
    describe_column,
)
from omsync_tui.openmldb.schema import Column, TableSchema

__all__ = [
    "decode_row",
    "decode_row_versioned",
    "maybe_decompress",
    "row_size",
    "split_rows",
    "string_bounds",
]

_U16 = struct.Struct("<H")

_HINT_NOT_A_ROW = "the value is not a v1 row of this schema (compressed value? wrong schema version?)"
_HINT_ADDRESSES = "the row is corrupt or was decoded with the wrong schema"


# --------------------------------------------------------------------------------------------------
# decoding


def _read_address(row: bytes | memoryview, pos: int, width: int) -> int:
    if width == 1:
        return row[pos]
    if width == 2:
        return int(_U16.unpack_from(row, pos)[0])
    if width == 3:
        return (row[pos] << 16) | (row[pos + 1] << 8) | row[pos + 2]
    return int(U32.unpack_from(row, pos)[0])


def _string_bounds(
    row: bytes | memoryview, layout: RowLayout, nulls: int, size: int, width: int
) -> list[tuple[int, int, int]] | str:
    """``[(column, start, end)]`` of the non-NULL strings, or why the address table is invalid.

    Only non-NULL slots are read (Correction 8) and a string ends where the next non-NULL one starts,
    so NULL slots never matter. The first non-NULL string must start right after the table: with a
    wrong width that anchor almost never holds, which is what makes Correction 2 detectable.
    """
    cols = layout.columns
    m = len(layout.string_columns)
    table_end = layout.string_table + width * m
    if table_end > size:
        return (
            f"row has {size} bytes but its {m} string address(es) of {width} byte(s) end at byte {table_end}"
        )
    starts: list[tuple[int, int]] = []
    expected = table_end
    slot = layout.string_table
    for i in layout.string_columns:
        if not (nulls >> i) & 1:
            start = _read_address(row, slot, width)
            if not starts and start != table_end:
                return (
                    f"string column {cols[i].name!r} (#{i}): address {start} at row byte {slot} should be "
                    f"{table_end}, the end of the address table"
                )
            if start < expected:
                return (
                    f"string column {cols[i].name!r} (#{i}): address {start} at row byte {slot} is below "
                    f"the previous string's start {expected}"
                )
            if start > size:
                return (
                    f"string column {cols[i].name!r} (#{i}): address {start} at row byte {slot} is beyond "
                    f"the row end {size}"
                )
            starts.append((i, start))
            expected = start
        slot += width
    if not starts and size != table_end:
        return f"every string is NULL but the row has {size - table_end} byte(s) after its address table"
    bounds = []
    for k, (i, start) in enumerate(starts):
        end = starts[k + 1][1] if k + 1 < len(starts) else size
        bounds.append((i, start, end))
    return bounds


def _decode_date(value: int, columns: Sequence[Column], i: int) -> datetime.date:
    year = (value >> 16) + 1900
    month = ((value >> 8) & 0xFF) + 1
    day = value & 0xFF
    if MIN_DATE_YEAR <= year <= MAX_DATE_YEAR:
        try:
            return datetime.date(year, month, day)
        except ValueError:
            pass
    raise RowDecodeError(
        f"{describe_column(columns, i)}: 0x{value & 0xFFFFFFFF:08x} is not a date "
        f"(year {year}, month {month}, day {day})",
        hint=_HINT_ADDRESSES,
    )


def _check_header(row: bytes | memoryview, layout: RowLayout) -> int:
    length = len(row)
    if length < HEADER_SIZE:
        raise RowDecodeError(f"row is {length} bytes, shorter than the {HEADER_SIZE}-byte header")
    if row[0] != FORMAT_VERSION:
        raise RowDecodeError(f"row format version is {row[0]}, only 1 is supported", hint=_HINT_NOT_A_ROW)
    size = int(U32.unpack_from(row, 2)[0])
    if size != length:
        raise RowDecodeError(
            f"row size field says {size} bytes but the row has {length}", hint=_HINT_NOT_A_ROW
        )
    if size < layout.string_table:
        raise RowDecodeError(
            f"row has {size} bytes but {len(layout.columns)} columns need at least {layout.string_table} "
            "(header, null bitmap and fixed slots)",
            hint=_HINT_NOT_A_ROW,
        )
    return size


def _decode(row: bytes | memoryview, layout: RowLayout) -> list[object]:
    size = _check_header(row, layout)
    cols = layout.columns
    fixed_start = layout.fixed_start
    nulls = int.from_bytes(row[HEADER_SIZE:fixed_start], "little")
    out: list[object] = [None] * len(cols)
    values = layout.fixed_struct.unpack_from(row, fixed_start)
    for k, (i, kind) in enumerate(layout.fixed_kinds):
        if (nulls >> i) & 1:
            continue  # the slot holds whatever the builder left there
        value = values[k]
        if kind == PLAIN:
            out[i] = value
        elif kind == BOOL:
            out[i] = value != 0  # Java's reading; C++ tests == 1, builders only write 0/1
        else:
            out[i] = _decode_date(value, cols, i)
    if not layout.string_columns:
        if size != layout.string_table:
            raise RowDecodeError(
                f"row has {size - layout.string_table} byte(s) after the fixed slots of its "
                f"{len(cols)} columns",
                hint=_HINT_NOT_A_ROW,
            )
        return out
    for i, start, end in string_bounds(row, layout, nulls, size):
        try:
            out[i] = str(row[start:end], "utf-8")
        except UnicodeDecodeError as exc:
            raise RowDecodeError(
                f"string column {cols[i].name!r} (#{i}) is not valid UTF-8 "
                f"({exc.reason} at row byte {start + exc.start})",
            ) from None
    return out


def string_bounds(
    row: bytes | memoryview, layout: RowLayout, nulls: int, size: int
) -> list[tuple[int, int, int]]:
    """Validated ``(column, start, end)`` of the non-NULL strings of a row whose header was checked.

    Tries the width the size implies, then the next narrower one (Correction 2); raises
    ``RowDecodeError`` with the first width's problem when neither yields a consistent table.
    """
    width = address_width(size)
    found = _string_bounds(row, layout, nulls, size, width)
    if not isinstance(found, str):
        return found
    if width > 1:
        narrower = _string_bounds(row, layout, nulls, size, width - 1)
        if not isinstance(narrower, str):
            return narrower
        found += f" (and {width - 1}-byte addresses do not fit either)"
    raise RowDecodeError(f"bad string address table: {found}", hint=_HINT_ADDRESSES)


def decode_row(row: bytes | memoryview, columns: Sequence[Column]) -> list[object]:
    """Decode one row with the columns of its schema version.

    Returns None for NULL, bool, int (smallint/int/bigint and timestamp milliseconds), float (float32
    columns give the float32 value), ``datetime.date`` and str. Raises ``RowDecodeError`` when the row
    does not fit the columns; never returns values read from the wrong place.
    """
    return _decode(row, build_layout(tuple(columns)))


def decode_row_versioned(row: bytes | memoryview, schema: TableSchema) -> list[object]:
    """Decode with the columns of the row's SVersion, padded with None to ``schema.latest``."""
    if len(row) < 2:
        raise RowDecodeError(f"row is {len(row)} bytes, shorter than the {HEADER_SIZE}-byte header")
    latest = len(schema.latest)
    columns = schema.columns_for(row[1])
    if len(columns) > latest:
        raise RowDecodeError(
            f"schema version {row[1]} has {len(columns)} columns, more than the latest version's {latest}",
            hint="the table's schema_versions are inconsistent",
        )
    values = decode_row(row, columns)
    values.extend([None] * (latest - len(values)))
    return values


# --------------------------------------------------------------------------------------------------
# framing and decompression


def row_size(buf: bytes | memoryview, pos: int) -> int:
    """The size field of the row starting at ``pos`` (bytes 2..6 of the row)."""
    if pos < 0 or pos + HEADER_SIZE > len(buf):
        raise RowDecodeError(
            f"truncated row: {len(buf) - pos} byte(s) left, a row header needs {HEADER_SIZE}", offset=pos
        )
    return int(U32.unpack_from(buf, pos + 2)[0])


def split_rows(buf: bytes | memoryview) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, lengths) as int64 arrays of the rows concatenated in a SendData attachment (§4.7).

    The chain of size fields is inherently sequential, so this is the one per-row Python loop of the
    batch path; it only reads one u32 per row.
    """
    total = len(buf)
    offsets: list[int] = []
    append = offsets.append
    unpack = U32.unpack_from
    pos = 0
    try:
        while pos < total:
            append(pos)
            size = unpack(buf, pos + 2)[0]
            if size <= HEADER_SIZE:  # also stops a zero size from looping forever
                raise RowDecodeError(
                    f"row #{len(offsets) - 1} has size field {size}, smaller than a row can be",
                    offset=pos,
                    hint=_HINT_NOT_A_ROW,
                )
            pos += size
    except struct.error:
        raise RowDecodeError(
            f"truncated row #{len(offsets) - 1}: {total - pos} byte(s) left, "
            f"a row header needs {HEADER_SIZE}",
            offset=pos,
        ) from None
    if pos > total:
        last = offsets[-1]
        raise RowDecodeError(
            f"truncated row #{len(offsets) - 1}: size field says {pos - last} bytes, "
            f"only {total - last} left in the buffer",
            offset=last,
        )
    starts = np.array(offsets, dtype=np.int64)
    lengths = np.diff(starts, append=np.int64(total)) if len(starts) else np.zeros(0, dtype=np.int64)
    return starts, lengths


def maybe_decompress(value: bytes, snappy: bool) -> bytes:
    """The encoded row of a stored value: raw-snappy-decompressed for ``compress_type == kSnappy``."""
    if not snappy:
        return value
    try:
        return bytes(cramjam.snappy.decompress_raw(value))
    except Exception as exc:  # cramjam raises its own DecompressionError (and others for odd input)
        raise RowDecodeError(
            f"value of {len(value)} bytes is not raw snappy data ({exc})",
            hint="check the table's compress_type",
        ) from None
