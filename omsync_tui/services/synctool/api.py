"""What the synctool serves: OpenMLDB's ``SyncTool`` service and omsync's ``/api/v1`` JSON.

``SyncTool.CreateSyncTask / DeleteSyncTask / TaskStatus / SendData`` keep the original's wire
contract (so ``synctool_helper.py`` and the C++ DataCollector work against omsync): errors are
``code -1`` with a message, ``TaskStatus`` lists every subtask with a ``readableInfo`` string.

``/api/v1`` is what ``omsync task`` and ``omsync tui`` read (JSON, ``schema_version`` 1):

=======  =====================================  ==============================================
GET      /api/v1/status                         this synctool: endpoint, leader, role, uptime
GET      /api/v1/tasks                          every table task with subtask state counts
GET      /api/v1/tasks/<db.table>               one task with its subtasks
POST     /api/v1/tasks                          create {name, dest, mode, start_ts, format, ...}
DELETE   /api/v1/tasks/<db.table>               delete (files stay at the destination)
POST     /api/v1/tasks/<db.table>/retry         retry FAILED subtasks {pid?}
GET      /api/v1/tasks/<db.table>/verify        audit the destination (DESIGN §3)
GET      /api/v1/collectors                     registered collectors and their subtasks
GET      /api/v1/events?tid=N&limit=N           the state-change journal, newest last
GET      /api/v1/tables                         the cluster's tables (name, tid, partitions, task?)
GET      /api/v1/destination?uri=U              what a destination already holds, per partition
=======  =====================================  ==============================================

Errors are ``{"error": message, "hint": ..., "exit_code": N}`` with an HTTP status by kind.
Mutating calls need the configured auth token; followers refuse them naming the leader.
"""

from __future__ import annotations

import hmac
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from omsync_tui import __version__
from omsync_tui.core.errors import NotFoundError, OmsyncError, UsageError
from omsync_tui.core.states import Format, Mode, State, task_state
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.openmldb.zkpaths import ZkPaths
from omsync_tui.rpc.service import CallContext, HttpRequest, RouteResult, Routes, Service
from omsync_tui.services import syncwire
from omsync_tui.services.sinks import readback
from omsync_tui.services.synctool.manager import PartitionView, SyncManager
from omsync_tui.services.synctool.model import TaskRecord
from omsync_tui.services.synctool.newtask import CreateOptions, storage_name
from omsync_tui.services.synctool.store import Store
from omsync_tui.services.zk.reads import list_collectors, list_tables

SCHEMA_VERSION = 1
SYNC_TOOL = "openmldb.datasync.SyncTool"


@dataclass
class Context:
    manager: SyncManager
    store: Store
    zk: Any
    root_path: str
    endpoint: str
    started: float
    role: Callable[[], str]
    leader: Callable[[], str | None]
    zk_state: Callable[[], str]
    auth_token: str | None = None

    def authorized(self, r: HttpRequest) -> bool:
        """Mutating HTTP calls carry ``Authorization: Bearer <token>`` when a token is configured."""
        if not self.auth_token:
            return True
        return r.auth_token is not None and hmac.compare_digest(r.auth_token, self.auth_token.encode())


# -- the original protocol ------------------------------------------------------------------


def sync_tool_service(ctx: Context) -> Service:
    m = ctx.manager

    def general(fn: Callable[[], object]) -> data_sync_pb2.GeneralResponse:
        try:
            fn()
        except OmsyncError as exc:
            return data_sync_pb2.GeneralResponse(
                code=-1, msg=exc.message + (f" ({exc.hint})" if exc.hint else "")
            )
        return data_sync_pb2.GeneralResponse(code=0, msg="ok")

    def create(req: data_sync_pb2.CreateSyncTaskRequest, _a: bytes, _c: CallContext) -> tuple[Any, bytes]:
        opts = CreateOptions(
            name=f"{req.db}.{req.name}",
            dest=req.dest,
            mode=Mode.from_wire(req.mode),
            start_ts=req.start_ts if req.mode == data_sync_pb2.kIncrementalByTimestamp else 0,
        )
        return general(lambda: m.create(opts)), b""

    def delete(req: data_sync_pb2.DeleteSyncTaskRequest, _a: bytes, _c: CallContext) -> tuple[Any, bytes]:
        return general(lambda: m.delete(f"{req.db}.{req.name}")), b""

    def status(req: data_sync_pb2.TaskStatusRequest, _a: bytes, _c: CallContext) -> tuple[Any, bytes]:
        resp = data_sync_pb2.TaskStatusResponse()
        resp.response.code = 0
        if req.clear_all:
            try:
                for task, _parts in m.tables():
                    m.delete(task.name)
            except OmsyncError as exc:
                resp.response.code, resp.response.msg = -1, exc.message
            return resp, b""
        for task, parts in m.tables():
            for p in parts:
                _task_message(resp.task.add(), task, p, ctx.endpoint)
                updated = p.record.updated_ms
                path = f"zk:{ZkPaths(ctx.root_path).root}/sync_tool/omsync/tasks/{task.tid}/{p.pid}"
                resp.readableInfo.append(f"lastUpdateTime={updated};progressPath={path}")
        return resp, b""

    def send_data(
        req: data_sync_pb2.SendDataRequest, attachment: bytes, _c: CallContext
    ) -> tuple[Any, bytes]:
        return m.send_data(req, attachment).to_proto(), b""

    return (
        Service(SYNC_TOOL)
        .add(
            "CreateSyncTask",
            data_sync_pb2.CreateSyncTaskRequest,
            data_sync_pb2.GeneralResponse,
            create,
            mutating=True,
        )
        .add(
            "DeleteSyncTask",
            data_sync_pb2.DeleteSyncTaskRequest,
            data_sync_pb2.GeneralResponse,
            delete,
            mutating=True,
        )
        .add("TaskStatus", data_sync_pb2.TaskStatusRequest, data_sync_pb2.TaskStatusResponse, status)
        .add("SendData", data_sync_pb2.SendDataRequest, data_sync_pb2.SendDataResponse, send_data)
    )


def _task_message(msg: data_sync_pb2.Task, task: TaskRecord, p: PartitionView, endpoint: str) -> None:
    rec = p.record
    pr = msg.progress
    pr.tid, pr.pid = task.tid, p.pid
    pr.mode = task.mode.wire  # type: ignore[assignment]
    pr.start_ts = task.start_ts
    pr.sync_point.CopyFrom(syncwire.to_proto(rec.committed))
    pr.tablet_endpoint, pr.des_endpoint, pr.token, pr.dest = rec.tablet, endpoint, rec.token, task.dest
    msg.data_collector = rec.collector
    msg.count = p.rows_received
    msg.status = rec.state.value


# -- /api/v1 --------------------------------------------------------------------------------


def _json(status: int, obj: object) -> RouteResult:
    body = dict(obj, schema_version=SCHEMA_VERSION) if isinstance(obj, dict) else obj
    return status, "application/json", json.dumps(body, ensure_ascii=False).encode()


def _error(exc: OmsyncError) -> RouteResult:
    status = 404 if isinstance(exc, NotFoundError) else 400 if isinstance(exc, UsageError) else 500
    return _json(status, {"error": exc.message, "hint": exc.hint, "exit_code": exc.exit_code})


def subtask_view(task: TaskRecord, p: PartitionView) -> dict[str, object]:
    rec = p.record
    now_ms = int(time.time() * 1000)
    lag = None
    if rec.binlog_latest and p.accepted.phase.value == "binlog":
        lag = max(0, rec.binlog_latest + 1 - p.accepted.offset)
    return {
        "pid": p.pid,
        "state": rec.state.value,
        "collector": rec.collector,
        "tablet": rec.tablet,
        "phase": rec.committed.phase.value,
        "committed": rec.committed.to_dict(),
        "committed_text": str(rec.committed),
        "accepted": p.accepted.to_dict(),
        "rows": rec.rows,
        "bytes": rec.bytes,
        "files": rec.files,
        "rows_received": p.rows_received,
        "uncommitted_rows": p.writer.rows if p.writer is not None else 0,
        "binlog_latest": rec.binlog_latest,
        "lag_offsets": lag,
        "last_update_ms": rec.updated_ms,
        "last_update_age_s": round((now_ms - rec.updated_ms) / 1000, 1) if rec.updated_ms else None,
        "silent_s": round(time.monotonic() - p.last_send, 1),
        "retries": rec.retries,
        "cause": rec.cause,
        "last_error": rec.last_error,
        "token": rec.token,
    }


def task_view(task: TaskRecord, parts: list[PartitionView], *, detail: bool) -> dict[str, object]:
    counts: dict[str, int] = {s.value: 0 for s in State}
    for p in parts:
        counts[p.record.state.value] += 1
    view: dict[str, object] = {
        "tid": task.tid,
        "name": task.name,
        "db": task.db,
        "table": task.table,
        "mode": task.mode.value,
        "dest": task.dest,
        "format": task.format.value,
        "start_ts": task.start_ts,
        "deletes": task.deletes,
        "storage": task.storage,
        "created_ms": task.created_ms,
        "state": task_state(p.record.state for p in parts).value,
        "partitions": len(parts),
        "states": counts,
        "rows": sum(p.record.rows for p in parts),
        "bytes": sum(p.record.bytes for p in parts),
        "files": sum(p.record.files for p in parts),
        "last_update_ms": max((p.record.updated_ms for p in parts), default=0),
        "lag_offsets": sum(
            v for v in (subtask_view(task, p)["lag_offsets"] for p in parts) if isinstance(v, int)
        ),
    }
    if detail:
        view["subtasks"] = [subtask_view(task, p) for p in parts]
    return view


def api_routes(ctx: Context, routes: Routes) -> Routes:
    m = ctx.manager

    def status(_r: HttpRequest) -> RouteResult:
        return _json(
            200,
            {
                "endpoint": ctx.endpoint,
                "version": __version__,
                "role": ctx.role(),
                "leader": ctx.leader(),
                "zookeeper": ctx.zk_state(),
                "uptime_s": round(time.time() - ctx.started, 1),
                "tasks": len(m.tables()),
            },
        )

    def unauthorized() -> RouteResult:
        return _json(401, {"error": "this call changes state and needs the auth token", "exit_code": 2})

    def tasks(r: HttpRequest) -> RouteResult:
        try:
            if r.method == "POST":
                if not ctx.authorized(r):
                    return unauthorized()
                return _json(201, {"task": _create(m, r.body)})
            return _json(200, {"tasks": [task_view(t, ps, detail=False) for t, ps in m.tables()]})
        except OmsyncError as exc:
            return _error(exc)

    def one_task(r: HttpRequest) -> RouteResult:
        rest = urllib.parse.unquote(r.path[len("/api/v1/tasks/") :])
        name, _, action = rest.partition("/")
        if r.method != "GET" and not ctx.authorized(r):
            return unauthorized()
        try:
            if action == "retry" and r.method == "POST":
                body = json.loads(r.body or b"{}")
                pid = body.get("pid") if isinstance(body, dict) else None
                return _json(200, {"retried": m.retry(name, int(pid) if pid is not None else None)})
            if action == "verify" and r.method == "GET":
                return _json(200, _verify(m, name))
            if action:
                raise NotFoundError(f"no such action {action!r} on a task")
            if r.method == "DELETE":
                task = m.delete(name)
                return _json(200, {"deleted": task.name})
            for t, ps in m.tables():
                if t.name == name or str(t.tid) == name:
                    return _json(200, {"task": task_view(t, ps, detail=True)})
            raise NotFoundError(f"no sync task for {name}")
        except (ValueError, TypeError) as exc:
            return _error(UsageError(f"bad request: {exc}"))
        except OmsyncError as exc:
            return _error(exc)

    def collectors(_r: HttpRequest) -> RouteResult:
        try:
            registered = list_collectors(ctx.zk, ZkPaths(ctx.root_path))
        except OmsyncError as exc:
            return _error(exc)
        assigned: dict[str, list[str]] = {}
        for t, ps in m.tables():
            for p in ps:
                if p.record.collector and not p.record.state.final:
                    assigned.setdefault(p.record.collector, []).append(f"{t.name}/{p.pid}")
        out = []
        for ep in sorted(set(registered) | set(assigned)):
            silent = [
                round(time.monotonic() - p.last_send, 1)
                for _t, ps in m.tables()
                for p in ps
                if p.record.collector == ep and not p.record.state.final
            ]
            out.append(
                {
                    "endpoint": ep,
                    "host": ep.rsplit(":", 1)[0],
                    "registered": ep in registered,
                    "subtasks": assigned.get(ep, []),
                    "last_heartbeat_age_s": min(silent) if silent else None,
                }
            )
        return _json(200, {"collectors": out})

    def tables(_r: HttpRequest) -> RouteResult:
        """The cluster's tables (for pickers): name, tid, partitions, storage, and whether a task exists."""
        try:
            infos = list_tables(ctx.zk, ZkPaths(ctx.root_path))
        except OmsyncError as exc:
            return _error(exc)
        tasked = {t.tid for t, _ps in m.tables()}
        out = [
            {
                "name": f"{i.db}.{i.name}",
                "tid": i.tid,
                "partitions": len(i.table_partition),
                "storage": storage_name(int(i.storage_mode)),
                "has_task": i.tid in tasked,
            }
            for i in infos
        ]
        return _json(200, {"tables": out})

    def events(r: HttpRequest) -> RouteResult:
        q = urllib.parse.parse_qs(r.query)
        try:
            tid = int(q["tid"][0]) if "tid" in q else None
            limit = int(q.get("limit", ["200"])[0])
            evs = ctx.store.events(tid=tid, limit=limit)
        except ValueError as exc:
            return _error(UsageError(f"bad query: {exc}"))
        except OmsyncError as exc:
            return _error(exc)
        return _json(200, {"events": [asdict(e) for e in evs]})

    return (
        routes.add("/api/v1/status", status)
        .add("/api/v1/tasks", tasks, methods=("GET", "POST"), mutating=False)
        .add("/api/v1/tasks/", one_task, methods=("GET", "POST", "DELETE"), prefix=True)
        .add("/api/v1/collectors", collectors)
        .add("/api/v1/events", events)
        .add("/api/v1/tables", tables)
    )


def _create(m: SyncManager, body: bytes) -> dict[str, object]:
    try:
        obj = json.loads(body or b"{}")
    except ValueError as exc:
        raise UsageError(f"the body is not JSON: {exc}") from None
    if not isinstance(obj, dict) or "name" not in obj or "dest" not in obj:
        raise UsageError('create needs a JSON object with at least "name" (db.table) and "dest"')
    try:
        opts = CreateOptions(
            name=str(obj["name"]),
            dest=str(obj["dest"]),
            mode=Mode.parse(str(obj.get("mode", "full"))),
            start_ts=int(obj.get("start_ts", 0)),
            format=Format(str(obj.get("format", "parquet"))),
            start_offset=int(obj["start_offset"]) if obj.get("start_offset") is not None else None,
            start_offsets=(
                {int(pid): int(off) for pid, off in dict(obj["start_offsets"]).items()}
                if obj.get("start_offsets") is not None
                else None
            ),
            resume_from_dest=bool(obj.get("resume_from_dest", False)),
            deletes=bool(obj.get("deletes", False)),
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(f"bad create request: {exc}") from None
    task = m.create(opts)
    return {"tid": task.tid, "name": task.name, "partitions": task.partitions}


def _verify(m: SyncManager, name: str) -> dict[str, object]:
    task, dest = m.destination(name)
    parts = {p.pid: p for t, ps in m.tables() if t.tid == task.tid for p in ps}
    out = []
    ok = True
    for pid in sorted(parts):
        rec = parts[pid].record
        a = readback.audit(dest, pid, expect_rows=rec.rows)
        ok = ok and a.ok
        out.append(
            {
                "pid": pid,
                "ok": a.ok,
                "files": a.files,
                "rows": a.rows,
                "committed_rows": rec.rows,
                "first": a.first.to_dict() if a.first else None,
                "next": a.next.to_dict() if a.next else None,
                "gaps": [[str(x), str(y)] for x, y in a.gaps],
                "overlaps": [[f.path, g.path] for f, g in a.overlaps],
                "bad_rows": [[f.path, n] for f, n in a.bad_rows],
            }
        )
    return {"name": task.name, "ok": ok, "partitions": out}
