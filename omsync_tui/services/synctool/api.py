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
GET      /api/v1/tasks/<db.table>/heads         each partition's last binlog offset, asked of its tablet now
GET      /api/v1/collectors                     registered collectors and their subtasks
GET      /api/v1/synctools                      running synctools: role, subtasks, rows received
POST     /api/v1/subtasks/<tid>/<pid>/release   the leader's call: commit what was accepted, let go
GET      /api/v1/events?tid=N&limit=N           the state-change journal, newest last
GET      /api/v1/tables                         the cluster's tables (name, tid, partitions, task?)
GET      /api/v1/destination?uri=U              what a destination already holds, per partition
=======  =====================================  ==============================================

The documents are ``wire``'s dataclasses; errors are ``{"error": message, "hint": ..., "exit_code":
N, "kind": K}`` (``wire.ErrorReply``): ``kind`` is the error's place in omsync's error tree
(``usage`` → 400, ``not_found`` → 404, ``cluster``, ``format``, ``rpc``, ``error`` → 500) and
``exit_code`` what ``omsync task`` exits with for it, from the codes it documents (2 usage, 1
anything else; 4 is only ever "no synctool answered"). A path no call serves is such a 404 too; a
method a path does not serve (405), a missing token (401) and a stopping server (503) are the rpc
layer's ``{"error", "code"}``. Calls that change state need the configured auth token (checked
by the ``RpcServer``, 401 without it); followers refuse them naming the leader.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from omsync_tui import __version__
from omsync_tui.core.errors import NotFoundError, OmsyncError, UsageError
from omsync_tui.core.states import Format, Mode, State, task_state
from omsync_tui.core.syncpoint import Phase
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.openmldb.zkpaths import ZkPaths
from omsync_tui.rpc.service import CallContext, HttpRequest, RouteResult, Routes, Service
from omsync_tui.services import syncwire
from omsync_tui.services.sinks import readback
from omsync_tui.services.synctool.heads import tablet_heads
from omsync_tui.services.synctool.manager import PartitionView, SyncManager
from omsync_tui.services.synctool.model import TaskRecord
from omsync_tui.services.synctool.newtask import CreateOptions, storage_name
from omsync_tui.services.synctool.store import Store
from omsync_tui.services.synctool.wire import (
    CollectorInfo,
    CreateRequest,
    ErrorReply,
    EventInfo,
    PartitionCheck,
    SubtaskInfo,
    SynctoolInfo,
    SynctoolStatus,
    TableInfoView,
    TaskInfo,
    VerifyReport,
)
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
    pr.tablet_endpoint, pr.token, pr.dest = rec.tablet, rec.token, task.dest
    pr.des_endpoint = rec.worker or endpoint  # the synctool the collector sends to
    msg.data_collector = rec.collector
    msg.count = p.rows_received
    msg.status = rec.state.value


# -- /api/v1 --------------------------------------------------------------------------------

API = "/api/v1"
TASKS = API + "/tasks/"  # the prefix of one task's calls: <name>[/<action>]
SUBTASKS = API + "/subtasks/"  # <tid>/<pid>/release
ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

Reply = tuple[int, dict[str, object]]
"""An HTTP status and the document answered (``schema_version`` is added to it)."""


def _json(status: int, obj: object) -> RouteResult:
    body = dict(obj, schema_version=SCHEMA_VERSION) if isinstance(obj, dict) else obj
    return status, "application/json", json.dumps(body, ensure_ascii=False).encode()


def _error(exc: OmsyncError) -> RouteResult:
    reply = ErrorReply.of(exc)
    return _json(reply.http_status, reply.to_json())


def subtask_info(p: PartitionView) -> SubtaskInfo:
    rec = p.record
    now_ms = int(time.time() * 1000)
    lag = None
    settled = p.settled
    if rec.binlog_latest:
        # what the offline side lacks, received rows not in committed files too; in the snapshot
        # phase the whole binlog is still to come
        lag = (
            max(0, rec.binlog_latest + 1 - settled.offset)
            if settled.phase is Phase.BINLOG
            else rec.binlog_latest
        )
    since = p.pending_since() if not rec.state.final else None
    lag_s = round(max(0.0, time.time() - since), 1) if since is not None else (None if lag is None else 0.0)
    return SubtaskInfo(
        pid=p.pid,
        state=rec.state.value,
        collector=rec.collector,
        worker=rec.worker,
        tablet=rec.tablet,
        phase=rec.committed.phase.value,
        committed=rec.committed,
        position=str(rec.committed),
        accepted=p.accepted,
        settled=settled,
        rows=rec.rows,
        bytes=rec.bytes,
        files=rec.files,
        rows_received=p.rows_received,
        uncommitted_rows=p.uncommitted_rows,
        binlog_latest=rec.binlog_latest,
        lag_offsets=lag,
        lag_s=lag_s,
        last_update_ms=rec.updated_ms,
        last_update_age_s=round((now_ms - rec.updated_ms) / 1000, 1) if rec.updated_ms else None,
        silent_s=round(time.monotonic() - p.last_send, 1),
        retries=rec.retries,
        cause=rec.cause,
        last_error=rec.last_error,
        token=rec.token,
    )


def synctool_infos(m: SyncManager, leader: str | None) -> list[SynctoolInfo]:
    """The running synctools by endpoint, as ``GET /api/v1/synctools`` and ``/status`` show them:
    subtasks are the unfinished records naming each as worker, held the ones its report carries."""
    live = m.synctools()
    assigned: dict[str, int] = {}
    for _t, ps in m.tables():
        for p in ps:
            if p.record.worker and not p.record.state.final:
                assigned[p.record.worker] = assigned.get(p.record.worker, 0) + 1
    now_ms = time.time() * 1000
    out = []
    for ep in sorted(live):
        data = live[ep]
        beat = data.get("heartbeat_ms")
        subtasks = data.get("subtasks")
        out.append(
            SynctoolInfo(
                endpoint=ep,
                role="leader" if ep == leader else "follower",
                version=str(data.get("version", "")),
                works=bool(data.get("works", True)),
                subtasks=assigned.get(ep, 0),
                held=len(subtasks) if isinstance(subtasks, list) else 0,
                rows_received=int(data.get("rows_received", 0)),
                heartbeat_age_s=round((now_ms - int(beat)) / 1000, 1) if beat else None,
                started_ms=int(data.get("started_ms", 0)),
            )
        )
    return out


def task_info(task: TaskRecord, parts: list[PartitionView], *, detail: bool) -> TaskInfo:
    """The task as ``/api/v1`` shows it; ``detail``: with its subtasks."""
    counts: dict[str, int] = {s.value: 0 for s in State}
    for p in parts:
        counts[p.record.state.value] += 1
    subtasks = tuple(subtask_info(p) for p in parts)
    return TaskInfo(
        tid=task.tid,
        name=task.name,
        db=task.db,
        table=task.table,
        mode=task.mode.value,
        dest=task.dest,
        format=task.format.value,
        start_ts=task.start_ts,
        deletes=task.deletes,
        storage=task.storage,
        created_ms=task.created_ms,
        state=task_state(p.record.state for p in parts).value,
        partitions=len(parts),
        states=counts,
        rows=sum(p.record.rows for p in parts),
        bytes=sum(p.record.bytes for p in parts),
        files=sum(p.record.files for p in parts),
        last_update_ms=max((p.record.updated_ms for p in parts), default=0),
        lag_offsets=sum(s.lag_offsets for s in subtasks if s.lag_offsets is not None),
        lag_s=max((s.lag_s for s in subtasks if s.lag_s is not None), default=None),
        rows_received=sum(s.rows_received for s in subtasks),
        uncommitted_rows=sum(s.uncommitted_rows for s in subtasks),
        subtasks=subtasks if detail else (),
    )


class Api:
    """``/api/v1`` over one synctool: a handler per call and the table routing to them.

    Every call but a GET changes state: the ``RpcServer`` asks for the auth token before the
    handler runs (``Routes.add(mutating=...)``), the one place the token is checked.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.m = ctx.manager
        self.calls: dict[str, dict[str, Callable[[HttpRequest], Reply]]] = {
            "/api/v1/status": {"GET": self.status},
            "/api/v1/tasks": {"GET": self.list_tasks, "POST": self.create},
            "/api/v1/collectors": {"GET": self.collectors},
            "/api/v1/synctools": {"GET": self.synctools},
            "/api/v1/events": {"GET": self.events},
            "/api/v1/tables": {"GET": self.tables},
        }
        # TASKS + <name>[/<action>]: (method, action) → handler(request, name)
        self.task_calls: dict[tuple[str, str], Callable[[HttpRequest, str], Reply]] = {
            ("GET", ""): self.show,
            ("DELETE", ""): self.delete,
            ("POST", "retry"): self.retry,
            ("GET", "verify"): self.verify,
            ("GET", "heads"): self.heads,
        }

    def add_to(self, routes: Routes) -> Routes:
        for path, by_method in self.calls.items():
            routes.add(path, self.handle, methods=by_method, mutating=_changing(by_method))
        methods = {method for method, _action in self.task_calls}
        routes.add(TASKS, self.handle, methods=methods, prefix=True, mutating=_changing(methods))
        routes.add(SUBTASKS, self.handle, methods=["POST"], prefix=True, mutating=["POST"])
        # any other path under /api/v1 is answered here too, so its 404 is an ErrorReply like the
        # rest (kind, exit_code) and not the rpc layer's bare one
        return routes.add(API + "/", self.unknown, methods=ANY_METHOD, prefix=True)

    def unknown(self, r: HttpRequest) -> RouteResult:
        return _error(
            NotFoundError(
                f"no {r.path} in /api/v1", hint="the calls are listed in omsync_tui/services/synctool/api.py"
            )
        )

    def handle(self, r: HttpRequest) -> RouteResult:
        method = "GET" if r.method == "HEAD" else r.method
        try:
            if r.path.startswith(SUBTASKS):
                status, doc = self.release(r.path[len(SUBTASKS) :])
            elif r.path.startswith(TASKS):
                name, _, action = urllib.parse.unquote(r.path[len(TASKS) :]).partition("/")
                call = self.task_calls.get((method, action))
                if call is None:
                    raise NotFoundError(
                        f"no such action {action!r} on a task" if action else f"no {method} on a task"
                    )
                status, doc = call(r, name)
            else:
                status, doc = self.calls[r.path][method](r)
        except OmsyncError as exc:
            return _error(exc)
        return _json(status, doc)

    # -- the calls ------------------------------------------------------------------------------

    def status(self, _r: HttpRequest) -> Reply:
        ctx = self.ctx
        st = SynctoolStatus(
            endpoint=ctx.endpoint,
            version=__version__,
            role=ctx.role(),
            leader=ctx.leader(),
            zookeeper=ctx.zk_state(),
            uptime_s=round(time.time() - ctx.started, 1),
            tasks=len(self.m.tasks()),
        )
        return 200, st.to_json()

    def list_tasks(self, _r: HttpRequest) -> Reply:
        return 200, {
            "tasks": [task_info(t, ps, detail=False).to_json(detail=False) for t, ps in self.m.tables()]
        }

    def create(self, r: HttpRequest) -> Reply:
        try:
            obj = json.loads(r.body or b"{}")
        except ValueError as exc:
            raise UsageError(f"the body is not JSON: {exc}") from None
        req = CreateRequest.from_json(obj)
        try:
            opts = CreateOptions(
                name=req.name,
                dest=req.dest,
                mode=Mode.parse(req.mode),
                start_ts=req.start_ts,
                format=Format(req.format),
                start_offset=req.start_offset,
                start_offsets=req.start_offsets,
                resume_from_dest=req.resume_from_dest,
                deletes=req.deletes,
            )
        except (TypeError, ValueError) as exc:
            raise UsageError(f"bad create request: {exc}") from None
        task = self.m.create(opts)
        return 201, {"task": {"tid": task.tid, "name": task.name, "partitions": task.partitions}}

    def show(self, _r: HttpRequest, name: str) -> Reply:
        for t, ps in self.m.tables():
            if t.name == name or str(t.tid) == name:
                return 200, {"task": task_info(t, ps, detail=True).to_json(detail=True)}
        raise NotFoundError(f"no sync task for {name}")

    def delete(self, _r: HttpRequest, name: str) -> Reply:
        return 200, {"deleted": self.m.delete(name).name}

    def retry(self, r: HttpRequest, name: str) -> Reply:
        try:
            body = json.loads(r.body or b"{}")
            pid = body.get("pid") if isinstance(body, dict) else None
            only = int(pid) if pid is not None else None
        except (ValueError, TypeError) as exc:
            raise UsageError(f"bad request: {exc}") from None
        return 200, {"retried": self.m.retry(name, only)}

    def verify(self, _r: HttpRequest, name: str) -> Reply:
        task, dest = self.m.destination(name)
        parts = {p.pid: p for t, ps in self.m.tables() if t.tid == task.tid for p in ps}
        checks = []
        for pid in sorted(parts):
            rec = parts[pid].record
            a = readback.audit(dest, pid, expect_rows=rec.rows)
            checks.append(
                PartitionCheck(
                    pid=pid,
                    ok=a.ok,
                    files=a.files,
                    rows=a.rows,
                    committed_rows=rec.rows,
                    first=a.first,
                    next=a.next,
                    gaps=tuple((str(x), str(y)) for x, y in a.gaps),
                    overlaps=tuple((f.path, g.path) for f, g in a.overlaps),
                    bad_rows=tuple((f.path, n) for f, n in a.bad_rows),
                )
            )
        report = VerifyReport(task.name, all(c.ok for c in checks), tuple(checks))
        return 200, report.to_json()

    def heads(self, _r: HttpRequest, name: str) -> Reply:
        """Where the tablets stand now (``heads.py``): what ``task wait`` waits for."""
        task = self.m.task(name)
        timeout = self.m.config.synctool.request_timeout_s
        found = tablet_heads(self.ctx.zk, ZkPaths(self.ctx.root_path), task.tid, timeout=timeout)
        return 200, {"heads": [h.to_json() for h in found]}

    def collectors(self, _r: HttpRequest) -> Reply:
        registered = list_collectors(self.ctx.zk, ZkPaths(self.ctx.root_path))
        assigned: dict[str, list[str]] = {}
        silent: dict[str, list[float]] = {}
        for t, ps in self.m.tables():
            for p in ps:
                if p.record.collector and not p.record.state.final:
                    assigned.setdefault(p.record.collector, []).append(f"{t.name}/{p.pid}")
                    silent.setdefault(p.record.collector, []).append(round(time.monotonic() - p.last_send, 1))
        out = [
            CollectorInfo(
                endpoint=ep,
                host=ep.rsplit(":", 1)[0],
                registered=ep in registered,
                subtasks=tuple(assigned.get(ep, [])),
                last_heartbeat_age_s=min(silent[ep]) if ep in silent else None,
            ).to_json()
            for ep in sorted(set(registered) | set(assigned))
        ]
        return 200, {"collectors": out}

    def synctools(self, _r: HttpRequest) -> Reply:
        return 200, {"synctools": [s.to_json() for s in synctool_infos(self.m, self.ctx.leader())]}

    def release(self, rest: str) -> Reply:
        """The leader moves a subtask: commit what was accepted, then let it go."""
        parts = rest.split("/")
        if len(parts) != 3 or parts[2] != "release" or not (parts[0].isdigit() and parts[1].isdigit()):
            raise NotFoundError(f"no {SUBTASKS}{rest} in /api/v1", hint="the call is <tid>/<pid>/release")
        rec = self.m.worker.release(int(parts[0]), int(parts[1]))
        return 200, {"released": rec is not None, "committed": str(rec.committed) if rec else None}

    def tables(self, _r: HttpRequest) -> Reply:
        """The cluster's tables (for pickers): name, tid, partitions, storage, and whether a task exists."""
        infos = list_tables(self.ctx.zk, ZkPaths(self.ctx.root_path))
        tasked = {t.tid for t in self.m.tasks()}
        out = [
            TableInfoView(
                name=f"{i.db}.{i.name}",
                tid=i.tid,
                partitions=len(i.table_partition),
                storage=storage_name(int(i.storage_mode)),
                has_task=i.tid in tasked,
            ).to_json()
            for i in infos
        ]
        return 200, {"tables": out}

    def events(self, r: HttpRequest) -> Reply:
        q = urllib.parse.parse_qs(r.query)
        try:
            tid = int(q["tid"][0]) if "tid" in q else None
            limit = int(q.get("limit", ["200"])[0])
        except ValueError as exc:
            raise UsageError(f"bad query: {exc}") from None
        evs = self.ctx.store.events(tid=tid, limit=limit)
        return 200, {
            "events": [EventInfo(e.ts_ms, e.tid, e.pid, e.old, e.new, e.reason, e.by).to_json() for e in evs]
        }


def _changing(methods: Iterable[str]) -> list[str]:
    """The methods that change state: every one but GET."""
    return [m for m in methods if m != "GET"]
