"""The collector's task loops in-process: sandbox tablet files → TaskManager → a real receiver.

Each test compares what the receiver accepted, row by row, with the sandbox's ground truth.
The daemon around the manager (ZooKeeper, signals, a real process) is tested in
``test_collector_daemon.py``.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.waiting import wait_until

from omsync_tui.core.errors import UsageError
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.metadata import read_table_meta
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.openmldb.row.codec import decode_row_versioned
from omsync_tui.openmldb.schema import TableSchema
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.receiver import Receiver
from omsync_tui.sandbox.state import SandboxConfig
from omsync_tui.services import syncwire
from omsync_tui.services.collector.manager import TaskManager
from omsync_tui.services.collector.task import TaskSettings
from omsync_tui.services.collector.workdir import CrossDeviceError

FAST = TaskSettings(
    endpoint="127.0.0.1:8888",
    max_pack_size=4096,
    request_timeout_s=5.0,
    long_interval_s=0.5,
    poll_interval_s=0.05,
)


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def make_cluster(tmp_path: Path, zk: Any, zk_hosts: str, **config: Any) -> SandboxCluster:
    config.setdefault("binlog_max_bytes", 8 * 1024)
    return SandboxCluster.create(tmp_path / "sb", zk, SandboxConfig(zk_hosts, **config))


def roots(cluster: SandboxCluster) -> tuple[Path, ...]:
    return tuple(
        cluster.tablet_root(ep, storage)
        for ep in cluster.config.tablets
        for storage in ("memory", "ssd", "hdd")
    )


def manager_for(cluster: SandboxCluster, datadir: Path, settings: TaskSettings = FAST) -> TaskManager:
    m = TaskManager(datadir, roots(cluster), settings, workers=2)
    m.resume()
    return m


def add(
    m: TaskManager,
    rx: Receiver,
    tid: int,
    pid: int,
    *,
    mode: int = data_sync_pb2.kFull,
    start: SyncPoint | None = None,
    deletes: bool = False,
    token: str | None = None,
    ready: bool = False,
) -> str:
    token = token or str(uuid.uuid4())
    point = start or SyncPoint.start()
    rx.expect(tid, pid, token, point)
    request = data_sync_pb2.AddSyncTaskRequest(
        tid=tid, pid=pid, mode=mode, token=token, des_endpoint=rx.endpoint, tablet_endpoint="127.0.0.1:10921"
    )
    request.sync_point.CopyFrom(syncwire.to_proto(point))
    if deletes:
        request.deletes = True
    if ready:
        request.ready = True
    m.add(request)
    return token


def decoded(cluster: SandboxCluster, name: str, pid: int, rows: list[bytes]) -> list[tuple[object, ...]]:
    st = cluster.table(name)
    meta = read_table_meta(cluster.partition_dir(st, pid) / "table_meta.txt")
    schema = TableSchema.from_proto(meta)
    return [tuple(decode_row_versioned(r, schema)) for r in rows]


def truth(cluster: SandboxCluster, name: str, pid: int) -> list[tuple[object, ...]]:
    return [tuple(r.values) for r in cluster.expected_full_sync(name)[pid]]


@pytest.mark.parametrize(
    ("storage", "preset", "snappy"), [("memory", "multiindex", True), ("ssd", "mixed", False)]
)
def test_full_sync_of_each_partition_equals_truth_and_cleans_up(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver, storage: str, preset: str, snappy: bool
) -> None:
    cluster = make_cluster(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec(preset, "db", "t", partition_num=2, storage=storage, snappy=snappy))
    cluster.write("db.t", 400)
    cluster.snapshot("db.t")
    cluster.write("db.t", 200)
    tid = cluster.table("db.t").tid
    m = manager_for(cluster, tmp_path / "collector")
    try:
        for pid in range(2):
            add(m, rx, tid, pid)
        rx.wait(lambda r: all(r.subtask(tid, p).finished for p in range(2)), what="both partitions finished")
        for pid in range(2):
            got = rx.subtask(tid, pid)
            assert decoded(cluster, "db.t", pid, got.rows) == truth(cluster, "db.t", pid)
            assert got.rejected == 0
        # the receiver records `finished` as it answers; the collector drops the task on reading it
        wait_until(lambda: m.tasks() == [], what="finished tasks dropped by the collector")
        assert not (tmp_path / "collector" / f"{tid}-0").exists()  # finished: work dir gone
    finally:
        m.close()


def test_the_first_send_waits_unless_the_synctool_says_it_is_ready(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver
) -> None:
    """The original SyncTool records a task only after AddSyncTask returns (rows sent earlier went
    to ``<hdfs home>/null<uuid>.csv``), so its collector waits ``sync_task_long_interval_ms``
    first; omsync's synctool sets ``ready`` and gets rows at once."""
    cluster = make_cluster(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="ssd"))
    cluster.write("db.t", 200)
    tid = cluster.table("db.t").tid
    m = manager_for(cluster, tmp_path / "collector", dataclasses.replace(FAST, long_interval_s=2.0))
    try:
        t0 = time.monotonic()
        add(m, rx, tid, 0)  # the original's request
        add(m, rx, tid, 1, ready=True)
        rx.wait(lambda r: r.subtask(tid, 1).sends > 0, what="the ready subtask's first send")
        assert rx.subtask(tid, 0).sends == 0
        rx.wait(lambda r: r.subtask(tid, 0).sends > 0, what="the other subtask's first send")
        first = {pid: rx.subtask(tid, pid).last_send - t0 for pid in (0, 1)}
        assert first[1] < 1.0 and first[0] >= 2.0, first
        rx.wait(lambda r: all(r.subtask(tid, p).finished for p in (0, 1)), what="both finished")
        for pid in (0, 1):
            assert decoded(cluster, "db.t", pid, rx.subtask(tid, pid).rows) == truth(cluster, "db.t", pid)
    finally:
        m.close()


def test_continuous_tail_through_rotation_and_binlog_purge(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver
) -> None:
    cluster = make_cluster(tmp_path, zk, zk_hosts, binlog_max_bytes=4 * 1024)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="memory"))
    cluster.write("db.t", 300)
    tid = cluster.table("db.t").tid
    m = manager_for(cluster, tmp_path / "collector")
    try:
        add(m, rx, tid, 0, mode=data_sync_pb2.kFullAndContinuous)
        rx.wait(lambda r: r.subtask(tid, 0).row_count == 300, what="the first 300 rows")
        # the tablet snapshots and deletes binlogs the collector has linked already: no harm
        cluster.snapshot("db.t", purge_binlogs=True)
        cluster.write("db.t", 250)  # several new files
        rx.wait(lambda r: r.subtask(tid, 0).row_count == 550, what="all 550 rows")
        got = rx.subtask(tid, 0)
        assert not got.finished
        expected = sorted(map(repr, truth_all_puts(cluster, "db.t")))
        assert sorted(map(repr, decoded(cluster, "db.t", 0, got.rows))) == expected
        assert got.heartbeats >= 0

        # The receiver has the rows as it answers; on reading that answer the collector moves its
        # point, then prunes its own links behind its position.
        def caught_up() -> bool:
            task = m.get(tid, 0)
            if task is None or task.point != SyncPoint.binlog(551) or task.position is None:
                return False
            linked = sorted(os.listdir(task.work.binlog))
            return bool(linked) and int(linked[0].split(".")[0]) == task.position[0]

        wait_until(caught_up, what="the collector at binlog 551, its links pruned behind its position")
    finally:
        m.close()


def truth_all_puts(cluster: SandboxCluster, name: str) -> list[tuple[object, ...]]:
    """Every row ever put (no deletes in these tests), from the ground-truth journal."""
    return truth(cluster, name, 0)


def test_restart_resumes_from_persisted_progress_with_the_same_token(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver
) -> None:
    cluster = make_cluster(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="ssd"))
    cluster.write("db.t", 300)
    cluster.snapshot("db.t")
    cluster.write("db.t", 300)
    tid = cluster.table("db.t").tid
    m = manager_for(cluster, tmp_path / "collector")
    token = add(m, rx, tid, 0, mode=data_sync_pb2.kFullAndContinuous)
    rx.wait(lambda r: r.subtask(tid, 0).row_count > 0, what="some rows")
    m.close()  # as on SIGTERM: loops stop, progress stays
    middle = rx.subtask(tid, 0).row_count
    m2 = manager_for(cluster, tmp_path / "collector")
    try:
        assert [t.token for t in m2.tasks()] == [token]
        cluster.write("db.t", 100)
        rx.wait(lambda r: r.subtask(tid, 0).row_count == 700, what="all rows after the restart")
        got = rx.subtask(tid, 0)
        assert got.rejected == 0, "the resumed loop's start point matched the receiver's"
        assert middle <= 700
        assert sorted(map(repr, decoded(cluster, "db.t", 0, got.rows))) == sorted(
            map(repr, truth(cluster, "db.t", 0))
        )
    finally:
        m2.close()


def test_failed_and_busy_sends_resend_the_same_pack(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver
) -> None:
    cluster = make_cluster(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="memory"))
    cluster.write("db.t", 200)
    tid = cluster.table("db.t").tid
    rx.fail_next(2)
    rx.busy_next(2, retry_after_ms=50)
    m = manager_for(cluster, tmp_path / "collector")
    try:
        add(m, rx, tid, 0)
        rx.wait(lambda r: r.subtask(tid, 0).finished, what="finished despite faults")
        got = rx.subtask(tid, 0)
        assert decoded(cluster, "db.t", 0, got.rows) == truth(cluster, "db.t", 0)
    finally:
        m.close()


def test_a_row_larger_than_the_pack_size_goes_alone(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver
) -> None:
    cluster = make_cluster(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="memory"))
    cluster.write("db.t", 50)
    tid = cluster.table("db.t").tid
    m = manager_for(cluster, tmp_path / "collector", dataclasses.replace(FAST, max_pack_size=16))
    try:
        add(m, rx, tid, 0)
        rx.wait(lambda r: r.subtask(tid, 0).finished, what="finished with one row per pack")
        got = rx.subtask(tid, 0)
        assert got.row_count == 50 and got.sends >= 50
    finally:
        m.close()


def test_deletes_are_forwarded_in_binlog_order_when_asked(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver
) -> None:
    cluster = make_cluster(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="memory"))
    cluster.write("db.t", 30)
    index = cluster.delete("db.t", "gone-key")
    cluster.write("db.t", 5)
    tid = cluster.table("db.t").tid
    m = manager_for(cluster, tmp_path / "collector")
    try:
        add(m, rx, tid, 0, deletes=True)
        rx.wait(lambda r: r.subtask(tid, 0).finished, what="finished")
        got = rx.subtask(tid, 0)
        assert got.row_count == 35
        assert [(d.log_index, d.key, d.idx) for d in got.deletes] == [(index, b"gone-key", 0)]
        # rows before it in the stream: the 30 puts
        assert sum(1 for _ in got.rows[:30]) == 30
    finally:
        m.close()


def test_binlog_files_deleted_before_they_were_linked_are_a_reported_gap(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver
) -> None:
    cluster = make_cluster(tmp_path, zk, zk_hosts, binlog_max_bytes=2 * 1024)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="memory"))
    cluster.write("db.t", 200)
    cluster.snapshot("db.t", purge_binlogs=True)  # the early binlogs are gone from the tablet
    tid = cluster.table("db.t").tid
    m = manager_for(cluster, tmp_path / "collector")
    try:
        # a synctool continuing from binlog offset 1: those entries no longer exist anywhere
        add(m, rx, tid, 0, mode=data_sync_pb2.kFullAndContinuous, start=SyncPoint.binlog(1))
        rx.wait(lambda r: r.subtask(tid, 0).error is not None, what="a reported gap")
        err = rx.subtask(tid, 0).error
        assert err is not None and err.code == "binlog_gap"
        assert err.missing_from == 1 and err.missing_to >= 1
        assert rx.subtask(tid, 0).row_count == 0, "nothing after the gap was sent as if it followed"
        rx.wait(lambda r: m.get(tid, 0) is None, what="the task ended after the synctool dropped it")
    finally:
        m.close()


def test_a_gap_in_the_middle_after_a_long_pause_is_reported(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver
) -> None:
    cluster = make_cluster(tmp_path, zk, zk_hosts, binlog_max_bytes=2 * 1024)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="memory"))
    cluster.write("db.t", 40)
    tid = cluster.table("db.t").tid
    m = manager_for(cluster, tmp_path / "collector")
    add(m, rx, tid, 0, mode=data_sync_pb2.kFullAndContinuous)
    rx.wait(lambda r: r.subtask(tid, 0).row_count == 40, what="the first rows")
    m.close()  # the collector is down for a long time ...
    cluster.write("db.t", 300)  # ... the tablet rotates through several files ...
    cluster.snapshot("db.t", purge_binlogs=True)  # ... and deletes them before they were linked
    cluster.write("db.t", 10)
    m2 = manager_for(cluster, tmp_path / "collector")
    try:
        rx.wait(lambda r: r.subtask(tid, 0).error is not None, what="a reported gap")
        err = rx.subtask(tid, 0).error
        assert err is not None and err.code == "binlog_gap", err
        # the missing range starts right where the accepted point stands
        assert rx.subtask(tid, 0).point == SyncPoint.binlog(err.missing_from)
        assert err.missing_to > err.missing_from
        # every entry before the gap was sent first (the tablet appended some to a linked file)
        assert rx.subtask(tid, 0).row_count == err.missing_from - 1
    finally:
        m2.close()


def test_readding_with_a_new_token_replaces_the_loop_and_the_same_token_is_idempotent(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver
) -> None:
    cluster = make_cluster(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="memory"))
    cluster.write("db.t", 100)
    tid = cluster.table("db.t").tid
    m = manager_for(cluster, tmp_path / "collector")
    try:
        first = add(m, rx, tid, 0, mode=data_sync_pb2.kFullAndContinuous)
        rx.wait(lambda r: r.subtask(tid, 0).row_count == 100, what="rows")
        point = rx.subtask(tid, 0).point
        again = data_sync_pb2.AddSyncTaskRequest(
            tid=tid, pid=0, mode=data_sync_pb2.kFullAndContinuous, token=first, des_endpoint=rx.endpoint
        )
        again.sync_point.CopyFrom(syncwire.to_proto(SyncPoint.start()))
        m.add(again)  # the same call retried: nothing changes
        again.sync_point.CopyFrom(syncwire.to_proto(SyncPoint.binlog(7)))
        with pytest.raises(UsageError, match="new token"):
            m.add(again)
        second = add(m, rx, tid, 0, mode=data_sync_pb2.kFullAndContinuous, start=point)
        assert [t.token for t in m.tasks()] == [second]
        cluster.write("db.t", 20)
        rx.wait(lambda r: r.subtask(tid, 0).row_count == 120, what="rows after the re-add")
        assert rx.subtask(tid, 0).rejected == 0
    finally:
        m.close()


def test_unknown_partition_and_bad_requests_are_refused(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver
) -> None:
    cluster = make_cluster(tmp_path, zk, zk_hosts)
    m = manager_for(cluster, tmp_path / "collector")
    try:
        with pytest.raises(Exception, match="not on this host"):
            add(m, rx, 999, 0)
        bad = data_sync_pb2.AddSyncTaskRequest(tid=1, pid=0, token="x")
        with pytest.raises(UsageError, match="lacks des_endpoint, sync_point"):
            m.add(bad)
        assert m.tasks() == []
    finally:
        m.close()


@pytest.mark.skipif(
    not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(os.getcwd()).st_dev,
    reason="needs /dev/shm on another filesystem",
)
def test_a_datadir_on_another_filesystem_names_both_paths(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver
) -> None:
    cluster = make_cluster(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="memory"))
    cluster.write("db.t", 10)
    cluster.snapshot("db.t")
    tid = cluster.table("db.t").tid
    shm = Path("/dev/shm") / f"omsync-test-{uuid.uuid4().hex[:8]}"
    if os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("tmp_path is on /dev/shm's filesystem")
    m = manager_for(cluster, shm)
    try:
        with pytest.raises(CrossDeviceError) as info:
            add(m, rx, tid, 0)
        msg = str(info.value)
        assert str(cluster.partition_dir(cluster.table("db.t"), 0)) in msg and str(shm) in msg
        assert "collector.datadir must be on the tablet's filesystem" in (info.value.hint or "")
        assert m.tasks() == []
    finally:
        m.close()
        import shutil

        shutil.rmtree(shm, ignore_errors=True)
