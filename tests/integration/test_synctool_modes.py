"""End to end, real processes: the synctool's modes, formats and destinations.

Each test runs ZooKeeper, the sandbox's tablet files, a collector per tablet host and an
``omsync synctool``, then reads back what the destination holds and compares it with the
sandbox's ground truth, row for row (a multiset per partition): incremental-by-timestamp,
continuous while the sandbox writes, CSV, S3, ALTER TABLE ADD COLUMN, resume from the
destination, forwarded deletes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from helpers.daemonproc import free_port
from helpers.e2e import (
    Trickle,
    as_rows,
    count,
    create_task,
    csv_lines,
    csv_truth_lines,
    dataset_rows,
    get_task,
    leading_synctool,
    mixed_table,
    read_dataset,
    sandbox,
    start_collectors,
    table_rows,
    truth_rows,
    ts_of_row,
    verify_ok,
    wait_rows,
    wait_state,
)
from helpers.waiting import wait_until

from omsync_tui.openmldb.hashing import partition_of
from omsync_tui.openmldb.metadata import read_manifest
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import RowGenerator, preset_spec
from omsync_tui.sandbox.partition import read_journal
from omsync_tui.sandbox.truth import TruthRow

# -- incremental by timestamp --------------------------------------------------------------------


def expected_incremental(cluster: SandboxCluster, name: str, start_ts: int) -> dict[int, list[TruthRow]]:
    """What mode 1 (incremental by timestamp) must copy: the full sync's rows, filtered.

    The rule (reference §1.5, step 4, and the collector's packer): in the snapshot part a disk
    table's row counts by index 0's ts (the ts column; the original iterates index 0), a memory
    table's by its LogEntry's ts (the collector never decodes rows); in the binlog part every row
    counts by its LogEntry's ts (the put time). Rows before ``start_ts`` are left out.
    """
    st = cluster.table(name)
    disk = st.spec.storage != "memory"
    out: dict[int, list[TruthRow]] = {}
    for pid, rows in cluster.expected_full_sync(name).items():
        manifest = cluster.partition_dir(st, pid) / "snapshot" / "MANIFEST"
        offset = int(read_manifest(manifest).offset) if manifest.exists() else 0
        entry_ts = {
            int(op["i"]): int(tablet_pb2.LogEntry.FromString(bytes.fromhex(op["e"])).ts)
            for op in read_journal(cluster.journal_path(st, pid))
            if op["op"] == "put"
        }
        out[pid] = [
            r for r in rows if (r.ts if disk and r.log_index <= offset else entry_ts[r.log_index]) >= start_ts
        ]
    return out


def test_incremental_by_timestamp_copies_only_rows_from_start_ts(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    start_ts = ts_of_row(250)  # generated rows: index 0's ts and the put time agree on which rows count
    for name, storage in (("db.mem", "memory"), ("db.disk", "ssd")):
        # rows 0..399: the snapshot holds 250..399 of them after the filter
        mixed_table(cluster, name, partitions=2, storage=storage, rows=400, then=100)
    # binlog rows where the two ts disagree: old ts column but a recent put time (copied), and
    # a new ts column with an old put time (left out): the binlog part goes by the put time
    gen = RowGenerator(cluster.table("db.disk").schema.latest, cluster.table("db.disk").seed)
    cluster.put_rows("db.disk", gen.rows(1000, 20), time_ms=start_ts - 1)
    cluster.put_rows(
        "db.disk", [[n, *r[1:8], ts_of_row(10), *r[9:]] for n, r in enumerate(gen.rows(2000, 20))]
    )
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    for name in ("db.mem", "db.disk"):
        want = as_rows(cluster, name, expected_incremental(cluster, name, start_ts))
        assert 0 < count(want) < count(truth_rows(cluster, name))
        dest = tmp_path / "out" / name
        create_task(s, name, str(dest), mode="incremental", start_ts=start_ts)
        task = wait_rows(s, name, count(want))
        assert task["mode"] == "incremental" and task["start_ts"] == start_ts
        assert dataset_rows(dest) == want, name
        verify_ok(s, name)


# -- continuous while writing; FULL stays visible -------------------------------------------------


def test_continuous_sync_while_the_sandbox_writes_and_a_full_task_stays_succeeded(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "live", partition_num=2, storage="memory"))
    cluster.create_table(preset_spec("mixed", "db", "once", partition_num=2, storage="ssd"))
    cluster.write("db.live", 200)
    cluster.write("db.once", 300)
    cluster.snapshot("db.once")
    cluster.write("db.once", 100)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    live, once = tmp_path / "out" / "live", tmp_path / "out" / "once"
    create_task(s, "db.live", str(live), mode="continuous")
    create_task(s, "db.once", str(once), mode="full")

    with Trickle(cluster, "db.live", 25) as writing:  # a steady trickle, as a live table gets
        # the sync keeps up with rows written while it runs, not only with the first 200
        wait_until(lambda: writing.written >= 300, 30, "the writer wrote")
        wait_rows(s, "db.live", 200 + 300)
    want = truth_rows(cluster, "db.live")
    assert count(want) == 200 + writing.written
    wait_rows(s, "db.live", count(want))
    assert dataset_rows(live) == want
    verify_ok(s, "db.live")

    done = wait_state(s, "db.once", "SUCCEEDED")
    assert dataset_rows(once) == truth_rows(cluster, "db.once")
    assert {p["state"] for p in done["subtasks"]} == {"SUCCESS"}
    # it stays visible as SUCCEEDED — across a clean restart of the synctool too (OpenMLDB forgets it)
    code, _took = s.terminate()
    assert code == 0
    s = leading_synctool(procs, tmp_path, zk_hosts, port=s.port)
    after = get_task(s, "db.once")
    assert after is not None and after["state"] == "SUCCEEDED" and after["rows"] == done["rows"]
    code, listing = s.api("GET", "/api/v1/tasks")
    assert {t["name"]: t["state"] for t in listing["tasks"]}["db.once"] == "SUCCEEDED"
    live_task = wait_rows(s, "db.live", count(want))
    assert live_task["state"] == "RUNNING"
    verify_ok(s, "db.once")


# -- CSV ------------------------------------------------------------------------------------------


def test_csv_files_hold_the_original_synctools_lines(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="memory", rows=300, then=150)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    dest = tmp_path / "out"
    create_task(s, "db.t", str(dest), mode="full", format="csv")
    task = wait_state(s, "db.t", "SUCCEEDED")
    assert task["format"] == "csv"
    assert not list(dest.glob("pid=*/*.parquet"))
    assert csv_lines(dest) == csv_truth_lines(cluster, "db.t")
    assert task["rows"] == 450
    verify_ok(s, "db.t")


# -- S3 -------------------------------------------------------------------------------------------

BUCKET = "omsync-e2e"
S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """``127.0.0.1:<port>`` of a moto S3 server (another process writes to it: the synctool)."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] provides the S3 server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"127.0.0.1:{port}"
        s3(endpoint).create_dir(BUCKET)
        yield endpoint
    finally:
        server.stop()


def s3(endpoint: str) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        access_key="test",
        secret_key="test",
        region="us-east-1",
        scheme="http",
        endpoint_override=endpoint,
        allow_bucket_creation=True,
    )


def test_s3_destination_end_to_end(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], s3_endpoint: str
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="ssd", rows=300, then=200)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    # credentials from the environment, not in the URI (which ZooKeeper and the API show)
    s = leading_synctool(procs, tmp_path, zk_hosts, env=S3_ENV)
    uri = f"s3://{BUCKET}/t?endpoint_override={s3_endpoint}&scheme=http&region=us-east-1"
    create_task(s, "db.t", uri, mode="full")
    task = wait_state(s, "db.t", "SUCCEEDED")
    assert task["dest"] == uri
    fs = s3(s3_endpoint)
    assert dataset_rows(f"{BUCKET}/t", fs) == truth_rows(cluster, "db.t")
    names = [i.base_name for i in fs.get_file_info(pafs.FileSelector(f"{BUCKET}/t", recursive=True))]
    assert "table.json" in names and not [n for n in names if n.startswith("_tmp-")]
    verify_ok(s, "db.t")


# -- ALTER TABLE ADD COLUMN ------------------------------------------------------------------------


def test_add_column_during_a_continuous_sync(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="memory", rows=200)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    dest = tmp_path / "out"
    create_task(s, "db.t", str(dest), mode="continuous")
    wait_rows(s, "db.t", 200)
    cluster.add_column("db.t", Column("extra", ColumnType.STRING))
    cluster.write("db.t", 150)  # rows of schema version 2: the new column holds values
    cluster.add_column("db.t", Column("score", ColumnType.DOUBLE))
    cluster.write("db.t", 50)
    want = truth_rows(cluster, "db.t")
    wait_rows(s, "db.t", count(want))

    table = read_dataset(dest)
    assert table.column_names[-3:] == ["extra", "score", "pid"]
    assert table_rows(table) == want  # old rows read back with NULLs in the new columns
    assert table.column("extra").null_count >= 200
    widths = Counter(len(pq.read_schema(f)) for f in dest.glob("pid=*/*.parquet"))
    # files before the ALTER keep their 10 columns; the later ones have the schema the synctool
    # loaded on meeting the new version (11 or 12 columns, depending on when that was)
    assert {10, 12} <= set(widths) <= {10, 11, 12}, widths
    older = ds.dataset(next(f for f in dest.glob("pid=*/*.parquet") if len(pq.read_schema(f)) == 10))
    assert "extra" not in older.schema.names
    verify_ok(s, "db.t")


# -- resume from the destination -----------------------------------------------------------------


def test_recreated_task_resumes_from_the_destination_without_duplicates(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="memory", rows=300, then=100)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    dest = tmp_path / "out"
    create_task(s, "db.t", str(dest), mode="continuous")
    wait_rows(s, "db.t", 400)
    code, body = s.api("DELETE", "/api/v1/tasks/db.t")
    assert code == 200 and body["deleted"] == "db.t", body
    assert get_task(s, "db.t") is None
    cluster.write("db.t", 120)  # written while no task runs: the new task must pick these up
    code, body = s.api(
        "POST",
        "/api/v1/tasks",
        {
            "name": "db.t",
            "dest": str(dest),
            "mode": "continuous",
            "resume_from_dest": True,
            "start_offset": 5,
        },
    )
    assert code == 400 and "not both" in body["error"], body
    create_task(s, "db.t", str(dest), mode="continuous", resume_from_dest=True)
    resumed = get_task(s, "db.t")
    assert resumed is not None and resumed["rows"] == 400  # it takes over what the destination holds
    task = wait_rows(s, "db.t", 520)
    assert all(p["committed"]["phase"] == "binlog" for p in task["subtasks"])
    cluster.write("db.t", 30)
    want = truth_rows(cluster, "db.t")
    wait_rows(s, "db.t", count(want))
    assert dataset_rows(dest) == want  # the first task's files, then the second's: nothing twice
    verify_ok(s, "db.t")


# -- deletes ---------------------------------------------------------------------------------------


def test_deletes_are_forwarded_to_the_destination(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="memory", rows=200)
    early = cluster.expected_full_sync("db.t")[0][0].pk
    cluster.delete("db.t", early)  # in the snapshot part: the row is gone, no delete to forward
    cluster.snapshot("db.t")
    cluster.write("db.t", 100)
    tail = [r for rows in cluster.expected_full_sync("db.t").values() for r in rows[-30:]]
    keys = sorted({r.pk for r in tail})[:3]
    st = cluster.table("db.t")
    deleted = {(partition_of(k, st.spec.partition_num), cluster.delete("db.t", k), k) for k in keys}
    cluster.write("db.t", 20)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    dest = tmp_path / "out"
    create_task(s, "db.t", str(dest), mode="continuous", deletes=True)
    want = truth_rows(cluster, "db.t")
    task = wait_rows(s, "db.t", count(want))
    assert task["deletes"] is True
    # the rows stay (a delete is not a row); the deletes are kept beside them, with their keys
    assert dataset_rows(dest) == want

    def forwarded() -> set[tuple[int, int, str]]:
        files = sorted(dest.glob("_omsync/deletes/pid=*/*.parquet"))
        out = set()
        for f in files:
            pid = int(f.parent.name[4:])
            for row in pq.read_table(f).to_pylist():
                assert row["idx"] == 0
                out.add((pid, int(row["log_index"]), row["key"].decode()))
        return out

    wait_until(lambda: forwarded() == deleted, 20, f"deletes {deleted} forwarded; have {forwarded()}")
    verify_ok(s, "db.t")


# -- freshness -----------------------------------------------------------------------------------


def test_a_continuous_task_commits_a_few_rows_within_commit_seconds(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    """A handful of rows is far from any roll size (5 M rows, 256 MiB): they are committed, and
    their file is in the destination, ``commit_seconds`` after they arrive, each burst its own file."""
    import time

    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=1, storage="memory")
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts, commit_seconds=2)
    dest = tmp_path / "out"
    create_task(s, "db.t", str(dest), mode="continuous")
    wait_state(s, "db.t", "RUNNING")
    for burst in (1, 2, 3):
        t0 = time.monotonic()
        cluster.write("db.t", 5)
        task = wait_rows(s, "db.t", 5 * burst, timeout=30)
        took = time.monotonic() - t0
        # 2 s after the file's first row, + ~1 s for the check loop, + slack for a loaded machine
        assert took < 2 + 6, took
        (sub,) = task["subtasks"]
        assert (sub["rows"], sub["uncommitted_rows"], sub["files"]) == (5 * burst, 0, burst), sub
    assert dataset_rows(dest) == truth_rows(cluster, "db.t")
    verify_ok(s, "db.t")
