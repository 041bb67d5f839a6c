"""The records the stand-in SyncTool (``sandbox.receiver``) keeps and hands out: a subtask's
state (``Subtask``), the deletes and TaskErrors it accepted (``DeleteOp``, ``TaskError``) and the
log of its SendData answers (``Answer``), plus the faults queued to be injected (``Fault``).

Plain data with no locking of their own: only ``Subtask`` is mutable, the ``Receiver`` changes it
under its lock and hands out copies (``copy_subtask``), so a test never sees one change under it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from omsync_tui.core.syncpoint import SyncPoint


@dataclass(frozen=True, slots=True)
class DeleteOp:
    """One forwarded binlog delete (``SendDataRequest.deletes``); ``row`` = attachment rows before it."""

    log_index: int
    row: int
    idx: int
    key: bytes
    ts: int
    end_ts: int
    ts_name: str


@dataclass(frozen=True, slots=True)
class TaskError:
    """A terminal failure a collector reported (``SendDataRequest.error``)."""

    code: str
    message: str
    missing_from: int
    missing_to: int


@dataclass(frozen=True, slots=True)
class Answer:
    """One SendData answer, as logged by ``Receiver.answers()``."""

    tid: int
    pid: int
    code: int
    msg: str
    delete_task: bool
    retry_after_ms: int
    accepted: bool


@dataclass(slots=True)
class Subtask:
    """What the receiver knows about one ``(tid, pid)``; ``Receiver.subtask`` hands out copies."""

    tid: int
    pid: int
    token: str
    point: SyncPoint
    """The stored point: the start point the next SendData must carry."""
    rows: list[bytes] = field(default_factory=list)
    """Accepted rows in order (empty with ``keep_rows=False``)."""
    row_count: int = 0
    byte_count: int = 0
    deletes: list[DeleteOp] = field(default_factory=list)
    finished: bool = False
    error: TaskError | None = None
    """The TaskError that ended the subtask, if one did."""
    sends: int = 0
    """Accepted SendData calls, heartbeats included (a TaskError report is not one)."""
    heartbeats: int = 0
    """Accepted calls with no rows and no deletes."""
    rejected: int = 0
    """Calls for this subtask that were not accepted (refused or answered by an injected fault)."""
    forgotten: bool = False
    last_collector: str = ""
    binlog_latest: int = 0
    last_send: float = 0.0
    """``time.monotonic()`` of the last accepted call (or TaskError report); 0 before any."""

    @property
    def status(self) -> str:
        """The original SyncTool's status word (reference §1.7), plus DELETED for ``forget``."""
        if self.forgotten:
            return "DELETED"
        if self.error is not None:
            return "FAILED"
        if self.finished:
            return "SUCCESS"
        return "RUNNING" if self.sends else "INIT"

    def summary(self) -> str:
        error = f"{self.error.code}: {self.error.message}" if self.error is not None else "-"
        return (
            f"{self.tid}-{self.pid} {self.token[:8]} {self.point} rows={self.row_count} "
            f"bytes={self.byte_count} finished={self.finished} error={error}"
        )


@dataclass(frozen=True, slots=True)
class Fault:
    """One queued fault (``Receiver.fail_next``/``busy_next``/``stall_next``), used by one SendData."""

    kind: str  # "fail" | "busy" | "stall"
    code: int = -1
    msg: str = ""
    delete_task: bool = False
    retry_after_ms: int = 0
    seconds: float = 0.0
    process_first: bool = False


def copy_subtask(task: Subtask) -> Subtask:
    """A copy whose row and delete lists are not shared with ``task``."""
    return replace(task, rows=list(task.rows), deletes=list(task.deletes))
