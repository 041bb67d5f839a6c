"""End to end to a real HDFS (MiniDFSCluster on loopback) with real processes: the sandbox's
tablets, a collector per host, synctools writing through hdfs-native.

Every test compares what HDFS holds with the sandbox's truth as a multiset of rows per partition:
nothing missing, nothing twice — also across kill -9 of the synctool, a NameNode stopped and
restarted mid-sync, and a destination the synctool may not write until the operator fixes it.
The FULL sync of a memory and a disk table is ``test_synctool_e2e``'s, run to local disk and HDFS.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from helpers.cli import omsync
from helpers.e2e import (
    Rows,
    Trickle,
    count,
    create_task,
    csv_truth_lines,
    destination_rows,
    events,
    get_task,
    leading_synctool,
    memory_table_with_collectors,
    mixed_table,
    read_dataset,
    sandbox,
    start_collectors,
    table_rows,
    truth_rows,
    verify_ok,
    wait_rows,
    wait_state,
    wait_task,
)
from helpers.waiting import wait_until

from omsync_tui.openmldb.hashing import partition_of
from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.services.sinks.destination import open_destination

pytestmark = pytest.mark.hdfs

KILL_TRIALS = int(os.environ.get("OMSYNC_HDFS_KILL_TRIALS", "5"))


def count_all(cluster: Any) -> int:
    return count(truth_rows(cluster, "db.t"))


def hdfs_fs(url: str) -> tuple[pafs.FileSystem, str]:
    """omsync's own HDFS filesystem (hdfs-native) and the path of ``url`` inside it, to read back."""
    dest = open_destination(url)
    return dest.fs, dest.root


def hdfs_csv_lines(url: str) -> Rows:
    fs, root = hdfs_fs(url)
    out: Rows = {}
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        parent = info.path.rsplit("/", 2)[-2]
        if info.is_file and info.base_name.endswith(".csv") and parent.startswith("pid="):
            with fs.open_input_stream(info.path) as f:
                out.setdefault(int(parent[4:]), Counter()).update(f.read().decode().splitlines())
    return out


def test_csv_to_hdfs_holds_the_original_synctools_lines(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], hdfs_url: str
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="ssd", rows=300, then=100)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    create_task(s, "db.t", hdfs_url, mode="full", format="csv")
    wait_state(s, "db.t", "SUCCEEDED")
    assert hdfs_csv_lines(hdfs_url) == csv_truth_lines(cluster, "db.t")
    verify_ok(s, "db.t")


def test_continuous_to_hdfs_with_add_column_and_deletes_while_the_sandbox_writes(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], hdfs_url: str
) -> None:
    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 200)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    create_task(s, "db.t", hdfs_url, mode="continuous", deletes=True)

    with Trickle(cluster, "db.t", 20) as writing:
        wait_rows(s, "db.t", 400)
        writing.stop()
        cluster.add_column("db.t", Column("extra", ColumnType.STRING))
        cluster.write("db.t", 150)  # rows of schema version 2
        st = cluster.table("db.t")
        tail = [r for rows in cluster.expected_full_sync("db.t").values() for r in rows[-20:]]
        keys = sorted({r.pk for r in tail})[:3]
        deleted = {(partition_of(k, st.spec.partition_num), cluster.delete("db.t", k), k) for k in keys}
        cluster.write("db.t", 30)
    want = truth_rows(cluster, "db.t")
    wait_rows(s, "db.t", count(want))
    fs, root = hdfs_fs(hdfs_url)
    table = read_dataset(root, fs)
    assert table.column_names[-2:] == ["extra", "pid"]
    assert table_rows(table) == want  # older rows read back with NULL in the new column

    def forwarded() -> set[tuple[int, int, str]]:
        out = set()
        for info in fs.get_file_info(pafs.FileSelector(f"{root}/_omsync/deletes", recursive=True)):
            if info.is_file and info.base_name.endswith(".parquet"):
                pid = int(info.path.rsplit("/", 2)[-2][4:])
                with fs.open_input_file(info.path) as f:
                    for row in pq.read_table(f).to_pylist():
                        out.add((pid, int(row["log_index"]), row["key"].decode()))
        return out

    wait_until(lambda: forwarded() == deleted, 30, f"deletes {deleted} forwarded")
    verify_ok(s, "db.t")


@pytest.mark.parametrize("mode", ["full", "continuous"])
def test_kill_9_of_the_synctool_writing_to_hdfs_loses_and_repeats_nothing(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], hdfs_url: str, mode: str
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="memory")
    scale = 4 if mode == "full" else 1  # FULL ends by itself: enough rows that kills land mid-sync
    cluster.write("db.t", 3000 * scale)
    cluster.snapshot("db.t")
    cluster.write("db.t", 1000 * scale)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    # small files: a kill lands between renames and stored points, not after the whole sync
    small = "roll_rows = 300"
    s = leading_synctool(procs, tmp_path, zk_hosts, extra_sink=small)
    create_task(s, "db.t", hdfs_url, mode=mode)
    rng = random.Random(f"hdfs-kill-{mode}")
    trials = KILL_TRIALS if mode == "continuous" else max(2, KILL_TRIALS // 2)
    mid_sync = 0
    for _ in range(trials):
        if mode == "continuous":
            cluster.write("db.t", rng.randint(100, 400))
        time.sleep(rng.uniform(0.0, 1.5))  # a random moment of the sync, not a condition
        before = get_task(s, "db.t")
        behind = before is not None and before["rows"] < count_all(cluster)
        mid_sync += behind and before is not None and before["state"] == "RUNNING"
        s.kill()
        s = leading_synctool(procs, tmp_path, zk_hosts, port=s.port, extra_sink=small)
    assert mid_sync >= 1, "no kill landed while rows were still to be written"
    want = truth_rows(cluster, "db.t")
    if mode == "full":
        wait_state(s, "db.t", "SUCCEEDED", 120)
    else:
        wait_rows(s, "db.t", count(want), 120)
    assert destination_rows(hdfs_url) == want
    verify_ok(s, "db.t")


def test_namenode_down_for_20_s_mid_sync_then_the_subtasks_recover_by_themselves(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], hdfs_server: Any, hdfs_url: str
) -> None:
    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 300)
    # a retry budget that outlasts 20 s of outage: 0.5, 1, 2, 4, 8, 16 s of backoff
    s = leading_synctool(procs, tmp_path, zk_hosts, extra_synctool="max_retries = 8")
    create_task(s, "db.t", hdfs_url, mode="continuous")
    wait_rows(s, "db.t", 300)
    hdfs_server.stop_namenode()
    try:
        cluster.write("db.t", 200)
        wait_task(
            s,
            "db.t",
            lambda t: any(p["state"] == "REASSIGNING" or p["retries"] > 0 for p in t["subtasks"]),
            "a subtask notices the NameNode is gone",
            60,
        )
        time.sleep(20)  # the outage the test is about: 20 s, by the clock
    finally:
        hdfs_server.restart_namenode()
    want = truth_rows(cluster, "db.t")
    task = wait_rows(s, "db.t", count(want), 120)
    assert {p["state"] for p in task["subtasks"]} == {"RUNNING"}, task
    assert destination_rows(hdfs_url) == want
    verify_ok(s, "db.t")


def test_permission_denied_fails_with_its_cause_then_retry_after_the_fix_completes(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], hdfs_server: Any, hdfs_url: str
) -> None:
    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 300)
    base = "/" + hdfs_url.split("/", 3)[3]
    hdfs_server.mkdir(f"{base}/t", "etl", 0o755)
    # the synctool writes as HDFS user "etl", who owns the directory
    s = leading_synctool(
        procs, tmp_path, zk_hosts, extra_synctool="max_retries = 1", env={"HADOOP_USER_NAME": "etl"}
    )
    url = f"{hdfs_url}/t"
    task = create_task(s, "db.t", url, mode="continuous")
    wait_rows(s, "db.t", 300)
    hdfs_server.chown(f"{base}/t/pid=0", "root")  # an operator's mistake: etl may not write pid=0
    cluster.write("db.t", 200)
    failed = wait_task(s, "db.t", lambda t: t["state"] == "FAILED", "FAILED", 60)
    bad = next(p for p in failed["subtasks"] if p["pid"] == 0)
    assert bad["state"] == "FAILED" and bad["cause"] == "destination", bad
    assert "permission denied" in bad["last_error"] and "user=etl" in bad["last_error"], bad
    assert f"{base}/t/pid=0" in bad["last_error"], bad
    journal = [e for e in events(s, task["tid"]) if e["pid"] == 0]
    assert journal[-1]["new"] == "FAILED", journal
    hdfs_server.chown(f"{base}/t/pid=0", "etl")  # fixed
    code, body = s.api("POST", "/api/v1/tasks/db.t/retry", {})
    assert code == 200 and body["retried"] == [0], body
    want = truth_rows(cluster, "db.t")
    wait_rows(s, "db.t", count(want), 60)
    assert destination_rows(url) == want
    verify_ok(s, "db.t")


def test_create_against_an_unreachable_namenode_is_refused_within_seconds(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    from omsync_tui.sandbox.jvm.zkserver import free_port

    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="memory")
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    url = f"hdfs://127.0.0.1:{free_port()}/offline/t"
    began = time.monotonic()
    code, body = s.api("POST", "/api/v1/tasks", {"name": "db.t", "dest": url})
    took = time.monotonic() - began
    assert took < 30, f"{took:.1f} s"
    assert code >= 400 and url in body["error"], body
    assert "no NameNode answered" in body["hint"], body
    assert get_task(s, "db.t") is None


def test_a_bare_path_goes_to_fs_default_fs_and_task_create_and_doctor_say_so(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], hdfs_server: Any, hdfs_url: str
) -> None:
    import json

    conf = tmp_path / "hadoop"
    conf.mkdir()
    (conf / "core-site.xml").write_text(
        "<configuration><property><name>fs.defaultFS</name>"
        f"<value>{hdfs_server.url}</value></property></configuration>\n"
    )
    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 200)
    # as synctool_helper.py create -d /path does with the original: the synctool's Hadoop config decides
    s = leading_synctool(procs, tmp_path, zk_hosts, extra=f'[hdfs]\nhadoop_conf_dir = "{conf}"\n')
    path = "/" + hdfs_url.split("/", 3)[3] + "/bare"

    out = omsync(
        "task", "create", "db.t", "--dest", path, "--mode", "full", "--synctool", s.endpoint, "--yes"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    url = f"{hdfs_server.url}{path}"
    assert f"destination {url} (a bare path: fs.defaultFS {hdfs_server.url} from {conf}" in out.stderr
    assert url in out.stdout  # created db.t … → hdfs://…
    task = wait_state(s, "db.t", "SUCCEEDED")
    assert task["dest"] == url and destination_rows(url) == truth_rows(cluster, "db.t")

    env = {k: v for k, v in os.environ.items() if not k.startswith("OMSYNC_")} | {
        "HADOOP_CONF_DIR": str(conf)
    }
    doc = omsync("doctor", "--zk", zk_hosts, "--dest", path + "-doctor", "-o", "json", env=env)
    checks = {c["name"]: c for c in json.loads(doc.stdout)["checks"]}
    here = checks["destination (write from this host)"]
    assert here["status"] == "ok" and f"{url}-doctor" in here["detail"] and "fs.defaultFS" in here["detail"]
    there = checks["destination (synctool)"]
    assert there["status"] == "ok" and f"→ {url}-doctor" in there["detail"], there
