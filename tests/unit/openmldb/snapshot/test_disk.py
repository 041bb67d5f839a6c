"""Disk-table snapshots: key codec, KeyTSComparator, inner indexes, sandbox writer → reader round trips."""

from __future__ import annotations

import functools
import random
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import aimrocks
import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omsync_tui.core.errors import FormatError, NotFoundError, UsageError
from omsync_tui.openmldb.proto import common_pb2, tablet_pb2, type_pb2
from omsync_tui.openmldb.snapshot.disk import DiskSnapshotReader, SnapshotRow
from omsync_tui.openmldb.snapshot.diskkeys import (
    AUTO_TS_POS,
    InnerIndex,
    KeyTSComparator,
    compare_keys,
    decode_key,
    encode_key,
    inner_indexes,
    key_sort_key,
    table_inner_indexes,
)
from omsync_tui.sandbox.rocks_writer import DiskTableWriter

COLUMNS = ("c1", "c2", "ts1", "ts2")  # ts1 is schema position 2, ts2 position 3
NOW = 1_700_000_000_000
MIN = 60_000


def ck(
    name: str, cols: Sequence[str], ts: str = "", *, flag: int = 0, ttl: common_pb2.TTLSt | None = None
) -> common_pb2.ColumnKey:
    key = common_pb2.ColumnKey(index_name=name, col_name=list(cols), flag=flag)
    if ts:
        key.ts_name = ts
    if ttl is not None:
        key.ttl.CopyFrom(ttl)
    return key


def meta(
    *keys: common_pb2.ColumnKey, snappy: bool = False, added: Sequence[str] = ()
) -> tablet_pb2.TableMeta:
    types = {"ts1": type_pb2.kBigInt, "ts2": type_pb2.kTimestamp}
    m = tablet_pb2.TableMeta(tid=7, pid=0, name="t", storage_mode=common_pb2.kSSD)
    for name in COLUMNS:
        m.column_desc.add(name=name, data_type=types.get(name, type_pb2.kString))
    for name in added:
        m.added_column_desc.add(name=name, data_type=type_pb2.kBigInt)
    m.column_key.extend(keys)
    if snappy:
        m.compress_type = type_pb2.kSnappy
    return m


def ttl(kind: type_pb2.TTLType, abs_min: int = 0, lat: int = 0) -> common_pb2.TTLSt:
    return common_pb2.TTLSt(ttl_type=kind, abs_ttl=abs_min, lat_ttl=lat)


def snapshot(tmp: Path, m: tablet_pb2.TableMeta, rows: Iterable[tuple[bytes, int, bytes]]) -> Path:
    """Single-dimension table: each row goes to index 0 only."""
    with DiskTableWriter(tmp / "data", m) as w:
        for pk, ts, value in rows:
            w.put([(0, pk)], ts, value)
        return w.checkpoint(tmp / "snapshot" / "202401010000")


def read_all(path: Path, m: tablet_pb2.TableMeta, **kw: object) -> list[tuple[bytes, int, bytes]]:
    with DiskSnapshotReader(path, m, **kw) as r:  # type: ignore[arg-type]
        return [(row.pk, row.ts, row.value) for row in r.iter_index0()]


def raw_keys(path: Path, cf: str) -> list[bytes]:
    names = aimrocks.list_column_families(str(path), aimrocks.Options())
    cfs = {n: aimrocks.ColumnFamilyOptions(comparator=KeyTSComparator()) for n in names if n != b"default"}
    db = aimrocks.DB(str(path), aimrocks.Options(), column_families=cfs, read_only=True)
    it = db.iterkeys(db.get_column_family(cf.encode()))
    it.seek_to_first()
    keys = list(it)
    del it, db
    return keys


def listing(path: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(path.iterdir())}


# ------------------------------------------------------------------------------------------ keys


def test_key_golden_bytes_from_reference_appendix_b() -> None:
    assert encode_key(b"k", 1700000000000) == bytes.fromhex("6b 00 68 e5 cf 8b 01 00 00")
    assert decode_key(bytes.fromhex("6b0068e5cf8b010000"), False) == (b"k", None, 1700000000000)


def test_key_with_ts_pos_and_auto_ts() -> None:
    key = encode_key(b"k", 1700000000000, 3)
    assert key == b"k" + bytes.fromhex("03000000") + bytes.fromhex("0068e5cf8b010000")
    assert decode_key(key, True) == (b"k", 3, 1700000000000)
    assert encode_key(b"", 1, AUTO_TS_POS)[:4] == b"\xff\xff\xff\xff"
    assert decode_key(encode_key(b"", 0), False) == (b"", None, 0)


def test_key_codec_rejects_bad_input() -> None:
    with pytest.raises(UsageError):
        encode_key(b"k", -1)
    with pytest.raises(UsageError):
        encode_key(b"k", 1 << 64)
    with pytest.raises(UsageError):
        encode_key(b"k", 1, 1 << 32)
    with pytest.raises(FormatError, match="shorter"):
        decode_key(b"\x00" * 11, True)


def test_compare_keys_semantics() -> None:
    a3, a2 = encode_key(b"a", 3), encode_key(b"a", 2)
    assert compare_keys(a3, a2) == -1  # same pk: larger ts first
    assert compare_keys(a2, a3) == 1
    assert compare_keys(a2, encode_key(b"a", 2)) == 0
    assert compare_keys(encode_key(b"a", 0), encode_key(b"ab", 1 << 63)) == -1  # pk bytewise first
    assert compare_keys(encode_key(b"b", 9), encode_key(b"ab", 9)) == 1
    # ts_pos is part of the bytewise part: ts_pos 2 sorts before ts_pos 3 whatever the ts
    assert compare_keys(encode_key(b"a", 1, 2), encode_key(b"a", 99, 3)) == -1
    # ts is unsigned: 2^63 is larger than 1
    assert compare_keys(encode_key(b"a", 1 << 63), encode_key(b"a", 1)) == -1
    # ParseKeyAndTs leaves keys under 8 bytes as (empty pk, ts 0)
    assert compare_keys(b"xyz", b"abc") == 0
    assert compare_keys(b"xyz", encode_key(b"", 0)) == 0
    assert compare_keys(b"xyz", encode_key(b"", 1)) == 1


key_strategy = st.builds(
    encode_key,
    st.binary(max_size=4).map(lambda b: bytes(x % 3 * 0x7F for x in b)),  # bytes 00/7f/fe: prefixes collide
    st.sampled_from([0, 1, 2, 255, 256, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(key_strategy, min_size=1, max_size=40, unique=True))
def test_rocksdb_iteration_order_equals_compare_keys_sort(keys: list[bytes]) -> None:
    expected = sorted(keys, key=functools.cmp_to_key(compare_keys))
    assert sorted(keys, key=key_sort_key) == expected
    shuffled = keys[:]
    random.Random(len(keys)).shuffle(shuffled)
    with tempfile.TemporaryDirectory() as tmp:
        opts = aimrocks.Options(create_if_missing=True)
        opts.comparator = KeyTSComparator()
        db = aimrocks.DB(tmp, opts)
        for k in shuffled:  # RocksDB's skiplist orders them with the comparator
            db.put(k, b"")
        it = db.iterkeys()
        it.seek_to_first()
        got = list(it)
        del it, db
    assert got == expected


def test_writer_sst_order_is_rocksdb_order(tmp_path: Path) -> None:
    rng = random.Random(5)
    pks = [b"", b"a", b"a\x00", b"ab", b"b", b"\xff"]
    rows = {(rng.choice(pks), rng.choice([0, 1, 7, 1 << 40, (1 << 64) - 1])) for _ in range(60)}
    path = snapshot(tmp_path, meta(ck("i0", ["c1"], "ts1")), ((pk, ts, b"v") for pk, ts in rows))
    expected = sorted((encode_key(pk, ts) for pk, ts in rows), key=functools.cmp_to_key(compare_keys))
    assert raw_keys(path, "i0") == expected


# ------------------------------------------------------------------------------- inner indexes


def test_inner_indexes_grouping() -> None:
    keys = [
        ck("i0", ["c1"], "ts1"),
        ck("i1", ["c2"], "ts1"),
        ck("i2", ["c1"], "ts2"),  # same key column as i0 → shared, named after i0
        ck("i3", ["c1", "c2"]),  # multi-column key "c1|c2|", auto ts
        ck("i4", ["c2", "c1"], "ts2"),  # different order → different inner index
        ck("i5", ["c1", "c2"], "ts1", flag=1),  # deleted, still grouped with i3
    ]
    got = inner_indexes(COLUMNS, keys)
    assert got == [
        InnerIndex(0, "i0", (0, 2), (2, 3), (True, True)),
        InnerIndex(1, "i1", (1,), (2,), (True,)),
        InnerIndex(2, "i3", (3, 5), (AUTO_TS_POS, 2), (True, False)),
        InnerIndex(3, "i4", (4,), (3,), (True,)),
    ]
    assert got[0].has_ts_pos and not got[1].has_ts_pos
    assert got[0].key_ts_pos(2) == 3 and got[1].key_ts_pos(1) is None
    assert got[2].ts_pos_of(3) == AUTO_TS_POS


def test_inner_indexes_edge_cases() -> None:
    # no column keys: OpenMLDB's default index "idx0" on the insert time
    assert inner_indexes(COLUMNS, []) == [InnerIndex(0, "idx0", (0,), (AUTO_TS_POS,), (True,))]
    # an index without key columns is keyed by its own name
    got = inner_indexes(COLUMNS, [ck("x", []), ck("y", [])])
    assert [g.cf_name for g in got] == ["x", "y"]
    # ts columns added by ALTER TABLE continue the schema positions
    m = meta(ck("i0", ["c1"], "late"), added=["late"])
    assert table_inner_indexes(m)[0].ts_positions == (4,)
    with pytest.raises(FormatError, match="twice"):
        inner_indexes(COLUMNS, [ck("i0", ["c1"]), ck("i0", ["c2"])])
    with pytest.raises(FormatError, match="ts column"):
        inner_indexes(COLUMNS, [ck("i0", ["c1"], "nope")])
    with pytest.raises(FormatError, match="key column"):
        inner_indexes(COLUMNS, [ck("i0", ["nope"])])


# ---------------------------------------------------------------------------- write → read


def test_single_index_round_trip(tmp_path: Path) -> None:
    m = meta(ck("i0", ["c1"], "ts1"))
    rows = [(b"b", 5, b"b5"), (b"a", 1, b"a1"), (b"a", 3, b"a3"), (b"a", 2, b"a2"), (b"a", 3, b"a3-new")]
    path = snapshot(tmp_path, m, rows)
    assert (path / "CURRENT").is_file() and list(path.glob("*.sst"))
    assert all(p.stat().st_size == 0 for p in path.glob("*.log"))  # WAL off: SSTs hold everything
    assert raw_keys(path, "i0") == [
        encode_key(b"a", 3),
        encode_key(b"a", 2),
        encode_key(b"a", 1),
        encode_key(b"b", 5),
    ]
    with DiskSnapshotReader(path, m) as r:
        assert r.column_families == ["default", "i0"]
        assert list(r.iter_index0()) == [
            SnapshotRow(b"a", 3, b"a3-new"),  # same (pk, ts) put twice: the latest wins
            SnapshotRow(b"a", 2, b"a2"),
            SnapshotRow(b"a", 1, b"a1"),
            SnapshotRow(b"b", 5, b"b5"),
        ]
        assert r.count() == 4


def test_two_indexes_on_different_columns_make_two_column_families(tmp_path: Path) -> None:
    m = meta(ck("by_c1", ["c1"], "ts1"), ck("by_c2", ["c2"], "ts1"))
    with DiskTableWriter(tmp_path / "data", m) as w:
        w.put([(0, b"u1"), (1, b"x")], 10, b"row1")
        w.put([(0, b"u2"), (1, b"x")], 11, b"row2")
        w.put([(1, b"y")], 12, b"row3")  # its index-0 dimension hashes to another partition
        path = w.checkpoint(tmp_path / "snap")
    assert raw_keys(path, "by_c2") == [encode_key(b"x", 11), encode_key(b"x", 10), encode_key(b"y", 12)]
    with DiskSnapshotReader(path, m) as r:
        assert r.column_families == ["default", "by_c1", "by_c2"]
        assert [(x.pk, x.ts, x.value) for x in r.iter_index0()] == [
            (b"u1", 10, b"row1"),
            (b"u2", 11, b"row2"),
        ]


def test_shared_inner_index_carries_ts_pos_and_walk_skips_other_ts(tmp_path: Path) -> None:
    m = meta(ck("i0", ["c1"], "ts2"), ck("i1", ["c1"], "ts1"))  # index 0 uses ts2 (position 3)
    with DiskTableWriter(tmp_path / "data", m) as w:
        for pk, t1, t2 in [(b"a", 100, 7), (b"a", 200, 8), (b"b", 300, 9)]:
            w.put([(0, pk), (1, pk)], {0: t2, 1: t1}, pk + b"%d" % t2)
        path = w.checkpoint(tmp_path / "snap")
    keys = raw_keys(path, "i0")
    assert keys == [
        encode_key(b"a", 200, 2),  # ts_pos 2 (ts1) sorts before ts_pos 3 (ts2) of the same pk
        encode_key(b"a", 100, 2),
        encode_key(b"a", 8, 3),
        encode_key(b"a", 7, 3),
        encode_key(b"b", 300, 2),
        encode_key(b"b", 9, 3),
    ]
    with DiskSnapshotReader(path, m) as r:
        assert r.column_families == ["default", "i0"]
        assert [(x.pk, x.ts) for x in r.iter_index0()] == [(b"a", 8), (b"a", 7), (b"b", 9)]
        assert [(x.pk, x.ts) for x in r.iter_index0(start=(b"a", 7))] == [(b"a", 7), (b"b", 9)]


def test_deleted_index_still_makes_keys_carry_ts_pos(tmp_path: Path) -> None:
    m = meta(ck("i0", ["c1"]), ck("gone", ["c1"], "ts1", flag=1))
    path = snapshot(tmp_path, m, [(b"a", 5, b"v")])
    assert raw_keys(path, "i0") == [encode_key(b"a", 5, AUTO_TS_POS)]
    assert read_all(path, m) == [(b"a", 5, b"v")]


def test_seek_semantics_of_openmldb_test(tmp_path: Path) -> None:
    m = meta(ck("i0", ["c1"], "ts1"))
    path = snapshot(
        tmp_path, m, [(b"a", 3, b""), (b"a", 2, b""), (b"a", 1, b""), (b"b", 5, b""), (b"b", 4, b"")]
    )
    with DiskSnapshotReader(path, m) as r:

        def walk(start: tuple[bytes, int]) -> list[tuple[bytes, int]]:
            return [(x.pk, x.ts) for x in r.iter_index0(start)]

        assert walk((b"a", 2)) == [(b"a", 2), (b"a", 1), (b"b", 5), (b"b", 4)]
        assert walk((b"a", 99)) == [(b"a", 3), (b"a", 2), (b"a", 1), (b"b", 5), (b"b", 4)]
        assert walk((b"a", 0)) == [(b"b", 5), (b"b", 4)]  # past a's last entry
        assert walk((b"aa", 1 << 40)) == [(b"b", 5), (b"b", 4)]  # between pks
        assert walk((b"b", 4)) == [(b"b", 4)]
        assert walk((b"c", 0)) == []
        assert r.count((b"a", 2)) == 4


TTL_ROWS = [
    (b"a", NOW - 10_000),
    (b"a", NOW - 20_000),
    (b"a", NOW - 30_000),
    (b"a", NOW - 120_000),
    (b"b", NOW - 120_000),
    (b"b", NOW - 130_000),
    (b"b", NOW - 140_000),
    (b"c", NOW - 60_000),  # exactly at the cut-off of a 1-minute TTL: expired (ts <= now - ttl)
    (b"d", NOW - 59_999),
]


@pytest.mark.parametrize(
    ("ttl_st", "expected"),
    [
        (ttl(type_pb2.kAbsoluteTime, 1), {b"a": 3, b"d": 1}),
        (ttl(type_pb2.kLatestTime, 0, 2), {b"a": 2, b"b": 2, b"c": 1, b"d": 1}),
        # and: expired only when old AND beyond the newest 2
        (ttl(type_pb2.kAbsAndLat, 1, 2), {b"a": 3, b"b": 2, b"c": 1, b"d": 1}),
        # or: expired when old OR beyond the newest 2
        (ttl(type_pb2.kAbsOrLat, 1, 2), {b"a": 2, b"d": 1}),
        (ttl(type_pb2.kAbsOrLat, 0, 2), {b"a": 2, b"b": 2, b"c": 1, b"d": 1}),
        (ttl(type_pb2.kAbsOrLat, 1, 0), {b"a": 3, b"d": 1}),
        # 0 means "never"; for and, either 0 disables it
        (ttl(type_pb2.kAbsoluteTime, 0, 1), {b"a": 4, b"b": 3, b"c": 1, b"d": 1}),
        (ttl(type_pb2.kLatestTime, 1, 0), {b"a": 4, b"b": 3, b"c": 1, b"d": 1}),
        (ttl(type_pb2.kAbsAndLat, 1, 0), {b"a": 4, b"b": 3, b"c": 1, b"d": 1}),
        (None, {b"a": 4, b"b": 3, b"c": 1, b"d": 1}),
    ],
)
def test_ttl_filtering_and_resume_is_a_suffix(
    tmp_path: Path, ttl_st: common_pb2.TTLSt | None, expected: dict[bytes, int]
) -> None:
    m = meta(ck("i0", ["c1"], "ts1", ttl=ttl_st))
    path = snapshot(tmp_path, m, ((pk, ts, b"") for pk, ts in TTL_ROWS))
    with DiskSnapshotReader(path, m, now_ms=NOW) as r:
        full = [(x.pk, x.ts) for x in r.iter_index0()]
        got: dict[bytes, int] = {}
        for pk, _ in full:
            got[pk] = got.get(pk, 0) + 1
        assert got == expected
        # visible rows of a pk are its newest ones (expiry jumps to the next pk)
        for pk, n in expected.items():
            assert [ts for p, ts in full if p == pk] == sorted(
                (t for p, t in TTL_ROWS if p == pk), reverse=True
            )[:n]
        assert r.count() == len(full)
        # resuming at any stored row (visible or not) yields exactly the rest of the full walk
        for pk, ts in TTL_ROWS:
            rest = [p for p in full if (p[0], -p[1]) >= (pk, -ts)]
            assert [(x.pk, x.ts) for x in r.iter_index0((pk, ts))] == rest
    assert len(read_all(path, m, now_ms=NOW, apply_ttl=False)) == len(TTL_ROWS)


def test_snappy_values_are_decompressed(tmp_path: Path) -> None:
    m = meta(ck("i0", ["c1"], "ts1"), snappy=True)
    rows = [(b"a", 1, b"hello " * 20), (b"b", 2, b"")]
    path = snapshot(
        tmp_path / "ok", m, ((pk, ts, bytes(cramjam.snappy.compress_raw(v))) for pk, ts, v in rows)
    )
    assert read_all(path, m) == rows
    bad = snapshot(tmp_path / "bad", m, [(b"a", 1, b"\xff\xff\xff\xff\xff not snappy")])
    with DiskSnapshotReader(bad, m) as r, pytest.raises(FormatError, match="snappy"):
        list(r.iter_index0())
    with DiskSnapshotReader(bad, m) as r:
        assert r.count() == 1  # counting does not decompress


# ------------------------------------------------------------------------------ writer details


def test_writer_deletes_like_disk_table_delete(tmp_path: Path) -> None:
    m = meta(ck("i0", ["c1"], "ts1"), ck("i1", ["c2"], "ts1", flag=1))
    with DiskTableWriter(tmp_path / "data", m, max_pending=4) as w:
        for ts in range(6):
            w.put([(0, b"a")], ts, b"a%d" % ts)  # max_pending=4: ts 0-3 in an SST, 4-5 buffered
        w.put([(0, b"b")], 1, b"b1")
        w.delete(0, b"a", start_ts=4, end_ts=1)  # removes ts 2, 3, 4: (end, start]
        w.put([(0, b"a")], 3, b"a3-again")  # a later put survives the earlier delete
        w.delete(0, b"b")  # whole key
        w.delete(0, b"zz", start_ts=1, end_ts=5)  # empty range: nothing
        with pytest.raises(UsageError, match="deleted"):
            w.delete(1, b"x")
        path = w.checkpoint(tmp_path / "snap")
        w.delete(0, b"a")  # after the checkpoint: the snapshot keeps the rows
        w.put([(0, b"c")], 0, b"c0")
        later = w.checkpoint(tmp_path / "snap2")
    assert read_all(path, m) == [(b"a", 5, b"a5"), (b"a", 3, b"a3-again"), (b"a", 1, b"a1"), (b"a", 0, b"a0")]
    # a whole-key delete is DeleteRange(ts UINT64_MAX .. 0): the ts-0 entry stays, as in OpenMLDB
    assert read_all(later, m) == [(b"a", 0, b"a0"), (b"c", 0, b"c0")]


def test_writer_rejects_bad_calls(tmp_path: Path) -> None:
    m = meta(ck("i0", ["c1"], "ts1"), ck("i1", ["c2"], "ts2"))
    w = DiskTableWriter(tmp_path / "data", m)
    with pytest.raises(UsageError, match="negative"):
        w.put([(0, b"a"), (1, b"x")], {0: 5, 1: -1}, b"v")  # the whole row is refused
    with pytest.raises(UsageError, match="no ts"):
        w.put([(0, b"a"), (1, b"x")], {0: 5}, b"v")
    with pytest.raises(UsageError, match="no index"):
        w.put([(9, b"a")], 5, b"v")
    (tmp_path / "exists").mkdir()
    with pytest.raises(UsageError, match="already exists"):
        w.checkpoint(tmp_path / "exists")
    snap = w.checkpoint(tmp_path / "snap")
    w.close()
    w.close()
    with pytest.raises(UsageError, match="closed"):
        w.put([(0, b"a")], 1, b"v")
    assert read_all(snap, m) == []


def test_writer_reopens_existing_table(tmp_path: Path) -> None:
    m = meta(ck("i0", ["c1"], "ts1"))
    with DiskTableWriter(tmp_path / "data", m) as w:
        w.put([(0, b"a")], 1, b"first")
    with DiskTableWriter(tmp_path / "data", m) as w:
        w.put([(0, b"a")], 2, b"second")
        w.put([(0, b"b")], 1, b"b")
        path = w.checkpoint(tmp_path / "snap")
        w.put([(0, b"b")], 1, b"b-overwritten")  # same key as an SST entry: the newer file wins
        again = w.checkpoint(tmp_path / "snap2")
    assert read_all(path, m) == [(b"a", 2, b"second"), (b"a", 1, b"first"), (b"b", 1, b"b")]
    assert read_all(again, m)[-1] == (b"b", 1, b"b-overwritten")


# -------------------------------------------------------------------------------- reader errors


def test_reader_errors_name_the_path(tmp_path: Path) -> None:
    m = meta(ck("i0", ["c1"], "ts1"))
    missing = tmp_path / "nope"
    with pytest.raises(NotFoundError, match="nope") as nf:
        DiskSnapshotReader(missing, m)
    assert nf.value.hint
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "000001.sst").write_bytes(b"not an sst")
    with pytest.raises(FormatError, match="CURRENT") as fe:
        DiskSnapshotReader(garbage, m)
    assert str(garbage) in str(fe.value)
    (garbage / "CURRENT").write_text("MANIFEST-000009\n")
    with pytest.raises(FormatError, match="MANIFEST-000009") as fe:
        DiskSnapshotReader(garbage, m)
    assert str(fe.value).startswith(str(garbage))


def test_reader_refuses_other_comparator_and_other_meta(tmp_path: Path) -> None:
    m = meta(ck("i0", ["c1"], "ts1"))
    plain = tmp_path / "plain"
    db = aimrocks.DB(str(plain), aimrocks.Options(create_if_missing=True))
    cf = db.create_column_family(b"i0", aimrocks.ColumnFamilyOptions())  # bytewise comparator
    db.put(b"k", b"v", column_family=cf)
    del cf, db
    with pytest.raises(FormatError, match="comparator") as fe:
        DiskSnapshotReader(plain, m)
    assert "KeyTSComparator" in (fe.value.hint or "")
    assert "b'" not in str(fe.value)
    with pytest.raises(FormatError, match="comparator"):
        DiskTableWriter(plain, m)
    path = snapshot(tmp_path, m, [(b"a", 1, b"v")])
    with pytest.raises(FormatError, match="'other'"):
        DiskSnapshotReader(path, meta(ck("other", ["c1"], "ts1")))


def test_reading_leaves_checkpoint_untouched_and_close_is_safe(tmp_path: Path) -> None:
    m = meta(ck("i0", ["c1"], "ts1"))
    path = snapshot(tmp_path, m, [(b"a%d" % i, i, b"v") for i in range(50)])
    before = listing(path)
    r = DiskSnapshotReader(path, m)
    walk = r.iter_index0()
    assert next(walk).pk == b"a0"
    assert r.count() == 50
    r.close()  # with a walk still open: it is closed first, the process survives
    assert list(walk) == []
    with pytest.raises(UsageError, match="closed"):
        r.count()
    r.close()
    assert listing(path) == before
