"""Where everything sits inside an OpenMLDB v1 row: the layout shared by the encoder and both decoders.

Layout (reference §4.1): ``[FVersion=1][SVersion][u32 LE size][null bitmap][fixed slots][string
addresses][string bytes]``. This module owns the format constants, ``RowLayout`` (the cached position
of every column of one schema version) and the string address width a row's size implies (§4.2).
``rowencode`` writes rows, ``rowcodec`` reads one at a time and ``rowbatch`` reads whole batches; all
of them take positions from here, so writer and readers cannot drift apart.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from omsync_tui.core.errors import UsageError
from omsync_tui.openmldb.schema import Column, ColumnType

__all__ = ["HEADER_SIZE", "RowLayout", "address_width", "layout_for"]

FORMAT_VERSION = 1
HEADER_SIZE = 6  # FVersion, SVersion, u32 size

U32 = struct.Struct("<I")

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

# How a decoded fixed value is post-processed (kept as small ints so the hot loop compares ints).
PLAIN, BOOL, _DATE = 0, 1, 2

MIN_DATE_YEAR = 1900
MAX_DATE_YEAR = 9999


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
def build_layout(columns: tuple[Column, ...]) -> RowLayout:
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
        kind = BOOL if col.type is ColumnType.BOOL else _DATE if col.type is ColumnType.DATE else PLAIN
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
    return build_layout(tuple(columns))


def address_width(size: int) -> int:
    """String address width every reader derives from a row's size (reference §4.2)."""
    if size <= 0xFF:
        return 1
    if size <= 0xFFFF:
        return 2
    if size <= 0xFFFFFF:
        return 3
    return 4


def describe_column(columns: Sequence[Column], i: int) -> str:
    col = columns[i]
    return f"column {col.name!r} (#{i}, {col.type.name.lower()})"
