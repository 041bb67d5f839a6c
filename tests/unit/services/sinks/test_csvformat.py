"""CSV lines as the original Java SyncTool writes them (reference §4.8), golden and property cases."""

from __future__ import annotations

import datetime as dt
import json
import math
import struct

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omsync_tui.core.errors import UsageError
from omsync_tui.services.sinks.csvformat import (
    check_timezone,
    escape_json,
    java_double_str,
    java_float_str,
    render_csv,
)


def lines(arr: pa.Array, tz: str = "UTC") -> list[str]:
    out = render_csv(pa.record_batch({"c": arr}), tz).decode("ascii")
    assert out.endswith("\n")
    return out.split("\n")[:-1]


def f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


DOUBLES = [
    (1.0, "1.0"),
    (100.5, "100.5"),
    (0.1, "0.1"),
    (-2.5, "-2.5"),
    (1e10, "1.0E10"),
    (1e-4, "1.0E-4"),
    (0.001, "0.001"),
    (9.999e-4, "9.999E-4"),
    (1e7, "1.0E7"),
    (9999999.0, "9999999.0"),
    (1234567.125, "1234567.125"),
    (12345678.5, "1.23456785E7"),
    (1.234e-5, "1.234E-5"),
    (-1e21, "-1.0E21"),
    (1e23, "1.0E23"),
    (1.7976931348623157e308, "1.7976931348623157E308"),
    (0.0, "0.0"),
    (-0.0, "-0.0"),
    (math.nan, "NaN"),
    (math.inf, "Infinity"),
    (-math.inf, "-Infinity"),
    (5e-324, "4.9E-324"),  # Double.MIN_VALUE: two digits where one would round-trip
    (1e-310, "1.0E-310"),
]

FLOATS = [
    (0.1, "0.1"),  # the float32's own shortest digits, not 0.10000000149011612
    (1.0, "1.0"),
    (100.5, "100.5"),
    (1e10, "1.0E10"),
    (3.4028234663852886e38, "3.4028235E38"),
    (16777216.0, "1.6777216E7"),
    (-0.0, "-0.0"),
    (math.nan, "NaN"),
    (-math.inf, "-Infinity"),
    (1.401298464324817e-45, "1.4E-45"),  # Float.MIN_VALUE
]


@pytest.mark.parametrize(("value", "text"), DOUBLES)
def test_double_golden(value: float, text: str) -> None:
    assert lines(pa.array([value], pa.float64())) == [text]
    assert java_double_str(value) == text


@pytest.mark.parametrize(("value", "text"), FLOATS)
def test_float_golden(value: float, text: str) -> None:
    assert lines(pa.array([value], pa.float32())) == [text]
    assert java_float_str(value) == text


def test_doubles_in_one_column_take_every_path() -> None:
    values = [v for v, _ in DOUBLES] + [None]
    assert lines(pa.array(values, pa.float64())) == [t for _, t in DOUBLES] + ["null"]


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_rendered_double_parses_back(x: float) -> None:
    text = java_double_str(x)
    assert float(text) == x
    assert math.copysign(1, float(text)) == math.copysign(1, x)


@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=40))
def test_vectorised_doubles_match_the_scalar_rule(xs: list[float]) -> None:
    assert lines(pa.array(xs, pa.float64())) == [java_double_str(x) for x in xs]


@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=40))
def test_vectorised_floats_match_the_scalar_rule(xs: list[float]) -> None:
    rendered = lines(pa.array(xs, pa.float32()))
    assert rendered == [java_float_str(x) for x in xs]
    for x, text in zip(xs, rendered, strict=True):
        assert f32(float(text)) == x


STRINGS = [
    ("plain", '"plain"'),
    ("a/b", '"a\\/b"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("back\\slash", '"back\\\\slash"'),
    ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
    ("\x00\x01\x1f", '"\\u0000\\u0001\\u001F"'),
    ("del\x7f", '"del\x7f"'),  # commons-lang3 keeps 0x20..0x7F raw
    ("é", '"\\u00E9"'),
    ("中文", '"\\u4E2D\\u6587"'),
    ("😀", '"\\uD83D\\uDE00"'),  # surrogate pair: two escapes
    ("\\u00e9", '"\\\\u00e9"'),  # a literal backslash-u stays literal
    ("", '""'),
]


@pytest.mark.parametrize(("value", "text"), STRINGS)
def test_string_golden(value: str, text: str) -> None:
    assert lines(pa.array([value])) == [text]
    assert '"' + escape_json(value) + '"' == text


def test_strings_mixed_in_one_column() -> None:
    values: list[str | None] = [v for v, _ in STRINGS] + [None]
    expected = [t for _, t in STRINGS] + ["null"]
    assert lines(pa.array(values)) == expected
    assert lines(pa.array(values, pa.large_string())) == expected
    # sliced arrays (offsets not at 0) and NUL-free text (the joined fast path)
    assert lines(pa.array(values).slice(6)) == expected[6:]
    assert lines(pa.array(["中", "a/b", None, "x"])) == ['"\\u4E2D"', '"a\\/b"', "null", '"x"']


@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=30))
def test_strings_match_escape_json_and_stay_ascii(values: list[str | None]) -> None:
    out = render_csv(pa.record_batch({"s": pa.array(values, pa.string())}), "UTC")
    assert out.isascii()
    expected = ["null" if v is None else '"' + escape_json(v) + '"' for v in values]
    assert out.decode().split("\n")[:-1] == expected
    for v, line in zip(values, expected, strict=True):
        if v is not None:  # JSON-decodable back to the value (\/ is a valid JSON escape)
            assert json.loads(line) == v


def test_scalars_bool_ints_dates() -> None:
    assert lines(pa.array([True, False, None])) == ["true", "false", "null"]
    assert lines(pa.array([-(2**15), 0, None], pa.int16())) == ["-32768", "0", "null"]
    assert lines(pa.array([2**31 - 1, None], pa.int32())) == ["2147483647", "null"]
    assert lines(pa.array([-(2**63), None], pa.int64())) == ["-9223372036854775808", "null"]
    days = [dt.date(2023, 11, 14), dt.date(1969, 12, 31), dt.date(1900, 1, 1), None]
    assert lines(pa.array(days, pa.date32())) == ["2023-11-14", "1969-12-31", "1900-01-01", "null"]


TIMESTAMPS = [
    (1_700_000_000_000, "UTC", "2023-11-14 22:13:20.0"),
    (1_700_000_000_123, "UTC", "2023-11-14 22:13:20.123"),
    (1_700_000_000_120, "UTC", "2023-11-14 22:13:20.12"),
    (1_700_000_000_007, "UTC", "2023-11-14 22:13:20.007"),
    (1_700_000_000_000, "Asia/Shanghai", "2023-11-15 06:13:20.0"),
    (1_700_000_000_500, "Asia/Shanghai", "2023-11-15 06:13:20.5"),
    (0, "Asia/Shanghai", "1970-01-01 08:00:00.0"),
    (-1, "UTC", "1969-12-31 23:59:59.999"),  # Timestamp floors: nanos are never negative
    (-86_400_000 * 365, "UTC", "1969-01-01 00:00:00.0"),
]


@pytest.mark.parametrize(("ms", "tz", "text"), TIMESTAMPS)
def test_timestamp_golden(ms: int, tz: str, text: str) -> None:
    assert lines(pa.array([ms], pa.timestamp("ms")), tz) == [text]
    # an int64 column of epoch ms named as a timestamp renders the same
    batch = pa.record_batch({"t": pa.array([ms, None], pa.int64())})
    assert render_csv(batch, tz, timestamp_columns={"t"}).decode() == f"{text}\nnull\n"


def test_timestamp_other_units_and_nulls() -> None:
    assert lines(pa.array([1_700_000_000, None], pa.timestamp("s"))) == ["2023-11-14 22:13:20.0", "null"]
    ns = pa.array([1_700_000_000_000_000_100, 1_700_000_000_120_000_000], pa.timestamp("ns"))
    assert lines(ns) == ["2023-11-14 22:13:20.0000001", "2023-11-14 22:13:20.12"]
    tz_aware = pa.array([1_700_000_000_000], pa.timestamp("ms", tz="UTC"))
    assert lines(tz_aware, "Asia/Shanghai") == ["2023-11-15 06:13:20.0"]  # the zone given wins


def test_nulls_of_every_type_and_a_whole_row() -> None:
    types = [pa.bool_(), pa.int16(), pa.int32(), pa.int64(), pa.float32(), pa.float64()]
    types += [pa.date32(), pa.timestamp("ms"), pa.string(), pa.null()]
    batch = pa.record_batch(
        [pa.array([None, None], t) for t in types], names=[f"c{i}" for i in range(len(types))]
    )
    assert render_csv(batch, "UTC") == b"null,null,null,null,null,null,null,null,null,null\n" * 2


def test_row_layout() -> None:
    batch = pa.record_batch(
        {
            "id": pa.array([1, 2], pa.int64()),
            "name": pa.array(["a,b", None]),
            "score": pa.array([1.5, 1e10]),
            "ts": pa.array([1_700_000_000_000, None], pa.timestamp("ms")),
        }
    )
    assert render_csv(batch, "UTC") == b'1,"a,b",1.5,2023-11-14 22:13:20.0\n2,null,1.0E10,null\n'
    assert render_csv(batch.slice(1), "UTC") == b"2,null,1.0E10,null\n"
    assert render_csv(batch.slice(0, 0), "UTC") == b""


def test_unknown_timezone_and_unsupported_type() -> None:
    with pytest.raises(UsageError, match="time zone"):
        check_timezone("Mars/Olympus")
    with pytest.raises(UsageError, match="time zone"):
        lines(pa.array([0], pa.timestamp("ms")), "Mars/Olympus")
    with pytest.raises(UsageError, match="no CSV form"):
        lines(pa.array([b"x"], pa.binary()))
