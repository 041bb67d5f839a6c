"""``omsync task`` against real processes: JSON output, exit codes, guarded create and delete."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import omsync
from helpers.collectorproc import CollectorProcess, free_port
from helpers.e2e import create_task, leading_synctool, memory_table_with_collectors, synctool, wait_rows
from helpers.synctoolproc import SynctoolProcess
from helpers.waiting import wait_until

from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.state import SandboxConfig

TABLETS = ("127.0.0.1:10921", "127.0.0.2:10921")


def test_task_commands_end_to_end(tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]) -> None:
    cluster = SandboxCluster.create(tmp_path / "sb", zk, SandboxConfig(zk_hosts))
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 300)
    for tablet in TABLETS:
        host = tablet.split(":")[0]
        roots = tuple(cluster.tablet_root(tablet, s) for s in ("memory", "ssd", "hdd"))
        c = CollectorProcess(
            tmp_path, zk_hosts=zk_hosts, roots=roots, host=host, datadir=tmp_path / f"c-{host}"
        )
        procs.append(c)
        c.start()
    s = SynctoolProcess(tmp_path, zk_hosts=zk_hosts)
    procs.append(s)
    s.start()
    wait_until(s.leading, 20, "leader")
    st = ["--synctool", s.endpoint]
    dest = str(tmp_path / "out")

    out = omsync("task", "create", "db.t", "--dest", dest, "--mode", "full", *st, "-o", "json")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    assert created["schema_version"] == 1 and created["task"]["name"] == "db.t"

    out = omsync("task", "wait", "db.t", "--timeout", "60", *st)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "SUCCEEDED" in out.stdout

    out = omsync("task", "status", *st, "-o", "json")
    assert out.returncode == 0
    (task,) = json.loads(out.stdout)["tasks"]
    assert task["state"] == "SUCCEEDED" and task["rows"] == 300

    out = omsync("task", "verify", "db.t", *st)
    assert out.returncode == 0 and "OK" in out.stdout

    # delete without a TTY and without --yes: refused, nothing changes
    out = omsync("task", "delete", "db.t", *st)
    assert out.returncode == 5 and "300 rows" in out.stderr and "--yes" in out.stderr
    assert omsync("task", "status", "db.t", *st).returncode == 0
    out = omsync("task", "delete", "db.t", "--yes", *st)
    assert out.returncode == 0, out.stderr

    # re-creating onto the same destination names the ranges it would write twice
    out = omsync("task", "create", "db.t", "--dest", dest, *st)
    assert out.returncode == 5
    assert "already holds data" in out.stderr and "--resume-from-dest" in out.stderr and "pid 0" in out.stderr
    out = omsync("task", "create", "db.t", "--dest", dest, "--dry-run", *st)
    assert out.returncode == 5
    cluster.write("db.t", 40)
    out = omsync("task", "create", "db.t", "--dest", dest, "--resume-from-dest", *st)
    assert out.returncode == 0, out.stderr
    assert omsync("task", "wait", "db.t", "--timeout", "60", *st).returncode == 0
    out = omsync("task", "status", "db.t", *st, "-o", "json")
    # the resumed task took over what the destination held and added only the new rows
    assert json.loads(out.stdout)["tasks"][0]["rows"] == 340
    assert omsync("task", "verify", "db.t", *st).returncode == 0

    out = omsync("collector", "list", *st, "-o", "json")
    assert out.returncode == 0
    assert {c["endpoint"] for c in json.loads(out.stdout)["collectors"]} >= {
        p.endpoint for p in procs if isinstance(p, CollectorProcess)
    }

    from omsync_tui.services.cluster import SyncClient

    with SyncClient(s.endpoint) as client:
        (table,) = client.tables()
        assert (table.name, table.partitions, table.storage, table.has_task) == ("db.t", 2, "memory", True)

    # discovery through ZooKeeper instead of --synctool
    out = omsync("task", "status", "--zk", zk_hosts, "-o", "json")
    assert out.returncode == 0, out.stderr


def test_unreachable_synctool_and_usage_errors(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    out = omsync("task", "status", "--synctool", dead)
    assert out.returncode == 4 and dead in out.stderr and "Traceback" not in out.stderr
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMSYNC_SYNCTOOL"}
    out = omsync("task", "status", env=env)
    assert out.returncode == 4 and "--synctool" in out.stderr
    out = omsync("task", "create", "db.t", "--synctool", dead)
    assert out.returncode == 2  # --dest missing


def test_calls_that_change_state_need_the_auth_token(tmp_path: Path, zk_hosts: str, procs: list[Any]) -> None:
    """One check, in the synctool's RpcServer: reads stay open, a missing or wrong token is a 401
    the CLI reports as a usage error (exit 2) saying which call needs it and how to give it."""
    from omsync_tui.core.errors import NotFoundError, UsageError
    from omsync_tui.services.cluster import TOKEN_HINT, SyncClient

    s = SynctoolProcess(tmp_path, zk_hosts=zk_hosts, extra_synctool='auth_token = "s3cret"')
    procs.append(s)
    s.start()
    wait_until(s.leading, 20, "leader")
    st = ["--synctool", s.endpoint]
    dest = str(tmp_path / "out")

    out = omsync("task", "status", *st, "-o", "json")
    assert out.returncode == 0 and json.loads(out.stdout)["tasks"] == []
    out = omsync("task", "create", "db.t", "--dest", dest, *st)
    assert out.returncode == 2
    assert "POST /api/v1/tasks needs the server's auth token; none was sent" in out.stderr
    assert f"hint: {TOKEN_HINT}" in out.stderr
    out = omsync("task", "create", "db.t", "--dest", dest, "--token", "wrong", *st)
    assert out.returncode == 2 and "the token sent does not match" in out.stderr
    out = omsync("task", "create", "db.t", "--dest", dest, "--token", "s3cret", *st)
    # past the check: this ZooKeeper holds no cluster
    assert out.returncode == 1 and "table/db_table_data does not exist" in out.stderr

    with SyncClient(s.endpoint) as client:
        with pytest.raises(
            UsageError, match=re.escape("DELETE /api/v1/tasks/db.t needs the server's auth token")
        ):
            client.delete("db.t")
        with pytest.raises(
            UsageError, match=re.escape("POST /api/v1/tasks/db.t/retry needs the server's auth token")
        ):
            client.retry("db.t")
        assert client.status().role == "leader"
    with SyncClient(s.endpoint, auth_token="s3cret") as client, pytest.raises(NotFoundError, match=r"db\.t"):
        client.delete("db.t")


def test_create_makes_a_relative_destination_absolute_where_it_is_run_and_says_so(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    from helpers.e2e import destination_rows, leading_synctool, memory_table_with_collectors

    memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 50)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    here = tmp_path / "shell"
    here.mkdir()
    st = ["--synctool", s.endpoint]

    out = omsync("task", "create", "db.t", "--dest", "out/t", *st, "-o", "json", cwd=here)
    assert out.returncode == 0, out.stderr
    absolute = str(here / "out" / "t")
    assert f"destination 'out/t' is relative: using {absolute} (from this working directory)" in out.stderr
    assert json.loads(out.stdout)["task"]["dest"] == absolute
    assert omsync("task", "wait", "db.t", "--timeout", "60", *st).returncode == 0
    assert sum(sum(c.values()) for c in destination_rows(absolute).values()) == 50


def test_wait_on_a_continuous_task_returns_once_every_row_written_before_it_is_committed(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    from helpers.e2e import (
        count,
        dataset_rows,
        leading_synctool,
        memory_table_with_collectors,
        truth_rows,
    )

    from omsync_tui.openmldb.hashing import partition_of
    from omsync_tui.sandbox.responder import ClusterResponder

    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 100)
    # files are committed 4 s after their first row: a wait that returned early would show
    s = leading_synctool(procs, tmp_path, zk_hosts, commit_seconds=4)
    st = ["--synctool", s.endpoint]
    dest = tmp_path / "out"
    with ClusterResponder(cluster):  # the tablets answer GetTableStatus, as real ones do
        out = omsync("task", "create", "db.t", "--dest", str(dest), "--mode", "continuous", *st)
        assert out.returncode == 0, out.stderr
        out = omsync("task", "wait", "db.t", "--timeout", "60", *st)
        assert out.returncode == 0, out.stderr
        assert dataset_rows(dest) == truth_rows(cluster, "db.t")

        cluster.write("db.t", 50)
        out = omsync("task", "wait", "db.t", "--timeout", "60", *st)
        assert out.returncode == 0, out.stderr
        assert "partitions have every row written before the wait in committed files" in out.stderr
        assert "RUNNING, 150 rows" in out.stdout
        assert dataset_rows(dest) == truth_rows(cluster, "db.t")

        # rows that cannot be in committed files within the timeout: 124, saying how far it got
        cluster.write("db.t", 20)
        out = omsync("task", "wait", "db.t", "--timeout", "1", *st)
        assert out.returncode == 124, out.stderr
        assert "timed out after 1 s" in out.stderr and "binlog offsets to go" in out.stderr
        assert omsync("task", "wait", "db.t", "--timeout", "60", *st).returncode == 0
        want = truth_rows(cluster, "db.t")
        assert dataset_rows(dest) == want

        # a partition's newest entry is one the collector skips (a delete, not forwarded): no row
        # waits to be committed, so the wait ends though no file (and no commit) follows it
        key = cluster.expected_full_sync("db.t")[0][0].pk
        index = cluster.delete("db.t", key)
        pid = partition_of(key, 2)
        out = omsync("task", "wait", "db.t", "--timeout", "30", *st)
        assert out.returncode == 0, out.stderr
        (sub,) = [p for p in s.api("GET", "/api/v1/tasks/db.t")[1]["task"]["subtasks"] if p["pid"] == pid]
        assert sub["settled"] == {"phase": "binlog", "offset": index + 1}, sub
        assert sub["committed"] == {"phase": "binlog", "offset": index} and sub["uncommitted_rows"] == 0, sub

    # tablets that do not answer are named; the wait then trusts what the collectors reported
    cluster.write("db.t", 10)
    out = omsync("task", "wait", "db.t", "--timeout", "60", *st)
    assert out.returncode == 0, out.stderr
    assert "pid 0: cannot ask its tablet where it stands" in out.stderr
    assert sum(sum(c.values()) for c in dataset_rows(dest).values()) == count(want) + 10


def test_create_wait_shows_a_full_syncs_progress_against_the_tablets_record_counts(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    from helpers.e2e import (
        count,
        dataset_rows,
        leading_synctool,
        memory_table_with_collectors,
        truth_rows,
    )

    from omsync_tui.sandbox.responder import ClusterResponder

    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, 400)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    dest = tmp_path / "out"
    with ClusterResponder(cluster):  # the tablets tell their record counts, as real ones do
        out = omsync(
            "task", "create", "db.t", "--dest", str(dest), "--wait", "--synctool", s.endpoint, "-o", "json"
        )
    assert out.returncode == 0, out.stderr
    assert "created db.t (tid" in out.stderr
    # no terminal here: plain lines (the first one at once), against the tablets' 400 rows
    progress = [ln for ln in out.stderr.splitlines() if ln.startswith("db.t: ")]
    assert progress and all("of ~400 (" in ln and "rows/s" in ln for ln in progress), out.stderr
    assert "\r" not in out.stderr
    task = json.loads(out.stdout)["task"]
    assert task["state"] == "SUCCEEDED" and task["rows"] == count(truth_rows(cluster, "db.t")) == 400
    assert dataset_rows(dest) == truth_rows(cluster, "db.t")


def test_synctools_are_listed_and_each_subtask_names_its_worker(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    """Two synctools: ``omsync synctool list`` shows both with the subtasks each writes, ``task
    status`` names each subtask's worker, and ``/status`` lists the synctools — the same counts."""
    memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, rows=300)
    leader = leading_synctool(procs, tmp_path, zk_hosts)
    other = synctool(procs, tmp_path, zk_hosts)
    endpoints = {leader.endpoint, other.endpoint}

    def listed() -> list[dict[str, Any]]:
        out = omsync("synctool", "list", "--synctool", other.endpoint, "-o", "json")
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["schema_version"] == 1
        return list(doc["synctools"])

    wait_until(
        lambda: {s["endpoint"] for s in listed() if s["heartbeat_age_s"] is not None} == endpoints,
        20,
        lambda: f"both synctools reporting: {listed()}",
    )
    create_task(leader, "db.t", str(tmp_path / "out"), mode="continuous")
    wait_rows(leader, "db.t", 300)
    # every unfinished subtask is assigned, and taken up by its worker (its report says so)
    wait_until(
        lambda: sum(s["held"] for s in listed()) == 2 == sum(s["subtasks"] for s in listed()),
        20,
        lambda: f"both subtasks held: {listed()}",
    )
    found = {s["endpoint"]: s for s in listed()}
    assert {ep: s["role"] for ep, s in found.items()} == {
        leader.endpoint: "leader",
        other.endpoint: "follower",
    }
    assert sum(s["rows_received"] for s in found.values()) == 300
    assert all(s["works"] and s["heartbeat_age_s"] < 10 for s in found.values()), found

    out = omsync("task", "status", "db.t", "--synctool", leader.endpoint, "-o", "json")
    assert out.returncode == 0, out.stderr
    workers = {s["pid"]: s["worker"] for s in json.loads(out.stdout)["tasks"][0]["subtasks"]}
    assert set(workers) == {0, 1} and set(workers.values()) <= endpoints, workers
    for ep, s in found.items():  # the same assignment seen from both sides
        assert s["subtasks"] == sum(1 for w in workers.values() if w == ep), (found, workers)

    out = omsync("task", "status", "db.t", "--synctool", leader.endpoint)
    header, *subtask_lines = out.stdout.splitlines()[-3:]
    assert "WORKER" in header.split(), out.stdout
    for line in subtask_lines:
        pid = int(line.split()[0])
        assert workers[pid] in line.split(), out.stdout

    out = omsync("synctool", "list", "--synctool", leader.endpoint)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:5] == ["ENDPOINT", "ROLE", "VERSION", "SUBTASKS", "HELD"], out.stdout
    assert any(line.split()[:2] == [leader.endpoint, "leader"] for line in lines), out.stdout

    # the daemon's plain /status, asked of the follower: a line per synctool
    code, status = other.get("/status")
    assert code == 200 and "synctools: 2" in status, status
    for ep, s in found.items():
        line = next(line for line in status.splitlines() if line.strip().startswith(ep))
        assert f"{ep} {s['role']} subtasks={s['subtasks']} held=" in line and "heartbeat_age=" in line, status

    out = omsync("synctool", "list", "--synctool", leader.endpoint, "-o", "yaml")
    assert out.returncode == 2 and "--output 'yaml'" in out.stderr and "Traceback" not in out.stderr
