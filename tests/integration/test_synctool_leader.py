"""The leader's parts on a real ZooKeeper (``services/synctool/leader/``): ``Schedule``'s guarded
record writes and its reconcile with a real destination, and ``Peers``' calls to collectors and
to worker synctools (real processes and closed ports, no stand-ins)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.daemonproc import free_port
from helpers.synctoolproc import SynctoolProcess
from kazoo.client import KazooClient

from omsync_tui.core.config import load_config
from omsync_tui.core.errors import ClusterError, NotFoundError
from omsync_tui.core.states import Mode, State
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.core.synctool_config import HdfsSection, SynctoolConfig
from omsync_tui.openmldb.zkpaths import ZkPaths
from omsync_tui.services.sinks.destination import TMP_PREFIX
from omsync_tui.services.sinks.writer import file_name
from omsync_tui.services.synctool.leader.peers import Peers
from omsync_tui.services.synctool.leader.schedule import Schedule, Table
from omsync_tui.services.synctool.model import SubtaskRecord, TaskRecord
from omsync_tui.services.synctool.store import Store
from omsync_tui.services.synctool.worker import Worker

ROOT = "/openmldb"


def b(offset: int) -> SyncPoint:
    return SyncPoint.binlog(offset)


def _schedule(zk: KazooClient, dest: str, *, may_write: bool = True) -> tuple[Schedule, Table]:
    store = Store(zk, ROOT, by="127.0.0.1:9000")
    task = TaskRecord(tid=7, db="db", table="t", mode=Mode.CONTINUOUS, dest=dest, partitions=1)
    store.create_task(task, [SubtaskRecord(tid=7, pid=0, committed=b(1), rows=10, files=1, token="tok")])
    schedule = Schedule(store, HdfsSection(), lambda: may_write)
    return schedule, schedule.load(task)


def _committed_csv(root: Path, first: int, nxt: int, lines: int) -> None:
    part = root / "pid=0"
    part.mkdir(parents=True, exist_ok=True)
    (part / file_name(b(first), b(nxt), "csv")).write_text("1\n" * lines)


def test_a_loaded_task_holds_its_records_and_is_found_by_name_or_tid(zk: KazooClient, tmp_path: Path) -> None:
    schedule, table = _schedule(zk, str(tmp_path / "out"))
    assert table.recs[0].committed == b(1)
    assert schedule.find("db.t") is table
    assert schedule.find("7") is table
    with pytest.raises(NotFoundError, match=r"no sync task for db\.u"):
        schedule.find("db.u")
    schedule.drop(7)
    assert schedule.tables() == []


def test_update_is_refused_once_this_synctool_may_not_write(zk: KazooClient, tmp_path: Path) -> None:
    schedule, _ = _schedule(zk, str(tmp_path / "out"), may_write=False)
    with pytest.raises(ClusterError, match="not the leader with a live ZooKeeper session"):
        schedule.update(7, 0, lambda old: old.but(token=""), "fence")
    assert Store(zk, ROOT).subtask(7, 0).record.token == "tok"  # type: ignore[union-attr]


def test_update_of_a_deleted_subtask_names_it(zk: KazooClient, tmp_path: Path) -> None:
    schedule, _ = _schedule(zk, str(tmp_path / "out"))
    with pytest.raises(NotFoundError, match="subtask 7-3 is gone from ZooKeeper"):
        schedule.update(7, 3, lambda old: old, "")


def test_reconcile_takes_the_destinations_larger_end_and_counts_the_newer_files(
    zk: KazooClient, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    schedule, table = _schedule(zk, str(out))
    _committed_csv(out, 0, 1, 10)  # already counted in the record
    _committed_csv(out, 1, 5, 4)  # renamed by a worker that died before storing it
    _committed_csv(out, 5, 9, 3)
    (out / "pid=0" / f"{TMP_PREFIX}leftover.csv").write_text("half a file")
    rec = schedule.reconcile(table, table.recs[0])
    assert (rec.committed, rec.rows, rec.files) == (b(9), 17, 3)
    assert Store(zk, ROOT).subtask(7, 0).record == rec  # type: ignore[union-attr]
    assert sorted(p.name for p in (out / "pid=0").iterdir()) == [
        file_name(b(0), b(1), "csv"),
        file_name(b(1), b(5), "csv"),
        file_name(b(5), b(9), "csv"),
    ]
    assert schedule.reconcile(table, rec) == rec  # nothing newer: nothing written


def test_reconcile_keeps_zookeepers_end_when_the_destination_is_behind(
    zk: KazooClient, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    schedule, table = _schedule(zk, str(out))
    schedule.update(7, 0, lambda old: old.but(committed=b(20), state=State.RUNNING), "ran")
    _committed_csv(out, 1, 5, 4)
    rec = schedule.reconcile(table, schedule.fresh(table, 0))
    assert rec.committed == b(20)


# -- Peers ---------------------------------------------------------------------------------------


def _peers(zk: KazooClient, tmp_path: Path, **synctool: object) -> Peers:
    config = load_config(
        SynctoolConfig,
        overrides={
            "synctool": {"endpoint": "127.0.0.1:9000", "datadir": str(tmp_path / "data"), **synctool},
            "zookeeper": {"hosts": "127.0.0.1:1"},
            "log": {"dir": str(tmp_path / "log")},
        },
    )
    store = Store(zk, ROOT)
    return Peers(config.synctool, zk, ZkPaths(ROOT), Worker(config, zk, store, root_path=ROOT))


def test_collectors_for_names_every_host_without_a_collector(zk: KazooClient, tmp_path: Path) -> None:
    paths = ZkPaths(ROOT)
    for ep in ("127.0.0.1:7001", "127.0.0.2:7001"):
        zk.create(paths.collector(ep), ep.encode(), makepath=True)
    peers = _peers(zk, tmp_path)
    leaders = {0: "127.0.0.1:9527", 1: "127.0.0.2:9527", 2: "127.0.0.1:9528"}
    assert peers.collectors_for("db.t", leaders) == ["127.0.0.1:7001", "127.0.0.2:7001"]
    assert peers.collector_for("127.0.0.2:9527") == "127.0.0.2:7001"
    with pytest.raises(ClusterError, match=r"host\(s\) of db\.t's partition leaders: 127.0.0.3, 127.0.0.4"):
        peers.collectors_for("db.t", {**leaders, 3: "127.0.0.4:1", 4: "127.0.0.3:1"})
    with pytest.raises(ClusterError, match=r"no collector registered on 127\.0\.0\.9"):
        peers.collector_for("127.0.0.9:9527")


def test_a_collector_that_does_not_answer_is_named(zk: KazooClient, tmp_path: Path) -> None:
    silent = f"127.0.0.1:{free_port()}"
    with pytest.raises(ClusterError, match=re.escape(f"do not answer: {silent} on 127.0.0.1")):
        _peers(zk, tmp_path).check_answering([silent])


def test_release_of_a_gone_or_unassigned_worker_asks_nobody(zk: KazooClient, tmp_path: Path) -> None:
    peers = _peers(zk, tmp_path)
    rec = SubtaskRecord(tid=7, pid=0, worker=f"127.0.0.1:{free_port()}", token="tok")
    assert peers.release(rec, {}) is None  # its registration is gone: so is every rename it could make
    assert peers.release(rec.but(token=""), {rec.worker: {}}) is None  # fenced already
    why = peers.release(rec, {rec.worker: {}})
    assert why is not None and why.startswith(f"synctool {rec.worker} did not answer the release")


def test_release_by_a_live_synctool_and_its_refusal_named(
    zk_hosts: str, zk: KazooClient, tmp_path: Path, procs: list[SynctoolProcess]
) -> None:
    other = SynctoolProcess(tmp_path / "other", zk_hosts=zk_hosts, extra_synctool='auth_token = "s3cret"')
    procs.append(other)
    other.start()
    rec = SubtaskRecord(tid=7, pid=0, worker=other.endpoint, token="tok")
    live = {other.endpoint: {}}
    why = _peers(zk, tmp_path).release(rec, live)  # no token: the synctool refuses the call
    refused = f"synctool {other.endpoint} did not release the subtask: HTTP 401"
    assert why is not None and why.startswith(refused)
    assert _peers(zk, tmp_path, auth_token="s3cret").release(rec, live) is None  # it holds nothing: done
