"""The collector's read path: packs of a sandbox partition reproduce the ground truth exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omsync_tui.core.errors import FormatError
from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.openmldb.binlog.files import list_binlogs
from omsync_tui.openmldb.metadata import read_table_meta
from omsync_tui.openmldb.row.codec import decode_row_versioned, split_rows
from omsync_tui.openmldb.schema import TableSchema
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.state import SandboxConfig
from omsync_tui.services.collector.pack import Pack
from omsync_tui.services.collector.packer import MODE_INCREMENTAL, PartitionPacker


def make(tmp_path: Path, zk: Any, zk_hosts: str, **config: Any) -> SandboxCluster:
    return SandboxCluster.create(tmp_path / "sb", zk, SandboxConfig(zk_hosts, **config))


def rows_of(pack: Pack, schema: TableSchema) -> list[tuple[object, ...]]:
    offsets, lengths = split_rows(pack.rows)
    assert len(offsets) == pack.count
    # the sizes sent along (SendDataRequest.row_sizes) are the rows' own size fields
    assert np.frombuffer(pack.sizes, dtype="<u4").tolist() == lengths.tolist()
    return [
        tuple(decode_row_versioned(pack.rows[o : o + n], schema))
        for o, n in zip(offsets, lengths, strict=True)
    ]


def drain(
    packer: PartitionPacker, start: SyncPoint, schema: TableSchema, max_bytes: int
) -> tuple[list[Any], Pack]:
    """Pack until the binlog end; every pack but the last within max_bytes unless a row alone is larger."""
    got: list[Any] = []
    point = start
    while True:
        pack = packer.pack(point, max_bytes)
        got += rows_of(pack, schema)
        if pack.count > 1:
            assert len(pack.rows) <= max_bytes
        point = pack.next
        if pack.at_end:
            return got, pack


@pytest.mark.parametrize(
    ("storage", "preset", "snappy"),
    [("memory", "multiindex", True), ("ssd", "multiindex", False), ("hdd", "sharedkey", True)],
)
def test_full_sync_of_every_partition_equals_truth(
    tmp_path: Path, zk: Any, zk_hosts: str, storage: str, preset: str, snappy: bool
) -> None:
    cluster = make(tmp_path, zk, zk_hosts, binlog_max_bytes=8 * 1024, snapshot_compression="zlib")
    cluster.create_table(preset_spec(preset, "db", "t", partition_num=3, storage=storage, snappy=snappy))
    cluster.write("db.t", 700)
    cluster.delete("db.t", "user005-x")
    cluster.snapshot("db.t")
    cluster.write("db.t", 300)
    st = cluster.table("db.t")
    truth = cluster.expected_full_sync("db.t")
    for pid in range(3):
        part = cluster.partition_dir(st, pid)
        meta = read_table_meta(part / "table_meta.txt")
        with_small_packs = PartitionPacker(part, meta)
        got, last = drain(with_small_packs, SyncPoint.start(), TableSchema.from_proto(meta), 2048)
        assert got == [r.values for r in truth[pid]], f"pid {pid}"
        assert last.next == SyncPoint.binlog(cluster_last_index(part) + 1)


def cluster_last_index(part: Path) -> int:
    """The newest log_index the tablet wrote, read from its oldest remaining binlog on."""
    from omsync_tui.openmldb.binlog.files import first_log_index
    from omsync_tui.openmldb.binlog.reader import BinlogReader

    oldest = first_log_index(list_binlogs(part / "binlog")[0][1]) or 1
    with BinlogReader(part / "binlog", start=oldest) as reader:
        return max(int(item.entry.log_index) for item in reader)


def test_resuming_at_any_point_with_a_new_packer_continues_exactly(
    tmp_path: Path, zk: Any, zk_hosts: str
) -> None:
    cluster = make(tmp_path, zk, zk_hosts, binlog_max_bytes=4 * 1024)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="ssd"))
    cluster.write("db.t", 200)
    cluster.snapshot("db.t")
    cluster.write("db.t", 200)
    part = cluster.partition_dir(cluster.table("db.t"), 0)
    meta = read_table_meta(part / "table_meta.txt")
    schema = TableSchema.from_proto(meta)
    expected = [r.values for r in cluster.expected_full_sync("db.t")[0]]
    packer = PartitionPacker(part, meta)
    point, seen, restarts = SyncPoint.start(), [], 0
    while True:
        pack = packer.pack(point, 1500)
        seen += rows_of(pack, schema)
        point = pack.next
        if pack.at_end:
            break
        if len(seen) % 3 == 0:  # as after a restart: a fresh packer from the persisted point
            packer.close()
            packer = PartitionPacker(part, meta)
            restarts += 1
    assert seen == expected and restarts > 5
    assert point.phase is Phase.BINLOG


def test_a_row_larger_than_the_pack_goes_alone(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    cluster = make(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1))
    big = [1, "k", 1.0, 1, True, 1, 1.0, None, 1_700_000_000_000, "x" * 5000]
    small = [2, "k", 1.0, 1, True, 1, 1.0, None, 1_700_000_000_001, "y"]
    cluster.put_rows("db.t", [small, big, small])
    part = cluster.partition_dir(cluster.table("db.t"), 0)
    meta = read_table_meta(part / "table_meta.txt")
    packer = PartitionPacker(part, meta)
    first = packer.pack(SyncPoint.start(), 1000)  # no snapshot: straight to the binlog
    assert (first.count, first.next) == (0, SyncPoint.binlog(1))
    counts = []
    point = first.next
    while not (pack := packer.pack(point, 1000)).at_end or pack.count:
        counts.append(pack.count)
        point = pack.next
    assert counts == [1, 1, 1]


def test_continuous_tail_keeps_its_cursor_and_sees_new_files(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    cluster = make(tmp_path, zk, zk_hosts, binlog_max_bytes=4 * 1024)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1))
    part = cluster.partition_dir(cluster.table("db.t"), 0)
    meta = read_table_meta(part / "table_meta.txt")
    schema = TableSchema.from_proto(meta)
    packer = PartitionPacker(part, meta, mode=2)
    idle = packer.pack(SyncPoint.binlog(1), 1 << 20)
    assert (idle.count, idle.at_end, idle.next) == (0, True, SyncPoint.binlog(1))
    total = []
    for round_ in range(4):
        cluster.write("db.t", 60)  # rotates files as it goes
        pack = packer.pack(idle.next, 1 << 20)
        assert pack.at_end and pack.count == 60, round_
        total += rows_of(pack, schema)
        idle = pack
    assert len(list_binlogs(part / "binlog")) > 3
    assert total == [r.values for r in cluster.expected_full_sync("db.t")[0]]
    assert idle.position is not None and idle.position[0] == list_binlogs(part / "binlog")[-1][0]


def test_incremental_mode_skips_older_rows(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    cluster = make(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="ssd"))
    cluster.write("db.t", 100)
    cluster.snapshot("db.t")
    cluster.write("db.t", 100)
    part = cluster.partition_dir(cluster.table("db.t"), 0)
    meta = read_table_meta(part / "table_meta.txt")
    cut = 1_700_000_000_000 + 7 * 150  # rows >= 150 by index-0 ts (snapshot) and put time (binlog)
    got, _ = drain(
        PartitionPacker(part, meta, mode=MODE_INCREMENTAL, start_ts=cut),
        SyncPoint.start(),
        TableSchema.from_proto(meta),
        1 << 20,
    )
    assert sorted(int(v[0]) for v in got) == list(range(150, 200))  # type: ignore[call-overload]


def test_a_binlog_file_deleted_in_the_middle_is_a_gap_not_a_skip(
    tmp_path: Path, zk: Any, zk_hosts: str
) -> None:
    cluster = make(tmp_path, zk, zk_hosts, binlog_max_bytes=4 * 1024)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1))
    cluster.write("db.t", 300)
    part = cluster.partition_dir(cluster.table("db.t"), 0)
    files = list_binlogs(part / "binlog")
    files[2][1].unlink()
    packer = PartitionPacker(part, read_table_meta(part / "table_meta.txt"))
    with pytest.raises(FormatError, match="missing"):
        point = SyncPoint.binlog(1)
        for _ in range(100):
            point = packer.pack(point, 4096).next
