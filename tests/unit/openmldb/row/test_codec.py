"""The scalar row codec v1 against the reference's bytes and against itself (hypothesis)."""

from __future__ import annotations

import datetime as dt
import math
import struct

import pytest
from helpers.golden import EXAMPLE_COLUMNS, EXAMPLE_HEX, EXAMPLE_VALUES  # reference §4.6
from helpers.strategies import schema_and_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omsync_tui.core.errors import RowDecodeError, UsageError
from omsync_tui.openmldb.row.codec import (
    decode_row,
    decode_row_versioned,
    maybe_decompress,
    row_size,
    split_rows,
)
from omsync_tui.openmldb.row.encode import compress_value, encode_row
from omsync_tui.openmldb.row.layout import address_width, layout_for
from omsync_tui.openmldb.schema import Column, ColumnType, TableSchema

T = ColumnType


ALL_FIXED = (
    Column("b", T.BOOL),
    Column("s", T.SMALLINT),
    Column("i", T.INT),
    Column("l", T.BIGINT),
    Column("f", T.FLOAT),
    Column("d", T.DOUBLE),
    Column("day", T.DATE),
    Column("ts", T.TIMESTAMP),
)


def same(a: object, b: object) -> bool:
    """Equality that treats NaN as equal to NaN and tells -0.0 from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


def same_row(a: list[object], b: list[object]) -> bool:
    return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


# -- the worked example ------------------------------------------------------------------------------


def test_worked_example_encodes_byte_identical() -> None:
    assert encode_row(EXAMPLE_COLUMNS, EXAMPLE_VALUES) == bytes.fromhex(EXAMPLE_HEX)


def test_worked_example_java_padding_leaves_padding_bits_zero() -> None:
    row = encode_row(EXAMPLE_COLUMNS, EXAMPLE_VALUES, bitmap_padding=False)
    expected = bytearray.fromhex(EXAMPLE_HEX)
    expected[6] = 0x08
    assert row == bytes(expected)


@pytest.mark.parametrize("bitmap", [0xE8, 0x08, 0x28, 0xC8])
def test_worked_example_decodes_whatever_the_padding(bitmap: int) -> None:
    row = bytearray.fromhex(EXAMPLE_HEX)
    row[6] = bitmap
    assert decode_row(bytes(row), EXAMPLE_COLUMNS) == EXAMPLE_VALUES
    assert decode_row(memoryview(row), EXAMPLE_COLUMNS) == EXAMPLE_VALUES


def test_schema_version_byte_is_written() -> None:
    assert encode_row(EXAMPLE_COLUMNS, EXAMPLE_VALUES, schema_version=3)[1] == 3


# -- fixed types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        [True, -(2**15), -(2**31), -(2**63), -math.inf, -math.inf, dt.date(1900, 1, 1), -(2**63)],
        [False, 2**15 - 1, 2**31 - 1, 2**63 - 1, math.inf, math.inf, dt.date(9999, 12, 31), 2**63 - 1],
        [True, 0, 0, 0, -0.0, -0.0, dt.date(2000, 2, 29), -1],
        [False, -1, -1, -1, 3.4028234663852886e38, 5e-324, dt.date(1970, 1, 1), -86_400_000],
        [True, 1, 1, 1, 1.401298464324817e-45, -1.7976931348623157e308, dt.date(2024, 12, 31), 0],
    ],
)
def test_fixed_types_round_trip_at_their_limits(values: list[object]) -> None:
    row = encode_row(ALL_FIXED, values)
    assert len(row) == 6 + 1 + 1 + 2 + 4 + 8 + 4 + 8 + 4 + 8
    assert same_row(decode_row(row, ALL_FIXED), values)


def test_nan_round_trips_in_float_and_double() -> None:
    values = [None, None, None, None, math.nan, math.nan, None, None]
    out = decode_row(encode_row(ALL_FIXED, values), ALL_FIXED)
    assert out[:4] == [None] * 4
    assert isinstance(out[4], float) and math.isnan(out[4])
    assert isinstance(out[5], float) and math.isnan(out[5])


def test_float_column_gives_the_float32_value() -> None:
    cols = [Column("f", T.FLOAT)]
    assert decode_row(encode_row(cols, [0.1]), cols) == [f32(0.1)]
    assert f32(0.1) != 0.1


def test_date_and_timestamp_encodings_are_the_documented_ones() -> None:
    cols = [Column("d", T.DATE), Column("t", T.TIMESTAMP)]
    row = encode_row(cols, [dt.date(2024, 3, 5), -1])
    assert row[7:11] == (0x7C0205).to_bytes(4, "little")
    assert row[11:19] == b"\xff" * 8  # signed 64-bit (Correction 4)


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        (Column("small", T.SMALLINT), 2**15, "small.*32768 is outside"),
        (Column("small", T.SMALLINT), -(2**15) - 1, "small"),
        (Column("n", T.INT), 2**31, "'n'.*outside"),
        (Column("big", T.BIGINT), -(2**63) - 1, "'big'.*outside"),
        (Column("ts", T.TIMESTAMP), 2**63, "'ts'.*outside"),
        (Column("n", T.INT), 1.5, "'n'.*expected an int"),
        (Column("n", T.INT), True, "'n'.*expected an int"),
        (Column("flag", T.BOOL), 1, "'flag'.*expected a bool"),
        (Column("f", T.FLOAT), 1e39, "'f'.*float32"),
        (Column("d", T.DOUBLE), "x", "'d'.*expected a float"),
        (Column("day", T.DATE), dt.date(1899, 12, 31), "'day'.*year 1899"),
        (Column("day", T.DATE), dt.datetime(2024, 1, 1), "'day'.*datetime.date"),
        (Column("s", T.STRING), 5, "'s'.*expected a str"),
        (Column("nn", T.INT, not_null=True), None, "'nn'.*NOT NULL"),
    ],
)
def test_bad_values_are_rejected_naming_the_column(column: Column, value: object, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        encode_row([column], [value])


def test_wrong_value_count_is_rejected() -> None:
    with pytest.raises(UsageError, match="2 values but the schema has 5 columns"):
        encode_row(EXAMPLE_COLUMNS, ["a", 1])


def test_bool_slot_other_than_zero_reads_true() -> None:
    cols = [Column("b", T.BOOL)]
    row = bytearray(encode_row(cols, [True]))
    row[7] = 2
    assert decode_row(bytes(row), cols) == [True]


@pytest.mark.parametrize("packed", [0x000C01, 0x00011E, 0x7C0100, (8100 << 16) | 1, 0xFFFF0001])
def test_impossible_dates_are_errors(packed: int) -> None:
    cols = [Column("day", T.DATE)]
    row = bytearray(encode_row(cols, [dt.date(2000, 1, 1)]))
    row[7:11] = packed.to_bytes(4, "little")
    with pytest.raises(RowDecodeError, match=r"'day'.*is not a date"):
        decode_row(bytes(row), cols)


# -- NULLs ---------------------------------------------------------------------------------------------


def test_null_fixed_slots_holding_garbage_decode_as_null() -> None:
    values: list[object] = [None] * len(ALL_FIXED)
    row = bytearray(encode_row(ALL_FIXED, values))
    row[8:] = b"\xa5" * (len(row) - 8)  # every slot garbage, including an impossible date
    assert decode_row(bytes(row), ALL_FIXED) == values


def test_null_first_string_with_garbage_in_its_slot() -> None:
    cols = [Column("a", T.STRING), Column("n", T.INT), Column("b", T.VARCHAR), Column("c", T.STRING)]
    row = bytearray(encode_row(cols, [None, 5, "xy", "z"]))
    table = layout_for(cols).string_table
    assert row[table] == table + 3  # the encoder writes off[0] anyway
    for garbage in (0x00, 0xFF, 0x01, table + 4):
        row[table] = garbage  # what the C++ builder leaves there (Correction 8)
        assert decode_row(bytes(row), cols) == [None, 5, "xy", "z"]


def test_null_string_slot_holds_current_position() -> None:
    cols = [Column("a", T.STRING), Column("b", T.STRING), Column("c", T.STRING)]
    row = encode_row(cols, ["ab", None, "c"])
    table = layout_for(cols).string_table
    assert list(row[table : table + 3]) == [table + 3, table + 5, table + 5]
    assert decode_row(row, cols) == ["ab", None, "c"]


def test_all_strings_null() -> None:
    cols = [Column("a", T.STRING), Column("b", T.STRING)]
    row = encode_row(cols, [None, None])
    assert len(row) == 6 + 1 + 2
    assert decode_row(row, cols) == [None, None]


def test_empty_strings_are_not_null() -> None:
    cols = [Column("a", T.STRING), Column("b", T.STRING)]
    assert decode_row(encode_row(cols, ["", ""]), cols) == ["", ""]


# -- string address widths -----------------------------------------------------------------------------

TWO_STRINGS = (Column("id", T.BIGINT), Column("a", T.STRING), Column("b", T.STRING))
TWO_STRINGS_TABLE = 6 + 1 + 8


@pytest.mark.parametrize(
    ("b_len", "width", "size"),
    [
        (180, 1, 200),
        (235, 1, 255),  # largest 1-byte row
        (236, 2, 258),  # 256 would not fit 1-byte addresses: the next size is 258
        (60_000, 2, 60_022),
        (65_513, 2, 65_535),
        (65_514, 3, 65_538),
        (70_000, 3, 70_024),
    ],
)
def test_address_width_follows_the_size(b_len: int, width: int, size: int) -> None:
    values = [1, "abc", "é" * (b_len // 2) + "x" * (b_len % 2)]
    row = encode_row(TWO_STRINGS, values)
    assert len(row) == size
    assert address_width(size) == width
    first = TWO_STRINGS_TABLE + 2 * width
    second = first + 3
    table = row[TWO_STRINGS_TABLE:first]
    if width == 3:  # big-endian, byte for byte
        assert table == first.to_bytes(3, "big") + second.to_bytes(3, "big")
    else:
        assert table == first.to_bytes(width, "little") + second.to_bytes(width, "little")
    assert decode_row(row, TWO_STRINGS) == values


def test_width_4_row_and_its_narrow_twin() -> None:
    """One row just over 16 MiB (4-byte addresses) and its FlexibleRowBuilder twin (3-byte)."""
    big = "x" * (1 << 24)
    values = [7, "head", big]
    row = encode_row(TWO_STRINGS, values)
    size = TWO_STRINGS_TABLE + 8 + 4 + len(big)
    assert len(row) == size and size > 0xFFFFFF
    assert row[TWO_STRINGS_TABLE : TWO_STRINGS_TABLE + 8] == (23).to_bytes(4, "little") + (27).to_bytes(
        4, "little"
    )
    assert decode_row(row, TWO_STRINGS) == values

    twin = encode_row(TWO_STRINGS, values, string_width=3)
    assert len(twin) == size - 2 and address_width(len(twin)) == 4
    assert twin[TWO_STRINGS_TABLE : TWO_STRINGS_TABLE + 6] == bytes.fromhex("000015 000019")
    assert decode_row(twin, TWO_STRINGS) == values


@pytest.mark.parametrize("b_len", [65_515, 65_530, 66_000])
def test_correction_2_row_with_2_byte_addresses_over_64k(b_len: int) -> None:
    values = [3, "first", "y" * b_len]
    row = encode_row(TWO_STRINGS, values, string_width=2)
    assert len(row) > 0xFFFF  # every reader derives 3 from this size
    assert row[TWO_STRINGS_TABLE : TWO_STRINGS_TABLE + 2] == (TWO_STRINGS_TABLE + 4).to_bytes(2, "little")
    assert decode_row(row, TWO_STRINGS) == values


def test_correction_2_with_null_first_string() -> None:
    values = [3, None, "y" * 65_600]
    row = bytearray(encode_row(TWO_STRINGS, values, string_width=2))
    row[TWO_STRINGS_TABLE : TWO_STRINGS_TABLE + 2] = b"\xee\xee"
    assert decode_row(bytes(row), TWO_STRINGS) == values


def test_forced_width_too_narrow_for_the_offsets_is_refused() -> None:
    with pytest.raises(UsageError, match="'b' starts at byte 300"):
        encode_row(TWO_STRINGS, [1, "a" * 283, "b"], string_width=1)


@pytest.mark.parametrize(
    ("slot", "value", "match"),
    [
        (0, 0x30, r"column 'a' \(#1\): address 48 at row byte 15 should be 17"),
        (1, 0x10, r"column 'b' \(#2\): address 16 at row byte 16 is below the previous string's start 17"),
        (1, 0xF0, r"column 'b' \(#2\): address 240 at row byte 16 is beyond the row end 22"),
    ],
)
def test_bad_address_table_is_reported_with_column_and_offset(slot: int, value: int, match: str) -> None:
    row = bytearray(encode_row(TWO_STRINGS, [1, "ab", "cde"]))
    row[TWO_STRINGS_TABLE + slot] = value
    with pytest.raises(RowDecodeError, match=match):
        decode_row(bytes(row), TWO_STRINGS)


def test_bad_wide_table_reports_both_widths() -> None:
    row = bytearray(encode_row(TWO_STRINGS, [1, "ab", "c" * 70_000]))
    row[TWO_STRINGS_TABLE + 3 : TWO_STRINGS_TABLE + 6] = (70_100).to_bytes(3, "big")
    with pytest.raises(RowDecodeError, match=r"beyond the row end.*2-byte addresses do not fit either"):
        decode_row(bytes(row), TWO_STRINGS)


def test_invalid_utf8_names_the_column() -> None:
    row = encode_row(TWO_STRINGS, [1, "ok", b"\xc3\x28"])
    with pytest.raises(RowDecodeError, match=r"column 'b' \(#2\) is not valid UTF-8.*row byte 19"):
        decode_row(row, TWO_STRINGS)


# -- whole-row checks ----------------------------------------------------------------------------------


def test_truncated_row() -> None:
    row = encode_row(EXAMPLE_COLUMNS, EXAMPLE_VALUES)
    with pytest.raises(RowDecodeError, match="size field says 27 bytes but the row has 26"):
        decode_row(row[:-1], EXAMPLE_COLUMNS)
    with pytest.raises(RowDecodeError, match="shorter than the 6-byte header"):
        decode_row(row[:4], EXAMPLE_COLUMNS)


def test_wrong_size_field() -> None:
    row = bytearray(encode_row(EXAMPLE_COLUMNS, EXAMPLE_VALUES))
    row[2] = 28
    with pytest.raises(RowDecodeError, match="size field says 28"):
        decode_row(bytes(row), EXAMPLE_COLUMNS)


def test_wrong_format_version() -> None:
    row = bytearray(encode_row(EXAMPLE_COLUMNS, EXAMPLE_VALUES))
    row[0] = 0
    with pytest.raises(RowDecodeError, match="format version is 0"):
        decode_row(bytes(row), EXAMPLE_COLUMNS)


def test_schema_with_too_few_columns_is_detected() -> None:
    row = encode_row(EXAMPLE_COLUMNS, EXAMPLE_VALUES)
    with pytest.raises(RowDecodeError, match="string address table"):
        decode_row(row, EXAMPLE_COLUMNS[:4])
    fixed = encode_row(ALL_FIXED, [True, 1, 2, 3, 4.0, 5.0, dt.date(2000, 1, 1), 6])
    with pytest.raises(RowDecodeError, match=r"8 byte\(s\) after the fixed slots of its 7 columns"):
        decode_row(fixed, ALL_FIXED[:7])


def test_schema_with_too_many_columns_is_detected() -> None:
    cols = [Column("a", T.INT), Column("b", T.INT)]
    row = encode_row(cols, [1, 2])
    with pytest.raises(RowDecodeError, match="3 columns need at least 19"):
        decode_row(row, [*cols, Column("c", T.INT)])
    with pytest.raises(RowDecodeError, match="string address"):
        decode_row(row, [*cols, Column("s", T.STRING)])


# -- schema versions -----------------------------------------------------------------------------------

BASE = (Column("k", T.STRING), Column("v", T.INT))
ADDED = (Column("note", T.STRING), Column("score", T.DOUBLE))
VERSIONED = TableSchema(BASE, ADDED, {2: 3, 3: 4})


def test_versioned_decode_pads_older_rows() -> None:
    v1 = encode_row(BASE, ["a", 1])
    v2 = encode_row(VERSIONED.columns_for(2), ["b", 2, "n"], schema_version=2)
    v3 = encode_row(VERSIONED.columns_for(3), ["c", 3, None, 0.5], schema_version=3)
    assert decode_row_versioned(v1, VERSIONED) == ["a", 1, None, None]
    assert decode_row_versioned(v2, VERSIONED) == ["b", 2, "n", None]
    assert decode_row_versioned(v3, VERSIONED) == ["c", 3, None, 0.5]


def test_unknown_schema_version() -> None:
    row = encode_row(BASE, ["a", 1], schema_version=9)
    with pytest.raises(RowDecodeError, match="schema version 9"):
        decode_row_versioned(row, VERSIONED)


# -- framing and snappy --------------------------------------------------------------------------------


def test_split_rows_and_row_size() -> None:
    rows = [encode_row(EXAMPLE_COLUMNS, EXAMPLE_VALUES), encode_row(TWO_STRINGS, [1, "x" * 300, "y"])]
    rows.append(rows[0])
    buf = b"".join(rows)
    offsets, lengths = split_rows(buf)
    assert offsets.dtype == lengths.dtype == "int64"
    assert offsets.tolist() == [0, 27, 27 + len(rows[1])]
    assert lengths.tolist() == [len(r) for r in rows]
    assert row_size(buf, 27) == len(rows[1])
    empty_offsets, empty_lengths = split_rows(b"")
    assert len(empty_offsets) == len(empty_lengths) == 0


def test_split_rows_reports_truncation_with_offset() -> None:
    row = encode_row(EXAMPLE_COLUMNS, EXAMPLE_VALUES)
    with pytest.raises(RowDecodeError, match="byte offset 81: truncated row #3: size field says 27") as err:
        split_rows(row * 3 + row[:10])
    assert err.value.offset == 81
    with pytest.raises(RowDecodeError, match="byte offset 27: truncated row #1: 3 byte") as err:
        split_rows(row + row[:3])
    assert err.value.offset == 27
    with pytest.raises(RowDecodeError, match="truncated row"):
        row_size(row, 24)


def test_split_rows_refuses_a_zero_size() -> None:
    with pytest.raises(RowDecodeError, match="size field 0"):
        split_rows(b"\x01\x01\x00\x00\x00\x00\x00")


def test_snappy_values() -> None:
    row = encode_row(TWO_STRINGS, [1, "a" * 500, "b" * 500])
    stored = compress_value(row)
    assert len(stored) < len(row)
    assert maybe_decompress(stored, snappy=True) == row
    assert maybe_decompress(row, snappy=False) is row
    with pytest.raises(RowDecodeError, match="not raw snappy"):
        maybe_decompress(b"\xff\xff\xff\xff", snappy=True)


# -- properties ----------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=schema_and_rows(max_rows=6), padding=st.booleans())
def test_property_encode_then_decode_is_identity(
    data: tuple[list[Column], list[list[object]]], padding: bool
) -> None:
    columns, rows = data
    for values in rows:
        row = encode_row(columns, values, bitmap_padding=padding)
        assert len(row) == int.from_bytes(row[2:6], "little")
        assert same_row(decode_row(row, columns), values)


@settings(max_examples=150, deadline=None)
@given(
    data=schema_and_rows(max_rows=6),
    position=st.integers(min_value=0),
    byte=st.integers(0, 255),
)
def test_property_corruption_raises_or_stays_in_the_row(
    data: tuple[list[Column], list[list[object]]], position: int, byte: int
) -> None:
    """A damaged row decodes to values of the right types or raises RowDecodeError, nothing else."""
    columns, rows = data
    row = bytearray(encode_row(columns, rows[0]))
    row[position % len(row)] = byte
    try:
        values = decode_row(bytes(row), columns)
    except RowDecodeError:
        return
    expected_types = {
        T.BOOL: bool,
        T.SMALLINT: int,
        T.INT: int,
        T.BIGINT: int,
        T.FLOAT: float,
        T.DOUBLE: float,
        T.DATE: dt.date,
        T.TIMESTAMP: int,
        T.VARCHAR: str,
        T.STRING: str,
    }
    for col, value in zip(columns, values, strict=True):
        assert value is None or type(value) is expected_types[col.type]
