"""OpenMLDB row codec v1, one row at a time: the reference the vectorised decoder is checked against.

Layout (reference §4.1): ``[FVersion=1][SVersion][u32 LE size][null bitmap][fixed slots][string
addresses][string bytes]``. This module owns encoding (tests, the sandbox), scalar decoding (error
paths, ``omsync inspect``), splitting a SendData attachment into rows (§4.7) and snappy values (§4.4).
``rowbatch`` decodes whole batches with numpy and falls back to the helpers here for malformed rows,
so the validation rules below are the single definition of a "good" row.

Decoding is strict on purpose: a row that does not fit its schema raises ``RowDecodeError`` instead of
returning shifted values. Two real-world quirks are tolerated (reference Corrections 2 and 8): Java's
``FlexibleRowBuilder`` can write string addresses one byte narrower than the row size implies, and
NULL columns may leave arbitrary bytes in their slots, including the first string address.
"""

from __future__ import annotations

import datetime
import functools
import operator
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import cramjam
import numpy as np

from omsync_tui.core.errors import RowDecodeError, UsageError
from omsync_tui.openmldb.schema import Column, ColumnType, TableSchema

__all__ = [
    "HEADER_SIZE",
    "RowLayout",
    "address_width",
    "compress_value",
    "decode_row",
    "decode_row_versioned",
    "encode_row",
    "layout_for",
    "maybe_decompress",
    "row_size",
    "split_rows",
    "string_bounds",
]

FORMAT_VERSION = 1
HEADER_SIZE = 6  # FVersion, SVersion, u32 size

# Largest row size each address width can describe (index = width in bytes).
_WIDTH_LIMIT = (0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF)

_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")

# struct codes of the fixed slots; '<' means standard sizes and no alignment, like the row itself.
_STRUCT_CODE: dict[ColumnType, str] = {
    ColumnType.BOOL: "B",
    ColumnType.SMALLINT: "h",
    ColumnType.INT: "i",
    ColumnType.BIGINT: "q",
    ColumnType.FLOAT: "f",
    ColumnType.DOUBLE: "d",
    ColumnType.DATE: "i",
    ColumnType.TIMESTAMP: "q",
}

_INT_RANGE: dict[ColumnType, tuple[int, int]] = {
    ColumnType.SMALLINT: (-(2**15), 2**15 - 1),
    ColumnType.INT: (-(2**31), 2**31 - 1),
    ColumnType.BIGINT: (-(2**63), 2**63 - 1),
    ColumnType.TIMESTAMP: (-(2**63), 2**63 - 1),
}

# How a decoded fixed value is post-processed (kept as small ints so the hot loop compares ints).
_PLAIN, _BOOL, _DATE = 0, 1, 2

MIN_DATE_YEAR = 1900
MAX_DATE_YEAR = 9999

_HINT_NOT_A_ROW = "the value is not a v1 row of this schema (compressed value? wrong schema version?)"
_HINT_ADDRESSES = "the row is corrupt or was decoded with the wrong schema"


@dataclass(frozen=True, slots=True)
class RowLayout:
    """Where each column of one schema version lives inside a row (everything but string addresses)."""

    columns: tuple[Column, ...]
    bitmap_size: int
    #: per column: byte offset of its fixed slot from the row start; -1 for string columns
    slot_offsets: tuple[int, ...]
    #: column indices of the fixed-width columns, schema order
    fixed_columns: tuple[int, ...]
    #: (column index, post-processing kind) for fixed columns, schema order
    fixed_kinds: tuple[tuple[int, int], ...]
    #: column indices of the string columns, schema order
    string_columns: tuple[int, ...]
    #: S: byte offset of the string address table (= end of the fixed area)
    string_table: int
    fixed_struct: struct.Struct

    @property
    def fixed_start(self) -> int:
        return HEADER_SIZE + self.bitmap_size


@functools.lru_cache(maxsize=256)
def _layout(columns: tuple[Column, ...]) -> RowLayout:
    if not columns:
        raise UsageError("a row needs at least one column")
    bitmap_size = (len(columns) + 7) // 8
    pos = HEADER_SIZE + bitmap_size
    slots: list[int] = []
    fixed: list[int] = []
    kinds: list[tuple[int, int]] = []
    strings: list[int] = []
    codes = ["<"]
    for i, col in enumerate(columns):
        if col.type.is_string:
            slots.append(-1)
            strings.append(i)
            continue
        slots.append(pos)
        fixed.append(i)
        kind = _BOOL if col.type is ColumnType.BOOL else _DATE if col.type is ColumnType.DATE else _PLAIN
        kinds.append((i, kind))
        codes.append(_STRUCT_CODE[col.type])
        pos += col.type.width
    return RowLayout(
        columns=columns,
        bitmap_size=bitmap_size,
        slot_offsets=tuple(slots),
        fixed_columns=tuple(fixed),
        fixed_kinds=tuple(kinds),
        string_columns=tuple(strings),
        string_table=pos,
        fixed_struct=struct.Struct("".join(codes)),
    )


def layout_for(columns: Sequence[Column]) -> RowLayout:
    """The (cached) layout of rows with these columns."""
    return _layout(tuple(columns))


def address_width(size: int) -> int:
    """String address width every reader derives from a row's size (reference §4.2)."""
    if size <= 0xFF:
        return 1
    if size <= 0xFFFF:
        return 2
    if size <= 0xFFFFFF:
        return 3
    return 4


def _describe(columns: Sequence[Column], i: int) -> str:
    col = columns[i]
    return f"column {col.name!r} (#{i}, {col.type.name.lower()})"


# --------------------------------------------------------------------------------------------------
# encoding


def _encode_date(value: object, where: str) -> int:
    # datetime is a date subclass; silently dropping its time would hide a caller's mistake.
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise UsageError(f"{where}: expected a datetime.date, got {type(value).__name__}")
    if not MIN_DATE_YEAR <= value.year <= MAX_DATE_YEAR:
        raise UsageError(f"{where}: year {value.year} is outside {MIN_DATE_YEAR}..{MAX_DATE_YEAR}")
    return ((value.year - 1900) << 16) | ((value.month - 1) << 8) | value.day


def _encode_int(value: object, ctype: ColumnType, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise UsageError(f"{where}: expected an int, got {type(value).__name__}")
    number = operator.index(value)
    low, high = _INT_RANGE[ctype]
    if not low <= number <= high:
        raise UsageError(f"{where}: {number} is outside {low}..{high}")
    return int(number)


def _encode_fixed(col: Column, value: object, where: str) -> object:
    ctype = col.type
    if ctype is ColumnType.BOOL:
        if not isinstance(value, bool | np.bool_):
            raise UsageError(f"{where}: expected a bool, got {type(value).__name__}")
        return 1 if value else 0
    if ctype is ColumnType.DATE:
        return _encode_date(value, where)
    if ctype in (ColumnType.FLOAT, ColumnType.DOUBLE):
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
            raise UsageError(f"{where}: expected a float, got {type(value).__name__}")
        number = float(value)
        if ctype is ColumnType.FLOAT:
            try:
                struct.pack("<f", number)
            except OverflowError:
                raise UsageError(f"{where}: {number!r} does not fit a float32") from None
        return number
    return _encode_int(value, ctype, where)


def encode_row(
    columns: Sequence[Column],
    values: Sequence[object],
    *,
    schema_version: int = 1,
    bitmap_padding: bool = True,
    string_width: int | None = None,
) -> bytes:
    """Encode one row in format v1.

    ``None`` is NULL; bool / int (smallint, int, bigint; range-checked) / float / ``datetime.date``
    (years 1900..9999) / int milliseconds for timestamps (signed, Correction 4) / ``str`` for strings
    (``bytes`` are written verbatim, which lets tests build rows with invalid UTF-8).

    ``bitmap_padding=True`` sets the unused bitmap bits like the C++ ``RowBuilder`` (the §4.6 example);
    False leaves them 0 like Java's ``FlexibleRowBuilder``. ``string_width`` forces the address width
    instead of deriving it from the size, to reproduce ``FlexibleRowBuilder``'s malformed rows
    (Correction 2). Bad values raise ``UsageError`` naming the column.
    """
    layout = _layout(tuple(columns))
    cols = layout.columns
    if len(values) != len(cols):
        raise UsageError(f"row has {len(values)} values but the schema has {len(cols)} columns")
    if not 0 <= schema_version <= 0xFF:
        raise UsageError(f"schema version {schema_version} does not fit in one byte")

    null_bits = 0
    fixed_values: list[object] = []
    for i in layout.fixed_columns:
        value = values[i]
        if value is None:
            null_bits |= 1 << i
            fixed_values.append(0)  # NULL slots still occupy their bytes; zeros are as good as any
        else:
            fixed_values.append(_encode_fixed(cols[i], value, _describe(cols, i)))

    pieces: list[bytes] = []
    for i in layout.string_columns:
        value = values[i]
        if value is None:
            null_bits |= 1 << i
            pieces.append(b"")
        elif isinstance(value, str):
            pieces.append(value.encode("utf-8"))
        elif isinstance(value, bytes | bytearray | memoryview):
            pieces.append(bytes(value))
        else:
            raise UsageError(f"{_describe(cols, i)}: expected a str, got {type(value).__name__}")
    for i, col in enumerate(cols):
        if col.not_null and values[i] is None:
            raise UsageError(f"{_describe(cols, i)} is NOT NULL but the value is None")

    m = len(layout.string_columns)
    base = layout.string_table + sum(len(p) for p in pieces)
    width = 0
    if m:
        if string_width is None:
            width = next((w for w in (1, 2, 3, 4) if base + w * m <= _WIDTH_LIMIT[w]), 0)
            if width == 0:
                raise UsageError(f"row would be {base + 4 * m} bytes, more than the 4 GiB a row can hold")
        elif string_width in (1, 2, 3, 4):
            width = string_width
        else:
            raise UsageError(f"string_width must be 1, 2, 3 or 4, not {string_width}")
    size = base + width * m
    if size > _WIDTH_LIMIT[4]:
        raise UsageError(f"row would be {size} bytes, more than the 4 GiB a row can hold")

    out = bytearray(size)
    out[0] = FORMAT_VERSION
    out[1] = schema_version
    _U32.pack_into(out, 2, size)
    bitmap = null_bits
    if bitmap_padding:
        bitmap |= ((1 << (8 * layout.bitmap_size)) - 1) & ~((1 << len(cols)) - 1)
    out[HEADER_SIZE : layout.fixed_start] = bitmap.to_bytes(layout.bitmap_size, "little")
    layout.fixed_struct.pack_into(out, layout.fixed_start, *fixed_values)

    # Every address is written, NULL or not: a NULL string's slot holds the current write position,
    # so lengths computed from neighbouring slots stay right (readers that skip NULLs do not care).
    pos = layout.string_table + width * m
    slot = layout.string_table
    limit = 1 << (8 * width) if m else 0
    for j, piece in enumerate(pieces):
        if pos >= limit:
            name = cols[layout.string_columns[j]].name
            raise UsageError(f"string column {name!r} starts at byte {pos}, beyond {width}-byte addresses")
        if width == 3:
            out[slot : slot + 3] = pos.to_bytes(3, "big")  # the one big-endian field of the format
        else:
            out[slot : slot + width] = pos.to_bytes(width, "little")
        slot += width
        out[pos : pos + len(piece)] = piece
        pos += len(piece)
    return bytes(out)


# --------------------------------------------------------------------------------------------------
# decoding


def _read_address(row: bytes | memoryview, pos: int, width: int) -> int:
    if width == 1:
        return row[pos]
    if width == 2:
        return int(_U16.unpack_from(row, pos)[0])
    if width == 3:
        return (row[pos] << 16) | (row[pos + 1] << 8) | row[pos + 2]
    return int(_U32.unpack_from(row, pos)[0])


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
        f"{_describe(columns, i)}: 0x{value & 0xFFFFFFFF:08x} is not a date "
        f"(year {year}, month {month}, day {day})",
        hint=_HINT_ADDRESSES,
    )


def _check_header(row: bytes | memoryview, layout: RowLayout) -> int:
    length = len(row)
    if length < HEADER_SIZE:
        raise RowDecodeError(f"row is {length} bytes, shorter than the {HEADER_SIZE}-byte header")
    if row[0] != FORMAT_VERSION:
        raise RowDecodeError(f"row format version is {row[0]}, only 1 is supported", hint=_HINT_NOT_A_ROW)
    size = int(_U32.unpack_from(row, 2)[0])
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
        if kind == _PLAIN:
            out[i] = value
        elif kind == _BOOL:
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
    return _decode(row, _layout(tuple(columns)))


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
# framing and compression


def row_size(buf: bytes | memoryview, pos: int) -> int:
    """The size field of the row starting at ``pos`` (bytes 2..6 of the row)."""
    if pos < 0 or pos + HEADER_SIZE > len(buf):
        raise RowDecodeError(
            f"truncated row: {len(buf) - pos} byte(s) left, a row header needs {HEADER_SIZE}", offset=pos
        )
    return int(_U32.unpack_from(buf, pos + 2)[0])


def split_rows(buf: bytes | memoryview) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, lengths) as int64 arrays of the rows concatenated in a SendData attachment (§4.7).

    The chain of size fields is inherently sequential, so this is the one per-row Python loop of the
    batch path; it only reads one u32 per row.
    """
    total = len(buf)
    offsets: list[int] = []
    append = offsets.append
    unpack = _U32.unpack_from
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


def compress_value(row: bytes) -> bytes:
    """Raw snappy compression, as a kSnappy table stores values."""
    return bytes(cramjam.snappy.compress_raw(row))
