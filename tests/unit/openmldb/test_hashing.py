"""OpenMLDB's key hashing, checked against values OpenMLDB itself produces.

Sources of the expected numbers:
* OpenMLDB ``hybridse/src/base/hash_test.cc``: MurmurHash64A of the 4 bytes of int32 -1 and of
  "hello" with seed 0xe17a1465, as int64.
* OpenMLDB ``src/catalog/tablet_catalog_test.cc`` ``get_tablet``: pid of "key0" / "key1" with
  8 partitions is 7 / 6.
* OpenMLDB ``java/openmldb-import/.../ImporterTest.java`` ``testHash`` ("c++ hash result"):
  ``base::hash`` (MurmurHash2-32) of seven keys modulo 8.
* ``_COMPILED``: OpenMLDB's ``src/base/hash.h`` (commit c5ffa75290a7) compiled with g++ on x86-64
  and run on these inputs; they cover every tail length 0-7 and the multi-block path.
"""

from __future__ import annotations

import datetime as dt
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omsync_tui.core.errors import UsageError
from omsync_tui.openmldb.hashing import (
    EMPTY_KEY,
    NULL_KEY,
    hash64,
    index_key,
    murmurhash2_32,
    murmurhash64a,
    pack_date,
    partition_of,
    render_key_value,
    root_path_index,
)

# key, MurmurHash64A (unsigned), base::hash64 (signed, |.|), base::hash (32-bit), hash64 % 8, % 7
_COMPILED = [
    ("", 11239542818895821884, 7207201254813729732, 1500808113, 4, 3),
    ("a", 584566915021039271, 584566915021039271, 462733273, 7, 6),
    ("ab", 6220508851333379873, 6220508851333379873, 4033115616, 1, 4),
    ("abc", 14846292297954449589, 3600451775755102027, 3395762458, 3, 4),
    ("abcd", 8138346585592239007, 8138346585592239007, 3971719002, 7, 5),
    ("abcde", 5273429754382883119, 5273429754382883119, 3676517448, 7, 5),
    ("abcdef", 9641424149210398560, 8805319924499153056, 1741177198, 0, 1),
    ("abcdefg", 7351585467605002562, 7351585467605002562, 3669927229, 2, 1),
    ("abcdefgh", 17294501757292903523, 1152242316416648093, 2894452590, 5, 0),
    ("abcdefghi", 18229681074992184966, 217062998717366650, 1173957789, 2, 2),
    ("abcdefghijklmnop", 11618864109608327030, 6827879964101224586, 22566326, 2, 5),
    ("abcdefghijklmnopq", 12011324917291780873, 6435419156417770743, 2880832896, 7, 0),
    ("hello", 14291653550770694837, 4155090522938856779, 2354005224, 3, 5),
    ("!N@U#L$L%", 9495346413810916965, 8951397659898634651, 941403956, 3, 4),
    ("!@#$%", 11348901506697820396, 7097842567011731220, 3129532201, 4, 0),
    ("1|1", 7484999455304813151, 7484999455304813151, 1172041130, 7, 3),
    ("alice|1590738989000", 1979054948211047744, 1979054948211047744, 3113321816, 0, 2),
    ("中文", 556302737274496233, 556302737274496233, 3320859691, 1, 0),
    ("8323073", 13272683088889355036, 5174060984820196580, 2011021154, 4, 6),
]


def _as_int64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def test_openmldb_unit_test_vectors() -> None:
    assert _as_int64(murmurhash64a(struct.pack("<i", -1))) == -2087233940855511134
    assert _as_int64(murmurhash64a(b"hello")) == -4155090522938856779
    assert partition_of("key0", 8) == 7
    assert partition_of("key1", 8) == 6


def test_murmurhash2_matches_the_java_importer_test() -> None:
    keys = ["2|1", "1|1", "1|4", "2/6", "4", "6", "1"]
    assert [murmurhash2_32(k) % 8 for k in keys] == [0, 2, 3, 5, 1, 4, 6]


@pytest.mark.parametrize(("key", "raw", "signed_abs", "h32", "mod8", "mod7"), _COMPILED)
def test_matches_compiled_openmldb(
    key: str, raw: int, signed_abs: int, h32: int, mod8: int, mod7: int
) -> None:
    assert murmurhash64a(key) == raw
    assert murmurhash64a(key.encode()) == raw
    assert hash64(key) == signed_abs
    assert murmurhash2_32(key) == h32
    assert partition_of(key, 8) == mod8
    assert partition_of(key, 7) == mod7
    assert partition_of(key, 1) == 0


def test_seed_matters_and_only_its_low_32_bits_count() -> None:
    assert murmurhash64a(b"abc", 0) == 11297775770902552315  # compiled OpenMLDB, seed 0
    assert murmurhash64a(b"abc", 0) != murmurhash64a(b"abc")
    assert murmurhash64a(b"abc", 0xE17A1465 | 1 << 40) == murmurhash64a(b"abc")


@given(st.binary(max_size=40))
def test_results_fit_their_widths(data: bytes) -> None:
    assert 0 <= murmurhash64a(data) < 1 << 64
    assert 0 <= murmurhash2_32(data) < 1 << 32
    assert 0 <= hash64(data) <= 1 << 63
    assert hash64(data) == abs(_as_int64(murmurhash64a(data)))


@given(st.binary(min_size=1, max_size=24), st.integers(min_value=0, max_value=255))
def test_every_byte_position_affects_the_hash(data: bytes, flip: int) -> None:
    # Guards the tail handling: a byte the algorithm skipped would leave the hash unchanged.
    for pos in range(len(data)):
        changed = bytearray(data)
        changed[pos] ^= flip or 1
        assert murmurhash64a(bytes(changed)) != murmurhash64a(data)


@given(st.text(max_size=30), st.integers(min_value=1, max_value=1024))
def test_partition_is_hash64_modulo(key: str, partitions: int) -> None:
    pid = partition_of(key, partitions)
    assert 0 <= pid < partitions
    assert pid == hash64(key.encode("utf-8")) % partitions


def test_partition_num_must_be_positive() -> None:
    with pytest.raises(ValueError):
        partition_of("k", 0)


def test_root_path_index_hashes_tid_and_pid_concatenated() -> None:
    assert root_path_index(1, 2, 1) == 0
    assert root_path_index(12, 3, 5) == murmurhash2_32("123") % 5
    # "1" + "23" and "12" + "3" are the same key, as in OpenMLDB.
    assert root_path_index(1, 23, 7) == root_path_index(12, 3, 7)


def test_key_values_render_like_the_sdk() -> None:
    assert render_key_value(None) == NULL_KEY == "!N@U#L$L%"
    assert render_key_value("") == EMPTY_KEY == "!@#$%"
    assert render_key_value(b"") == EMPTY_KEY
    assert render_key_value("alice") == "alice"
    assert render_key_value(True) == "true"
    assert render_key_value(False) == "false"
    assert render_key_value(-1) == "-1"
    assert render_key_value(1590738989000) == "1590738989000"
    assert render_key_value(dt.date(2027, 1, 1)) == "8323073"
    assert render_key_value(dt.date(2020, 5, 17)) == str(120 << 16 | 4 << 8 | 17)
    aware = dt.datetime(2020, 5, 29, 7, 56, 29, tzinfo=dt.UTC)
    assert render_key_value(aware) == "1590738989000"
    assert render_key_value("中文".encode()) == "中文"


def test_index_key_joins_columns_with_a_bar() -> None:
    assert index_key(["alice", 1590738989000]) == "alice|1590738989000"
    assert index_key([None, ""]) == "!N@U#L$L%|!@#$%"
    assert index_key([1]) == "1"
    assert partition_of(index_key(["alice", 1590738989000]), 7) == 2


def test_bytes_keys_round_trip_through_surrogateescape() -> None:
    raw = b"\xff\xfe-key"
    assert murmurhash64a(render_key_value(raw)) == murmurhash64a(raw)


@pytest.mark.parametrize("bad", [1.5, dt.datetime(2020, 1, 1), object(), [1]])
def test_values_that_cannot_be_keys(bad: object) -> None:
    with pytest.raises(UsageError):
        render_key_value(bad)


def test_index_key_needs_a_sequence_of_values() -> None:
    with pytest.raises(TypeError):
        index_key("alice")
    with pytest.raises(ValueError):
        index_key([])


def test_pack_date_range() -> None:
    assert pack_date(dt.date(1900, 1, 1)) == 1
    with pytest.raises(UsageError):
        pack_date(dt.date(1899, 12, 31))
