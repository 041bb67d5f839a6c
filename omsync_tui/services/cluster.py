"""The one facade the CLI and the TUI use to see and steer sync tasks (STYLE rule 2).

``SyncClient`` talks to a synctool's ``/api/v1`` (HTTP/JSON) and hands back frozen dataclasses —
never raw JSON, znodes or sockets. ``locate_synctool`` finds a synctool: an explicit
``host:port``, ``OMSYNC_SYNCTOOL``, the config file, or ZooKeeper (the registered synctools,
the leader first); its error lists what was tried.

A synctool that cannot be reached raises ``RpcUnavailable``; an answer with an error raises the
omsync error its ``exit_code`` names (``UsageError``, ``NotFoundError``, ...), so callers handle
one error tree.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from omsync_tui.core.errors import (
    ClusterError,
    NotFoundError,
    OmsyncError,
    RpcProtocolError,
    RpcUnavailable,
    UsageError,
)
from omsync_tui.rpc.client import HttpJsonClient

_ERRORS: dict[int, type[OmsyncError]] = {2: UsageError, 4: NotFoundError, 5: ClusterError}


@dataclass(frozen=True, slots=True)
class SubtaskInfo:
    pid: int
    state: str
    collector: str
    tablet: str
    phase: str
    position: str  # the committed point, as text
    rows: int
    bytes: int
    files: int
    uncommitted_rows: int
    lag_offsets: int | None
    last_update_age_s: float | None
    silent_s: float
    retries: int
    cause: str
    last_error: str


@dataclass(frozen=True, slots=True)
class TaskInfo:
    tid: int
    name: str
    mode: str
    dest: str
    format: str
    state: str  # RUNNING / FAILED / SUCCEEDED
    partitions: int
    states: dict[str, int]
    rows: int
    bytes: int
    files: int
    lag_offsets: int
    last_update_ms: int
    start_ts: int = 0
    deletes: bool = False
    subtasks: tuple[SubtaskInfo, ...] = ()

    @property
    def failed(self) -> int:
        return self.states.get("FAILED", 0)


@dataclass(frozen=True, slots=True)
class CollectorInfo:
    endpoint: str
    host: str
    registered: bool
    subtasks: tuple[str, ...]
    last_heartbeat_age_s: float | None


@dataclass(frozen=True, slots=True)
class EventInfo:
    ts_ms: int
    tid: int
    pid: int | None
    old: str
    new: str
    reason: str
    by: str


@dataclass(frozen=True, slots=True)
class PartitionCheck:
    pid: int
    ok: bool
    files: int
    rows: int
    committed_rows: int
    gaps: tuple[tuple[str, str], ...]
    overlaps: tuple[tuple[str, str], ...]
    bad_rows: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    name: str
    ok: bool
    partitions: tuple[PartitionCheck, ...]


@dataclass(frozen=True, slots=True)
class SynctoolStatus:
    endpoint: str
    version: str
    role: str
    leader: str | None
    zookeeper: str
    uptime_s: float
    tasks: int


@dataclass(frozen=True, slots=True)
class TableInfoView:
    """A table of the cluster, as the create pickers list it."""

    name: str
    tid: int
    partitions: int
    storage: str
    has_task: bool


@dataclass(frozen=True, slots=True)
class HeldRange:
    """What a destination already holds for one partition."""

    pid: int
    files: int
    rows: int
    first: str
    next: str


@dataclass(frozen=True, slots=True)
class DestinationInfo:
    uri: str
    table: str | None  # db.table of the task that wrote it (``_omsync/table.json``)
    partitions: tuple[HeldRange, ...]
    resolved: str = ""  # where the synctool will write: a bare path may go to fs.defaultFS
    note: str = ""  # why, for a bare path ("a bare path: fs.defaultFS hdfs://… from …/core-site.xml")

    @property
    def empty(self) -> bool:
        return not self.partitions


@dataclass(frozen=True, slots=True)
class CreateRequest:
    name: str
    dest: str
    mode: str = "full"
    start_ts: int = 0
    format: str = "parquet"
    start_offset: int | None = None
    start_offsets: dict[int, int] | None = None
    resume_from_dest: bool = False
    deletes: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "dest": self.dest,
            "mode": self.mode,
            "start_ts": self.start_ts,
            "format": self.format,
            "resume_from_dest": self.resume_from_dest,
            "deletes": self.deletes,
        }
        if self.start_offset is not None:
            d["start_offset"] = self.start_offset
        if self.start_offsets is not None:
            d["start_offsets"] = {str(pid): off for pid, off in sorted(self.start_offsets.items())}
        return {**d, **self.extra}


def _subtask(d: dict[str, Any]) -> SubtaskInfo:
    return SubtaskInfo(
        pid=int(d["pid"]),
        state=str(d["state"]),
        collector=str(d.get("collector", "")),
        tablet=str(d.get("tablet", "")),
        phase=str(d.get("phase", "")),
        position=str(d.get("committed_text", "")),
        rows=int(d.get("rows", 0)),
        bytes=int(d.get("bytes", 0)),
        files=int(d.get("files", 0)),
        uncommitted_rows=int(d.get("uncommitted_rows", 0)),
        lag_offsets=d.get("lag_offsets"),
        last_update_age_s=d.get("last_update_age_s"),
        silent_s=float(d.get("silent_s", 0.0)),
        retries=int(d.get("retries", 0)),
        cause=str(d.get("cause", "")),
        last_error=str(d.get("last_error", "")),
    )


def _task(d: dict[str, Any]) -> TaskInfo:
    return TaskInfo(
        tid=int(d["tid"]),
        name=str(d["name"]),
        mode=str(d["mode"]),
        dest=str(d["dest"]),
        format=str(d.get("format", "parquet")),
        state=str(d["state"]),
        partitions=int(d.get("partitions", 0)),
        states={str(k): int(v) for k, v in dict(d.get("states", {})).items()},
        rows=int(d.get("rows", 0)),
        bytes=int(d.get("bytes", 0)),
        files=int(d.get("files", 0)),
        lag_offsets=int(d.get("lag_offsets") or 0),
        last_update_ms=int(d.get("last_update_ms", 0)),
        start_ts=int(d.get("start_ts", 0)),
        deletes=bool(d.get("deletes", False)),
        subtasks=tuple(_subtask(s) for s in d.get("subtasks", ())),
    )


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
            cls = _ERRORS.get(int(obj.get("exit_code", 1)), OmsyncError)
            if status == 401:
                cls = UsageError
            raise cls(str(obj.get("error", f"HTTP {status}")), hint=obj.get("hint"))
        return obj

    def status(self) -> SynctoolStatus:
        d = self._call("GET", "/api/v1/status")
        return SynctoolStatus(
            endpoint=str(d["endpoint"]),
            version=str(d.get("version", "")),
            role=str(d.get("role", "")),
            leader=d.get("leader"),
            zookeeper=str(d.get("zookeeper", "")),
            uptime_s=float(d.get("uptime_s", 0)),
            tasks=int(d.get("tasks", 0)),
        )

    def tasks(self) -> list[TaskInfo]:
        return [_task(t) for t in self._call("GET", "/api/v1/tasks")["tasks"]]

    def task(self, name: str) -> TaskInfo:
        return _task(self._call("GET", f"/api/v1/tasks/{_q(name)}")["task"])

    def create(self, request: CreateRequest) -> TaskInfo:
        self._call("POST", "/api/v1/tasks", request.to_json())
        return self.task(request.name)

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/api/v1/tasks/{_q(name)}")

    def retry(self, name: str, pid: int | None = None) -> list[int]:
        body = {} if pid is None else {"pid": pid}
        return [int(p) for p in self._call("POST", f"/api/v1/tasks/{_q(name)}/retry", body)["retried"]]

    def verify(self, name: str) -> VerifyReport:
        d = self._call("GET", f"/api/v1/tasks/{_q(name)}/verify")
        return VerifyReport(
            name=str(d["name"]),
            ok=bool(d["ok"]),
            partitions=tuple(
                PartitionCheck(
                    pid=int(p["pid"]),
                    ok=bool(p["ok"]),
                    files=int(p["files"]),
                    rows=int(p["rows"]),
                    committed_rows=int(p["committed_rows"]),
                    gaps=tuple((str(a), str(b)) for a, b in p.get("gaps", ())),
                    overlaps=tuple((str(a), str(b)) for a, b in p.get("overlaps", ())),
                    bad_rows=tuple((str(a), int(b)) for a, b in p.get("bad_rows", ())),
                )
                for p in d["partitions"]
            ),
        )

    def destination(self, uri: str) -> DestinationInfo:
        d = self._call("GET", "/api/v1/destination?" + urllib.parse.urlencode({"uri": uri}))
        table = d.get("table")
        return DestinationInfo(
            uri=str(d["uri"]),
            table=str(table.get("db", "") + "." + table.get("table", ""))
            if isinstance(table, dict)
            else None,
            partitions=tuple(
                HeldRange(int(p["pid"]), int(p["files"]), int(p["rows"]), str(p["first"]), str(p["next"]))
                for p in d.get("partitions", ())
            ),
            resolved=str(d.get("resolved") or d["uri"]),
            note=str(d.get("note") or ""),
        )

    def tables(self) -> list[TableInfoView]:
        return [
            TableInfoView(
                name=str(t["name"]),
                tid=int(t["tid"]),
                partitions=int(t["partitions"]),
                storage=str(t.get("storage", "")),
                has_task=bool(t.get("has_task", False)),
            )
            for t in self._call("GET", "/api/v1/tables")["tables"]
        ]

    def collectors(self) -> list[CollectorInfo]:
        return [
            CollectorInfo(
                endpoint=str(c["endpoint"]),
                host=str(c.get("host", "")),
                registered=bool(c.get("registered", False)),
                subtasks=tuple(str(s) for s in c.get("subtasks", ())),
                last_heartbeat_age_s=c.get("last_heartbeat_age_s"),
            )
            for c in self._call("GET", "/api/v1/collectors")["collectors"]
        ]

    def events(self, *, tid: int | None = None, limit: int = 200) -> list[EventInfo]:
        q = {"limit": str(limit)} | ({"tid": str(tid)} if tid is not None else {})
        d = self._call("GET", "/api/v1/events?" + urllib.parse.urlencode(q))
        return [EventInfo(**{k: e.get(k) for k in EventInfo.__slots__}) for e in d["events"]]


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
