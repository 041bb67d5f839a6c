"""``omsync collector`` as real processes: ZooKeeper registration, AddSyncTask, SendData to a
real receiver, /status and friends, SIGTERM, kill -9 and standby takeover.

Every sync is checked row by row against the sandbox's ground truth. Where a process dies
between the receiver accepting a pack and the collector persisting it, the receiver refuses the
stale start point and the test re-assigns from the receiver's point — what a synctool does —
so the final check also proves nothing was written twice.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.collectorproc import CollectorProcess
from helpers.waiting import wait_until

from omsync_tui.core.errors import ClusterError
from omsync_tui.openmldb.metadata import read_table_meta
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.openmldb.row.codec import decode_row_versioned
from omsync_tui.openmldb.schema import TableSchema
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.receiver import Receiver
from omsync_tui.sandbox.state import SandboxConfig

TABLET_A, TABLET_B = "127.0.0.1:10921", "127.0.0.2:10921"


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def sandbox(tmp_path: Path, zk: Any, zk_hosts: str, **config: Any) -> SandboxCluster:
    config.setdefault("binlog_max_bytes", 8 * 1024)
    return SandboxCluster.create(tmp_path / "sb", zk, SandboxConfig(zk_hosts, **config))


def tablet_roots(cluster: SandboxCluster, tablet: str) -> tuple[Path, ...]:
    return tuple(cluster.tablet_root(tablet, s) for s in ("memory", "ssd", "hdd"))


def collector(
    procs: list[CollectorProcess],
    tmp_path: Path,
    cluster: SandboxCluster,
    zk_hosts: str,
    tablet: str,
    **kw: Any,
) -> CollectorProcess:
    host = tablet.split(":")[0]
    kw.setdefault("datadir", tmp_path / f"data-{host}")
    p = CollectorProcess(tmp_path, zk_hosts=zk_hosts, roots=tablet_roots(cluster, tablet), host=host, **kw)
    procs.append(p)
    return p.start()


def registered(zk: Any, endpoint: str) -> bool:
    return bool(zk.exists(f"/openmldb/sync_tool/collector/{endpoint}"))


def rows_of(cluster: SandboxCluster, name: str, pid: int, rows: list[bytes]) -> list[str]:
    meta = read_table_meta(cluster.partition_dir(cluster.table(name), pid) / "table_meta.txt")
    schema = TableSchema.from_proto(meta)
    return sorted(repr(tuple(decode_row_versioned(r, schema))) for r in rows)


def truth(cluster: SandboxCluster, name: str, pid: int) -> list[str]:
    return sorted(repr(tuple(r.values)) for r in cluster.expected_full_sync(name)[pid])


def leaders_on(cluster: SandboxCluster, name: str, tablet: str) -> list[int]:
    st = cluster.table(name)
    return [pid for pid in range(st.spec.partition_num) if cluster.leader(st, pid) == tablet]


def until_complete(
    rx: Receiver, c: CollectorProcess, tid: int, pid: int, expected: int, mode: int, what: str
) -> None:
    """Wait for ``expected`` rows, re-assigning from the receiver's point when the collector
    dropped the task after a stale start point (as a synctool's reassignment would)."""

    handled = [0]  # answers seen when the task was last handed out again

    def done(r: Receiver) -> bool:
        sub = r.subtask(tid, pid)
        if sub.row_count >= expected:
            return True
        answers = [a for a in r.answers() if (a.tid, a.pid) == (tid, pid)]
        last = answers[-1:]
        # only a drop of the current assignment (a stale start point), once per such answer: a
        # replaced loop's call answered "token not match" is not one, and handing the task out
        # again for it would restart the current loop from a point read before its last pack
        if (
            last
            and len(answers) > handled[0]
            and last[0].delete_task
            and "token not match" not in last[0].msg
            and sub.error is None
            and not sub.finished
        ):
            with contextlib.suppress(ClusterError):  # not active yet: again on the next wake-up
                r.assign(c.endpoint, tid, pid, mode=mode, start=sub.point, tablet_endpoint=TABLET_A)
                handled[0] = len(answers)
        return False

    rx.wait(done, timeout=60, what=what)


def test_two_hosts_full_sync_of_a_disk_and_a_memory_table(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver, procs: list[CollectorProcess]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    for name, storage in (("db.disk", "ssd"), ("db.mem", "memory")):
        cluster.create_table(preset_spec("mixed", *name.split("."), partition_num=4, storage=storage))
        cluster.write(name, 400)
        cluster.snapshot(name)
        cluster.write(name, 150)
    a = collector(procs, tmp_path, cluster, zk_hosts, TABLET_A)
    b = collector(procs, tmp_path, cluster, zk_hosts, TABLET_B)
    wait_until(lambda: registered(zk, a.endpoint) and registered(zk, b.endpoint), 20, "both registered")
    assert zk.get(f"/openmldb/sync_tool/collector/{a.endpoint}")[0] == a.endpoint.encode()
    wait_until(lambda: a.ready() and b.ready(), 20, "both ready")
    jobs = []
    for name in ("db.disk", "db.mem"):
        tid = cluster.table(name).tid
        for tablet, c in ((TABLET_A, a), (TABLET_B, b)):
            for pid in leaders_on(cluster, name, tablet):
                rx.assign(c.endpoint, tid, pid, mode=data_sync_pb2.kFull, tablet_endpoint=tablet)
                jobs.append((name, tid, pid))
    assert len(jobs) == 8
    rx.wait(lambda r: all(r.subtask(t, p).finished for _, t, p in jobs), 60, "every partition finished")
    for name, tid, pid in jobs:
        assert rows_of(cluster, name, pid, rx.subtask(tid, pid).rows) == truth(cluster, name, pid), (
            name,
            pid,
        )
        assert rx.subtask(tid, pid).rejected == 0
    status = a.get("/status")[1]
    assert (
        f"endpoint: {a.endpoint}" in status and "role: active" in status and "zookeeper: connected" in status
    )
    metrics = a.get("/metrics")[1]
    assert "omsync_collector_active 1.0" in metrics
    # a partition this host does not lead is refused with a reason
    other = leaders_on(cluster, "db.disk", TABLET_B)[0]
    with pytest.raises(ClusterError, match="not on this host"):
        rx.assign(a.endpoint, cluster.table("db.disk").tid, other)


def test_sigterm_persists_leaves_zookeeper_and_restart_resumes_without_a_reject(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver, procs: list[CollectorProcess]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="hdd"))
    cluster.write("db.t", 300)
    cluster.snapshot("db.t")
    cluster.write("db.t", 300)
    tid = cluster.table("db.t").tid
    (pid,) = leaders_on(cluster, "db.t", TABLET_A)
    a = collector(procs, tmp_path, cluster, zk_hosts, TABLET_A)
    wait_until(a.ready, 20, "ready")
    mode = data_sync_pb2.kFullAndContinuous
    rx.assign(a.endpoint, tid, pid, mode=mode, tablet_endpoint=TABLET_A)
    rx.wait(lambda r: r.subtask(tid, pid).row_count > 0, what="rows flowing")
    code, took = a.terminate()
    assert code == 0 and took < 10, a.log_tail()
    assert not registered(zk, a.endpoint), "the registration left with the process"
    cluster.write("db.t", 100)
    a2 = collector(procs, tmp_path, cluster, zk_hosts, TABLET_A, port=a.port)
    expected = len(truth(cluster, "db.t", pid))
    rx.wait(lambda r: r.subtask(tid, pid).row_count >= expected, 60, "every row after the restart")
    sub = rx.subtask(tid, pid)
    assert sub.rejected == 0, "the resumed task's start point was the receiver's"
    assert rows_of(cluster, "db.t", pid, sub.rows) == truth(cluster, "db.t", pid)
    assert "task" in a2.get("/status")[1]


def test_kill_9_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver, procs: list[CollectorProcess]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 600)
    cluster.snapshot("db.t")
    cluster.write("db.t", 600)
    tid = cluster.table("db.t").tid
    (pid,) = leaders_on(cluster, "db.t", TABLET_A)
    mode = data_sync_pb2.kFullAndContinuous
    a = collector(procs, tmp_path, cluster, zk_hosts, TABLET_A, extra="max_pack_size = 2048")
    wait_until(a.ready, 20, "ready")
    rx.assign(a.endpoint, tid, pid, mode=mode, tablet_endpoint=TABLET_A)
    rx.wait(lambda r: r.subtask(tid, pid).row_count > 50, what="rows flowing")
    a.kill()
    cluster.write("db.t", 100)
    a2 = collector(procs, tmp_path, cluster, zk_hosts, TABLET_A, port=a.port, extra="max_pack_size = 2048")
    expected = len(truth(cluster, "db.t", pid))
    until_complete(rx, a2, tid, pid, expected, mode, "every row after kill -9")
    assert rows_of(cluster, "db.t", pid, rx.subtask(tid, pid).rows) == truth(cluster, "db.t", pid)


def test_a_standby_on_the_same_host_takes_over_when_the_active_one_is_killed(
    tmp_path: Path, zk: Any, zk_hosts: str, rx: Receiver, procs: list[CollectorProcess]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="ssd"))
    cluster.write("db.t", 300)
    tid = cluster.table("db.t").tid
    (pid,) = leaders_on(cluster, "db.t", TABLET_A)
    shared = tmp_path / "shared-datadir"
    first = collector(procs, tmp_path, cluster, zk_hosts, TABLET_A, datadir=shared)
    wait_until(first.ready, 20, "first active")
    second = collector(procs, tmp_path, cluster, zk_hosts, TABLET_A, datadir=shared)
    wait_until(lambda: "standby" in second.get("/readyz")[1], 20, "the second stands by")
    assert second.get("/readyz")[0] == 503
    assert not registered(zk, second.endpoint)
    with pytest.raises(ClusterError, match="standby"):
        rx.assign(second.endpoint, tid, pid, tablet_endpoint=TABLET_A)
    mode = data_sync_pb2.kFullAndContinuous
    rx.assign(first.endpoint, tid, pid, mode=mode, tablet_endpoint=TABLET_A)
    rx.wait(lambda r: r.subtask(tid, pid).row_count > 0, what="rows from the first")
    first.kill()
    wait_until(second.ready, 30, "the standby takes over after the session timeout")
    assert registered(zk, second.endpoint)
    cluster.write("db.t", 100)
    expected = len(truth(cluster, "db.t", pid))
    until_complete(rx, second, tid, pid, expected, mode, "every row through the standby")
    assert rows_of(cluster, "db.t", pid, rx.subtask(tid, pid).rows) == truth(cluster, "db.t", pid)
    assert rx.subtask(tid, pid).last_collector == second.endpoint


def test_bad_config_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('[collector]\nendpoint = "0.0.0.0:8888"\n[zookeeper]\nhosts = "127.0.0.1:1"\n')
    for args, expect in (
        (["--config", str(bad)], "endpoint"),
        (["--config", str(tmp_path / "missing.toml")], "does not exist"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "omsync_tui.cli.main", "collector", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 2, out.stderr
        assert expect in out.stderr and "Traceback" not in out.stderr
