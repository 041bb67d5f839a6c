"""Where the TUI's data comes from: thread workers that call the ``services.cluster`` facade and
post messages (STYLE rule 4). Widgets never touch the network; they change in message handlers.

``LiveApp`` is the base of the app: it polls the synctool every ``refresh`` seconds (one poll at a
time; a slow synctool never blocks input), keeps the last good ``Snapshot`` and when it was
fetched, and runs create / delete / retry in their own worker group so a poll never cancels them.

Two seams exist for the SVG snapshot tests: ``source`` replaces the synctool (a callable returning a
``Snapshot``, or raising ``OSError`` to look unreachable), and ``clock`` is where every time a screen
shows comes from, so a frozen clock makes "3s ago" the same on every run.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from textual import work
from textual.app import App
from textual.message import Message

from omsync_tui.core.errors import NotFoundError, OmsyncError
from omsync_tui.services.cluster import (
    CollectorInfo,
    CreateRequest,
    DestinationInfo,
    EventInfo,
    SyncClient,
    SynctoolInfo,
    TableInfoView,
    TaskInfo,
    locate_synctool,
)

RATE_WINDOW_S = 10.0
TREND_LEN = 12  # polls in a task's sparkline
SPARKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class Clock:
    """The times the screens display: ages, "ago", rows/s and event times. Tests freeze it."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    tz: dt.tzinfo | None = None  # None: the local time zone

    def strftime(self, ts_ms: int, fmt: str) -> str:
        return dt.datetime.fromtimestamp(ts_ms / 1000, tz=self.tz).strftime(fmt)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one poll saw, plus what the TUI derives from successive polls."""

    endpoint: str
    tasks: tuple[TaskInfo, ...]
    collectors: tuple[CollectorInfo, ...]
    events: tuple[EventInfo, ...]  # newest last
    rates: dict[str, float]  # task name -> rows/s over the last few polls
    fetched_at: float  # time.monotonic()
    trends: dict[str, str] = field(default_factory=dict)  # task name -> sparkline of its rows/s
    focus: TaskInfo | None = None  # the task a screen looks into, with its subtasks
    focus_events: tuple[EventInfo, ...] = ()  # events(tid=focus.tid)
    wall: float = field(default_factory=time.time)
    synctools: tuple[SynctoolInfo, ...] = ()  # empty from a synctool older than scale-out
    synctool_rates: dict[str, float] = field(default_factory=dict)  # endpoint -> rows/s received

    def task(self, name: str) -> TaskInfo | None:
        return next((t for t in self.tasks if t.name == name), None)


@dataclass(frozen=True, slots=True)
class Health:
    """Whether the last poll reached the synctool, and how old the last good data is."""

    ok: bool
    endpoint: str
    error: str = ""
    fresh_at: float | None = None  # time.monotonic() of the last good snapshot

    def age(self, now: float) -> float | None:
        """Seconds since the last good snapshot at ``now`` (a ``Clock.monotonic()`` reading)."""
        return None if self.fresh_at is None else now - self.fresh_at


class Refreshed(Message):
    """A new snapshot; a burst of them collapses to the newest."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Refreshed)


class Unreachable(Message):
    def __init__(self, endpoint: str, error: str) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.error = error

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Unreachable)


class ActionDone(Message):
    """A create / delete / retry finished; ``ok`` false means ``text`` is the error."""

    def __init__(self, text: str, ok: bool) -> None:
        super().__init__()
        self.text = text
        self.ok = ok


class RateTracker:
    """rows/s per key from successive polls of a growing count. Tasks count the rows the synctool
    received (committed rows where a synctool does not report them): rows arrive before their
    file is committed. Synctools count the rows each received since it started."""

    def __init__(self, window_s: float = RATE_WINDOW_S, trend_len: int = TREND_LEN) -> None:
        self.window_s = window_s
        self._seen: dict[str, deque[tuple[float, int]]] = {}
        self._history: dict[str, deque[float]] = {}  # each poll's rate, for the sparkline
        self.trend_len = trend_len

    def trends(self) -> dict[str, str]:
        """key → a sparkline of its last rates (``▁▂▅█``), scaled to their largest; none while it
        has moved no rows."""
        out: dict[str, str] = {}
        for name, rates in self._history.items():
            top = max(rates, default=0.0)
            if len(rates) >= 2 and top > 0:
                out[name] = "".join(SPARKS[min(len(SPARKS) - 1, int(r / top * len(SPARKS)))] for r in rates)
        return out

    def update(self, now: float, tasks: tuple[TaskInfo, ...]) -> dict[str, float]:
        """Task name → rows/s."""
        return self.update_counts(now, {t.name: t.rows_received or t.rows for t in tasks})

    def update_counts(self, now: float, counts: Mapping[str, int]) -> dict[str, float]:
        """key → rows/s, given each key's count at ``now``; keys not in ``counts`` are forgotten."""
        rates: dict[str, float] = {}
        for key, total in counts.items():
            q = self._seen.setdefault(key, deque())
            if q and total < q[-1][1]:
                # a re-created task, another synctool took it, a synctool restarted on the same
                # endpoint: its count started again
                q.clear()
            q.append((now, total))
            while len(q) > 2 and now - q[0][0] > self.window_s:
                q.popleft()
            (t0, r0), (t1, r1) = q[0], q[-1]
            rates[key] = (r1 - r0) / (t1 - t0) if t1 > t0 else 0.0
            self._history.setdefault(key, deque(maxlen=self.trend_len)).append(rates[key])
        for gone in set(self._seen) - set(counts):
            del self._seen[gone]
            self._history.pop(gone, None)
        return rates


class LiveApp(App[None]):
    """Polling and facade calls for the omsync TUI; ``app.OmsyncApp`` adds screens and keys."""

    def __init__(
        self,
        synctool: str | None = None,
        *,
        zk: str | None = None,
        zk_root: str = "/openmldb",
        readonly: bool = False,
        refresh: float = 2.0,
        token: str | None = None,
        source: Callable[[], Snapshot] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.synctool = synctool
        self.zk = zk
        self.zk_root = zk_root
        self.readonly = readonly
        self.refresh_s = max(0.1, refresh)
        self.token = token
        self.source = source  # instead of the synctool: fixed data for snapshot tests
        self.clock = clock or Clock()
        self.snapshot: Snapshot | None = None
        self.health = Health(ok=True, endpoint=synctool or "")
        # the task whose subtasks and events the poller also fetches (the list has counts only)
        self.focus_name: str | None = None
        self._endpoint: str | None = synctool
        self._client: SyncClient | None = None
        self._rates = RateTracker()
        self._synctool_rates = RateTracker()
        self._poll_lock = threading.Lock()
        self._poll_again = False

    # -- the poller (runs in a thread) -----------------------------------------------------------

    def start_polling(self) -> None:
        self.poll()
        self.set_interval(self.refresh_s, self.poll)

    def _sync_client(self, relocate: bool) -> SyncClient:
        if self._client is None or relocate:
            if relocate or self._endpoint is None:
                # with --zk the synctool is found again: the leader may have moved
                self._endpoint = locate_synctool(self.synctool, zk_hosts=self.zk, zk_root=self.zk_root)
            if self._client is not None:
                self._client.close()
            timeout = min(5.0, max(1.0, 2 * self.refresh_s))
            self._client = SyncClient(self._endpoint, auth_token=self.token, timeout=timeout)
        return self._client

    @work(thread=True, exclusive=True, exit_on_error=False, group="poll")
    def poll(self) -> None:
        # One poll at a time: a tick (or ``r``) while a slow poll is in flight asks that poll to go
        # round once more instead of stacking threads against a synctool that does not answer.
        if not self._poll_lock.acquire(blocking=False):
            self._poll_again = True
            return
        try:
            self._poll_again = True
            while self._poll_again:
                self._poll_again = False
                self.post_message(self._poll_once())
        finally:
            self._poll_lock.release()

    def _poll_once(self) -> Refreshed | Unreachable:
        if self.source is not None:
            try:
                return Refreshed(self.source())
            except (OmsyncError, OSError) as exc:
                return Unreachable(self._endpoint or "(not located)", str(exc))
        try:
            client = self._sync_client(relocate=not self.health.ok and self.synctool is None)
            name = self.focus_name
            tasks = tuple(client.tasks())
            collectors = tuple(client.collectors())
            try:
                synctools = tuple(client.synctools())
            except NotFoundError:  # a synctool from before scale-out: no such call
                synctools = ()
            events = tuple(sorted(client.events(limit=200), key=lambda e: e.ts_ms))
            focus: TaskInfo | None = None
            focus_events: tuple[EventInfo, ...] = ()
            if name is not None and any(t.name == name for t in tasks):
                try:
                    focus = client.task(name)
                except NotFoundError:  # deleted between the two calls
                    focus = None
                else:
                    found = client.events(tid=focus.tid, limit=200)
                    focus_events = tuple(sorted(found, key=lambda e: e.ts_ms))
        except (OmsyncError, OSError) as exc:
            return Unreachable(self._endpoint or "(not located)", str(exc))
        now = self.clock.monotonic()
        return Refreshed(
            Snapshot(
                endpoint=client.endpoint,
                tasks=tasks,
                collectors=collectors,
                events=events,
                rates=self._rates.update(now, tasks),
                fetched_at=now,
                trends=self._rates.trends(),
                focus=focus,
                focus_events=focus_events,
                synctools=synctools,
                synctool_rates=self._synctool_rates.update_counts(
                    now, {s.endpoint: s.rows_received for s in synctools}
                ),
            )
        )

    # -- actions (run in threads; the result comes back as ActionDone) -----------------------------

    def _action_client(self) -> SyncClient:
        endpoint = self._endpoint or locate_synctool(self.synctool, zk_hosts=self.zk, zk_root=self.zk_root)
        return SyncClient(endpoint, auth_token=self.token)

    def _run_action(self, what: Callable[[SyncClient], str]) -> None:
        try:
            with self._action_client() as c:
                text, ok = what(c), True
        except (OmsyncError, OSError) as exc:
            text, ok = (
                f"{exc}" + (f" ({exc.hint})" if isinstance(exc, OmsyncError) and exc.hint else ""),
                False,
            )
        self.post_message(ActionDone(text, ok))
        self.call_from_thread(self.poll)

    # Not exclusive: a delete started while a create runs must not mark the create cancelled.
    @work(thread=True, exclusive=False, exit_on_error=False, group="action")
    def create_task(self, request: CreateRequest) -> None:
        def go(c: SyncClient) -> str:
            t = c.create(request)
            return f"created {t.name} (tid {t.tid}, {t.partitions} partitions) → {t.dest}"

        self._run_action(go)

    @work(thread=True, exclusive=False, exit_on_error=False, group="action")
    def delete_task(self, name: str) -> None:
        def go(c: SyncClient) -> str:
            c.delete(name)
            return f"deleted {name}"

        self._run_action(go)

    @work(thread=True, exclusive=False, exit_on_error=False, group="action")
    def retry_task(self, name: str) -> None:
        def go(c: SyncClient) -> str:
            pids = c.retry(name)
            return f"{name}: retrying pid {', '.join(map(str, pids))}" if pids else f"{name}: nothing FAILED"

        self._run_action(go)

    def list_tables(self) -> list[TableInfoView]:
        """Blocking: the cluster's tables. Call it from a thread worker only."""
        with self._action_client() as c:
            return c.tables()

    def probe_destination(self, uri: str) -> DestinationInfo:
        """Blocking: what ``uri`` already holds. Call it from a thread worker only."""
        with self._action_client() as c:
            return c.destination(uri)
