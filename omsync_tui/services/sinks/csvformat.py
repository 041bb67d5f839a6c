"""CSV lines exactly as OpenMLDB's Java SyncTool writes them (reference §4.8).

One line per row, values joined by ``,``, each line ended by ``\\n``, no header:

* NULL of any type → ``null``;
* strings → ``"`` + commons-lang3 ``StringEscapeUtils.escapeJson`` + ``"``: ``"`` ``\\`` ``/`` and
  ``\\b \\f \\n \\r \\t`` get a backslash, every other char outside U+0020..U+007F becomes
  ``\\uXXXX`` (upper-case hex, UTF-16 code units, so an emoji is two escapes). U+007F itself stays
  raw, as in commons-lang3 (``JavaUnicodeEscaper.outsideOf(32, 0x7f)`` keeps both ends);
* booleans ``true``/``false``, integers in decimal;
* float/double as Java ``Float.toString``/``Double.toString`` (JDK 19+: shortest digits that
  round-trip, at least two when one would do, decimal form for 1e-3 ≤ |x| < 1e7, else
  ``d.dddE±n``; ``NaN``, ``Infinity``, ``-0.0``);
* timestamps as ``java.sql.Timestamp.toString()`` in the given time zone
  (``2023-11-14 22:13:20.0``), dates as ``yyyy-mm-dd``. Like Arrow, dates before 1582 are
  proleptic Gregorian where Java's ``java.util.Date`` switches to the Julian calendar.

Rendering is vectorised per column with pyarrow.compute (this is the per-row hot path of CSV
tasks). Strings that need ``\\uXXXX`` escapes (non-ASCII text, control characters) are escaped
over the column's UTF-8 bytes with numpy; Python sees only bytes that are not well-formed UTF-8
(one ``str.translate`` over all of them) and NaN, infinities and subnormal floats.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Collection

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omsync_tui.core.errors import UsageError

__all__ = ["check_timezone", "escape_json", "java_double_str", "java_float_str", "render_csv"]

# UTF-8 bytes of the chars escapeJson changes, and of those only the Python path renders
# (non-ASCII and control chars without a short escape); the regex finds the latter's rows
_SPECIAL_BYTES = np.array([*range(0x20), 0x22, 0x2F, 0x5C, *range(0x80, 0x100)])
_PYTHON_BYTES = np.array([b for b in [*range(0x20), *range(0x80, 0x100)] if b not in (8, 9, 10, 12, 13)])
_NEEDS_PYTHON = r"[^\x20-\x7f\x08\x09\x0a\x0c\x0d]"
_SHORT_ESCAPES = (
    ("\\", "\\\\"),  # first: the later replacements insert backslashes
    ('"', '\\"'),
    ("/", "\\/"),
    ("\b", "\\b"),
    ("\f", "\\f"),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\t", "\\t"),
)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_F64_MIN_NORMAL = 2.2250738585072014e-308
_F32_MIN_NORMAL = 1.1754943508222875e-38
# per byte value: UTF-8 sequence length of a lead byte, 0 for a continuation byte, -1 invalid
_UTF8_LENGTH = np.array(
    [1] * 0x80 + [0] * 0x40 + [-1] * 2 + [2] * 30 + [3] * 16 + [4] * 5 + [-1] * 11, dtype=np.int8
)
# per ASCII byte: how many bytes escape_json makes of it (lead bytes are set apart)
_ASCII_OUT_LENGTH = np.array([6 if b < 0x20 else 1 for b in range(0x80)] + [0] * 0x80, dtype=np.int8)
for _raw, _short in _SHORT_ESCAPES:
    _ASCII_OUT_LENGTH[ord(_raw)] = len(_short)
_SHORT_LETTER = np.zeros(256, dtype=np.uint8)
for _raw, _short in _SHORT_ESCAPES:
    _SHORT_LETTER[ord(_raw)] = ord(_short[1])
_HEX_UPPER = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
_MS_FRACTIONS = pa.array(["." + (f"{i:03d}".rstrip("0") or "0") for i in range(1000)])


def render_csv(batch: pa.RecordBatch, timezone: str, *, timestamp_columns: Collection[str] = ()) -> bytes:
    """The batch's rows as the original's CSV lines, each ended by ``\\n``.

    ``timestamp_columns`` names int64 columns that hold epoch milliseconds (Arrow ``timestamp``
    columns are recognised by type).
    """
    if batch.num_rows == 0 or batch.num_columns == 0:
        return b""
    cols = [
        pc.fill_null(_render(batch.column(i), f, timezone, f.name in timestamp_columns), "null")
        for i, f in enumerate(batch.schema)
    ]
    cols[-1] = pc.binary_join_element_wise(cols[-1], "", "\n")
    lines = pc.binary_join_element_wise(*cols, ",") if len(cols) > 1 else cols[0]
    return _concatenated(lines)


def check_timezone(timezone: str) -> None:
    """UsageError unless Arrow knows the zone (IANA names like ``Asia/Shanghai``, or ``+08:00``)."""
    try:
        pc.strftime(pa.array([0], pa.timestamp("s", tz=timezone)), format="%Y")
    except (pa.ArrowException, ValueError) as exc:
        raise UsageError(
            f"unknown time zone {timezone!r} for CSV timestamps: {exc}",
            hint="use an IANA zone name such as UTC or Asia/Shanghai",
        ) from None


def _concatenated(lines: pa.Array) -> bytes:
    # every line already ends in "\n": the string data buffer is the file content
    return _data(lines).tobytes()


def _data(arr: pa.Array) -> np.ndarray:
    """The bytes of a string array's values, back to back (uint8 view, no copy)."""
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    if data is None or len(offsets) < 2:
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]


def _render(arr: pa.Array, field: pa.Field, timezone: str, as_timestamp: bool) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _strings(arr.cast(pa.string()))  # a batch's text is far below 2 GiB
    if pa.types.is_floating(t) and not pa.types.is_float16(t):
        return _floats(arr)
    if pa.types.is_timestamp(t):
        return _timestamps(arr.cast(pa.int64()), _PER_SECOND[t.unit], timezone)
    if as_timestamp and pa.types.is_integer(t):
        return _timestamps(arr.cast(pa.int64()), 1000, timezone)
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_date32(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_date64(t):
        return pc.cast(arr.cast(pa.date32()), pa.string())
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    raise UsageError(f"column {field.name!r} of type {t} has no CSV form in the original SyncTool")


# -- strings ------------------------------------------------------------------------------------


def _strings(arr: pa.Array) -> pa.Array:
    if arr.null_count == len(arr):
        return pa.nulls(len(arr), pa.string())
    present = _bytes_present(arr)
    out = arr
    if present[_PYTHON_BYTES].any():
        # \uXXXX escapes: the whole column at once over its UTF-8 bytes; Python only for
        # bytes that are not well-formed UTF-8
        escaped = _escape_utf8(arr)
        if escaped is not None:
            return pc.binary_join_element_wise('"', escaped, '"', "")
    if present[_SPECIAL_BYTES].any():
        # one pass per escape that occurs
        for raw, short in _SHORT_ESCAPES:
            if present[ord(raw)]:
                out = pc.replace_substring(out, raw, short)
        if present[_PYTHON_BYTES].any():
            hard = pc.fill_null(pc.match_substring_regex(arr, _NEEDS_PYTHON), False)
            values = pc.filter(arr, hard).to_pylist()
            out = pc.replace_with_mask(out, hard, pa.array(_escape_many(values, not present[0]), out.type))
    return pc.binary_join_element_wise('"', out, '"', "")


def _escape_utf8(arr: pa.Array) -> pa.Array | None:
    """``escape_json`` of every value, over the column's UTF-8 bytes with numpy: each input byte
    becomes 0 (a continuation byte), 1 (itself), 2 (a short escape), 6 (``\\uXXXX``) or 12 (a
    surrogate pair) output bytes. ``None`` when the bytes are not well-formed UTF-8."""
    large = pa.types.is_large_string(arr.type)
    width = np.int64 if large else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    data = _data(arr)
    n = len(data)
    seq = _UTF8_LENGTH[data]  # per byte: 1-4 for a lead byte, 0 for a continuation, -1 invalid
    leads = np.flatnonzero(seq > 1)
    lengths = seq[leads].astype(np.int64)
    if (seq < 0).any() or (leads + lengths > n).any():
        return None
    cont = np.zeros(n, dtype=bool)
    for k in (1, 2, 3):
        cont[leads[lengths > k] + k] = True
    if not np.array_equal(cont, seq == 0):
        return None  # a stray or a missing continuation byte
    cp = np.zeros(len(leads), dtype=np.int64)
    for k, mask in ((2, 0x1F), (3, 0x0F), (4, 0x07)):
        sel = lengths == k
        value = data[leads[sel]].astype(np.int64) & mask
        for j in range(1, k):
            value = (value << 6) | (data[leads[sel] + j].astype(np.int64) & 0x3F)
        cp[sel] = value
    astral = cp >= 0x10000
    out_len = _ASCII_OUT_LENGTH[data].astype(np.int64)
    out_len[leads] = np.where(astral, 12, 6)
    ends = np.cumsum(out_len)
    starts = ends - out_len
    out = np.empty(int(ends[-1]) if n else 0, dtype=np.uint8)
    one = out_len == 1
    out[starts[one]] = data[one]
    two = out_len == 2
    out[starts[two]] = ord("\\")
    out[starts[two] + 1] = _SHORT_LETTER[data[two]]
    ctrl = (out_len == 6) & (seq == 1)  # control characters without a short escape: \\u00XX
    _write_escapes(out, starts[ctrl], data[ctrl].astype(np.int64))
    _write_escapes(out, starts[leads[~astral]], cp[~astral])
    low = cp[astral] - 0x10000  # two UTF-16 code units, as Java sees the char
    _write_escapes(out, starts[leads[astral]], 0xD800 + (low >> 10))
    _write_escapes(out, starts[leads[astral]] + 6, 0xDC00 + (low & 0x3FF))
    if not large and len(out) > np.iinfo(np.int32).max:
        return None
    bounds = np.concatenate(([0], ends))[offsets - offsets[0]].astype(width)
    validity = pc.is_valid(arr).buffers()[1] if arr.null_count else None
    return pa.Array.from_buffers(
        arr.type,
        len(arr),
        [validity, pa.py_buffer(bounds.tobytes()), pa.py_buffer(out.tobytes())],
        null_count=arr.null_count,
    )


def _write_escapes(out: np.ndarray, at: np.ndarray, units: np.ndarray) -> None:
    """``\\uXXXX`` (upper-case hex) of each 16-bit ``units`` value, written at ``at``."""
    if not len(at):
        return
    out[at] = ord("\\")
    out[at + 1] = ord("u")
    for d in range(4):
        out[at + 2 + d] = _HEX_UPPER[(units >> (12 - 4 * d)) & 0xF]


def _bytes_present(arr: pa.Array) -> np.ndarray:
    """Which byte values occur in the strings' data (a cheap whole-column test)."""
    return np.bincount(_data(arr), minlength=256) > 0


def escape_json(s: str) -> str:
    """commons-lang3 ``StringEscapeUtils.escapeJson`` (without the surrounding quotes)."""
    return s.translate(_ESCAPE)


def _escape_many(values: list[str], nul_free: bool) -> list[str]:
    if nul_free:  # one translate over all values: ~3x faster than one call per value
        return "\x00".join(values).translate(_ESCAPE_JOINED).split("\x00")
    return [v.translate(_ESCAPE) for v in values]


class _EscapeTable(dict[int, str]):
    """A ``str.translate`` table that fills itself: each code point's escape, computed once."""

    def __missing__(self, code: int) -> str:
        if code >= 0x10000:  # two UTF-16 code units, as Java sees the char
            low = code - 0x10000
            text = f"\\u{0xD800 + (low >> 10):04X}\\u{0xDC00 + (low & 0x3FF):04X}"
        elif code < 0x20 or code > 0x7F:
            text = f"\\u{code:04X}"
        else:
            text = chr(code)
        if len(self) < 100_000:  # bounded: a column of random code points must not grow it forever
            self[code] = text
        return text


_SHORT = {ord(raw): escaped for raw, escaped in _SHORT_ESCAPES}
_ESCAPE = _EscapeTable(_SHORT)
_ESCAPE_JOINED = _EscapeTable({**_SHORT, 0: "\x00"})  # NUL separates values, kept as is


# -- floating point -----------------------------------------------------------------------------


def _floats(arr: pa.Array) -> pa.Array:
    is32 = pa.types.is_float32(arr.type)
    shortest = pc.cast(arr, pa.string())  # Arrow prints the shortest round-trip digits of the type
    x = arr.cast(pa.float64())
    ax = pc.abs(x)
    no_e = pc.invert(pc.match_substring(shortest, "e"))
    decimal = pc.and_(pc.or_(pc.and_(pc.greater_equal(ax, 1e-3), pc.less(ax, 1e7)), pc.equal(x, 0)), no_e)
    decimal = pc.fill_null(decimal, False)
    out = pc.if_else(
        pc.match_substring(shortest, "."), shortest, pc.binary_join_element_wise(shortest, ".0", "")
    )
    # subnormals may take Java's two-digit rule (4.9E-324): those, NaN and infinities go to Python
    normal = pc.and_(pc.is_finite(x), pc.greater_equal(ax, _F32_MIN_NORMAL if is32 else _F64_MIN_NORMAL))
    sci = pc.fill_null(pc.and_(pc.invert(decimal), normal), False)
    if pc.any(sci).as_py():
        out = pc.replace_with_mask(out, sci, _scientific(pc.filter(shortest, sci)))
    odd = pc.and_(pc.is_valid(arr), pc.invert(pc.or_(decimal, sci)))
    if pc.any(odd).as_py():
        xs = pc.filter(x, odd).to_pylist()
        digits = pc.filter(shortest, odd).to_pylist()
        java = [_java_fp(v, d, is32) for v, d in zip(xs, digits, strict=True)]
        out = pc.replace_with_mask(out, odd, pa.array(java, pa.string()))
    return out


def _scientific(shortest: pa.Array) -> pa.Array:
    """Arrow's shortest text ("-1.5e+21", "12345678.5", "0.00012") in Java's ``d.dddE±n`` form."""
    has_e = pc.match_substring(shortest, "e")
    out = shortest
    for mask, convert in ((has_e, _exponent_to_java), (pc.invert(has_e), _positional_to_scientific)):
        if pc.any(mask).as_py():
            out = pc.replace_with_mask(out, mask, convert(pc.filter(shortest, mask)))
    return out


def _exponent_to_java(text: pa.Array) -> pa.Array:
    # Arrow's exponent form is already "d[.ddd]e±n": only the spelling changes (literal
    # replacements: an RE2 one costs ~10x more)
    text = pc.replace_substring(pc.replace_substring(text, "e+", "E"), "e", "E")
    body = pc.utf8_ltrim(text, "-")
    return pc.if_else(
        pc.match_substring(body, "."),
        text,
        pc.binary_join_element_wise(
            pc.if_else(pc.starts_with(text, "-"), "-", ""),
            pc.utf8_slice_codeunits(body, 0, 1),
            ".0",
            pc.utf8_slice_codeunits(body, 1),
            "",
        ),
    )


def _positional_to_scientific(text: pa.Array) -> pa.Array:
    body = pc.utf8_ltrim(text, "-")
    dot = pc.find_substring(body, ".")
    whole = pc.if_else(pc.equal(dot, -1), pc.utf8_length(body), dot).cast(pa.int64())
    all_digits = pc.replace_substring(body, ".", "")
    significant = pc.utf8_ltrim(all_digits, "0")
    zeros = pc.subtract(pc.utf8_length(all_digits), pc.utf8_length(significant)).cast(pa.int64())
    digits = pc.utf8_rtrim(significant, "0")
    rest = pc.utf8_slice_codeunits(digits, 1)
    return pc.binary_join_element_wise(
        pc.if_else(pc.starts_with(text, "-"), "-", ""),
        pc.utf8_slice_codeunits(digits, 0, 1),
        ".",
        pc.if_else(pc.equal(rest, ""), "0", rest),
        "E",
        pc.subtract(whole, pc.add(zeros, 1)).cast(pa.string()),
        "",
    )


def java_double_str(x: float) -> str:
    """Java's ``Double.toString(x)`` (JDK 19+ digits)."""
    return _java_fp(x, repr(x), False)


def java_float_str(x: float) -> str:
    """Java's ``Float.toString((float) x)`` (JDK 19+ digits): ``0.1`` for float32 0.1."""
    x = _to_f32(x)
    if not math.isfinite(x) or x == 0:
        return _java_fp(x, "", True)
    for p in range(1, 10):
        text = f"{x:.{p - 1}e}"
        if _to_f32(float(text)) == x:
            return _java_fp(x, text, True)
    raise AssertionError("9 significant digits always round-trip a float32")


def _to_f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def _java_fp(x: float, shortest: str, is32: bool) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    digits, exp = _digits(shortest)
    if len(digits) == 1:
        # Java picks the closest decimal of at most two digits when one would do (4.9E-324)
        two = f"{abs(x):.1e}"
        back = math.copysign(float(two), x)
        if (_to_f32(back) if is32 else back) == x:
            digits, exp = _digits(two)
    sign = "-" if x < 0 else ""
    if 1e-3 <= abs(x) < 1e7:
        if exp >= 0:
            whole = digits[: exp + 1].ljust(exp + 1, "0")
            return f"{sign}{whole}.{digits[exp + 1 :] or '0'}"
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exp}"


def _digits(text: str) -> tuple[str, int]:
    """Significant digits (no leading/trailing zeros) and the exponent of the first one."""
    mant, _, e = text.lower().lstrip("-").partition("e")
    whole, _, frac = mant.partition(".")
    all_digits = whole + frac
    stripped = all_digits.lstrip("0")
    exp = (int(e) if e else 0) + len(whole) - 1 - (len(all_digits) - len(stripped))
    return stripped.rstrip("0") or "0", exp


# -- timestamps ---------------------------------------------------------------------------------


def _timestamps(values: pa.Array, per_second: int, timezone: str) -> pa.Array:
    raw = pc.fill_null(values, 0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    seconds = np.floor_divide(raw, per_second)
    frac = raw - seconds * per_second  # Timestamp keeps nanos ≥ 0: floor, not truncation
    try:
        local = pc.local_timestamp(pa.array(seconds, pa.timestamp("s", tz=timezone)))
    except (pa.ArrowException, ValueError):
        check_timezone(timezone)
        raise
    wall = local.cast(pa.string())  # "yyyy-mm-dd hh:mm:ss" (strftime is ~20x slower)
    if per_second == 1:
        fraction: pa.Array | str = ".0"
    elif per_second == 1000:
        fraction = _MS_FRACTIONS.take(pa.array(frac))
    else:
        nanos = pc.utf8_lpad(pa.array(frac * (1_000_000_000 // per_second)).cast(pa.string()), 9, "0")
        trimmed = pc.replace_substring_regex(nanos, "0+$", "")
        fraction = pc.binary_join_element_wise(".", pc.if_else(pc.equal(trimmed, ""), "0", trimmed), "")
    out = pc.binary_join_element_wise(wall, fraction, "")
    return pc.if_else(pc.is_valid(values), out, pa.scalar(None, pa.string()))
