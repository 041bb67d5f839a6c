"""The original's client face against omsync: ``synctool_helper.py``'s HTTP calls, as it makes them.

OpenMLDB's helper talks to a SyncTool with plain HTTP/JSON (reference §6.4, §6.5): ``create`` is
``POST /openmldb.datasync.SyncTool/CreateSyncTask`` with ``{"db","name","mode","start_ts","dest"}``
(mode an integer, start_ts 0 unless mode 1), ``delete`` is ``POST .../DeleteSyncTask`` with
``{"db","name"}``, ``status`` is a **GET** of ``.../TaskStatus`` with the JSON body ``{}``, and it
reads ``response.code``, each task's ``progress``/``data_collector``/``count``/``status`` and the
``readableInfo`` strings (``lastUpdateTime=<ms>;progressPath=<path>``). This client is ours
(``http.client``), written from that description. Real processes: the sandbox's tablet files,
a collector per tablet host, ``omsync synctool``; modes 0, 1 (with a start ts) and 2 while the
sandbox writes; the rows that arrive are checked against the sandbox's ground truth.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers.e2e import (
    as_rows,
    count,
    dataset_rows,
    leading_synctool,
    sandbox,
    start_collectors,
    truth_rows,
    ts_of_row,
    wait_rows,
    wait_state,
)

from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.partition import read_journal
from omsync_tui.sandbox.truth import TruthRow

pytestmark = pytest.mark.peer

SERVICE = "/openmldb.datasync.SyncTool"
STATES = {"INIT", "RUNNING", "REASSIGNING", "SUCCESS", "FAILED"}


class HelperClient:
    """The three calls of ``synctool_helper.py`` (create, delete, status), as it sends them."""

    def __init__(self, endpoint: str) -> None:
        self.host, port = endpoint.rsplit(":", 1)
        self.port = int(port)

    def _call(self, method: str, rpc: str, body: dict[str, Any]) -> tuple[int, str]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, f"{SERVICE}/{rpc}", json.dumps(body), {"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def create(self, table: str, mode: int, dest: str, start_ts: int = 0) -> dict[str, Any]:
        db, name = table.split(".")
        body = {"db": db, "name": name, "mode": mode, "start_ts": start_ts if mode == 1 else 0, "dest": dest}
        status, text = self._call("POST", "CreateSyncTask", body)
        assert status == 200, text
        answer: dict[str, Any] = json.loads(text)  # the helper prints this text as it is
        return answer

    def delete(self, table: str) -> dict[str, Any]:
        db, name = table.split(".")
        status, text = self._call("POST", "DeleteSyncTask", {"db": db, "name": name})
        assert status == 200, text
        answer: dict[str, Any] = json.loads(text)
        return answer

    def status(self) -> list[dict[str, Any]]:
        """What ``status`` prints per task: readableInfo's fields updated with the task's."""
        code, text = self._call("GET", "TaskStatus", {})
        assert code == 200, text
        answer = json.loads(text)
        assert answer["response"]["code"] == 0, answer  # the helper asserts this
        if "readableInfo" not in answer:
            return []  # the helper prints "no task"
        tasks = []
        for info, task in zip(answer["readableInfo"], answer["task"], strict=True):
            fields = dict(part.split("=", 1) for part in info.split(";"))
            fields["lastUpdateTime"] = int(fields["lastUpdateTime"])  # ms, turned into a date
            fields.update(task["progress"])
            fields.update(data_collector=task["data_collector"], count=task["count"], status=task["status"])
            tasks.append(fields)
        return tasks


def expected_from_binlog_ts(cluster: SandboxCluster, name: str, start_ts: int) -> dict[int, list[TruthRow]]:
    """Mode 1 on a table without a snapshot: every row counts by its LogEntry's ts (put time)."""
    st = cluster.table(name)
    out = {}
    for pid, rows in cluster.expected_full_sync(name).items():
        put_ts = {
            int(op["i"]): int(tablet_pb2.LogEntry.FromString(bytes.fromhex(op["e"])).ts)
            for op in read_journal(cluster.journal_path(st, pid))
            if op["op"] == "put"
        }
        out[pid] = [r for r in rows if put_ts[r.log_index] >= start_ts]
    return out


def test_the_helpers_calls_drive_omsync_in_modes_0_1_and_2(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "shop", "orders", storage="hdd"))
    cluster.write("shop.orders", 600)
    cluster.snapshot("shop.orders")
    cluster.write("shop.orders", 200)
    cluster.create_table(preset_spec("mixed", "shop", "events", storage="ssd"))
    cluster.write("shop.events", 400)
    cluster.create_table(preset_spec("mixed", "shop", "clicks", storage="hdd"))
    cluster.write("shop.clicks", 100)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    helper = HelperClient(s.endpoint)
    assert helper.status() == []  # "no task"

    out = tmp_path / "out"
    start_ts = ts_of_row(150) + 3  # the put time of row 150: rows 150.. count
    for table, mode in (("shop.orders", 0), ("shop.events", 1), ("shop.clicks", 2)):
        answer = helper.create(table, mode, str(out / table), start_ts)
        assert answer["code"] == 0, answer
    again = helper.create("shop.orders", 0, str(out / "shop.orders"))
    assert again["code"] == -1 and "shop.orders" in again["msg"], again

    # mode 2 keeps going while the sandbox writes
    writer = threading.Thread(target=cluster.write, args=("shop.clicks", 300))
    writer.start()
    listed = helper.status()
    tables = ("shop.orders", "shop.events", "shop.clicks")
    assert {(t["tid"], t["pid"]) for t in listed} == {
        (cluster.table(name).tid, pid) for name in tables for pid in (0, 1)
    }
    for t in listed:
        assert t["status"] in STATES and t["progressPath"] and t["lastUpdateTime"] > 0, t
        assert t["mode"] in {"kFull", "kIncrementalByTimestamp", "kFullAndContinuous"}, t
        assert t["sync_point"]["type"] in {"kSNAPSHOT", "kBINLOG"} and t["dest"].startswith(str(out)), t
    writer.join()

    full = wait_state(s, "shop.orders", "SUCCEEDED")
    assert full["rows"] == count(truth_rows(cluster, "shop.orders"))
    assert dataset_rows(out / "shop.orders") == truth_rows(cluster, "shop.orders")
    want = as_rows(cluster, "shop.events", expected_from_binlog_ts(cluster, "shop.events", start_ts))
    assert count(want) == 250
    wait_rows(s, "shop.events", count(want))
    assert dataset_rows(out / "shop.events") == want
    wait_rows(s, "shop.clicks", 400)
    assert dataset_rows(out / "shop.clicks") == truth_rows(cluster, "shop.clicks")

    by_table: dict[int, Counter[str]] = {}
    for t in helper.status():
        by_table.setdefault(t["tid"], Counter())[t["status"]] += 1
    # omsync keeps a FULL task listed as SUCCESS (the original removed it: "not found" meant done)
    assert by_table[cluster.table("shop.orders").tid] == Counter({"SUCCESS": 2})
    assert by_table[cluster.table("shop.clicks").tid] == Counter({"RUNNING": 2})

    for table in ("shop.orders", "shop.events", "shop.clicks"):
        assert helper.delete(table)["code"] == 0
    assert helper.status() == []
