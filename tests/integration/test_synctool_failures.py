"""End to end, real processes: what the synctool does when parts fail (DESIGN §3, §4).

Crashes (kill -9 of a collector, of the leader synctool with a standby running) must leave the
destination exact; faults that may pass (an unwritable destination, a silent collector) go
REASSIGNING and recover, or end FAILED with a machine-readable cause after the retry budget;
faults that cannot pass (the table dropped, a binlog gap) end FAILED at once. FAILED and its
cause are stored in ZooKeeper and survive a restart of the synctool.
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from typing import Any

from helpers.e2e import (
    TABLETS,
    collector,
    count,
    create_task,
    dataset_rows,
    events,
    get_task,
    leading_synctool,
    sandbox,
    start_collectors,
    synctool,
    truth_rows,
    verify_ok,
    wait_rows,
    wait_task,
)
from helpers.waiting import wait_until

from omsync_tui.openmldb.zkpaths import ZkPaths
from omsync_tui.sandbox.datagen import preset_spec

SMALL_PACKS = "max_pack_size = 2048"  # ~30 rows per SendData: a sync takes many round trips


def subtask(task: dict[str, Any], pid: int) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in task["subtasks"] if p["pid"] == pid)
    return found


def all_running(task: dict[str, Any]) -> bool:
    return {p["state"] for p in task["subtasks"]} == {"RUNNING"}


# -- crashes -----------------------------------------------------------------------------------------


def test_kill_9_of_a_collector_mid_sync_loses_and_repeats_nothing(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 1500)
    cluster.snapshot("db.t")
    cluster.write("db.t", 1500)
    victim = collector(procs, tmp_path, cluster, zk_hosts, TABLETS[0], extra=SMALL_PACKS).start()
    other = collector(procs, tmp_path, cluster, zk_hosts, TABLETS[1], extra=SMALL_PACKS).start()
    wait_until(lambda: victim.ready() and other.ready(), 20, "collectors ready")
    s = leading_synctool(procs, tmp_path, zk_hosts)
    dest = tmp_path / "out"
    create_task(s, "db.t", str(dest), mode="continuous")
    pid = next(p for p, leader, _ in cluster.iter_partitions("db.t") if leader == TABLETS[0])
    wait_task(s, "db.t", lambda t: subtask(t, pid)["rows_received"] > 0, "the victim's partition under way")
    victim.kill()
    cluster.write("db.t", 300)  # written while it is dead
    # the same endpoint and datadir: it resumes from its persisted progress
    collector(procs, tmp_path, cluster, zk_hosts, TABLETS[0], port=victim.port, extra=SMALL_PACKS).start()
    want = truth_rows(cluster, "db.t")
    wait_rows(s, "db.t", count(want), timeout=60)
    assert dataset_rows(dest) == want
    verify_ok(s, "db.t")


def test_a_second_synctool_works_and_takes_over_from_a_killed_leader(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="ssd"))
    cluster.write("db.t", 400)
    cluster.snapshot("db.t")
    cluster.write("db.t", 200)
    collectors = start_collectors(procs, tmp_path, cluster, zk_hosts)
    leader = leading_synctool(procs, tmp_path, zk_hosts)
    standby = synctool(procs, tmp_path, zk_hosts)
    wait_until(lambda: standby.api("GET", "/api/v1/status")[1]["leader"] == leader.endpoint, 20, "standby")
    assert not standby.leading()
    dest = tmp_path / "out"
    code, body = standby.api("POST", "/api/v1/tasks", {"name": "db.t", "dest": str(dest)})
    assert code == 400 and leader.endpoint in body["error"], body
    created = create_task(leader, "db.t", str(dest), mode="continuous")
    wait_rows(leader, "db.t", 1)
    cluster.write("db.t", 100)
    leader.kill()
    killed = time.monotonic()
    wait_until(standby.leading, 20, f"the standby leads\n{standby.log_tail()}")
    took = time.monotonic() - killed
    assert took < 2 * 4.0 + 2.0, took  # about 2× the session timeout (4 s) at most
    cluster.write("db.t", 100)
    want = truth_rows(cluster, "db.t")
    task = wait_rows(standby, "db.t", count(want))
    assert all_running(task)
    assert {p["collector"] for p in task["subtasks"]} <= {c.endpoint for c in collectors}
    assert dataset_rows(dest) == want
    verify_ok(standby, "db.t")

    # the journal tells the story, each change with its reason: every subtask assigned at create by
    # the first leader, spread over both synctools; the dead leader's own then moved by the new one
    # (worker_lost, its state unchanged), the standby's left where they were
    journal = events(standby, created["tid"])
    assert all(e["reason"] and e["reason"] != "(no reason given)" for e in journal), journal
    assigned = re.compile(r"(created|worker_lost): (?:.+; )?assigned to (\S+) → (\S+) from .+")
    collector_eps = {c.endpoint for c in collectors}
    workers = set()
    for pid in (0, 1):
        mine = [e for e in journal if e["pid"] == pid]
        first = assigned.fullmatch(mine[0]["reason"])
        assert mine[0]["by"] == leader.endpoint and first is not None and first[1] == "created", mine
        assert first[2] in collector_eps and first[3] in {leader.endpoint, standby.endpoint}, mine
        workers.add(first[3])
        moved = [
            e for e in mine if e["reason"].startswith("worker_lost: ") and assigned.fullmatch(e["reason"])
        ]
        if first[3] == leader.endpoint:
            m = assigned.fullmatch(moved[0]["reason"]) if moved else None
            assert m is not None and m[3] == standby.endpoint and moved[0]["by"] == standby.endpoint, mine
            assert moved[0]["old"] == moved[0]["new"] in ("INIT", "RUNNING"), moved
        else:
            assert not moved, mine
    assert workers == {leader.endpoint, standby.endpoint}  # both synctools did work


# -- faults that may pass ----------------------------------------------------------------------------


def test_unwritable_destination_fails_with_its_cause_then_retry_completes(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 300)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    # a short retry budget: the test waits for FAILED
    s = leading_synctool(procs, tmp_path, zk_hosts, extra_synctool="max_retries = 2")
    dest = tmp_path / "out"
    task = create_task(s, "db.t", str(dest), mode="continuous")
    wait_rows(s, "db.t", 300)
    # tests run as root, so chmod would not stop a write: put plain files where the partitions'
    # directories were (listing them fails too, as with a destination that is down)
    aside = tmp_path / "aside"
    aside.mkdir()
    for pid in (0, 1):
        (dest / f"pid={pid}").rename(aside / f"pid={pid}")
        (dest / f"pid={pid}").write_text("not a directory\n")
    cluster.write("db.t", 200)
    failed = wait_task(s, "db.t", lambda t: {p["state"] for p in t["subtasks"]} == {"FAILED"}, "FAILED", 60)
    assert failed["state"] == "FAILED"
    for p in failed["subtasks"]:
        assert p["state"] == "FAILED" and p["cause"] == "destination", p
        assert str(dest) in p["last_error"] and "pid=" in p["last_error"], p
    journal = events(s, task["tid"])
    for pid in (0, 1):
        mine = [(e["new"], e["reason"].split(":")[0]) for e in journal if e["pid"] == pid]
        assert ("REASSIGNING", "destination") in mine, mine  # retried first, within the budget
        assert mine[-1] == ("FAILED", "destination"), mine
    # FAILED and its cause are in ZooKeeper: a new leader shows them, though the destination is
    # still broken (it cannot reconcile with it yet)
    s.kill()
    s = leading_synctool(procs, tmp_path, zk_hosts, port=s.port, extra_synctool="max_retries = 2")
    after = get_task(s, "db.t")
    assert after is not None, s.log_tail()
    assert {(p["state"], p["cause"]) for p in after["subtasks"]} == {("FAILED", "destination")}, after
    # fixed: the directory is back; an explicit retry continues from the committed points
    for pid in (0, 1):
        (dest / f"pid={pid}").unlink()
        (aside / f"pid={pid}").rename(dest / f"pid={pid}")
    code, body = s.api("POST", "/api/v1/tasks/db.t/retry", {})
    assert code == 200 and sorted(body["retried"]) == [0, 1], body
    want = truth_rows(cluster, "db.t")
    task = wait_rows(s, "db.t", count(want))
    wait_task(s, "db.t", all_running, "RUNNING again")
    assert dataset_rows(dest) == want
    verify_ok(s, "db.t")


def test_silent_collector_is_reassigned_and_the_sync_resumes(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 300)
    silent, _other = start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    dest = tmp_path / "out"
    task = create_task(s, "db.t", str(dest), mode="continuous")
    wait_rows(s, "db.t", 300)
    pid = next(p for p, leader, _ in cluster.iter_partitions("db.t") if leader == TABLETS[0])
    silent.pause()  # alive, port open, but it answers nothing and sends nothing
    try:
        cluster.write("db.t", 150)
        wait_task(s, "db.t", lambda t: subtask(t, pid)["state"] == "REASSIGNING", "REASSIGNING", 30)
    finally:
        silent.resume()
    want = truth_rows(cluster, "db.t")
    done = wait_rows(s, "db.t", count(want), timeout=60)
    done = wait_task(s, "db.t", all_running, "RUNNING again")
    assert subtask(done, pid)["state"] == "RUNNING"
    causes = [e["reason"] for e in events(s, task["tid"]) if e["pid"] == pid and e["new"] == "REASSIGNING"]
    assert causes and causes[0].startswith("collector_silent"), causes
    assert dataset_rows(dest) == want
    verify_ok(s, "db.t")


# -- faults that cannot pass ---------------------------------------------------------------------------


def test_dropped_table_fails_its_task_and_failed_survives_a_restart(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 300)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    dest = tmp_path / "out"
    create_task(s, "db.t", str(dest), mode="continuous")
    wait_rows(s, "db.t", 300)
    want = truth_rows(cluster, "db.t")
    cluster.drop_table("db.t")
    # the task reads FAILED from its first FAILED subtask on; the others follow in the same pass
    failed = wait_task(
        s,
        "db.t",
        lambda t: t["state"] == "FAILED" and all(p["state"] == "FAILED" for p in t["subtasks"]),
        "every subtask FAILED",
        30,
    )
    assert {(p["state"], p["cause"]) for p in failed["subtasks"]} == {("FAILED", "table_dropped")}
    assert dataset_rows(dest) == want  # what was synced before the drop stays, exactly
    s.kill()
    s = leading_synctool(procs, tmp_path, zk_hosts, port=s.port)
    after = get_task(s, "db.t")
    assert after is not None, s.log_tail()
    assert after["state"] == "FAILED" and after["rows"] == failed["rows"]
    assert {(p["state"], p["cause"]) for p in after["subtasks"]} == {("FAILED", "table_dropped")}
    verify_ok(s, "db.t")


def test_binlog_gap_fails_the_subtask_with_its_cause(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 200)
    first, _other = start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    create_task(s, "db.t", str(tmp_path / "out"), mode="continuous")
    wait_rows(s, "db.t", 200)
    pid = next(p for p, leader, _ in cluster.iter_partitions("db.t") if leader == TABLETS[0])
    code, _took = first.terminate()
    assert code == 0
    # while the collector is away the tablet writes several binlog files, snapshots and purges them
    cluster.write("db.t", 1500)
    cluster.snapshot("db.t", purge_binlogs=True)
    cluster.write("db.t", 50)
    collector(procs, tmp_path, cluster, zk_hosts, TABLETS[0], port=first.port).start()
    task = wait_task(s, "db.t", lambda t: subtask(t, pid)["state"] == "FAILED", "FAILED", 40)
    p = subtask(task, pid)
    assert p["cause"] == "binlog_gap", p
    # the missing range starts where the partition's committed rows end
    assert (
        p["last_error"].startswith(f"binlog entries {p['committed']['offset']}..")
        and " gone" in p["last_error"]
    ), p
    assert task["state"] == "FAILED"  # one failed partition fails the table task


# -- refused up front -----------------------------------------------------------------------------------


def test_create_is_refused_without_an_answering_collector_on_a_host(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 50)
    start_collectors(procs, tmp_path, cluster, zk_hosts, tablets=TABLETS[:1])
    s = leading_synctool(procs, tmp_path, zk_hosts)
    dest = tmp_path / "out"
    missing = TABLETS[1].split(":")[0]
    code, body = s.api("POST", "/api/v1/tasks", {"name": "db.t", "dest": str(dest)})
    assert code >= 400 and missing in body["error"], body
    assert get_task(s, "db.t") is None
    # a collector registered on that host that never answers: its port accepts, nothing replies
    with socket.socket() as mute:
        mute.bind((missing, 0))
        mute.listen(16)
        endpoint = f"{missing}:{mute.getsockname()[1]}"
        cluster.zk.create(
            ZkPaths(cluster.config.zk_root).collector(endpoint),
            endpoint.encode(),
            ephemeral=True,
            makepath=True,
        )
        code, body = s.api("POST", "/api/v1/tasks", {"name": "db.t", "dest": str(dest)})
    assert code >= 400 and missing in body["error"] and endpoint in body["error"], body
    assert get_task(s, "db.t") is None
    assert not list(dest.glob("pid=*/*"))
