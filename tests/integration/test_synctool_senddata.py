"""A real ``omsync synctool`` fed SendData by the test acting as the DataCollector: packs with and
without omsync's ``row_sizes`` (field 104) are accepted and land in the destination, and a bad
``row_sizes`` fails the subtask with cause ``bad_rows``, writing nothing.
"""

from __future__ import annotations

import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers.e2e import TABLETS, canon, create_task, dataset_rows, get_task, leading_synctool, sandbox
from helpers.synctoolproc import SynctoolProcess
from helpers.waiting import wait_until

from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.proto import data_sync_pb2 as ds
from omsync_tui.openmldb.row.encode import encode_row
from omsync_tui.openmldb.zkpaths import ZkPaths
from omsync_tui.rpc.client import BaiduStdClient
from omsync_tui.rpc.server import RpcServer
from omsync_tui.rpc.service import CallContext, Service
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import RowGenerator, preset_spec
from omsync_tui.services.syncwire import to_proto

DATA_COLLECTOR = "openmldb.datasync.DataCollector"
SYNC_TOOL = "openmldb.datasync.SyncTool"
NEXT = SyncPoint.binlog(9)


@dataclass
class FakeCollector:
    """Answers AddSyncTask with success and keeps the requests (the token and the start point)."""

    requests: list[ds.AddSyncTaskRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_sync_task(
        self, request: ds.AddSyncTaskRequest, attachment: bytes, ctx: CallContext
    ) -> tuple[ds.GeneralResponse, bytes]:
        with self.lock:
            self.requests.append(request)
        return ds.GeneralResponse(code=0), b""

    def assignment(self, tid: int, pid: int = 0) -> ds.AddSyncTaskRequest | None:
        with self.lock:
            found = [r for r in self.requests if r.tid == tid and r.pid == pid]
        return found[-1] if found else None


@dataclass
class Harness:
    cluster: SandboxCluster
    synctool: SynctoolProcess
    collector: FakeCollector
    out: Path


@pytest.fixture
def harness(tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]) -> Iterator[Harness]:
    """A sandbox, a fake collector registered on both tablet hosts, and a leading synctool."""
    cluster = sandbox(tmp_path, zk, zk_hosts)
    fake = FakeCollector()
    service = Service(DATA_COLLECTOR).add(
        "AddSyncTask", ds.AddSyncTaskRequest, ds.GeneralResponse, fake.add_sync_task
    )
    paths = ZkPaths(cluster.config.zk_root)
    with ExitStack() as stack:
        # The leader of a partition depends on the tid: answer on every tablet host.
        for host in sorted({t.split(":")[0] for t in TABLETS}):
            server = stack.enter_context(RpcServer(host, 0, [service]))
            zk.create(
                paths.collector(server.endpoint), server.endpoint.encode(), ephemeral=True, makepath=True
            )
        s = leading_synctool(procs, tmp_path, zk_hosts)
        yield Harness(cluster, s, fake, tmp_path / "out")


def start_task(h: Harness, name: str) -> tuple[int, ds.AddSyncTaskRequest, Path, list[bytes], list[str]]:
    """A one-partition table and its FULL task, assigned to the fake collector.

    Returns the tid, the AddSyncTask request, the destination, four encoded rows of different
    sizes and their canonical forms.
    """
    db, table = name.split(".")
    st = h.cluster.create_table(preset_spec("mixed", db, table, partition_num=1, storage="memory"))
    columns = st.schema.latest
    values = RowGenerator(columns, st.seed).rows(0, 4)
    packed = [encode_row(columns, v, schema_version=st.schema.latest_version) for v in values]
    assert len(set(map(len, packed))) > 1, "rows of different sizes make a wrong cut visible"
    dest = h.out / name
    create_task(h.synctool, name, str(dest))
    wait_until(lambda: h.collector.assignment(st.tid) is not None, 20, f"AddSyncTask for {name}")
    request = h.collector.assignment(st.tid)
    assert request is not None
    assert request.des_endpoint == h.synctool.endpoint
    return st.tid, request, dest, packed, [canon(list(v), len(columns)) for v in values]


def sizes(rows: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(rows)}I", *rows)


def send(
    h: Harness,
    assigned: ds.AddSyncTaskRequest,
    packed: Sequence[bytes],
    *,
    row_sizes: bytes | None,
    finished: bool = False,
    attachment: bytes | None = None,
) -> ds.SendDataResponse:
    request = ds.SendDataRequest(
        tid=assigned.tid,
        pid=assigned.pid,
        token=assigned.token,
        count=len(packed),
        collector="127.0.0.1:9999",
        binlog_latest=8,
    )
    request.start_point.CopyFrom(assigned.sync_point)  # verbatim, as a collector does
    request.next_point.CopyFrom(to_proto(NEXT))
    if row_sizes is not None:
        request.row_sizes = row_sizes
    if finished:
        request.finished = True
    with BaiduStdClient(h.synctool.endpoint, timeout=20) as client:
        response, _ = client.call(
            SYNC_TOOL,
            "SendData",
            request,
            ds.SendDataResponse,
            attachment=b"".join(packed) if attachment is None else attachment,
        )
    return response


def subtask(h: Harness, name: str) -> dict[str, Any]:
    task = get_task(h.synctool, name)
    assert task is not None, name
    (sub,) = task["subtasks"]
    assert isinstance(sub, dict)
    return sub


def committed_files(dest: Path) -> list[Path]:
    return sorted(p for p in dest.glob("pid=*/*") if p.is_file() and p.suffix == ".parquet")


@pytest.mark.parametrize("with_sizes", [True, False], ids=["row_sizes", "original_collector"])
def test_pack_with_or_without_row_sizes_lands_in_the_destination(harness: Harness, with_sizes: bool) -> None:
    h = harness
    name = "db.sized" if with_sizes else "db.walked"
    _tid, assigned, dest, packed, want = start_task(h, name)
    row_sizes = sizes([len(r) for r in packed]) if with_sizes else None

    answer = send(h, assigned, packed, row_sizes=row_sizes, finished=True)

    assert (answer.response.code, answer.response.msg, answer.delete_task) == (0, "", False), answer
    task = get_task(h.synctool, name)
    assert task is not None
    assert (task["state"], task["rows"], task["files"]) == ("SUCCEEDED", len(packed), 1), task
    assert subtask(h, name)["state"] == "SUCCESS"
    assert committed_files(dest), list(dest.rglob("*"))
    assert dataset_rows(dest) == {0: Counter(want)}


def test_bad_row_sizes_fail_the_subtask_with_bad_rows(harness: Harness) -> None:
    h = harness
    cases: list[tuple[str, Callable[[list[int]], bytes], list[str]]] = [
        # one u32 too few: 12 bytes for 4 rows
        ("db.short", lambda n: sizes(n)[:-4], ["row_sizes holds 12 bytes", "not 4 per row", "4 rows"]),
        # one byte more than the attachment holds
        (
            "db.long",
            lambda n: sizes([*n[:-1], n[-1] + 1]),
            ["row_sizes add up to {total_plus_1} bytes", "the attachment holds {total}"],
        ),
        # The right total, but cut in the wrong place. One byte of row #0 given to row #1: row #1
        # starts on row #0's last byte, not on a row's format version (checked for every row first).
        (
            "db.cut_early",
            lambda n: sizes([n[0] - 1, n[1] + 1, *n[2:]]),
            ["row #1 of the batch", "row format version is", "only 1 is supported"],
        ),
        # One byte of row #1 given to row #0: row #1 starts on its schema version byte (1, so it
        # passes for a format version), and row #0's own size field disagrees with its length.
        (
            "db.cut_late",
            lambda n: sizes([n[0] + 1, n[1] - 1, *n[2:]]),
            ["row #0 of the batch", "row size field says {n0} bytes but the row has {n0_plus_1}"],
        ),
    ]
    for name, make_sizes, words in cases:
        _tid, assigned, dest, packed, _want = start_task(h, name)
        lengths = [len(r) for r in packed]
        total = sum(lengths)
        expected = [
            w.format(total=total, total_plus_1=total + 1, n0=lengths[0], n0_plus_1=lengths[0] + 1)
            for w in words
        ]

        answer = send(h, assigned, packed, row_sizes=make_sizes(lengths), finished=True)

        msg = answer.response.msg
        assert (answer.response.code, answer.delete_task) == (-1, True), (name, answer)
        assert "do not decode" in msg and all(w in msg for w in expected), (name, msg)
        sub = subtask(h, name)
        assert (sub["state"], sub["cause"]) == ("FAILED", "bad_rows"), (name, sub)
        assert all(w in sub["last_error"] for w in expected), (name, sub["last_error"])
        if name == "db.short":
            assert "row_sizes" in sub["last_error"]
        task = get_task(h.synctool, name)
        assert task is not None and (task["state"], task["rows"], task["files"]) == ("FAILED", 0, 0), task
        assert committed_files(dest) == [], (name, list(dest.rglob("*")))
        # FAILED is final: a pack sent again is refused, not decoded
        again = send(h, assigned, packed, row_sizes=sizes(lengths))
        assert (again.response.code, again.delete_task) == (-1, True) and "FAILED" in again.response.msg


def test_rows_claimed_without_an_attachment_fail_the_subtask(harness: Harness) -> None:
    h = harness
    _tid, assigned, dest, packed, _want = start_task(h, "db.empty")

    answer = send(h, assigned, packed, row_sizes=None, finished=True, attachment=b"")

    assert (answer.response.code, answer.delete_task) == (-1, True), answer
    assert "the pack says 4 rows, its attachment is empty" in answer.response.msg
    sub = subtask(h, "db.empty")
    assert (sub["state"], sub["cause"]) == ("FAILED", "bad_rows"), sub
    assert committed_files(dest) == []
