"""The sandbox writes what a tablet writes, and omsync's readers read it back to the ground truth.

A partition is read the way the collector will read it (snapshot, then binlog from
MANIFEST.offset + 1, index-0 puts only) with omsync's format readers, and compared with the
truth the sandbox derives from its own operation journal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omsync_tui.openmldb.binlog.files import list_binlogs
from omsync_tui.openmldb.binlog.reader import BinlogReader
from omsync_tui.openmldb.hashing import partition_of
from omsync_tui.openmldb.log.format import ReadStatus
from omsync_tui.openmldb.log.reader import LogFileReader
from omsync_tui.openmldb.metadata import read_manifest, read_table_meta
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.row.codec import decode_row_versioned, maybe_decompress
from omsync_tui.openmldb.schema import Column, ColumnType, TableSchema
from omsync_tui.openmldb.snapshot.disk import DiskSnapshotReader
from omsync_tui.openmldb.snapshot.memory import iter_sdb
from omsync_tui.openmldb.zkpaths import ZkPaths, partition_leaders
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.state import SandboxConfig
from omsync_tui.services.zk.reads import list_tablets, resolve_table


def make(tmp_path: Path, zk: Any, zk_hosts: str, **config: Any) -> SandboxCluster:
    cluster = SandboxCluster.create(tmp_path / "sb", zk, SandboxConfig(zk_hosts, **config))
    cluster.register_tablets()
    return cluster


def read_partition(part: Path, snappy_rows: bool) -> list[tuple[object, ...]]:
    """Snapshot rows then binlog puts carrying an index-0 dimension, decoded (the collector's walk)."""
    meta = read_table_meta(part / "table_meta.txt")
    schema = TableSchema.from_proto(meta)
    rows: list[tuple[object, ...]] = []
    offset = 0
    manifest_path = part / "snapshot" / "MANIFEST"
    if manifest_path.exists():
        manifest = read_manifest(manifest_path)
        offset = int(manifest.offset)
        snap = part / "snapshot" / manifest.name
        if ".sdb" in manifest.name:
            values = [e.value for _, e in iter_sdb(snap) if any(d.idx == 0 for d in e.dimensions)]
            values = [maybe_decompress(v, snappy_rows) for v in values]
        else:
            with DiskSnapshotReader(snap, meta) as reader:  # hands out decompressed values
                values = [r.value for r in reader.iter_index0()]
        rows += [tuple(decode_row_versioned(v, schema)) for v in values]
    if list_binlogs(part / "binlog"):
        with BinlogReader(part / "binlog", start=offset + 1) as reader:
            for item in reader:
                e = item.entry
                if e.method_type != tablet_pb2.kDelete and any(d.idx == 0 for d in e.dimensions):
                    rows.append(tuple(decode_row_versioned(maybe_decompress(e.value, snappy_rows), schema)))
    return rows


def assert_matches_truth(cluster: SandboxCluster, name: str) -> int:
    st = cluster.table(name)
    total = 0
    for pid, rows in cluster.expected_full_sync(name).items():
        got = read_partition(cluster.partition_dir(st, pid), st.spec.snappy)
        assert got == [r.values for r in rows], f"pid {pid}"
        total += len(rows)
    return total


def test_create_table_writes_nameserver_and_tablet_metadata(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    cluster = make(tmp_path, zk, zk_hosts)
    cluster.create_table(
        preset_spec("multiindex", "shop", "orders", partition_num=3, storage="ssd", snappy=True)
    )
    paths = ZkPaths("/openmldb")
    info = resolve_table(zk, paths, "shop.orders")
    assert (info.partition_num, info.storage_mode, info.compress_type) == (3, 2, 1)
    assert [c.index_name for c in info.column_key] == ["idx_user", "idx_id", "idx_user_day"]
    leaders = partition_leaders(info)
    assert sorted(leaders) == [0, 1, 2] and set(leaders.values()) <= set(cluster.config.tablets)
    assert list_tablets(zk, paths) == {ep: f"startup_{ep}" for ep in cluster.config.tablets}
    assert zk.exists("/openmldb/db/shop")
    st = cluster.table("shop.orders")
    for pid in range(3):
        meta = read_table_meta(cluster.partition_dir(st, pid) / "table_meta.txt")
        assert (meta.tid, meta.pid, meta.name, meta.db) == (info.tid, pid, "orders", "shop")
        assert cluster.partition_dir(st, pid).parent.name == "ssd"
    flags = (cluster.tablet_dir(cluster.config.tablets[0]) / "tablet.flags").read_text()
    assert "--ssd_root_path=" in flags and "--db_root_path=" in flags


def test_rows_land_in_every_partition_an_index_key_hashes_to(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    cluster = make(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("multiindex", "db", "t", partition_num=4))
    cluster.write("db.t", 400)
    st = cluster.table("db.t")
    index0_dims = 0
    for pid in range(4):
        with BinlogReader(cluster.partition_dir(st, pid) / "binlog") as reader:
            items = list(reader)
        assert [item.entry.log_index for item in items] == list(range(1, len(items) + 1))
        for item in items:
            assert item.entry.pk == "" and item.entry.value
            for dim in item.entry.dimensions:
                assert partition_of(dim.key, 4) == pid
            index0_dims += sum(1 for d in item.entry.dimensions if d.idx == 0)
    assert index0_dims == 400  # each row once in index 0, whatever its other indexes did
    assert assert_matches_truth(cluster, "db.t") == 400


def test_binlogs_rotate_with_eof_and_keep_the_newest_open(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    cluster = make(tmp_path, zk, zk_hosts, binlog_max_bytes=8 * 1024)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1))
    cluster.write("db.t", 300)
    cluster.write("db.t", 200)  # a second process-like session appends to the open file
    st = cluster.table("db.t")
    files = list_binlogs(cluster.partition_dir(st, 0) / "binlog")
    assert len(files) > 3 and [i for i, _ in files] == list(range(len(files)))
    for i, path in files:
        with LogFileReader(path) as reader:
            while (rec := reader.read()).status is ReadStatus.RECORD:
                pass
        assert rec.status is (ReadStatus.EOF if i < len(files) - 1 else ReadStatus.WAIT)
        assert rec.unread == 0
    assert assert_matches_truth(cluster, "db.t") == 500


@pytest.mark.parametrize("compression", [None, "zlib", "snappy"])
def test_memory_snapshot_then_binlog_equals_truth(
    tmp_path: Path, zk: Any, zk_hosts: str, compression: str | None
) -> None:
    cluster = make(tmp_path, zk, zk_hosts, binlog_max_bytes=16 * 1024, snapshot_compression=compression)
    cluster.create_table(preset_spec("multiindex", "db", "t", partition_num=2, snappy=True))
    cluster.write("db.t", 600)
    cluster.delete("db.t", "user007-delta")
    manifests = cluster.snapshot("db.t")
    cluster.write("db.t", 150)
    st = cluster.table("db.t")
    for pid, m in manifests.items():
        suffix = f".sdb.{compression}.{compression}" if compression else ".sdb"
        assert m.name.endswith(suffix) and len(m.name) == 12 + len(suffix)
        binlogs = list_binlogs(cluster.partition_dir(st, pid) / "binlog")
        assert binlogs[0][0] > 0, "binlogs older than the snapshot are deleted"
    total = assert_matches_truth(cluster, "db.t")
    deleted = sum(1 for n in range(600) if cluster_row_user(cluster, n) == "user007-delta")
    assert total == 750 - deleted


def cluster_row_user(cluster: SandboxCluster, n: int) -> object:
    from omsync_tui.sandbox.datagen import RowGenerator

    st = cluster.table("db.t")
    return RowGenerator(st.schema.latest, st.seed).row(n)[1]


def test_disk_snapshot_then_binlog_equals_truth(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    cluster = make(tmp_path, zk, zk_hosts, binlog_max_bytes=16 * 1024)
    cluster.create_table(preset_spec("sharedkey", "db", "t", partition_num=3, storage="hdd", snappy=True))
    cluster.write("db.t", 500)
    cluster.delete("db.t", "user011-delta")
    first = cluster.snapshot("db.t")
    cluster.write("db.t", 100)
    second = cluster.snapshot("db.t")
    cluster.write("db.t", 100)
    st = cluster.table("db.t")
    for pid in range(3):
        snap_dir = cluster.partition_dir(st, pid) / "snapshot"
        assert not (snap_dir / first[pid].name).exists() or first[pid].name == second[pid].name
        assert (snap_dir / second[pid].name / "CURRENT").exists()
        assert len(second[pid].name) == 12 and second[pid].name.isdigit()
    assert assert_matches_truth(cluster, "db.t") > 600


def test_tablet_restart_repairs_a_torn_tail_and_starts_a_new_file(
    tmp_path: Path, zk: Any, zk_hosts: str
) -> None:
    cluster = make(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1))
    cluster.write("db.t", 50)
    cluster.restart_tablet("db.t", torn_tail=b"\x11\x22\x33\x44\x80\x00\x01partial")
    cluster.write("db.t", 50)
    st = cluster.table("db.t")
    files = list_binlogs(cluster.partition_dir(st, 0) / "binlog")
    assert [i for i, _ in files] == [0, 1]
    with LogFileReader(files[0][1]) as reader:
        records = 0
        while (rec := reader.read()).status is ReadStatus.RECORD:
            records += 1
    assert (records, rec.status) == (50, ReadStatus.EOF)
    assert files[0][1].stat().st_size > rec.end, "the torn bytes stay behind the EOF record"
    assert assert_matches_truth(cluster, "db.t") == 100


def test_add_column_writes_schema_versions(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    cluster = make(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2))
    cluster.write("db.t", 100)
    cluster.add_column("db.t", Column("city", ColumnType.STRING))
    cluster.write("db.t", 100)
    info = resolve_table(zk, ZkPaths("/openmldb"), "db.t")
    assert [c.name for c in info.added_column_desc] == ["city"]
    assert [(v.id, v.field_count) for v in info.schema_versions] == [(2, 11)]
    assert assert_matches_truth(cluster, "db.t") == 200
    truth = [r.values for rows in cluster.expected_full_sync("db.t").values() for r in rows]
    assert sum(1 for v in truth if len(v) == 11 and v[10] is None) >= 100


def test_same_seed_same_bytes(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    blobs = []
    for n in range(2):
        cluster = SandboxCluster.create(
            tmp_path / f"sb{n}", zk, SandboxConfig(zk_hosts, zk_root=f"/r{n}", seed=3)
        )
        cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1))
        cluster.write("db.t", 200)
        part = cluster.partition_dir(cluster.table("db.t"), 0)
        blobs.append(b"".join(p.read_bytes() for _, p in list_binlogs(part / "binlog")))
    assert blobs[0] == blobs[1] and len(blobs[0]) > 10_000


def test_null_and_empty_keys_use_openmldb_tokens(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    cluster = make(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1))
    row = [1, None, 1.5, 2, True, 3, 0.5, None, 1_700_000_000_000, "n"]
    cluster.put_rows("db.t", [row, [2, "", *row[2:]]], time_ms=1_700_000_000_123)
    part = cluster.partition_dir(cluster.table("db.t"), 0)
    with BinlogReader(part / "binlog") as reader:
        entries = [item.entry for item in reader]
    assert [e.dimensions[0].key for e in entries] == ["!N@U#L$L%", "!@#$%"]
    assert {e.ts for e in entries} == {1_700_000_000_123}
    assert assert_matches_truth(cluster, "db.t") == 2


def test_drop_table_removes_the_nameserver_entry(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    cluster = make(tmp_path, zk, zk_hosts)
    st = cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1))
    notify_before = int(zk.get("/openmldb/table/notify")[0])
    cluster.drop_table("db.t")
    assert not zk.exists(f"/openmldb/table/db_table_data/{st.tid}")
    assert int(zk.get("/openmldb/table/notify")[0]) == notify_before + 1
    assert cluster.tables() == []


@pytest.mark.parametrize(("abs_minutes", "lat"), [(1, 0), (0, 3), (1, 3)])
def test_disk_ttl_truth_matches_the_snapshot_reader(
    tmp_path: Path, zk: Any, zk_hosts: str, abs_minutes: int, lat: int
) -> None:
    from omsync_tui.sandbox.datagen import BASE_TS

    cluster = make(tmp_path, zk, zk_hosts)
    spec = preset_spec(
        "mixed", "db", "t", partition_num=1, storage="ssd", abs_ttl_minutes=abs_minutes, lat_ttl=lat
    )
    cluster.create_table(spec)
    cluster.write("db.t", 600)
    manifest = cluster.snapshot("db.t")[0]
    now = BASE_TS + 300 * 7 + 60_000  # with a 1-minute TTL, rows 0..300 have expired
    truth = cluster.expected_full_sync("db.t", now_ms=now)[0]
    part = cluster.partition_dir(cluster.table("db.t"), 0)
    meta = read_table_meta(part / "table_meta.txt")
    with DiskSnapshotReader(part / "snapshot" / manifest.name, meta, now_ms=now) as reader:
        got = [(r.pk.decode(), r.ts) for r in reader.iter_index0()]
    assert got == [(r.pk, r.ts) for r in truth]
    assert 0 < len(got) < manifest.count == 600


def test_one_write_of_more_than_a_chunk_to_a_disk_table(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    # write() encodes in chunks of 5000 rows; every chunk must reuse the one RocksDB writer
    cluster = make(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="ssd"))
    assert cluster.write("db.t", 12_000) == (0, 12_000)
    cluster.snapshot("db.t")
    assert assert_matches_truth(cluster, "db.t") == 12_000
