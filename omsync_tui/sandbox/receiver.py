"""``Receiver``: a stand-in SyncTool that answers ``SendData`` like the original and keeps what it
accepted, for tests and ``make bench``.

It owns the receiving side of a sync for one process: which subtasks it expects (token and
stored start point per ``(tid, pid)``), the rows and deletes it accepted, the TaskErrors it was
told about, and faults to inject into its answers. ``assign`` plays the SyncTool's part of
handing a subtask to a collector (``DataCollector.AddSyncTask`` with ``des_endpoint`` = this
receiver). The records it keeps live in ``receiver_records``; the rules a SendData must pass
live in ``receiver_checks``.

SendData is checked in the original's order (reference §1.6, see ``receiver_checks``), then a
``TaskError`` ends the subtask before the pack itself is validated. Every refusal is ``code -1``
with ``delete_task`` set, as in the original, where any exception does that. Faults injected
with ``fail_next``/``busy_next``/``stall_next`` apply to the next SendData calls in the order
they were queued, whatever task those calls are for.

Handlers run in the server's worker threads; one lock guards all state and its condition
variable is notified on every change, so ``wait`` wakes up as soon as a condition may hold.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from types import TracebackType

from omsync_tui.core.errors import ClusterError, NotFoundError, UsageError
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.proto import data_sync_pb2 as ds
from omsync_tui.rpc.client import BaiduStdClient
from omsync_tui.rpc.server import RpcServer
from omsync_tui.rpc.service import CallContext, Routes, Service, text_route
from omsync_tui.sandbox.receiver_checks import Refused, check, validate
from omsync_tui.sandbox.receiver_records import Answer, Fault, Subtask, TaskError, copy_subtask
from omsync_tui.services import syncwire

SYNC_TOOL = "openmldb.datasync.SyncTool"
DATA_COLLECTOR = "openmldb.datasync.DataCollector"

BUSY_CODE = 1
"""``response.code`` of a "busy" answer (``busy_next``): not accepted and not an error — the
collector should send the same pack again after ``retry_after_ms``. The original SyncTool only
ever answers 0 or -1, so 1 cannot be mistaken for one of its answers."""

_START = SyncPoint.start()
_ANSWER_LOG = 10_000  # enough for any test; bounded so a long benchmark does not grow without end

log = logging.getLogger("omsync.receiver")


class Receiver:
    """Serve ``openmldb.datasync.SyncTool.SendData`` (baidu_std) and ``/status`` on one port.

    ``keep_rows=False`` only counts rows (benchmarks); ``auth_token`` makes SendData require it
    as the caller's ``authentication_data``. Usable as a context manager.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        keep_rows: bool = True,
        auth_token: str | None = None,
        workers: int = 16,
    ) -> None:
        self.keep_rows = keep_rows
        service = Service(SYNC_TOOL).add(
            "SendData", ds.SendDataRequest, ds.SendDataResponse, self._send_data, mutating=True
        )
        routes = Routes().add("/status", text_route(self.status_text))
        # Stalled calls occupy a worker each; enough workers keep other connections answered.
        self._server = RpcServer(host, port, [service], routes, workers=workers, auth_token=auth_token)
        self._cond = threading.Condition(threading.Lock())
        self._version = 0  # bumped on every change; wait() sleeps until it moves
        self._tasks: dict[tuple[int, int], Subtask] = {}
        self._faults: deque[Fault] = deque()
        self._answers: deque[Answer] = deque(maxlen=_ANSWER_LOG)
        self._held = 0
        self._calls = 0
        self._stopping = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        """Start serving; return the endpoint (``host:port``) collectors should send to."""
        self._stopping.clear()
        self._server.start()
        return self.endpoint

    def stop(self) -> None:
        """Stop serving (idempotent); calls held by ``stall_next`` are released at once."""
        self._stopping.set()
        self._server.stop()

    @property
    def endpoint(self) -> str:
        return self._server.endpoint

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- subtasks ------------------------------------------------------------------------------

    def expect(
        self, tid: int, pid: int, token: str, start: SyncPoint = _START, *, reset: bool = False
    ) -> None:
        """Register ``(tid, pid)`` with ``token`` and the stored point ``start``.

        Replacing a live subtask is a reassignment: its accepted rows and counters are kept, the
        token and point replaced, a finish or error cleared. A forgotten subtask, or ``reset=True``,
        starts over with nothing accepted (like deleting and re-creating a table task).
        """
        with self._cond:
            old = self._tasks.get((tid, pid))
            if old is None or old.forgotten or reset:
                self._tasks[(tid, pid)] = Subtask(tid, pid, token, start)
            else:
                old.token, old.point, old.finished, old.error = token, start, False, None
            self._changed()

    def assign(
        self,
        collector: str,
        tid: int,
        pid: int,
        *,
        mode: int = 0,
        start_ts: int | None = None,
        start: SyncPoint = _START,
        tablet_endpoint: str = "",
        token: str | None = None,
        deletes: bool = False,
        dest: str = "",
        timeout: float = 10.0,
        collector_auth: bytes | None = b"sdefault",
        ready: bool = True,
    ) -> str:
        """Expect ``(tid, pid)`` and hand it to ``collector`` with ``DataCollector.AddSyncTask``.

        ``ready`` sets omsync's ``AddSyncTaskRequest.ready`` (this receiver registers the subtask
        first, as omsync's synctool does, so data may follow at once); ``ready=False`` sends the
        request the original SyncTool sends, after which a collector waits before its first send.

        Returns the token (a new uuid4 unless given). The subtask is registered before the call,
        as the original stores the token first: a collector may send before the answer arrives.
        It stays registered when the call fails (the collector may have taken it anyway).
        Raises ``RpcError`` when the call fails and ``ClusterError`` when the collector refuses.
        """
        token = str(uuid.uuid4()) if token is None else token
        self.expect(tid, pid, token, start)
        request = ds.AddSyncTaskRequest(
            tid=tid,
            pid=pid,
            mode=mode,  # type: ignore[arg-type]  # a plain int is a valid SyncMode value
            sync_point=syncwire.to_proto(start),
            tablet_endpoint=tablet_endpoint,
            des_endpoint=self.endpoint,
            token=token,
            dest=dest,
        )
        if start_ts is not None:
            request.start_ts = start_ts
        if deletes:  # unset otherwise, so the request is what the original tool sends
            request.deletes = True
        if ready:
            request.ready = True
        with BaiduStdClient(collector, timeout=timeout, auth=collector_auth) as client:
            response, _ = client.call(DATA_COLLECTOR, "AddSyncTask", request, ds.GeneralResponse)
        if response.code != 0:
            raise ClusterError(
                f"collector {collector} refused AddSyncTask for {tid}-{pid}: "
                f"{response.msg or '(no message)'} (code {response.code})"
            )
        return token

    def forget(self, tid: int, pid: int) -> None:
        """Delete ``(tid, pid)``: later SendData for it gets ``delete_task``; its data stays readable."""
        with self._cond:
            self._get(tid, pid).forgotten = True
            self._changed()

    def subtask(self, tid: int, pid: int) -> Subtask:
        """A copy of what is known about ``(tid, pid)``; NotFoundError if it was never expected."""
        with self._cond:
            return copy_subtask(self._get(tid, pid))

    def subtasks(self) -> list[Subtask]:
        """Copies of every subtask, ordered by ``(tid, pid)``."""
        with self._cond:
            return [copy_subtask(self._tasks[key]) for key in sorted(self._tasks)]

    def answers(self) -> list[Answer]:
        """Recent SendData answers, oldest first (the last 10,000)."""
        with self._cond:
            return list(self._answers)

    @property
    def calls(self) -> int:
        """SendData calls answered so far."""
        with self._cond:
            return self._calls

    @property
    def held(self) -> int:
        """Calls being held by ``stall_next`` right now."""
        with self._cond:
            return self._held

    def wait(self, condition: Callable[[Receiver], bool], timeout: float = 30.0, what: str = "") -> None:
        """Return once ``condition(self)`` holds; AssertionError naming ``what`` after ``timeout`` s.

        The condition runs outside the lock (it may call ``subtask`` or anything else) and is
        re-checked after every change of state.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._version
            if condition(self):
                return
            with self._cond:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout:g} s waiting for {what or 'a condition'}; "
                        f"receiver state:\n{self._status_locked() or '(no subtasks)'}"
                    )
                if self._version == seen:  # nothing changed while the condition ran
                    self._cond.wait(left)

    def status_text(self) -> str:
        """One line per subtask: tid-pid, token prefix, point, rows, bytes, finished, error."""
        with self._cond:
            return self._status_locked()

    # -- fault injection -----------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, *, code: int = -1, msg: str = "injected", delete_task: bool = False
    ) -> None:
        """Answer the next ``n`` SendData calls with ``code``/``msg`` without accepting them."""
        self._queue(n, Fault("fail", code=code, msg=msg, delete_task=delete_task))

    def busy_next(self, n: int = 1, retry_after_ms: int = 200) -> None:
        """Answer the next ``n`` calls "busy" (``BUSY_CODE``, ``retry_after_ms``); nothing advances."""
        self._queue(n, Fault("busy", code=BUSY_CODE, msg="busy", retry_after_ms=retry_after_ms))

    def stall_next(self, n: int = 1, seconds: float = 1.0, *, process_first: bool = False) -> None:
        """Hold the next ``n`` calls for ``seconds`` (only their worker threads wait).

        By default a held call is processed after the hold, like a request delayed on the way.
        ``process_first=True`` processes it first and delays only the answer: the pack is
        accepted but a client that timed out does not know it (a lost answer).
        """
        self._queue(n, Fault("stall", seconds=seconds, process_first=process_first))

    def _queue(self, n: int, fault: Fault) -> None:
        if n < 0:
            raise UsageError(f"cannot inject {n} faults")
        with self._cond:
            self._faults.extend([fault] * n)

    # -- SendData ------------------------------------------------------------------------------

    def _send_data(
        self, request: ds.SendDataRequest, attachment: bytes, ctx: CallContext
    ) -> tuple[ds.SendDataResponse, bytes]:
        key = (request.tid, request.pid)
        with self._cond:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "stall":
            if fault.process_first:
                answer = self._process(key, request, attachment, ctx)
                self._hold(fault.seconds)
                return answer, b""
            self._hold(fault.seconds)
        elif fault is not None:
            with self._cond:
                task = self._tasks.get(key)
                if task is not None:
                    task.rejected += 1
                return self._answer(key, fault.code, fault.msg, fault.delete_task, fault.retry_after_ms), b""
        return self._process(key, request, attachment, ctx), b""

    def _hold(self, seconds: float) -> None:
        with self._cond:
            self._held += 1
            self._changed()
        try:
            self._stopping.wait(seconds)  # stop() releases held calls instead of waiting them out
        finally:
            with self._cond:
                self._held -= 1
                self._changed()

    def _process(
        self, key: tuple[int, int], request: ds.SendDataRequest, attachment: bytes, ctx: CallContext
    ) -> ds.SendDataResponse:
        with self._cond:
            task = self._tasks.get(key)
            try:
                task = check(key, task, request)
                if request.HasField("error"):
                    err = request.error
                    task.error = TaskError(err.code, err.message, err.missing_from, err.missing_to)
                    self._seen(task, request)
                    log.info("sync task %d-%d reported %s: %s", *key, err.code, err.message)
                    # Accepted as a report, but the subtask is over: the collector should drop it.
                    return self._answer(key, 0, "", True, accepted=True)
                rows, deletes, next_point = validate(key, request, attachment, self.keep_rows)
            except Refused as exc:
                if task is not None:
                    task.rejected += 1
                log.info("SendData from %s refused: %s", ctx.peer, exc)
                return self._answer(key, -1, str(exc), True)
            task.rows.extend(rows)
            task.row_count += request.count
            task.byte_count += len(attachment)
            task.deletes.extend(deletes)
            task.point = next_point
            task.finished = request.finished
            task.sends += 1
            if request.count == 0 and not deletes:
                task.heartbeats += 1
            self._seen(task, request)
            return self._answer(key, 0, "", False, accepted=True)

    def _seen(self, task: Subtask, request: ds.SendDataRequest) -> None:
        task.last_collector = request.collector
        task.binlog_latest = request.binlog_latest
        task.last_send = time.monotonic()

    def _answer(
        self,
        key: tuple[int, int],
        code: int,
        msg: str,
        delete_task: bool,
        retry_after_ms: int = 0,
        *,
        accepted: bool = False,
    ) -> ds.SendDataResponse:
        """Log and build an answer; the caller holds the lock."""
        response = ds.SendDataResponse(response=ds.GeneralResponse(code=code))
        if msg:
            response.response.msg = msg
        if delete_task:
            response.delete_task = True
        if retry_after_ms:
            response.retry_after_ms = retry_after_ms
        self._calls += 1
        self._answers.append(Answer(key[0], key[1], code, msg, delete_task, retry_after_ms, accepted))
        self._changed()
        return response

    # -- helpers -------------------------------------------------------------------------------

    def _get(self, tid: int, pid: int) -> Subtask:
        task = self._tasks.get((tid, pid))
        if task is None:
            raise NotFoundError(f"the receiver was never told to expect sync task {tid}-{pid}")
        return task

    def _changed(self) -> None:
        self._version += 1
        self._cond.notify_all()

    def _status_locked(self) -> str:
        return "\n".join(self._tasks[key].summary() for key in sorted(self._tasks))
