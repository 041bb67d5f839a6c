"""What the synctool keeps in ZooKeeper about tasks, as frozen dataclasses with a JSON form.

``TaskRecord`` (``<root>/sync_tool/omsync/tasks/<tid>``) is the table task as created;
``SubtaskRecord`` (``.../tasks/<tid>/<pid>``) one partition's assignment and *committed*
progress — the point up to which rows are in renamed files at the destination (DESIGN §3).
``Event`` (``.../events/e-<seq>``) is one entry of the state-change journal.

JSON, not protobuf: operators read these znodes with ``zkCli get``. Unknown keys are kept out,
missing optional keys take their defaults, so records from older omsync versions still load.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from omsync_tui.core.errors import ClusterError
from omsync_tui.core.states import Format, Mode, State
from omsync_tui.core.syncpoint import SyncPoint


def _load(cls: type[Any], data: bytes, where: str) -> dict[str, Any]:
    try:
        raw = json.loads(data.decode())
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ClusterError(f"znode {where} does not hold a {cls.__name__} ({exc})") from None
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in raw.items() if k in names}


@dataclass(frozen=True, slots=True)
class TaskRecord:
    tid: int
    db: str
    table: str
    mode: Mode
    dest: str
    format: Format = Format.PARQUET
    start_ts: int = 0
    deletes: bool = False
    partitions: int = 0
    created_ms: int = 0
    storage: str = ""  # memory / ssd / hdd, for display

    @property
    def name(self) -> str:
        return f"{self.db}.{self.table}"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str = "task") -> TaskRecord:
        d = _load(cls, data, where)
        try:
            d["mode"] = Mode(d["mode"])
            d["format"] = Format(d.get("format", "parquet"))
            return cls(**d)
        except (KeyError, TypeError, ValueError) as exc:
            raise ClusterError(f"znode {where}: bad task record ({exc})") from None


@dataclass(frozen=True, slots=True)
class SubtaskRecord:
    tid: int
    pid: int
    state: State = State.INIT
    token: str = ""
    collector: str = ""  # endpoint of the collector the subtask is assigned to
    worker: str = ""  # endpoint of the synctool that receives, writes and commits it (des_endpoint)
    tablet: str = ""  # the partition leader's endpoint at assignment
    committed: SyncPoint = field(default_factory=SyncPoint.start)
    """Rows before this point are in committed (renamed) files."""
    rows: int = 0  # rows in committed files
    bytes: int = 0  # bytes of committed files
    files: int = 0  # committed files
    retries: int = 0  # reassignments since the last success (the retry budget counts these)
    cause: str = ""  # machine-readable cause of FAILED / the last reassignment
    last_error: str = ""
    updated_ms: int = 0  # last state or progress change (wall clock)
    assigned_ms: int = 0
    binlog_latest: int = 0  # newest log_index the collector reported (lag)

    def to_json(self) -> builtins.bytes:
        d = asdict(self)
        d["committed"] = self.committed.to_dict()
        return json.dumps(d, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: builtins.bytes, where: str = "subtask") -> SubtaskRecord:
        d = _load(cls, data, where)
        try:
            d["state"] = State(d.get("state", "INIT"))
            if "committed" in d:
                d["committed"] = SyncPoint.from_dict(d["committed"])
            return cls(**d)
        except (TypeError, ValueError) as exc:
            raise ClusterError(f"znode {where}: bad subtask record ({exc})") from None

    def but(self, **changes: Any) -> SubtaskRecord:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Event:
    ts_ms: int
    tid: int
    pid: int | None  # None: the table task itself
    old: str  # previous state ("" when created)
    new: str
    reason: str
    by: str = ""  # the synctool endpoint that made the change

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str = "event") -> Event:
        try:
            return cls(**_load(cls, data, where))
        except TypeError as exc:
            raise ClusterError(f"znode {where}: bad event ({exc})") from None
