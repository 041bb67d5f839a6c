"""Numpy kernels of the batch decoder: fixed slots, string address tables and dates of many rows at once.

Each function takes the buffer and per-row arrays and returns arrays, with no Python code per row and
no Arrow (STYLE 15): row prefixes are gathered through an overlapping-window numpy view of the buffer,
string address tables are checked with the scalar decoder's rules (``rowcodec``) expressed as array
operations, and packed dates become days through two month tables. ``rowbatch`` drives them, turns
their masks into errors and builds the Arrow arrays.
"""

from __future__ import annotations

import functools

import numpy as np

from omsync_tui.openmldb.row.layout import HEADER_SIZE, MAX_DATE_YEAR, RowLayout
from omsync_tui.openmldb.schema import ColumnType

_SLOT_DTYPE: dict[ColumnType, str] = {
    ColumnType.BOOL: "u1",
    ColumnType.SMALLINT: "<i2",
    ColumnType.INT: "<i4",
    ColumnType.BIGINT: "<i8",
    ColumnType.FLOAT: "<f4",
    ColumnType.DOUBLE: "<f8",
    ColumnType.DATE: "<i4",
    ColumnType.TIMESTAMP: "<i8",
}


@functools.lru_cache(maxsize=256)
def prefix_dtype(layout: RowLayout, with_table: bool) -> np.dtype:
    """Structured view of a row's bytes [0, S): size field, bitmap and every fixed slot.

    ``with_table`` appends the string address table as it is when addresses are 1 byte wide (rows
    up to 255 bytes, the common case), which saves a second gather per batch.
    """
    names = ["size", "bitmap"]
    formats: list[object] = ["<u4", (np.uint8, (layout.bitmap_size,))]
    offsets = [2, HEADER_SIZE]
    for i in layout.fixed_columns:
        names.append(f"c{i}")
        formats.append(_SLOT_DTYPE[layout.columns[i].type])
        offsets.append(layout.slot_offsets[i])
    itemsize = layout.string_table
    if with_table:
        names.append("table")
        formats.append((np.uint8, (len(layout.string_columns),)))
        offsets.append(itemsize)
        itemsize += len(layout.string_columns)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": itemsize})


def gather(buf: memoryview, starts: np.ndarray, itemsize: int, at: int = 0) -> np.ndarray:
    """Bytes [start + at, start + at + itemsize) of every start, as a contiguous (k, itemsize) array.

    The buffer is viewed as overlapping records (stride 1 byte, one record per byte position) so one
    fancy-index copies each row's bytes with a single memcpy; callers guarantee the bounds.
    """
    k = len(starts)
    count = len(buf) - at - itemsize + 1
    if k == 0 or count <= 0 or itemsize == 0:
        return np.zeros((k, itemsize), dtype=np.uint8)
    windows = np.ndarray((count,), dtype=np.dtype((np.void, itemsize)), buffer=buf, offset=at, strides=(1,))
    gathered: np.ndarray = windows[starts].view(np.uint8).reshape(k, itemsize)
    return gathered


@functools.cache
def _month_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per month since 1900-01 up to 9999-12: its first day (days since 1970-01-01) and its length.

    Two table lookups replace datetime64 conversions, which cost more than all fixed slots together.
    """
    months = np.arange((MAX_DATE_YEAR - 1900 + 1) * 12 + 1, dtype=np.int64) + (1900 - 1970) * 12
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return first[:-1].astype(np.int32), np.diff(first).astype(np.int32)


def dates_to_days(raw: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970-01-01 of packed dates (reference §4.1) and a mask of non-NULL invalid ones."""
    first_day, month_days = _month_tables()
    v = raw.astype(np.int32)
    year_off = v >> 16  # negative packed values are years before 1900: invalid, like the scalar decoder
    month0 = (v >> 8) & 0xFF
    day = v & 0xFF
    good = (year_off >= 0) & (year_off <= MAX_DATE_YEAR - 1900) & (month0 < 12) & (day >= 1)
    month_index = np.where(good, year_off * 12 + month0, 0)
    good &= day <= month_days[month_index]
    days = first_day[month_index] + day - 1
    return days, valid & ~good


def address_table(
    buf: memoryview,
    layout: RowLayout,
    offs: np.ndarray,
    lens: np.ndarray,
    width: np.ndarray,
    nulls: np.ndarray,
    one_byte: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Read and check each row's string addresses with the given per-row width.

    ``one_byte`` = the tables of all rows read as 1-byte addresses, when the caller has them.

    Returns (starts (k, m), ends per string column, ok): a string ends where the next non-NULL one
    starts (or at the row end); a row is ok when the table fits, the non-NULL starts never go down and
    the first one is the end of the table — the scalar decoder's rules, as a running minimum taken
    from the last column back. NULL slots (arbitrary bytes, Correction 8) are never looked at.
    """
    k, m = nulls.shape
    table_end = layout.string_table + width * m
    fits = table_end <= lens
    addresses = np.zeros((k, m), dtype=np.int64)
    for w in (1, 2, 3, 4):
        sel = fits & (width == w)
        if not sel.any():
            continue
        picked = None if sel.all() else np.flatnonzero(sel)
        if w == 1 and one_byte is not None:  # already read with the prefix
            addresses[:] = one_byte if picked is None else np.where(sel[:, None], one_byte, 0)
            continue
        raw = gather(buf, offs if picked is None else offs[picked], w * m, layout.string_table)
        if w == 1:
            table = raw
        elif w == 2:
            table = raw.view("<u2")
        elif w == 3:  # the format's one big-endian field
            r3 = raw.reshape(-1, m, 3).astype(np.int64)
            table = (r3[:, :, 0] << 16) | (r3[:, :, 1] << 8) | r3[:, :, 2]
        else:
            table = raw.view("<u4")
        if picked is None:
            addresses[:] = table
        else:
            addresses[picked] = table
    ok = fits
    ends: list[np.ndarray] = [lens] * m
    following = lens  # start of the next non-NULL string, or the row end
    for j in range(m - 1, -1, -1):
        ends[j] = following
        start = addresses[:, j]
        null = nulls[:, j]
        ok = ok & (null | (start <= following))
        following = np.where(null, following, start)
    ok &= following == table_end  # all NULL: the row must end with its table
    return addresses, ends, ok
