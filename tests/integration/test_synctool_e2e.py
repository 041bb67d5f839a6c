"""End to end with real processes: ZooKeeper, sandbox tablets, a collector per host, synctools.

The Parquet dataset read back must equal the sandbox's ground truth exactly (the same multiset of
rows per partition): nothing missing, nothing twice — also across kill -9 of the synctool.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import omsync
from helpers.e2e import (
    count,
    create_task,
    dataset_rows,
    destination_names,
    destination_rows,
    get_task,
    leading_synctool,
    memory_table_with_collectors,
    mixed_table,
    sandbox,
    start_collectors,
    synctool,
    truth_rows,
    verify_ok,
    wait_state,
)
from helpers.synctoolproc import SynctoolProcess
from helpers.waiting import wait_until


@pytest.mark.parametrize("where", ["local", pytest.param("hdfs", marks=pytest.mark.hdfs)])
def test_full_sync_of_a_memory_and_a_disk_table_equals_truth(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], where: str, request: pytest.FixtureRequest
) -> None:
    base = str(tmp_path / "out") if where == "local" else request.getfixturevalue("hdfs_url")
    cluster = sandbox(tmp_path, zk, zk_hosts)
    for name, storage in (("db.mem", "memory"), ("db.disk", "ssd")):
        mixed_table(cluster, name, partitions=4, storage=storage, rows=500, then=200)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    for name in ("db.mem", "db.disk"):
        url = f"{base}/{name}"
        create_task(s, name, url, mode="full")
        task = wait_state(s, name, "SUCCEEDED")
        assert task["dest"] == url
        assert destination_rows(url) == truth_rows(cluster, name), name
        assert task["rows"] == count(truth_rows(cluster, name))
        names = destination_names(url)
        assert "table.json" in names and not [n for n in names if n.startswith("_tmp-")], names
        verify_ok(s, name)
    code, body = s.api("POST", "/api/v1/tasks", {"name": "db.mem", "dest": str(tmp_path / "x")})
    assert code == 400 and "already exists" in body["error"]


def rows_committed(s: SynctoolProcess) -> int:
    code, body = s.api("GET", "/api/v1/tasks/db.t")
    return int(body["task"]["rows"]) if code == 200 else -1


def test_continuous_sync_survives_kill_9_of_the_synctool(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="memory", rows=400, then=200)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = synctool(procs, tmp_path, zk_hosts)
    wait_until(s.leading, 20, "leader")
    dest = tmp_path / "out"
    code, body = s.api("POST", "/api/v1/tasks", {"name": "db.t", "dest": str(dest), "mode": "continuous"})
    assert code == 201, body
    rng = random.Random(7)
    for _ in range(3):
        cluster.write("db.t", rng.randint(50, 150))
        wait_until(lambda s=s: rows_committed(s) > 0, 30, "some rows")
        s.kill()
        s = synctool(procs, tmp_path, zk_hosts, port=s.port)
        wait_until(s.leading, 30, "the restarted synctool leads")
    want = truth_rows(cluster, "db.t")
    total = sum(sum(c.values()) for c in want.values())
    wait_until(lambda: rows_committed(s) >= total, 60, "all rows committed")
    assert dataset_rows(dest) == want
    code, verify = s.api("GET", "/api/v1/tasks/db.t/verify")
    assert verify["ok"], verify


def test_a_follower_answers_reads_from_zookeeper_and_refuses_writes(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 120)
    leader = synctool(procs, tmp_path, zk_hosts)
    wait_until(leader.leading, 20, "leader")
    follower = synctool(procs, tmp_path, zk_hosts)
    code, body = leader.api("POST", "/api/v1/tasks", {"name": "db.t", "dest": str(tmp_path / "out")})
    assert code == 201, body
    wait_state(leader, "db.t", "SUCCEEDED")
    code, body = follower.api("GET", "/api/v1/tasks")
    assert code == 200 and [t["name"] for t in body["tasks"]] == ["db.t"]
    assert body["tasks"][0]["state"] == "SUCCEEDED" and body["tasks"][0]["rows"] == 120
    code, body = follower.api("GET", "/api/v1/status")
    assert body["role"] == "follower" and body["leader"] == leader.endpoint
    code, body = follower.api("DELETE", "/api/v1/tasks/db.t")
    assert code == 400 and leader.endpoint in body["error"]


def test_rows_received_but_not_committed_show_as_lag(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    """A continuous task whose rows wait for their commit: lag in offsets and seconds, the rows
    apart from the committed ones, rows received — in the API, the CLI, /status and /metrics."""
    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 120)
    s = leading_synctool(procs, tmp_path, zk_hosts, commit_seconds=3600)
    create_task(s, "db.t", str(tmp_path / "out"), mode="continuous")
    want = count(truth_rows(cluster, "db.t"))
    wait_until(lambda: (get_task(s, "db.t") or {}).get("rows_received") == want, 30, "every row received")
    time.sleep(1.2)
    task = get_task(s, "db.t")
    assert task is not None
    assert task["rows"] == 0 and task["uncommitted_rows"] == want
    assert task["lag_offsets"] >= want and task["lag_s"] >= 1.0, task
    for sub in task["subtasks"]:
        assert sub["uncommitted_rows"] > 0 and sub["lag_s"] >= 1.0 and sub["lag_offsets"] > 0, sub
    shown = omsync("task", "status", "--synctool", s.endpoint, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    (listed,) = json.loads(shown.stdout)["tasks"]
    assert listed["uncommitted_rows"] == want and listed["rows_received"] == want and listed["lag_s"] >= 1.0
    table = omsync("task", "status", "--synctool", s.endpoint)
    assert f"{task['lag_offsets']:,} · " in table.stdout, table.stdout  # offsets · seconds
    code, status = s.get("/status")
    assert code == 200 and f"uncommitted_rows={want}" in status, status
    code, metrics = s.get("/metrics")
    assert code == 200 and 'omsync_synctool_lag_seconds{pid="0",table="db.t"}' in metrics, metrics
    assert 'omsync_synctool_uncommitted_rows{pid="0",table="db.t"}' in metrics
