"""OpenMLDB row codec v1, the writing side: ``encode_row`` and raw snappy ``compress_value`` (§4.4).

Tests and the sandbox use it to produce the bytes a tablet would store. Every value is checked before
anything is written, so a bad value raises ``UsageError`` naming its column instead of yielding a row
no reader accepts; ``encode_row``'s options reproduce real builders' quirks (bitmap padding, Java's
narrow string addresses of Correction 2) so the decoders can be tested against them. Positions come
from ``rowlayout``.
"""

from __future__ import annotations

import datetime
import operator
import struct
from collections.abc import Sequence

import cramjam
import numpy as np

from omsync_tui.core.errors import UsageError
from omsync_tui.openmldb.row.layout import (
    FORMAT_VERSION,
    HEADER_SIZE,
    MAX_DATE_YEAR,
    MIN_DATE_YEAR,
    U32,
    build_layout,
    describe_column,
)
from omsync_tui.openmldb.schema import Column, ColumnType

__all__ = ["compress_value", "encode_row"]

# Largest row size each address width can describe (index = width in bytes).
_WIDTH_LIMIT = (0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF)

_INT_RANGE: dict[ColumnType, tuple[int, int]] = {
    ColumnType.SMALLINT: (-(2**15), 2**15 - 1),
    ColumnType.INT: (-(2**31), 2**31 - 1),
    ColumnType.BIGINT: (-(2**63), 2**63 - 1),
    ColumnType.TIMESTAMP: (-(2**63), 2**63 - 1),
}


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
    layout = build_layout(tuple(columns))
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
            fixed_values.append(_encode_fixed(cols[i], value, describe_column(cols, i)))

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
            raise UsageError(f"{describe_column(cols, i)}: expected a str, got {type(value).__name__}")
    for i, col in enumerate(cols):
        if col.not_null and values[i] is None:
            raise UsageError(f"{describe_column(cols, i)} is NOT NULL but the value is None")

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
    U32.pack_into(out, 2, size)
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


def compress_value(row: bytes) -> bytes:
    """Raw snappy compression, as a kSnappy table stores values."""
    return bytes(cramjam.snappy.compress_raw(row))
