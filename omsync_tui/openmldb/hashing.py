"""OpenMLDB's key hashing: which partition a dimension key belongs to, and which root path a
partition's files live under.

Verified against OpenMLDB (commit c5ffa75290a7):

* ``src/base/hash.h`` ``MurmurHash64A(key, len, seed)`` is Austin Appleby's MurmurHash64A; the
  8-byte blocks are assembled byte by byte, i.e. read little-endian on every host, and the tail
  bytes are xor-ed in little-endian order. ``hash64(key)`` calls it with seed ``0xe17a1465``,
  reinterprets the result as ``int64_t`` and negates it when negative ("as same as java client").
* The pid of a key is ``hash64(key) % partition_num`` with a signed 64-bit left operand
  (``src/sdk/sql_insert_row.cc`` ``GetDimensions``, ``src/sdk/sql_cluster_router.cc``
  ``ExecuteInsert``, ``src/codec/sdk_codec.cc``); the Java importer computes
  ``Math.abs(hash64 % pidNum)``. Both agree for every hash except ``0x8000000000000000``, where
  negation overflows in C++; here (as in Java) that value maps to ``2**63 % partition_num``.
  (``TabletImpl::DeleteData`` truncates the hash to ``uint32_t`` *before* the modulo, which
  disagrees for partition counts that are not powers of two; the insert path is what decides
  where rows live, so it is what we follow.)
* ``hash(key, len, seed)`` in the same header is MurmurHash2 (32-bit); it reads 4-byte blocks
  with a host-order load (little-endian on x86/ARM, which is all OpenMLDB ships for).
  ``TabletImpl::ChooseDBRootPath`` uses it on ``str(tid) + str(pid)`` to pick one of several
  root paths.
* Dimension keys are rendered as strings by the SDK (``SQLInsertRow::Append*``, Java
  ``InsertPreparedStatementImpl.set*``): integers (smallint, int, bigint) and timestamps (ms since
  the epoch) in decimal, bools as ``true``/``false``, dates as the decimal value of the packed
  date ``(year - 1900) << 16 | (month - 1) << 8 | day``, NULL as ``!N@U#L$L%``, an empty string
  as ``!@#$%`` (hybridse ``codec/fe_row_codec.h`` ``NONETOKEN``, ``EMPTY_STRING``); the parts of
  a multi-column key are joined with ``|``. Float and double columns cannot be index keys.
"""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Sequence
from numbers import Integral

from omsync_tui.core.errors import UsageError

SEED = 0xE17A1465
NULL_KEY = "!N@U#L$L%"
EMPTY_KEY = "!@#$%"
KEY_SEPARATOR = "|"

_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_MASK32 = 0xFFFF_FFFF
_M64 = 0xC6A4A7935BD1E995
_R64 = 47
_M32 = 0x5BD1E995
_R32 = 24
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_ONE_MS = _dt.timedelta(milliseconds=1)


def _as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(data, str):
        # surrogateescape round-trips keys that came from bytes that were not UTF-8.
        return data.encode("utf-8", "surrogateescape")
    return bytes(data)


def murmurhash64a(data: bytes | bytearray | memoryview | str, seed: int = SEED) -> int:
    """MurmurHash64A as OpenMLDB computes it: an unsigned 64-bit integer.

    ``seed`` is an ``unsigned int`` in C++, so only its low 32 bits count. A ``str`` is hashed
    as its UTF-8 bytes.
    """
    buf = _as_bytes(data)
    length = len(buf)
    h = (seed & _MASK32) ^ ((length * _M64) & _MASK64)
    body = length - (length & 7)
    for (k,) in struct.iter_unpack("<Q", buf[:body]):
        k = (k * _M64) & _MASK64
        k ^= k >> _R64
        k = (k * _M64) & _MASK64
        h ^= k
        h = (h * _M64) & _MASK64
    if length & 7:
        # The C++ switch falls through from the last tail byte down to the first, xor-ing each
        # at its little-endian position: that is the tail read as one little-endian integer.
        h ^= int.from_bytes(buf[body:], "little")
        h = (h * _M64) & _MASK64
    h ^= h >> _R64
    h = (h * _M64) & _MASK64
    h ^= h >> _R64
    return h


def murmurhash2_32(data: bytes | bytearray | memoryview | str, seed: int = SEED) -> int:
    """MurmurHash2 (32-bit), OpenMLDB's ``base::hash``: an unsigned 32-bit integer."""
    buf = _as_bytes(data)
    length = len(buf)
    h = (seed ^ length) & _MASK32
    body = length - (length & 3)
    for (k,) in struct.iter_unpack("<I", buf[:body]):
        k = (k * _M32) & _MASK32
        k ^= k >> _R32
        k = (k * _M32) & _MASK32
        h = (h * _M32) & _MASK32
        h ^= k
    if length & 3:
        h ^= int.from_bytes(buf[body:], "little")
        h = (h * _M32) & _MASK32
    h ^= h >> 13
    h = (h * _M32) & _MASK32
    h ^= h >> 15
    return h


def hash64(key: bytes | bytearray | memoryview | str) -> int:
    """OpenMLDB's ``base::hash64``: |MurmurHash64A(key) as int64|, always ``>= 0`` here.

    The single hash ``2**63`` has no positive int64; C++ overflows on it, we return ``2**63``.
    """
    raw = murmurhash64a(key, SEED)
    signed = raw - (1 << 64) if raw >> 63 else raw
    return -signed if signed < 0 else signed


def partition_of(key: bytes | bytearray | memoryview | str, partition_num: int) -> int:
    """The pid a dimension key is stored in: ``hash64(key) % partition_num``."""
    if partition_num < 1:
        raise ValueError(f"partition_num must be at least 1, got {partition_num}")
    return hash64(key) % partition_num


def root_path_index(tid: int, pid: int, root_count: int) -> int:
    """Which of a tablet's ``root_count`` root paths holds partition ``tid``/``pid`` (§3.1)."""
    if root_count < 1:
        raise ValueError(f"root_count must be at least 1, got {root_count}")
    if root_count == 1:
        return 0
    return murmurhash2_32(f"{tid}{pid}", SEED) % root_count


def pack_date(value: _dt.date) -> int:
    """OpenMLDB's packed DATE: ``(year - 1900) << 16 | (month - 1) << 8 | day``."""
    if not 1900 <= value.year <= 9999:
        raise UsageError(f"date {value.isoformat()} is outside OpenMLDB's range 1900-01-01..9999-12-31")
    return (value.year - 1900) << 16 | (value.month - 1) << 8 | value.day


def render_key_value(value: object) -> str:
    """One key column's value as OpenMLDB writes it into a dimension key.

    ``int`` covers smallint, int, bigint, timestamps (ms since the epoch) and dates that are
    already packed; ``datetime.date`` is packed, an aware ``datetime.datetime`` becomes epoch
    milliseconds. ``bytes`` are taken as the column's raw bytes.
    """
    if value is None:
        return NULL_KEY
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, str):
        return value if value else EMPTY_KEY
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return raw.decode("utf-8", "surrogateescape") if raw else EMPTY_KEY
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise UsageError(
                f"timestamp key value {value.isoformat()} has no time zone",
                hint="pass epoch milliseconds (int) or an aware datetime",
            )
        return str((value - _EPOCH) // _ONE_MS)
    if isinstance(value, _dt.date):
        return str(pack_date(value))
    raise UsageError(
        f"a {type(value).__name__} cannot be part of an OpenMLDB index key",
        hint="index key columns are strings, integers, bools, dates or timestamps",
    )


def index_key(values: Sequence[object]) -> str:
    """The dimension key of one index: each key column rendered, joined with ``|``."""
    if isinstance(values, str | bytes):
        raise TypeError("index_key takes a sequence of column values, not a single string")
    if not values:
        raise ValueError("an index key needs at least one column value")
    return KEY_SEPARATOR.join(render_key_value(v) for v in values)
