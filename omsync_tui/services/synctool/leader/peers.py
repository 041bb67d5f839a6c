"""``Peers``: the other processes as the leader sees and calls them.

- the partition leaders of a table (its table info in ZooKeeper), and the collector registered on
  each leader's host (``collector_for``; ``collectors_for`` for a whole table, naming every host
  without one);
- ``check_answering``: the call ``create`` makes first: a registration outlives a dead process by
  a session timeout, and a stopped process keeps its port open, so only an answer tells a live
  collector;
- ``add_sync_task``: a subtask's assignment, sent to its collector;
- ``release``: a worker synctool lets a subtask go before it moves (it commits what it accepted
  and clears the token): a local call for this synctool's own worker, ``POST
  /api/v1/subtasks/<tid>/<pid>/release`` for another.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from omsync_tui.core.errors import ClusterError, OmsyncError, RpcRemoteError
from omsync_tui.core.synctool_config import SynctoolSection
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.openmldb.zkpaths import ZkPaths, partition_leaders
from omsync_tui.rpc.client import BaiduStdClient
from omsync_tui.services.synctool.model import SubtaskRecord
from omsync_tui.services.synctool.worker import Synctools, Worker
from omsync_tui.services.zk.reads import list_collectors, table_by_tid

DATA_COLLECTOR = "openmldb.datasync.DataCollector"


def host_of(endpoint: str) -> str:
    host = endpoint.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


class Peers:
    """The collectors, partition leaders and worker synctools the leader calls."""

    def __init__(self, settings: SynctoolSection, zk: Any, paths: ZkPaths, worker: Worker) -> None:
        self.settings = settings
        self.zk = zk
        self.paths = paths
        self.worker = worker  # this synctool's own: released by a local call

    # -- collectors ----------------------------------------------------------------------------

    def leaders(self, tid: int) -> dict[int, str]:
        """pid → the partition leader's endpoint (NotFoundError: the table is gone)."""
        return partition_leaders(table_by_tid(self.zk, self.paths, tid))

    def collector_for(self, leader: str) -> str:
        host = host_of(leader)
        found = self._collectors_by_host().get(host)
        if found is None:
            raise ClusterError(f"no collector registered on {host} (the partition leader {leader}'s host)")
        return found

    def collectors_for(self, name: str, leaders: Mapping[int, str]) -> list[str]:
        """The collectors of every partition leader's host; ClusterError naming the hosts without one."""
        by_host = self._collectors_by_host()
        missing = sorted({host_of(ep) for ep in leaders.values()} - set(by_host))
        if missing:
            raise ClusterError(
                f"no collector is registered for the host(s) of {name}'s partition leaders: "
                f"{', '.join(missing)}",
                hint="start `omsync collector` on each tablet host (same host text as the tablet endpoint)",
            )
        return sorted({by_host[host_of(ep)] for ep in leaders.values()})

    def _collectors_by_host(self) -> dict[str, str]:
        """host → the collector registered there (one per host: they queue on the host's lock)."""
        by_host: dict[str, str] = {}
        for ep in list_collectors(self.zk, self.paths):
            by_host.setdefault(host_of(ep), ep)
        return by_host

    def check_answering(self, collectors: list[str]) -> None:
        """ClusterError naming every collector that does not answer a call (nothing is created then).

        The probe calls a method no collector has; any answer, the "no such method" error included
        (brpc and omsync alike), means it is alive.
        """

        def probe(endpoint: str) -> str | None:
            try:
                with BaiduStdClient(endpoint, timeout=self.settings.request_timeout_s) as client:
                    ping = data_sync_pb2.TaskStatusRequest()
                    client.call(DATA_COLLECTOR, "Ping", ping, data_sync_pb2.GeneralResponse)
            except RpcRemoteError:
                return None
            except OmsyncError as exc:
                return f"{endpoint} on {host_of(endpoint)}: {exc.message}"
            return None

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(collectors)))) as pool:
            silent = [why for why in pool.map(probe, collectors) if why is not None]
        if silent:
            raise ClusterError(
                f"the collector(s) of this table's partition leaders do not answer: {'; '.join(silent)}",
                hint="check that `omsync collector` runs (not stopped or hung) on each tablet host",
            )

    def add_sync_task(self, collector: str, req: data_sync_pb2.AddSyncTaskRequest) -> str | None:
        """Send the assignment; why it did not take, or None."""
        try:
            with BaiduStdClient(collector, timeout=self.settings.request_timeout_s) as client:
                resp, _ = client.call(DATA_COLLECTOR, "AddSyncTask", req, data_sync_pb2.GeneralResponse)
        except OmsyncError as exc:
            return f"AddSyncTask to {collector}: {exc.message}"
        if resp.code != 0:
            return f"collector {collector} refused: {resp.msg}"
        return None

    # -- worker synctools ------------------------------------------------------------------------

    def release(self, rec: SubtaskRecord, live: Synctools) -> str | None:
        """The current worker commits what it accepted and drops the subtask; why not, or None."""
        if not rec.worker or not rec.token:
            return None
        if rec.worker == self.settings.endpoint:
            self.worker.release(rec.tid, rec.pid)
            return None
        if rec.worker not in live:
            return None  # gone: its session ended, and with it every rename it could make
        url = f"http://{rec.worker}/api/v1/subtasks/{rec.tid}/{rec.pid}/release"
        request = urllib.request.Request(url, data=b"{}", method="POST")
        request.add_header("Content-Type", "application/json")
        if self.settings.auth_token:
            request.add_header("Authorization", f"Bearer {self.settings.auth_token}")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.request_timeout_s) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            return f"synctool {rec.worker} did not release the subtask: HTTP {exc.code} {_error_text(exc)}"
        except OSError as exc:
            return f"synctool {rec.worker} did not answer the release: {exc}"
        return None


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""
