"""End to end into an Iceberg table (SQLite catalog) with real processes: the sandbox's tablets,
a collector per host, synctool subprocesses committing through pyiceberg; the warehouse on local
disk and on the loopback HDFS.

Every test reads the table back with pyiceberg (the current snapshot, whole) and compares it
with the sandbox's truth as a multiset of rows per partition: nothing missing, nothing twice —
also across kill -9 of the synctool and an ALTER TABLE ADD COLUMN mid-sync.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from helpers.cli import omsync
from helpers.e2e import (
    Rows,
    Trickle,
    count,
    create_task,
    get_task,
    leading_synctool,
    memory_table_with_collectors,
    mixed_table,
    sandbox,
    start_collectors,
    synctool,
    table_rows,
    truth_rows,
    verify_ok,
    wait_rows,
    wait_state,
)
from helpers.waiting import wait_until

from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.services.sinks.destination import open_destination
from omsync_tui.services.sinks.iceberg import table as iceberg

KILL_TRIALS = int(os.environ.get("OMSYNC_ICEBERG_KILL_TRIALS", "5"))


def iceberg_uri(tmp_path: Path, warehouse: str, table: str = "off.t") -> str:
    return f"iceberg://{table}?uri=sqlite:///{tmp_path}/catalog.db&warehouse={warehouse}"


def iceberg_table(uri: str) -> pa.Table:
    """The table's current snapshot, read by pyiceberg."""
    t = iceberg.table_of(open_destination(uri)).load()
    assert t is not None, f"no table at {uri}"
    return t.scan().to_arrow()


def iceberg_rows(uri: str) -> Rows:
    """The table's rows as ``table_rows`` compares them: ``omsync_pid`` as the partition, the
    timestamps back in OpenMLDB's milliseconds."""
    table = iceberg_table(uri)
    pid = table.column("omsync_pid")
    table = table.drop_columns(["omsync_pid"])
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.timestamp("ms")))
    return table_rows(table.append_column("pid", pid))


@pytest.mark.parametrize(
    ("mode", "extra"), [("full", ""), ("continuous", ""), ("full", "&partition=day(ts)")]
)
def test_sync_to_an_iceberg_table_on_local_disk_holds_the_truth(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], mode: str, extra: str
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="memory", rows=400, then=200)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts, extra_sink="roll_rows = 150")
    uri = iceberg_uri(tmp_path, f"file://{tmp_path}/wh") + extra
    create_task(s, "db.t", uri, mode=mode)
    if mode == "full":
        wait_state(s, "db.t", "SUCCEEDED")
    else:
        cluster.write("db.t", 100)
        wait_rows(s, "db.t", count(truth_rows(cluster, "db.t")))
    assert iceberg_rows(uri) == truth_rows(cluster, "db.t")
    t = iceberg.table_of(open_destination(uri)).load()
    assert t is not None and t.properties["omsync.source"] == "db.t"
    assert [f.name for f in t.spec().fields] == ["omsync_pid"] + (["ts_day"] if extra else [])
    verify_ok(s, "db.t")


def test_continuous_commits_are_compacted_in_the_synctool_and_the_rows_stay(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 40)
    s = leading_synctool(procs, tmp_path, zk_hosts, commit_seconds=0.2)
    uri = iceberg_uri(tmp_path, f"file://{tmp_path}/wh") + "&compact_files=3"
    create_task(s, "db.t", uri, mode="continuous")
    for _ in range(12):  # a commit per partition per round, at least
        cluster.write("db.t", 30)
        wait_rows(s, "db.t", count(truth_rows(cluster, "db.t")))
    assert iceberg_rows(uri) == truth_rows(cluster, "db.t")
    table = iceberg.table_of(open_destination(uri))
    loaded = table.load()
    assert loaded is not None
    summaries = [snap.summary for snap in loaded.snapshots() if snap.summary is not None]
    compactions = [x for x in summaries if x.get("omsync.compacted_pid") is not None]
    commits = [x for x in summaries if x.get("omsync.pid") is not None]
    assert compactions, "no compaction ran"
    for pid in (0, 1):
        files = table.pid_files(loaded, pid).files
        mine = [x for x in commits if x.get("omsync.pid") == str(pid)]
        assert files < len(mine) and files <= 3, (pid, files, len(mine))
    verify_ok(s, "db.t")


def test_add_column_mid_sync_evolves_the_table_and_old_rows_read_null(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 200)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    uri = iceberg_uri(tmp_path, f"file://{tmp_path}/wh")
    # through the CLI, as a person would
    out = omsync(
        "task",
        "create",
        "db.t",
        "--dest",
        uri,
        "--mode",
        "continuous",
        "--deletes",
        "--synctool",
        s.endpoint,
        "--yes",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    with Trickle(cluster, "db.t", 20):
        wait_rows(s, "db.t", 300)
    cluster.add_column("db.t", Column("extra", ColumnType.STRING))
    cluster.write("db.t", 150)  # rows of schema version 2
    want = truth_rows(cluster, "db.t")
    wait_rows(s, "db.t", count(want))
    table = iceberg_table(uri)
    assert table.column_names[-1] == "extra"
    assert iceberg_rows(uri) == want  # older rows read back with NULL in the new column
    verify_ok(s, "db.t")
    checked = omsync("task", "verify", "db.t", "--synctool", s.endpoint, "-o", "json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)["verify"]
    assert report["ok"] and sum(p["rows"] for p in report["partitions"]) == count(want), report


def test_a_table_with_another_schema_is_refused_at_task_create(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 10)
    uri = iceberg_uri(tmp_path, f"file://{tmp_path}/wh")
    iceberg.table_of(open_destination(uri)).ensure([Column("c1", ColumnType.INT)], "db.other", 1)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    code, body = s.api("POST", "/api/v1/tasks", {"name": "db.t", "dest": uri, "mode": "full"})
    assert code >= 400, body
    text = body["error"] + " " + str(body.get("hint"))
    assert "has another schema" in text, text
    assert "column c1 (int) OpenMLDB's table has not" in text, text
    assert "alter the Iceberg table" in text, text
    code, listed = s.api("GET", "/api/v1/tasks")
    assert code == 200 and listed["tasks"] == [], listed  # nothing was stored
    assert cluster.table("db.t") is not None


def kill_trials(tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], warehouse: str) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="memory", rows=2000, then=500)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    # small files, frequent commits: a kill lands between a table commit and its stored point
    small = "roll_rows = 200"
    s = leading_synctool(procs, tmp_path, zk_hosts, extra_sink=small, commit_seconds=0.5)
    uri = iceberg_uri(tmp_path, warehouse)
    create_task(s, "db.t", uri, mode="continuous")
    rng = random.Random("iceberg-kill")
    mid_sync = 0
    for _ in range(KILL_TRIALS):
        cluster.write("db.t", rng.randint(100, 400))
        time.sleep(rng.uniform(0.0, 1.2))  # a random moment of the sync, not a condition
        before = get_task(s, "db.t")
        mid_sync += before is not None and before["rows"] < count(truth_rows(cluster, "db.t"))
        s.kill()
        s = leading_synctool(procs, tmp_path, zk_hosts, port=s.port, extra_sink=small, commit_seconds=0.5)
    assert mid_sync >= 1, "no kill landed while rows were still to be written"
    want = truth_rows(cluster, "db.t")
    wait_rows(s, "db.t", count(want), 120)
    assert iceberg_rows(uri) == want
    verify_ok(s, "db.t")


@pytest.mark.hdfs
def test_kill_9_with_the_warehouse_on_hdfs_loses_and_repeats_nothing(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], hdfs_url: str
) -> None:
    kill_trials(tmp_path, zk, zk_hosts, procs, hdfs_url)


@pytest.mark.hdfs
def test_full_sync_with_the_warehouse_on_hdfs_holds_the_truth(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], hdfs_url: str
) -> None:
    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 500)
    s = leading_synctool(procs, tmp_path, zk_hosts, extra_sink="roll_rows = 200")
    uri = iceberg_uri(tmp_path, hdfs_url)
    create_task(s, "db.t", uri, mode="full")
    wait_state(s, "db.t", "SUCCEEDED")
    assert iceberg_rows(uri) == truth_rows(cluster, "db.t")
    t = iceberg.table_of(open_destination(uri)).load()
    assert t is not None and t.location().startswith(hdfs_url)
    assert t.metadata_location.startswith(hdfs_url)
    verify_ok(s, "db.t")


def test_two_synctools_commit_to_one_table_and_a_killed_worker_s_partitions_move(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    # scale-out onto one Iceberg table: both synctools commit to it (conflicts retried), then one
    # dies with files open and its partitions go on from the table's recorded ranges
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=4, storage="memory", rows=800)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    small = "roll_rows = 100"
    first = leading_synctool(procs, tmp_path, zk_hosts, session_timeout_ms=2000, extra_sink=small)
    second = synctool(procs, tmp_path, zk_hosts, session_timeout_ms=2000, extra_sink=small)
    wait_until(lambda: len(first.api("GET", "/api/v1/synctools")[1]["synctools"]) == 2, 20, "2 synctools")
    uri = iceberg_uri(tmp_path, (tmp_path / "wh").as_uri())
    create_task(first, "db.t", uri, mode="continuous")

    def workers() -> set[str]:
        task = get_task(first, "db.t") or {}
        return {p["worker"] for p in task.get("subtasks", []) if p["state"] == "RUNNING"}

    wait_until(lambda: workers() == {first.endpoint, second.endpoint}, 30, "both synctools write")
    cluster.write("db.t", 400)
    time.sleep(0.7)
    second.kill()
    cluster.write("db.t", 400)
    wait_until(lambda: workers() == {first.endpoint}, 30, "the dead worker's partitions moved")
    want = truth_rows(cluster, "db.t")
    wait_rows(first, "db.t", count(want), 90)
    assert iceberg_rows(uri) == want
    verify_ok(first, "db.t")
