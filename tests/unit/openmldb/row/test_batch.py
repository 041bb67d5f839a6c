"""The vectorised batch decoder, checked against the scalar decoder and the reference bytes."""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import pyarrow as pa
import pytest
from helpers.golden import EXAMPLE_COLUMNS, EXAMPLE_HEX  # reference §4.6
from helpers.strategies import schema_and_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omsync_tui.core.errors import RowDecodeError, UsageError
from omsync_tui.openmldb.row.batch import arrow_schema, decode_batch
from omsync_tui.openmldb.row.codec import decode_row, decode_row_versioned, maybe_decompress, split_rows
from omsync_tui.openmldb.row.encode import compress_value, encode_row
from omsync_tui.openmldb.row.layout import layout_for
from omsync_tui.openmldb.schema import Column, ColumnType, TableSchema

T = ColumnType

EXAMPLE = TableSchema.from_columns(EXAMPLE_COLUMNS)

MIXED = (
    Column("b", T.BOOL),
    Column("s", T.SMALLINT),
    Column("i", T.INT),
    Column("l", T.BIGINT),
    Column("f", T.FLOAT),
    Column("d", T.DOUBLE),
    Column("day", T.DATE),
    Column("ts", T.TIMESTAMP),
    Column("name", T.VARCHAR),
    Column("note", T.STRING),
)
TWO_STRINGS = (Column("id", T.BIGINT), Column("a", T.STRING), Column("b", T.STRING))


def batch_rows(batch: pa.RecordBatch) -> list[list[object]]:
    """The batch as rows of the scalar decoder's Python types (timestamps as int milliseconds)."""
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        columns.append(column.to_pylist())
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


def assert_same_rows(got: list[list[object]], expected: list[list[object]]) -> None:
    assert len(got) == len(expected)
    for k, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert len(g) == len(e), k
        assert all(same(x, y) for x, y in zip(g, e, strict=True)), (k, g, e)


def scalar_rows(rows: list[bytes], schema: TableSchema) -> list[list[object]]:
    return [decode_row_versioned(r, schema) for r in rows]


# -- basics --------------------------------------------------------------------------------------------


def test_worked_example() -> None:
    batch = decode_batch(bytes.fromhex(EXAMPLE_HEX), EXAMPLE)
    assert batch.schema == pa.schema(
        [
            pa.field("c1", pa.string()),
            pa.field("c2", pa.int32()),
            pa.field("c3", pa.timestamp("ms")),
            pa.field("c4", pa.string()),
            pa.field("c5", pa.date32()),
        ]
    )
    assert batch.to_pylist() == [
        {
            "c1": "ab",
            "c2": 7,
            "c3": dt.datetime(2023, 11, 14, 22, 13, 20),
            "c4": None,
            "c5": dt.date(2024, 3, 5),
        }
    ]


def test_arrow_types_of_every_column_type() -> None:
    columns = [Column(t.name.lower(), t) for t in ColumnType]
    assert [f.type for f in arrow_schema(columns)] == [
        pa.bool_(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.float32(),
        pa.float64(),
        pa.date32(),
        pa.timestamp("ms"),
        pa.string(),
        pa.string(),
    ]


def test_empty_buffer_gives_an_empty_batch() -> None:
    batch = decode_batch(b"", EXAMPLE)
    assert batch.num_rows == 0
    assert batch.schema == arrow_schema(EXAMPLE_COLUMNS)


MIXED_ROWS: list[list[object]] = [
    [True, -(2**15), -(2**31), -(2**63), -math.inf, math.nan, dt.date(1900, 1, 1), -(2**63), "", "é中😀"],
    [False, 2**15 - 1, 2**31 - 1, 2**63 - 1, math.inf, -0.0, dt.date(9999, 12, 31), 2**63 - 1, "x", None],
    [None, None, None, None, None, None, None, None, None, None],
    [True, 0, 0, 0, -0.0, 1e300, dt.date(2000, 2, 29), -1, None, "tail"],
    [None, 1, None, 2, 0.5, None, dt.date(1970, 1, 1), None, "a" * 300, ""],
]


@pytest.mark.parametrize("padding", [True, False])
def test_every_type_matches_the_scalar_decoder(padding: bool) -> None:
    rows = [encode_row(MIXED, values, bitmap_padding=padding) for values in MIXED_ROWS]
    schema = TableSchema.from_columns(MIXED)
    batch = decode_batch(b"".join(rows), schema)
    assert_same_rows(batch_rows(batch), scalar_rows(rows, schema))
    assert_same_rows(batch_rows(batch), MIXED_ROWS)
    assert batch.column("name").null_count == 2
    assert batch.column("b").to_pylist() == [True, False, None, True, None]


def test_null_slots_with_garbage() -> None:
    """NULL fixed slots full of garbage and a NULL first string whose slot points nowhere (Corr. 8)."""
    values: list[object] = [None, 5, None, 7, 1.5, None, None, 9, None, "z"]
    row = bytearray(encode_row(MIXED, values))
    layout = layout_for(MIXED)
    for i in (0, 2, 5, 6):
        start = layout.slot_offsets[i]
        row[start : start + MIXED[i].type.width] = b"\xfe" * MIXED[i].type.width
    row[layout.string_table] = 0xFF  # NULL first string: arbitrary address
    good = encode_row(MIXED, MIXED_ROWS[0])
    buf = good + bytes(row) + good
    batch = decode_batch(buf, TableSchema.from_columns(MIXED))
    assert_same_rows(batch_rows(batch)[1:2], [values])
    assert_same_rows(batch_rows(batch)[::2], [MIXED_ROWS[0]] * 2)


def test_explicit_offsets_match_split_rows() -> None:
    rows = [encode_row(MIXED, v) for v in MIXED_ROWS]
    buf = b"".join(rows)
    offsets, lengths = split_rows(buf)
    schema = TableSchema.from_columns(MIXED)
    full = batch_rows(decode_batch(buf, schema))
    assert_same_rows(full, MIXED_ROWS)
    assert_same_rows(batch_rows(decode_batch(buf, schema, offsets=offsets, lengths=lengths)), full)
    subset = decode_batch(memoryview(buf), schema, offsets=offsets[1:4], lengths=lengths[1:4])
    assert_same_rows(batch_rows(subset), full[1:4])


def test_rows_out_of_buffer_order() -> None:
    rows = [encode_row(MIXED, v) for v in MIXED_ROWS]
    buf = b"".join(rows)
    offsets, lengths = split_rows(buf)
    order = np.array([4, 0, 3, 0, 1])  # reversed and repeated rows
    schema = TableSchema.from_columns(MIXED)
    batch = decode_batch(buf, schema, offsets=offsets[order], lengths=lengths[order])
    assert_same_rows(batch_rows(batch), [MIXED_ROWS[k] for k in order])


def test_offsets_without_lengths_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        decode_batch(b"", EXAMPLE, offsets=np.zeros(0, dtype=np.int64))


def test_snappy_values_in_a_batch() -> None:
    rows = [encode_row(MIXED, v) for v in MIXED_ROWS]
    stored = [compress_value(r) for r in rows]
    buf = b"".join(maybe_decompress(s, snappy=True) for s in stored)
    schema = TableSchema.from_columns(MIXED)
    assert_same_rows(batch_rows(decode_batch(buf, schema)), MIXED_ROWS)


# -- string address widths and Correction 2 ------------------------------------------------------------


def test_all_address_widths_and_narrow_rows_in_one_batch() -> None:
    values: list[list[object]] = [
        [1, "abc", "x" * 180],  # 1-byte addresses
        [2, "é", "y" * 60_000],  # 2
        [3, None, "z" * 70_000],  # 3
        [4, "", None],
        [5, "w" * 100, "v" * 66_000],  # 3, but written with 2 (Correction 2)
        [6, None, "u" * 65_600],  # the same with a NULL first string
        [7, "ab", "cd"],
    ]
    rows = [encode_row(TWO_STRINGS, v) for v in values]
    rows[4] = encode_row(TWO_STRINGS, values[4], string_width=2)
    rows[5] = encode_row(TWO_STRINGS, values[5], string_width=2)
    schema = TableSchema.from_columns(TWO_STRINGS)
    batch = decode_batch(b"".join(rows), schema)
    assert batch_rows(batch) == values
    assert scalar_rows(rows, schema) == values


def test_row_over_16_mib_and_its_3_byte_twin() -> None:
    big = "q" * ((1 << 24) + 10)
    values = [9, "head", big]
    rows = [encode_row(TWO_STRINGS, values), encode_row(TWO_STRINGS, values, string_width=3)]
    assert all(len(r) > 0xFFFFFF for r in rows)
    batch = decode_batch(b"".join(rows), TableSchema.from_columns(TWO_STRINGS))
    assert batch.column("b")[0].as_py() == big
    assert batch.column("b")[1].as_py() == big
    assert batch.column("a").to_pylist() == ["head", "head"]


# -- schema versions -----------------------------------------------------------------------------------


def test_mixed_schema_versions_keep_row_order() -> None:
    base = (Column("k", T.STRING), Column("v", T.INT))
    added = (Column("note", T.STRING), Column("score", T.DOUBLE), Column("day", T.DATE))
    schema = TableSchema(base, added, {2: 3, 3: 5})
    rows = [
        encode_row(base, ["a", 1]),
        encode_row(schema.columns_for(3), ["b", 2, "n", 0.5, dt.date(2020, 1, 2)], schema_version=3),
        encode_row(base, [None, 3]),
        encode_row(schema.columns_for(2), ["c", None, "m"], schema_version=2),
        encode_row(schema.columns_for(3), ["d", 4, None, None, None], schema_version=3),
        encode_row(base, ["e", 5]),
    ]
    batch = decode_batch(b"".join(rows), schema)
    expected = [
        ["a", 1, None, None, None],
        ["b", 2, "n", 0.5, dt.date(2020, 1, 2)],
        [None, 3, None, None, None],
        ["c", None, "m", None, None],
        ["d", 4, None, None, None],
        ["e", 5, None, None, None],
    ]
    assert batch_rows(batch) == expected
    assert scalar_rows(rows, schema) == expected
    assert batch.schema.names == ["k", "v", "note", "score", "day"]


def test_only_old_rows_give_all_null_new_columns() -> None:
    base = (Column("k", T.STRING),)
    schema = TableSchema(base, (Column("x", T.INT),), {2: 2})
    batch = decode_batch(encode_row(base, ["a"]) * 3, schema)
    assert batch.column("x").null_count == 3
    assert batch.column("x").type == pa.int32()


# -- malformed rows ------------------------------------------------------------------------------------


def _batch_with_bad_row(bad: bytes, columns: tuple[Column, ...] = TWO_STRINGS) -> tuple[bytes, int]:
    good = encode_row(columns, [1, "ab", "cd"]) if columns is TWO_STRINGS else b""
    return good * 3 + bad + good, 3 * len(good)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda r: r.__setitem__(0, 2), "format version is 2"),
        (lambda r: r.__setitem__(15, 0x40), r"column 'a' \(#1\): address 64 at row byte 15 should be 17"),
        (lambda r: r.__setitem__(16, 0x05), r"column 'b' \(#2\): address 5 .* is below"),
        (lambda r: r.__setitem__(16, 0x60), r"column 'b' \(#2\): address 96 .* beyond the row end"),
        (lambda r: r.__setitem__(18, 0xFF), r"column 'a' \(#1\) is not valid UTF-8"),
        (lambda r: r.__setitem__(20, 0x80), r"column 'b' \(#2\) is not valid UTF-8"),
        (lambda r: r.__setitem__(1, 7), "schema version 7"),
    ],
)
def test_malformed_row_names_row_number_and_offset(damage: object, match: str) -> None:
    row = bytearray(encode_row(TWO_STRINGS, [1, "ab", "cd"]))
    assert callable(damage)
    damage(row)
    buf, offset = _batch_with_bad_row(bytes(row))
    with pytest.raises(RowDecodeError, match=f"byte offset {offset}: row #3 of the batch: .*{match}") as err:
        decode_batch(buf, TableSchema.from_columns(TWO_STRINGS))
    assert err.value.offset == offset


def test_utf8_split_across_values_is_caught() -> None:
    """Concatenated, the two values form a valid "é"; each alone is invalid UTF-8."""
    rows = [
        encode_row(TWO_STRINGS, [1, "ok", "fine"]),
        encode_row(TWO_STRINGS, [2, b"x\xc3", "ok"]),
        encode_row(TWO_STRINGS, [3, b"\xa9", "ok"]),
    ]
    with pytest.raises(RowDecodeError, match=r"row #1 of the batch: string column 'a' \(#1\) is not valid"):
        decode_batch(b"".join(rows), TableSchema.from_columns(TWO_STRINGS))


def test_bad_date_names_row_and_column() -> None:
    cols = (Column("id", T.INT), Column("day", T.DATE))
    good = encode_row(cols, [1, dt.date(2000, 1, 1)])
    bad = bytearray(good)
    bad[11:15] = (0x000C01).to_bytes(4, "little")  # month 13
    with pytest.raises(
        RowDecodeError, match=r"byte offset 30: row #2 of the batch: column 'day'.*not a date"
    ):
        decode_batch(good * 2 + bytes(bad), TableSchema.from_columns(cols))
    nulled = bytearray(bad)
    nulled[6] |= 0b10  # the same garbage under a NULL is fine
    batch = decode_batch(good + bytes(nulled), TableSchema.from_columns(cols))
    assert batch.column("day").to_pylist() == [dt.date(2000, 1, 1), None]


def test_wrong_size_field_with_explicit_offsets() -> None:
    row = encode_row(TWO_STRINGS, [1, "ab", "cd"])
    buf = row * 3
    offsets = np.array([0, 21, 42])
    lengths = np.array([21, 20, 21])
    with pytest.raises(
        RowDecodeError, match=r"byte offset 21: row #1 of the batch: .*size field says 21 bytes"
    ):
        decode_batch(buf, TableSchema.from_columns(TWO_STRINGS), offsets=offsets, lengths=lengths)
    with pytest.raises(RowDecodeError, match=r"row #2 of the batch: .* do not fit"):
        decode_batch(buf, TableSchema.from_columns(TWO_STRINGS), offsets=offsets + 1, lengths=lengths)


def test_truncated_attachment() -> None:
    row = encode_row(TWO_STRINGS, [1, "ab", "cd"])
    with pytest.raises(RowDecodeError, match="byte offset 42: truncated row #2"):
        decode_batch(row * 2 + row[:-1], TableSchema.from_columns(TWO_STRINGS))


def test_schema_with_too_few_columns() -> None:
    rows = b"".join(encode_row(MIXED, v) for v in MIXED_ROWS)
    with pytest.raises(RowDecodeError, match=r"row #0 of the batch: .*string address table"):
        decode_batch(rows, TableSchema.from_columns(MIXED[:9]))
    fixed_only = MIXED[:8]
    rows = b"".join(encode_row(fixed_only, v[:8]) for v in MIXED_ROWS)
    with pytest.raises(
        RowDecodeError, match=r"row #0 of the batch: row has 8 byte\(s\) after the fixed slots of its 7"
    ):
        decode_batch(rows, TableSchema.from_columns(fixed_only[:7]))
    with pytest.raises(RowDecodeError, match=r"row #0 of the batch: .*need at least"):
        decode_batch(rows, TableSchema.from_columns([*fixed_only, Column("x", T.BIGINT)]))


# -- properties ----------------------------------------------------------------------------------------


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=schema_and_rows(), padding=st.booleans())
def test_property_batch_equals_scalar(data: tuple[list[Column], list[list[object]]], padding: bool) -> None:
    columns, values = data
    rows = [encode_row(columns, v, bitmap_padding=padding) for v in values]
    schema = TableSchema.from_columns(columns)
    expected = [decode_row(r, columns) for r in rows]
    assert_same_rows(expected, values)
    assert_same_rows(batch_rows(decode_batch(b"".join(rows), schema)), expected)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=schema_and_rows(),
    hits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=3),
)
def test_property_damaged_rows_fail_or_decode_alike(
    data: tuple[list[Column], list[list[object]]], hits: list[tuple[int, int]]
) -> None:
    """Whatever a few overwritten bytes do, batch and scalar decoders accept the same rows.

    When some rows are bad the batch names one of them (not necessarily the first: it checks all
    headers before any contents).
    """
    columns, values = data
    rows = [bytearray(encode_row(columns, v)) for v in values]
    for position, byte in hits:
        row = rows[position % len(rows)]
        where = position // len(rows) % len(row)
        if not 2 <= where < 6:  # a damaged size field only breaks the framing, tested elsewhere
            row[where] = byte
    schema = TableSchema.from_columns(columns)
    scalar: list[list[object]] = []
    bad_rows = set()
    for k, row in enumerate(rows):
        try:
            scalar.append(decode_row_versioned(bytes(row), schema))
        except RowDecodeError:
            bad_rows.add(k)
    buf = b"".join(rows)
    if not bad_rows:
        assert_same_rows(batch_rows(decode_batch(buf, schema)), scalar)
        return
    with pytest.raises(RowDecodeError) as err:
        decode_batch(buf, schema)
    named = re.search(r"row #(\d+) of the batch", err.value.message)
    assert named is not None and int(named.group(1)) in bad_rows
