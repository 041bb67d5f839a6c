"""The documents of the synctool's ``/api/v1`` as frozen dataclasses: written by ``api.py`` with
``to_json``, read back by ``services/cluster.py`` with ``from_json``, so each document's keys are
spelled in one place (``syncwire.py`` is the other wire: SyncPoints in protobuf).

``from_json`` takes what a synctool of schema_version 1 serves and is lenient with what older ones
left out (defaults); a document without its required keys raises ``RpcProtocolError``.

Two names differ between the dataclasses and the JSON, for compatibility with what was served
and printed before they were shared: a subtask's committed point as text is ``position`` here and
``committed_text`` on the wire, and a destination's ``_omsync/table.json`` is ``table_json`` here
and ``table`` on the wire (``DestinationInfo.table`` is its ``db.table``).

Fields declared with ``DETAIL`` are carried by the API's documents but left out of ``summary``,
the form ``omsync ... -o json`` prints (unchanged since its schema_version 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, TypeVar

from omsync_tui.core.errors import OmsyncError, RpcProtocolError, UsageError, task_exit_code
from omsync_tui.core.syncpoint import SyncPoint

DETAIL: Mapping[str, bool] = {"detail": True}
"""``field(metadata=DETAIL)``: in the API's document, not in the CLI's ``summary``."""

Doc = dict[str, Any]
T = TypeVar("T")


def summary(obj: Any) -> Any:
    """A wire dataclass as ``omsync ... -o json`` prints it: ``dataclasses.asdict`` without the
    ``DETAIL`` fields, nested dataclasses likewise."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: summary(getattr(obj, f.name)) for f in fields(obj) if not f.metadata.get("detail")}
    if isinstance(obj, tuple | list):
        return [summary(v) for v in obj]
    if isinstance(obj, dict):
        return {k: summary(v) for k, v in obj.items()}
    return obj


def _parse(what: str, fn: Callable[[], T]) -> T:
    """``fn()``, its missing keys and bad values reported as the synctool's protocol error."""
    try:
        return fn()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RpcProtocolError(
            f"the synctool's {what} document is malformed ({type(exc).__name__}: {exc})"
        ) from None


def _point(d: Any) -> SyncPoint | None:
    return SyncPoint.from_dict(d) if d is not None else None


def _opt_int(v: Any) -> int | None:
    return int(v) if v is not None else None


def _opt_float(v: Any) -> float | None:
    return float(v) if v is not None else None


def lag_text(offsets: int | None, seconds: float | None) -> str:
    """``120 offsets · 14s`` as the CLI and the TUI show a lag (``-`` when nothing is known)."""
    if offsets is None and seconds is None:
        return "-"
    parts = [f"{offsets:,}"] if offsets is not None else []
    if seconds is not None and seconds >= 1:  # under a second is no news
        parts.append(f"{seconds:,.0f}s")
    return " · ".join(parts) if parts else "0"


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """Every ``/api/v1`` error: what went wrong, a hint, the exit code ``omsync task`` documents
    for it (``TaskExit``: 2 a usage error, 1 anything else — never 4, which says no synctool was
    reached), and the error's ``kind`` in omsync's error tree (``usage``, ``not_found``, ...)."""

    error: str
    hint: str | None = None
    exit_code: int = 1
    kind: str = ""
    """``""`` when the answer named none: the rpc layer's own (401, 405, 503), an older synctool's."""

    @classmethod
    def of(cls, exc: OmsyncError) -> ErrorReply:
        return cls(exc.message, exc.hint, int(task_exit_code(exc)), exc.kind)

    @property
    def http_status(self) -> int:
        return {"usage": 400, "not_found": 404}.get(self.kind, 500)

    def to_json(self) -> Doc:
        return {"error": self.error, "hint": self.hint, "exit_code": self.exit_code, "kind": self.kind}

    @classmethod
    def from_json(cls, d: Doc, default: str) -> ErrorReply:
        """Lenient: any error body (the rpc layer's own, a proxy's) gives a reply; ``default``
        is the message when it names none."""
        hint = d.get("hint")
        return cls(
            str(d.get("error") or default),
            str(hint) if hint else None,
            int(d.get("exit_code") or 1),
            str(d.get("kind") or ""),
        )


@dataclass(frozen=True, slots=True)
class SynctoolStatus:
    """``GET /api/v1/status``."""

    endpoint: str
    version: str
    role: str  # leader / follower
    leader: str | None
    zookeeper: str  # connected / suspended / lost / closed
    uptime_s: float
    tasks: int

    def to_json(self) -> Doc:
        return {
            "endpoint": self.endpoint,
            "version": self.version,
            "role": self.role,
            "leader": self.leader,
            "zookeeper": self.zookeeper,
            "uptime_s": self.uptime_s,
            "tasks": self.tasks,
        }

    @classmethod
    def from_json(cls, d: Doc) -> SynctoolStatus:
        return _parse(
            "status",
            lambda: cls(
                endpoint=str(d["endpoint"]),
                version=str(d.get("version", "")),
                role=str(d.get("role", "")),
                leader=d.get("leader"),
                zookeeper=str(d.get("zookeeper", "")),
                uptime_s=float(d.get("uptime_s", 0)),
                tasks=int(d.get("tasks", 0)),
            ),
        )


@dataclass(frozen=True, slots=True)
class SynctoolInfo:
    """One running synctool, in ``GET /api/v1/synctools``."""

    endpoint: str
    role: str  # leader / follower
    version: str
    works: bool  # takes subtasks ([synctool] work)
    subtasks: int  # unfinished subtasks assigned to it
    held: int  # of those, taken up (SendData received)
    rows_received: int  # since it started
    heartbeat_age_s: float | None  # age of its last report; None: it never reported
    started_ms: int = 0

    def to_json(self) -> Doc:
        return {
            "endpoint": self.endpoint,
            "role": self.role,
            "version": self.version,
            "works": self.works,
            "subtasks": self.subtasks,
            "held": self.held,
            "rows_received": self.rows_received,
            "heartbeat_age_s": self.heartbeat_age_s,
            "started_ms": self.started_ms,
        }

    @classmethod
    def from_json(cls, d: Doc) -> SynctoolInfo:
        return _parse(
            "synctool",
            lambda: cls(
                endpoint=str(d["endpoint"]),
                role=str(d.get("role", "")),
                version=str(d.get("version", "")),
                works=bool(d.get("works", True)),
                subtasks=int(d.get("subtasks", 0)),
                held=int(d.get("held", 0)),
                rows_received=int(d.get("rows_received", 0)),
                heartbeat_age_s=_opt_float(d.get("heartbeat_age_s")),
                started_ms=int(d.get("started_ms", 0)),
            ),
        )


@dataclass(frozen=True, slots=True)
class SubtaskInfo:
    """One partition of a task, in ``GET /api/v1/tasks/<name>``."""

    pid: int
    state: str
    collector: str
    tablet: str
    phase: str
    position: str  # the committed point, as text ("committed_text" on the wire)
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
    lag_s: float | None = None
    """Seconds the oldest row the offline side lacks has waited: since it arrived (received, not in
    committed files) or since the collector first reported its entry (not yet sent). 0: none."""
    committed: SyncPoint = field(default_factory=SyncPoint.start, metadata=DETAIL)
    accepted: SyncPoint = field(default_factory=SyncPoint.start, metadata=DETAIL)
    """Where the last SendData the synctool accepted ended (committed or not yet)."""
    settled: SyncPoint = field(default_factory=SyncPoint.start, metadata=DETAIL)
    """Every row before it is in committed files: ``accepted`` when the open range holds no rows
    (entries the collector skipped), else ``committed``. An older synctool's: its committed."""
    rows_received: int = field(default=0, metadata=DETAIL)
    binlog_latest: int = field(default=0, metadata=DETAIL)
    last_update_ms: int = field(default=0, metadata=DETAIL)
    token: str = field(default="", metadata=DETAIL)
    worker: str = ""
    """The synctool that receives, writes and commits it ("" while unassigned)."""

    def to_json(self) -> Doc:
        return {
            "pid": self.pid,
            "state": self.state,
            "collector": self.collector,
            "tablet": self.tablet,
            "phase": self.phase,
            "committed": self.committed.to_dict(),
            "committed_text": self.position,
            "accepted": self.accepted.to_dict(),
            "settled": self.settled.to_dict(),
            "rows": self.rows,
            "bytes": self.bytes,
            "files": self.files,
            "rows_received": self.rows_received,
            "uncommitted_rows": self.uncommitted_rows,
            "binlog_latest": self.binlog_latest,
            "lag_offsets": self.lag_offsets,
            "lag_s": self.lag_s,
            "last_update_ms": self.last_update_ms,
            "last_update_age_s": self.last_update_age_s,
            "silent_s": self.silent_s,
            "retries": self.retries,
            "cause": self.cause,
            "last_error": self.last_error,
            "token": self.token,
            "worker": self.worker,
        }

    @classmethod
    def from_json(cls, d: Doc) -> SubtaskInfo:
        return _parse(
            "subtask",
            lambda: cls(
                pid=int(d["pid"]),
                state=str(d["state"]),
                collector=str(d.get("collector", "")),
                worker=str(d.get("worker", "")),
                tablet=str(d.get("tablet", "")),
                phase=str(d.get("phase", "")),
                position=str(d.get("committed_text", "")),
                rows=int(d.get("rows", 0)),
                bytes=int(d.get("bytes", 0)),
                files=int(d.get("files", 0)),
                uncommitted_rows=int(d.get("uncommitted_rows", 0)),
                lag_offsets=_opt_int(d.get("lag_offsets")),
                lag_s=_opt_float(d.get("lag_s")),
                last_update_age_s=_opt_float(d.get("last_update_age_s")),
                silent_s=float(d.get("silent_s", 0.0)),
                retries=int(d.get("retries", 0)),
                cause=str(d.get("cause", "")),
                last_error=str(d.get("last_error", "")),
                committed=_point(d.get("committed")) or SyncPoint.start(),
                accepted=_point(d.get("accepted")) or SyncPoint.start(),
                settled=_point(d.get("settled")) or _point(d.get("committed")) or SyncPoint.start(),
                rows_received=int(d.get("rows_received", 0)),
                binlog_latest=int(d.get("binlog_latest", 0)),
                last_update_ms=int(d.get("last_update_ms", 0)),
                token=str(d.get("token", "")),
            ),
        )


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """One table task: in ``GET /api/v1/tasks`` without subtasks, in ``GET /api/v1/tasks/<name>``
    with them."""

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
    rows_received: int = 0  # by this synctool since it took the subtasks (rows/s come from it)
    uncommitted_rows: int = 0  # received, not yet in committed files
    lag_s: float | None = None  # the largest of its subtasks'
    subtasks: tuple[SubtaskInfo, ...] = ()
    db: str = field(default="", metadata=DETAIL)
    table: str = field(default="", metadata=DETAIL)
    storage: str = field(default="", metadata=DETAIL)  # memory / ssd / hdd
    created_ms: int = field(default=0, metadata=DETAIL)

    @property
    def failed(self) -> int:
        return self.states.get("FAILED", 0)

    @property
    def lag_text(self) -> str:
        return lag_text(self.lag_offsets, self.lag_s)

    def to_json(self, *, detail: bool) -> Doc:
        """``detail``: with ``subtasks`` (one task's document), else without (the listing's)."""
        doc: Doc = {
            "tid": self.tid,
            "name": self.name,
            "db": self.db,
            "table": self.table,
            "mode": self.mode,
            "dest": self.dest,
            "format": self.format,
            "start_ts": self.start_ts,
            "deletes": self.deletes,
            "storage": self.storage,
            "created_ms": self.created_ms,
            "state": self.state,
            "partitions": self.partitions,
            "states": dict(self.states),
            "rows": self.rows,
            "bytes": self.bytes,
            "files": self.files,
            "last_update_ms": self.last_update_ms,
            "lag_offsets": self.lag_offsets,
            "lag_s": self.lag_s,
            "rows_received": self.rows_received,
            "uncommitted_rows": self.uncommitted_rows,
        }
        if detail:
            doc["subtasks"] = [s.to_json() for s in self.subtasks]
        return doc

    @classmethod
    def from_json(cls, d: Doc) -> TaskInfo:
        return _parse(
            "task",
            lambda: cls(
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
                rows_received=int(d.get("rows_received", 0)),
                uncommitted_rows=int(d.get("uncommitted_rows", 0)),
                lag_s=_opt_float(d.get("lag_s")),
                subtasks=tuple(SubtaskInfo.from_json(s) for s in d.get("subtasks", ())),
                db=str(d.get("db", "")),
                table=str(d.get("table", "")),
                storage=str(d.get("storage", "")),
                created_ms=int(d.get("created_ms", 0)),
            ),
        )


@dataclass(frozen=True, slots=True)
class CollectorInfo:
    """One collector in ``GET /api/v1/collectors``: registered in ZooKeeper, assigned, or both."""

    endpoint: str
    host: str
    registered: bool
    subtasks: tuple[str, ...]  # "db.table/pid" of the unfinished subtasks assigned to it
    last_heartbeat_age_s: float | None

    def to_json(self) -> Doc:
        return {
            "endpoint": self.endpoint,
            "host": self.host,
            "registered": self.registered,
            "subtasks": list(self.subtasks),
            "last_heartbeat_age_s": self.last_heartbeat_age_s,
        }

    @classmethod
    def from_json(cls, d: Doc) -> CollectorInfo:
        return _parse(
            "collector",
            lambda: cls(
                endpoint=str(d["endpoint"]),
                host=str(d.get("host", "")),
                registered=bool(d.get("registered", False)),
                subtasks=tuple(str(s) for s in d.get("subtasks", ())),
                last_heartbeat_age_s=_opt_float(d.get("last_heartbeat_age_s")),
            ),
        )


@dataclass(frozen=True, slots=True)
class EventInfo:
    """One entry of the state-change journal in ``GET /api/v1/events``."""

    ts_ms: int
    tid: int
    pid: int | None  # None: the table task itself
    old: str  # previous state ("" when created)
    new: str
    reason: str
    by: str  # the synctool endpoint that made the change

    def to_json(self) -> Doc:
        return {
            "ts_ms": self.ts_ms,
            "tid": self.tid,
            "pid": self.pid,
            "old": self.old,
            "new": self.new,
            "reason": self.reason,
            "by": self.by,
        }

    @classmethod
    def from_json(cls, d: Doc) -> EventInfo:
        return _parse(
            "event",
            lambda: cls(
                ts_ms=int(d["ts_ms"]),
                tid=int(d["tid"]),
                pid=_opt_int(d.get("pid")),
                old=str(d.get("old", "")),
                new=str(d["new"]),
                reason=str(d.get("reason", "")),
                by=str(d.get("by", "")),
            ),
        )


@dataclass(frozen=True, slots=True)
class TableInfoView:
    """A table of the cluster, as ``GET /api/v1/tables`` lists it for the create pickers."""

    name: str
    tid: int
    partitions: int
    storage: str
    has_task: bool

    def to_json(self) -> Doc:
        return {
            "name": self.name,
            "tid": self.tid,
            "partitions": self.partitions,
            "storage": self.storage,
            "has_task": self.has_task,
        }

    @classmethod
    def from_json(cls, d: Doc) -> TableInfoView:
        return _parse(
            "table",
            lambda: cls(
                name=str(d["name"]),
                tid=int(d["tid"]),
                partitions=int(d["partitions"]),
                storage=str(d.get("storage", "")),
                has_task=bool(d.get("has_task", False)),
            ),
        )


@dataclass(frozen=True, slots=True)
class PartitionCheck:
    """The audit of one partition's files at the destination (``.../verify``)."""

    pid: int
    ok: bool
    files: int
    rows: int
    committed_rows: int
    gaps: tuple[tuple[str, str], ...]
    overlaps: tuple[tuple[str, str], ...]
    bad_rows: tuple[tuple[str, int], ...]
    first: SyncPoint | None = field(default=None, metadata=DETAIL)
    next: SyncPoint | None = field(default=None, metadata=DETAIL)

    def to_json(self) -> Doc:
        return {
            "pid": self.pid,
            "ok": self.ok,
            "files": self.files,
            "rows": self.rows,
            "committed_rows": self.committed_rows,
            "first": self.first.to_dict() if self.first else None,
            "next": self.next.to_dict() if self.next else None,
            "gaps": [list(g) for g in self.gaps],
            "overlaps": [list(o) for o in self.overlaps],
            "bad_rows": [list(b) for b in self.bad_rows],
        }

    @classmethod
    def from_json(cls, d: Doc) -> PartitionCheck:
        return _parse(
            "verify",
            lambda: cls(
                pid=int(d["pid"]),
                ok=bool(d["ok"]),
                files=int(d["files"]),
                rows=int(d["rows"]),
                committed_rows=int(d["committed_rows"]),
                gaps=tuple((str(a), str(b)) for a, b in d.get("gaps", ())),
                overlaps=tuple((str(a), str(b)) for a, b in d.get("overlaps", ())),
                bad_rows=tuple((str(a), int(b)) for a, b in d.get("bad_rows", ())),
                first=_point(d.get("first")),
                next=_point(d.get("next")),
            ),
        )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """``GET /api/v1/tasks/<name>/verify``."""

    name: str
    ok: bool
    partitions: tuple[PartitionCheck, ...]

    def to_json(self) -> Doc:
        return {"name": self.name, "ok": self.ok, "partitions": [p.to_json() for p in self.partitions]}

    @classmethod
    def from_json(cls, d: Doc) -> VerifyReport:
        return _parse(
            "verify",
            lambda: cls(
                name=str(d["name"]),
                ok=bool(d["ok"]),
                partitions=tuple(PartitionCheck.from_json(p) for p in d["partitions"]),
            ),
        )


@dataclass(frozen=True, slots=True)
class TabletHead:
    """One partition in ``GET /api/v1/tasks/<name>/heads``: its leader tablet and the last binlog
    offset that tablet wrote, asked at the call; ``error`` instead when it could not be asked."""

    pid: int
    tablet: str
    offset: int | None
    error: str = ""
    rows: int | None = None  # the tablet's record count for the partition, when it says one

    def to_json(self) -> Doc:
        return {
            "pid": self.pid,
            "tablet": self.tablet,
            "offset": self.offset,
            "error": self.error,
            "rows": self.rows,
        }

    @classmethod
    def from_json(cls, d: Doc) -> TabletHead:
        return _parse(
            "heads",
            lambda: cls(
                pid=int(d["pid"]),
                tablet=str(d["tablet"]),
                offset=_opt_int(d.get("offset")),
                error=str(d.get("error") or ""),
                rows=_opt_int(d.get("rows")),
            ),
        )


@dataclass(frozen=True, slots=True)
class HeldRange:
    """What a destination already holds for one partition."""

    pid: int
    files: int
    rows: int
    first: str  # the points as text
    next: str
    first_point: SyncPoint | None = field(default=None, metadata=DETAIL)
    next_point: SyncPoint | None = field(default=None, metadata=DETAIL)

    def to_json(self) -> Doc:
        return {
            "pid": self.pid,
            "files": self.files,
            "rows": self.rows,
            "first": self.first,
            "next": self.next,
            "first_point": self.first_point.to_dict() if self.first_point else None,
            "next_point": self.next_point.to_dict() if self.next_point else None,
        }

    @classmethod
    def from_json(cls, d: Doc) -> HeldRange:
        return _parse(
            "destination",
            lambda: cls(
                pid=int(d["pid"]),
                files=int(d["files"]),
                rows=int(d["rows"]),
                first=str(d["first"]),
                next=str(d["next"]),
                first_point=_point(d.get("first_point")),
                next_point=_point(d.get("next_point")),
            ),
        )


@dataclass(frozen=True, slots=True)
class DestinationInfo:
    """``GET /api/v1/destination?uri=``: what a destination already holds."""

    uri: str
    table_json: dict[str, Any] | None  # ``_omsync/table.json`` of the task that wrote it ("table")
    partitions: tuple[HeldRange, ...]
    resolved: str = ""  # where the synctool will write: a bare path may go to fs.defaultFS
    note: str = ""  # why, for a bare path ("a bare path: fs.defaultFS hdfs://… from …/core-site.xml")

    @property
    def table(self) -> str | None:
        """``db.table`` of the task that wrote it, if one did."""
        t = self.table_json
        return f"{t.get('db', '')}.{t.get('table', '')}" if t is not None else None

    @property
    def empty(self) -> bool:
        return not self.partitions

    def to_json(self) -> Doc:
        return {
            "uri": self.uri,
            "resolved": self.resolved,
            "note": self.note,
            "table": self.table_json,
            "partitions": [p.to_json() for p in self.partitions],
            "empty": self.empty,
        }

    @classmethod
    def from_json(cls, d: Doc) -> DestinationInfo:
        table = d.get("table")
        return _parse(
            "destination",
            lambda: cls(
                uri=str(d["uri"]),
                table_json=dict(table) if isinstance(table, dict) else None,
                partitions=tuple(HeldRange.from_json(p) for p in d.get("partitions", ())),
                resolved=str(d.get("resolved") or d["uri"]),
                note=str(d.get("note") or ""),
            ),
        )


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """The body of ``POST /api/v1/tasks``; ``extra`` keys go along unread (newer options)."""

    name: str  # db.table
    dest: str
    mode: str = "full"
    start_ts: int = 0
    format: str = "parquet"
    start_offset: int | None = None
    start_offsets: dict[int, int] | None = None
    resume_from_dest: bool = False
    deletes: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Doc:
        d: Doc = {
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

    @classmethod
    def from_json(cls, obj: object) -> CreateRequest:
        """What a client sent; ``UsageError`` for what no request may be (the client's fault)."""
        if not isinstance(obj, dict) or "name" not in obj or "dest" not in obj:
            raise UsageError('create needs a JSON object with at least "name" (db.table) and "dest"')
        known = {f.name for f in fields(cls)} - {"extra"}
        try:
            return cls(
                name=str(obj["name"]),
                dest=str(obj["dest"]),
                mode=str(obj.get("mode", "full")),
                start_ts=int(obj.get("start_ts", 0)),
                format=str(obj.get("format", "parquet")),
                start_offset=_opt_int(obj.get("start_offset")),
                start_offsets=(
                    {int(pid): int(off) for pid, off in dict(obj["start_offsets"]).items()}
                    if obj.get("start_offsets") is not None
                    else None
                ),
                resume_from_dest=bool(obj.get("resume_from_dest", False)),
                deletes=bool(obj.get("deletes", False)),
                extra={k: v for k, v in obj.items() if k not in known},
            )
        except (TypeError, ValueError) as exc:
            raise UsageError(f"bad create request: {exc}") from None
