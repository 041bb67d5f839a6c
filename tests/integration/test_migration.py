"""Switching a running table from OpenMLDB's SyncTool to omsync without duplicates.

The original keeps each partition's point in ``<progress_path>/<tid>/<pid>.progress``: a
length-delimited ``AddSyncTaskRequest`` (Java ``writeDelimitedTo``, written here the same way).
``omsync task create --from-original-progress DIR`` starts every partition where the original
stands, so the rows the original already wrote are not written again and none after are lost.
Real processes: the sandbox's files, a collector per tablet host, ``omsync synctool``, the CLI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.e2e import as_rows, count, dataset_rows, leading_synctool, sandbox, start_collectors, wait_rows

from omsync_tui.core.errors import FormatError, UsageError
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.openmldb.synctoolprogress import binlog_offsets, read_progress
from omsync_tui.sandbox.datagen import preset_spec


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def write_progress(table_dir: Path, tid: int, pid: int, point: data_sync_pb2.SyncPoint) -> Path:
    """A ``<pid>.progress`` as the original SyncTool writes it (``writeDelimitedTo``)."""
    request = data_sync_pb2.AddSyncTaskRequest(
        tid=tid, pid=pid, mode=data_sync_pb2.kFullAndContinuous, token="t", dest="/offline/db.t"
    )
    request.sync_point.CopyFrom(point)
    data = request.SerializeToString()
    table_dir.mkdir(parents=True, exist_ok=True)
    path = table_dir / f"{pid}.progress"
    path.write_bytes(varint(len(data)) + data)
    return path


def binlog(offset: int) -> data_sync_pb2.SyncPoint:
    return data_sync_pb2.SyncPoint(type=data_sync_pb2.kBINLOG, offset=offset)


def test_progress_files_give_offsets_and_name_what_they_cannot(tmp_path: Path) -> None:
    d = tmp_path / "5"
    write_progress(d, 5, 0, binlog(1201))
    path = write_progress(d, 5, 1, binlog(300 * 300))  # a two-byte length prefix
    (d / "2.progress.finished.1700000000000").write_bytes(b"")  # finished partitions are left out
    assert read_progress(path).sync_point.offset == 90_000
    assert binlog_offsets(d) == {0: 1201, 1: 90_000}

    write_progress(d, 5, 1, data_sync_pb2.SyncPoint(type=data_sync_pb2.kSNAPSHOT, pk="k", ts=3))
    with pytest.raises(UsageError, match="partition 1 is still in the snapshot phase"):
        binlog_offsets(d)
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(FormatError, match="stop the original SyncTool first"):
        read_progress(path)


def test_a_running_table_switches_over_where_the_original_stands(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="ssd"))
    cluster.write("db.t", 600)
    st = cluster.table("db.t")
    # where the original stood when it was stopped: some binlog entries of each partition written
    stood = {0: 120, 1: 201}
    progress = tmp_path / "sync_task_progress" / str(st.tid)
    for pid, offset in stood.items():
        write_progress(progress, st.tid, pid, binlog(offset))
    cluster.write("db.t", 200)  # written after the switch-over began
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    dest = tmp_path / "offline"
    base = [sys.executable, "-m", "omsync_tui.cli.main", "task", "create", "db.t", "--dest", str(dest)]
    base += ["--mode", "continuous", "--synctool", s.endpoint]

    run = subprocess.run(
        [*base, "--from-original-progress", str(progress)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "the original SyncTool's progress: pid 0 at 120, pid 1 at 201" in run.stderr

    truth = cluster.expected_full_sync("db.t")
    want = as_rows(
        cluster, "db.t", {pid: [r for r in rows if r.log_index >= stood[pid]] for pid, rows in truth.items()}
    )
    assert 0 < count(want) < 800
    wait_rows(s, "db.t", count(want))
    assert dataset_rows(dest) == want  # from where the original stood: nothing twice, nothing lost

    cluster.create_table(preset_spec("mixed", "db", "u", partition_num=2, storage="ssd"))
    other = [arg if arg != "db.t" else "db.u" for arg in base]
    other[other.index(str(dest))] = str(tmp_path / "u")
    bad = subprocess.run([*other, "--from-offsets", "0=5"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "missing pid 1" in bad.stderr, bad.stderr
