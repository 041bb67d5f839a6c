"""The one facade the CLI and the TUI use to see and steer sync tasks (STYLE rule 2).

``SyncClient`` talks to a synctool's ``/api/v1`` (HTTP/JSON) and hands back frozen dataclasses —
never raw JSON, znodes or sockets: the documents of ``services/synctool/wire``, re-exported here
with ``summary`` (their form in ``-o json``). ``locate_synctool`` finds a synctool: an explicit
``host:port``, ``OMSYNC_SYNCTOOL``, the config file, or ZooKeeper (the registered synctools,
the leader first); its error lists what was tried.

A synctool that cannot be reached raises ``RpcUnavailable``; an answer with an error raises the
omsync error its ``kind`` names (``UsageError``, ``NotFoundError``, ...), so callers handle one
error tree.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from omsync_tui.core.errors import (
    ClusterError,
    FormatError,
    NotFoundError,
    OmsyncError,
    RpcProtocolError,
    RpcUnavailable,
    UsageError,
)
from omsync_tui.core.syncpoint import Phase
from omsync_tui.rpc.client import HttpJsonClient
from omsync_tui.services.synctool.wire import (
    CollectorInfo,
    CreateRequest,
    DestinationInfo,
    ErrorReply,
    EventInfo,
    HeldRange,
    PartitionCheck,
    SubtaskInfo,
    SynctoolInfo,
    SynctoolStatus,
    TableInfoView,
    TabletHead,
    TaskInfo,
    VerifyReport,
    lag_text,
    summary,
)

_KINDS: dict[str, type[OmsyncError]] = {
    "usage": UsageError,
    "not_found": NotFoundError,
    "cluster": ClusterError,
    "format": FormatError,
}
_EXIT_CODES_BEFORE_KINDS: dict[int, type[OmsyncError]] = {2: UsageError, 4: NotFoundError, 5: ClusterError}
"""How a synctool that sent no ``kind`` (an older one) named the error tree's class: by its exit code."""
TOKEN_HINT = "give the synctool's auth_token: --token, OMSYNC_AUTH_TOKEN or auth_token in [client]"

__all__ = [
    "CollectorInfo",
    "CreateRequest",
    "DestinationInfo",
    "EventInfo",
    "HeldRange",
    "PartitionCheck",
    "SubtaskInfo",
    "SyncClient",
    "SynctoolInfo",
    "SynctoolStatus",
    "TableInfoView",
    "TabletHead",
    "TaskInfo",
    "VerifyReport",
    "lag_text",
    "locate_synctool",
    "offsets_to_go",
    "summary",
]


class SyncClient:
    """The synctool's ``/api/v1`` as typed calls."""

    def __init__(self, endpoint: str, *, auth_token: str | None = None, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self._http = HttpJsonClient(f"http://{endpoint}", timeout=timeout, auth_token=auth_token)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        status, text = self._http.request(method, path, None if body is None else json.dumps(body).encode())
        try:
            obj = json.loads(text) if text else {}
        except ValueError:
            raise RpcProtocolError(
                f"synctool {self.endpoint} answered {path} with non-JSON: {text[:200]!r}"
            ) from None
        if not isinstance(obj, dict):
            raise RpcProtocolError(f"synctool {self.endpoint} answered {path} with {type(obj).__name__}")
        if status >= 400:
            reply = ErrorReply.from_json(obj, f"HTTP {status}")
            if status == 401:  # the rpc layer's answer when the auth token is missing or wrong
                raise UsageError(reply.error, hint=reply.hint or TOKEN_HINT)
            kind = _KINDS.get(reply.kind) if reply.kind else _EXIT_CODES_BEFORE_KINDS.get(reply.exit_code)
            raise (kind or OmsyncError)(reply.error, hint=reply.hint)
        return obj

    def status(self) -> SynctoolStatus:
        return SynctoolStatus.from_json(self._call("GET", "/api/v1/status"))

    def tasks(self) -> list[TaskInfo]:
        return [TaskInfo.from_json(t) for t in self._call("GET", "/api/v1/tasks")["tasks"]]

    def task(self, name: str) -> TaskInfo:
        return TaskInfo.from_json(self._call("GET", f"/api/v1/tasks/{_q(name)}")["task"])

    def create(self, request: CreateRequest) -> TaskInfo:
        self._call("POST", "/api/v1/tasks", request.to_json())
        return self.task(request.name)

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/api/v1/tasks/{_q(name)}")

    def retry(self, name: str, pid: int | None = None) -> list[int]:
        body = {} if pid is None else {"pid": pid}
        return [int(p) for p in self._call("POST", f"/api/v1/tasks/{_q(name)}/retry", body)["retried"]]

    def verify(self, name: str) -> VerifyReport:
        return VerifyReport.from_json(self._call("GET", f"/api/v1/tasks/{_q(name)}/verify"))

    def heads(self, name: str) -> list[TabletHead]:
        """Each partition's last binlog offset, asked of its leader tablet by the synctool now."""
        d = self._call("GET", f"/api/v1/tasks/{_q(name)}/heads")
        return [TabletHead.from_json(h) for h in d["heads"]]

    def destination(self, uri: str) -> DestinationInfo:
        d = self._call("GET", "/api/v1/destination?" + urllib.parse.urlencode({"uri": uri}))
        return DestinationInfo.from_json(d)

    def tables(self) -> list[TableInfoView]:
        return [TableInfoView.from_json(t) for t in self._call("GET", "/api/v1/tables")["tables"]]

    def collectors(self) -> list[CollectorInfo]:
        return [CollectorInfo.from_json(c) for c in self._call("GET", "/api/v1/collectors")["collectors"]]

    def synctools(self) -> list[SynctoolInfo]:
        """The running synctools (every one a worker unless ``[synctool] work`` is off), leader
        marked; a synctool from before scale-out has no such call and raises ``NotFoundError``."""
        return [SynctoolInfo.from_json(s) for s in self._call("GET", "/api/v1/synctools")["synctools"]]

    def events(self, *, tid: int | None = None, limit: int = 200) -> list[EventInfo]:
        q = {"limit": str(limit)} | ({"tid": str(tid)} if tid is not None else {})
        d = self._call("GET", "/api/v1/events?" + urllib.parse.urlencode(q))
        return [EventInfo.from_json(e) for e in d["events"]]


def offsets_to_go(task: TaskInfo, heads: Mapping[int, int]) -> dict[int, int | None]:
    """pid → how many binlog offsets a subtask's committed files are still behind ``heads`` (pid →
    the last offset its tablet had written when the wait began; ``SyncClient.heads``): 0 once
    every row written up to it is in committed files, None while the subtask is still in its
    snapshot. Partitions without a head are left out."""
    out: dict[int, int | None] = {}
    for s in task.subtasks:
        if s.pid not in heads:
            continue
        if s.settled.phase is not Phase.BINLOG:
            out[s.pid] = None
        else:  # the next offset after the settled rows: every row before it is in files
            out[s.pid] = max(0, heads[s.pid] + 1 - s.settled.offset)
    return out


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def locate_synctool(
    explicit: str | None = None,
    *,
    zk_hosts: str | None = None,
    zk_root: str = "/openmldb",
    config_value: str | None = None,
) -> str:
    """Where the synctool is: flag, ``OMSYNC_SYNCTOOL``, config, then ZooKeeper (leader first)."""
    tried: list[str] = []
    for source, value in (
        ("--synctool", explicit),
        ("OMSYNC_SYNCTOOL", os.environ.get("OMSYNC_SYNCTOOL")),
        ("config", config_value),
    ):
        if value:
            return value
        tried.append(f"{source} (not set)")
    if zk_hosts:
        found = _from_zookeeper(zk_hosts, zk_root)
        if found:
            return found
        tried.append(f"ZooKeeper {zk_hosts}{zk_root}/sync_tool/omsync/synctools (none registered)")
    else:
        tried.append("ZooKeeper (--zk not given)")
    raise RpcUnavailable(
        "no synctool to talk to; tried " + ", ".join(tried),
        hint="pass --synctool host:port, set OMSYNC_SYNCTOOL, or --zk to discover it",
    )


def _from_zookeeper(hosts: str, root: str) -> str | None:
    from kazoo.client import KazooClient

    from omsync_tui.services.synctool.store import Store

    client = KazooClient(hosts=hosts, timeout=5.0)
    try:
        client.start(timeout=5.0)
    except Exception as exc:
        raise RpcUnavailable(f"ZooKeeper {hosts} is unreachable ({exc})") from None
    try:
        store = Store(client, root)
        leader = store.leader()
        if leader:
            return leader
        registered = sorted(store.synctools())
        return registered[0] if registered else None
    finally:
        client.stop()
        client.close()
