"""The synctool's state in ZooKeeper (``Store``) and its membership and leader election (``Membership``).

Layout under ``<root>/sync_tool/omsync/`` (``SyncPaths``)::

    tasks/<tid>            persistent, TaskRecord JSON
    tasks/<tid>/<pid>      persistent, SubtaskRecord JSON
    events/e-<seq>         persistent sequential, Event JSON; the newest ``max_events`` are kept
    synctools/<endpoint>   ephemeral, {"endpoint", "version", "started_ms"}: every running synctool
    leader_lock            a kazoo Lock whose contenders are named by endpoint; the holder leads

Every update of a record is a compare-and-set on the znode version (``put_subtask``,
``update_subtask``): two synctools that both believe they lead for a moment (the old leader has not
yet noticed its session expired) cannot overwrite each other's progress unseen. kazoo's exceptions
become omsync errors in ``zk_errors`` (``omsync_tui.openmldb.zkpaths``); a lost compare-and-set is
a ``StaleRecord``.

``Membership`` follows the collector's ``Registration`` (``services/collector/registration.py``):
kazoo's state listener only records and wakes; one worker thread makes every ZooKeeper write and
runs the callbacks, strictly alternating ``on_leader`` / ``on_follower`` (the first is
``on_leader``). SUSPENDED keeps ``is_leader`` but clears ``may_write`` at once; LOST (session
expired) calls ``on_follower("ZooKeeper session expired")``, then the worker registers again with
the new session and queues for the lock again.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadVersionError,
    CancelledError,
    KazooException,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import EventType, WatchedEvent
from kazoo.retry import KazooRetry
from kazoo.security import CREATOR_ALL_ACL, OPEN_ACL_UNSAFE

from omsync_tui.core.errors import ClusterError, NotFoundError, OmsyncError, UsageError
from omsync_tui.core.states import TaskState
from omsync_tui.openmldb.zkpaths import CONNECT_HINT, ZkPaths, zk_errors
from omsync_tui.services.synctool.model import Event, SubtaskRecord, TaskRecord
from omsync_tui.services.zkworker import ZkWorker

T = TypeVar("T")
log = logging.getLogger("omsync.synctool.store")

_LOCK_NODE = re.compile(r"__lock__(\d{10})$")  # kazoo Lock's contender nodes
_EVENT_PREFIX = "e-"


class StaleRecord(ClusterError):
    """A compare-and-set lost against a concurrent writer: the caller re-reads and decides."""


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    record: T
    version: int  # the znode's data version, for the next compare-and-set


def synctool_root(root_path: str = "/openmldb") -> str:
    """``<root>/sync_tool/omsync``: every znode omsync adds to a cluster lives below it."""
    root = ZkPaths(root_path).root
    return f"{'' if root == '/' else root}/sync_tool/omsync"


@dataclass(frozen=True, slots=True)
class SyncPaths:
    """The synctool's znode paths under one cluster root."""

    base: str

    @classmethod
    def of(cls, root_path: str) -> SyncPaths:
        return cls(synctool_root(root_path))

    @property
    def tasks(self) -> str:
        return f"{self.base}/tasks"

    def task(self, tid: int) -> str:
        return f"{self.tasks}/{int(tid)}"

    def subtask(self, tid: int, pid: int) -> str:
        return f"{self.task(tid)}/{int(pid)}"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def synctools(self) -> str:
        return f"{self.base}/synctools"

    def synctool(self, endpoint: str) -> str:
        if not endpoint or "/" in endpoint:
            raise UsageError(
                f"synctool endpoint {endpoint!r} is not a valid znode name", hint="e.g. 10.0.0.1:8848"
            )
        return f"{self.synctools}/{endpoint}"

    @property
    def leader_lock(self) -> str:
        return f"{self.base}/leader_lock"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _int_children(names: Iterable[str]) -> list[int]:
    return sorted(int(n) for n in names if n.isdigit())


def _lock_holder(client: Any, lock_path: str) -> str | None:
    """The first contender of a kazoo Lock (the holder, or the next one to hold it); None if none."""
    with zk_errors(lock_path):
        try:
            children = client.get_children(lock_path)
        except NoNodeError:
            return None
        queued = sorted((m.group(1), c) for c in children if (m := _LOCK_NODE.search(c)))
        for _seq, child in queued:
            try:
                data, _stat = client.get(f"{lock_path}/{child}")
            except NoNodeError:
                continue  # released meanwhile: the next one holds it
            return bytes(data or b"").decode("utf-8", "replace")
    return None


class Store:
    """Task/subtask/event records on one kazoo client (the caller owns the client's lifecycle)."""

    def __init__(
        self, client: KazooClient, root_path: str = "/openmldb", *, by: str = "", max_events: int = 2000
    ) -> None:
        if max_events < 1:
            raise UsageError(f"max_events must be positive, not {max_events}")
        self.client: Any = client  # kazoo has no type hints
        self.paths = SyncPaths.of(root_path)
        self.by = by
        self.max_events = max_events
        self._events_ready = False
        self._oldest_event: int | None = None  # sequence number of the oldest event kept, if known

    # -- tasks ------------------------------------------------------------------------------------

    def create_task(self, task: TaskRecord, subtasks: list[SubtaskRecord]) -> None:
        """Create the task and its subtasks in one transaction: all of them or nothing."""
        wrong = [s.pid for s in subtasks if s.tid != task.tid]
        if wrong:
            raise UsageError(f"subtask pid(s) {wrong} do not belong to tid {task.tid}")
        path = self.paths.task(task.tid)
        with zk_errors(self.paths.tasks):
            self.client.ensure_path(self.paths.tasks)
        # One transaction: a synctool that dies half-way must not leave a task with missing
        # partitions (it would look healthy and never copy them).
        txn = self.client.transaction()
        txn.create(path, task.to_json())
        for sub in subtasks:
            txn.create(self.paths.subtask(sub.tid, sub.pid), sub.to_json())
        with zk_errors(path):
            results = txn.commit()
        failed = [(op, r) for op, r in enumerate(results) if isinstance(r, Exception)]
        if not failed:
            created = Event(
                _now_ms(), task.tid, None, "", TaskState.RUNNING.value, self._created(task), self.by
            )
            self._journal(created)
            return
        # The operation that failed carries the real error; the others say they were rolled back.
        passive = (RolledBackError, RuntimeInconsistency)
        op, err = next(((op, r) for op, r in failed if not isinstance(r, passive)), failed[0])
        if op == 0 and isinstance(err, NodeExistsError):
            raise UsageError(
                f"a task for {task.name} (tid {task.tid}) already exists",
                hint="delete it first, or look at it with `omsync task status`",
            )
        where = path if op == 0 else self.paths.subtask(subtasks[op - 1].tid, subtasks[op - 1].pid)
        raise ClusterError(
            f"could not create the task {task.name}: {type(err).__name__} on {where}; nothing was created"
        )

    @staticmethod
    def _created(task: TaskRecord) -> str:
        return (
            f"created: {task.partitions} partition(s), {task.mode.value} → {task.dest} ({task.format.value})"
        )

    def delete_task(self, tid: int) -> bool:
        """Delete the task and its subtasks in one transaction (children first); False if absent."""
        path = self.paths.task(tid)
        for _attempt in range(5):
            with zk_errors(path):
                try:
                    children = self.client.get_children(path)
                except NoNodeError:
                    return False
                txn = self.client.transaction()
                for child in children:
                    txn.delete(f"{path}/{child}")
                txn.delete(path)
                results = txn.commit()
            errors = [r for r in results if isinstance(r, Exception)]
            if not errors:
                self._journal(Event(_now_ms(), tid, None, "", "DELETED", "deleted", self.by))
                return True
            # A child came or went meanwhile (NotEmpty / NoNode): list again.
            if not any(isinstance(r, (NotEmptyError, NoNodeError)) for r in errors):
                raise ClusterError(f"could not delete {path}: {', '.join(type(r).__name__ for r in errors)}")
        raise StaleRecord(f"{path} kept changing while it was deleted; try again")

    def task(self, tid: int) -> Versioned[TaskRecord] | None:
        path = self.paths.task(tid)
        with zk_errors(path):
            try:
                data, stat = self.client.get(path)
            except NoNodeError:
                return None
        return Versioned(TaskRecord.from_json(bytes(data or b""), path), stat.version)

    def tasks(self) -> list[TaskRecord]:
        """Every task, by tid; a node that does not parse is logged and left out."""
        with zk_errors(self.paths.tasks):
            try:
                names = self.client.get_children(self.paths.tasks)
            except NoNodeError:
                return []
        found: list[TaskRecord] = []
        for path, got in self._get_many([self.paths.task(t) for t in _int_children(names)]):
            if got is None:
                continue
            try:
                found.append(TaskRecord.from_json(got[0], path))
            except OmsyncError as exc:
                log.error("%s; leaving that task out", exc)
        return found

    def subtask(self, tid: int, pid: int) -> Versioned[SubtaskRecord] | None:
        path = self.paths.subtask(tid, pid)
        with zk_errors(path):
            try:
                data, stat = self.client.get(path)
            except NoNodeError:
                return None
        return Versioned(SubtaskRecord.from_json(bytes(data or b""), path), stat.version)

    def subtasks(self, tid: int) -> list[Versioned[SubtaskRecord]]:
        """The task's subtasks by pid ([] if the task does not exist); a bad node is a ClusterError."""
        path = self.paths.task(tid)
        with zk_errors(path):
            try:
                names = self.client.get_children(path)
            except NoNodeError:
                return []
        return [
            Versioned(SubtaskRecord.from_json(got[0], p), got[1])
            for p, got in self._get_many([f"{path}/{pid}" for pid in _int_children(names)])
            if got is not None
        ]

    def put_subtask(self, sub: SubtaskRecord, version: int) -> int:
        """Store ``sub`` if its znode still has ``version``; the new version.

        StaleRecord if another writer changed it since; NotFoundError if it is gone (task deleted).
        """
        path = self.paths.subtask(sub.tid, sub.pid)
        with zk_errors(path):
            try:
                stat = self.client.set(path, sub.to_json(), version=version)
            except BadVersionError:
                raise StaleRecord(f"subtask {sub.tid}-{sub.pid} was changed by another writer") from None
            except NoNodeError:
                raise NotFoundError(f"subtask {sub.tid}-{sub.pid} is gone ({path}; task deleted?)") from None
        return int(stat.version)

    def update_subtask(
        self,
        tid: int,
        pid: int,
        change: Callable[[SubtaskRecord], SubtaskRecord | None],
        *,
        reason: str | None = None,
        attempts: int = 5,
    ) -> SubtaskRecord | None:
        """Read, ``change``, compare-and-set, until it sticks; the stored record (None: no subtask).

        ``change`` returning None (or an equal record) writes nothing. A change of state is
        journalled with the record in one transaction, so the journal never misses or invents one.
        """
        for attempt in range(attempts):
            current = self.subtask(tid, pid)
            if current is None:
                return None
            old = current.record
            new = change(old)
            if new is None or new == old:
                return old
            if (new.tid, new.pid) != (tid, pid):
                raise UsageError(f"update of subtask {tid}-{pid} returned subtask {new.tid}-{new.pid}")
            try:
                if new.state == old.state:
                    self.put_subtask(new, current.version)
                else:
                    event = Event(
                        _now_ms(), tid, pid, old.state.value, new.state.value, reason or new.cause, self.by
                    )
                    self._put_with_event(new, current.version, event)
                return new
            except StaleRecord:
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))  # let the other writer finish
            except NotFoundError:
                return None
        raise StaleRecord(f"subtask {tid}-{pid} changed under every one of {attempts} attempts to update it")

    def _put_with_event(self, sub: SubtaskRecord, version: int, event: Event) -> None:
        path = self.paths.subtask(sub.tid, sub.pid)
        self._ensure_events()
        txn = self.client.transaction()
        txn.set_data(path, sub.to_json(), version=version)
        txn.create(f"{self.paths.events}/{_EVENT_PREFIX}", event.to_json(), sequence=True)
        with zk_errors(path):
            results = txn.commit()
        first, second = results[0], results[1]
        if isinstance(first, BadVersionError):
            raise StaleRecord(f"subtask {sub.tid}-{sub.pid} was changed by another writer")
        if isinstance(first, NoNodeError):
            raise NotFoundError(f"subtask {sub.tid}-{sub.pid} is gone ({path}; task deleted?)")
        if isinstance(second, NoNodeError):  # events/ deleted by hand: store, then journal apart
            self._events_ready = False
            self.put_subtask(sub, version)
            self._journal(event)
            return
        if isinstance(first, Exception) or isinstance(second, Exception):
            raise ClusterError(f"could not update {path}: {type(first).__name__}, {type(second).__name__}")
        self._trim(second)

    def _get_many(self, paths: list[str]) -> list[tuple[str, tuple[bytes, int] | None]]:
        """(path, (data, version)) for each path, read in parallel; None for a node gone meanwhile."""
        pending = [(p, self.client.get_async(p)) for p in paths]
        out: list[tuple[str, tuple[bytes, int] | None]] = []
        for path, result in pending:
            with zk_errors(path):
                try:
                    data, stat = result.get()
                except NoNodeError:
                    out.append((path, None))
                    continue
            out.append((path, (bytes(data or b""), int(stat.version))))
        return out

    # -- events -----------------------------------------------------------------------------------

    def add_event(self, event: Event) -> None:
        self._ensure_events()
        with zk_errors(self.paths.events):
            try:
                created = self.client.create(
                    f"{self.paths.events}/{_EVENT_PREFIX}", event.to_json(), sequence=True
                )
            except NoNodeError:  # deleted by hand since
                self.client.ensure_path(self.paths.events)
                created = self.client.create(
                    f"{self.paths.events}/{_EVENT_PREFIX}", event.to_json(), sequence=True
                )
        self._trim(created)

    def _journal(self, event: Event) -> None:
        """add_event after the change it records is stored: a failure is logged, not raised."""
        try:
            self.add_event(event)
        except OmsyncError as exc:
            log.warning("could not journal %s → %s of tid %s: %s", event.old, event.new, event.tid, exc)

    def _ensure_events(self) -> None:
        if not self._events_ready:
            with zk_errors(self.paths.events):
                self.client.ensure_path(self.paths.events)
            self._events_ready = True

    def _trim(self, created: str) -> None:
        """Delete the oldest events beyond ``max_events`` (best effort).

        Sequence numbers grow by one per event created, so while the span from the oldest kept
        event to the newest is within ``max_events`` nothing needs listing.
        """
        newest = int(created.rsplit(_EVENT_PREFIX, 1)[1])
        if self._oldest_event is not None and newest - self._oldest_event < self.max_events:
            return
        try:
            with zk_errors(self.paths.events):
                names = sorted(
                    n for n in self.client.get_children(self.paths.events) if n.startswith(_EVENT_PREFIX)
                )
                excess, kept = names[: -self.max_events], names[-self.max_events :]
                pending = [self.client.delete_async(f"{self.paths.events}/{n}") for n in excess]
                for result in pending:
                    with suppress(NoNodeError):  # another synctool trimmed it
                        result.get()
            self._oldest_event = int(kept[0][len(_EVENT_PREFIX) :]) if kept else None
        except (OmsyncError, ValueError) as exc:
            log.debug("could not trim the event journal: %s", exc)

    def events(self, *, tid: int | None = None, limit: int = 200) -> list[Event]:
        """The newest ``limit`` events (of task ``tid`` if given), newest last."""
        if limit <= 0:
            return []
        with zk_errors(self.paths.events):
            try:
                names = self.client.get_children(self.paths.events)
            except NoNodeError:
                return []
        names = sorted((n for n in names if n.startswith(_EVENT_PREFIX)), reverse=True)
        found: list[Event] = []
        chunk = limit if tid is None else max(limit, 200)
        for start in range(0, len(names), chunk):
            paths = [f"{self.paths.events}/{n}" for n in names[start : start + chunk]]
            for path, got in self._get_many(paths):
                if got is None:
                    continue
                try:
                    event = Event.from_json(got[0], path)
                except OmsyncError as exc:
                    log.debug("skipping %s", exc)
                    continue
                if tid is None or event.tid == tid:
                    found.append(event)
                    if len(found) == limit:
                        return found[::-1]
        return found[::-1]

    # -- discovery --------------------------------------------------------------------------------

    def synctools(self) -> dict[str, dict[str, object]]:
        """Running synctools: endpoint → what each registered (endpoint, version, started_ms)."""
        with zk_errors(self.paths.synctools):
            try:
                names = self.client.get_children(self.paths.synctools)
            except NoNodeError:
                return {}
        found: dict[str, dict[str, object]] = {}
        for path, got in self._get_many([f"{self.paths.synctools}/{n}" for n in sorted(names)]):
            if got is None:
                continue
            endpoint = path.rsplit("/", 1)[1]
            try:
                data = json.loads(got[0].decode())
            except (UnicodeDecodeError, ValueError):
                data = None
            found[endpoint] = data if isinstance(data, dict) else {"endpoint": endpoint}
        return found

    def leader(self) -> str | None:
        """The current leader's endpoint (the lock's first contender); None if none or unknown."""
        try:
            return _lock_holder(self.client, self.paths.leader_lock)
        except OmsyncError as exc:
            log.debug("could not read the leader: %s", exc)
            return None


# -- membership -----------------------------------------------------------------------------------

# kazoo's defaults wait up to an hour between reconnection attempts; a standby must take over,
# and a leader come back, within seconds (the same settings as the collector's registration).
_RETRY = {"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 1.0}
SESSION_EXPIRED = "ZooKeeper session expired"


def _no_leader() -> None:
    pass


def _no_follower(reason: str) -> None:
    pass


class Membership(ZkWorker):
    """Registers this synctool and competes for leadership; callbacks from one background thread, in order."""

    KIND = "synctool"

    def __init__(
        self,
        client_factory_or_hosts: str,
        root_path: str,
        endpoint: str,
        *,
        session_timeout_s: float = 10.0,
        auth: str | None = None,
        on_leader: Callable[[], None] = _no_leader,
        on_follower: Callable[[str], None] = _no_follower,
        logger: logging.Logger | None = None,
        version: str = "",
    ) -> None:
        if auth is not None and ":" not in auth:
            raise UsageError("ZooKeeper auth must be user:password", hint="like OpenMLDB's --zk_cert")
        self.endpoint = endpoint
        self.paths = SyncPaths.of(root_path)
        self.node_path = self.paths.synctool(endpoint)
        self.lock_path = self.paths.leader_lock
        self._hosts = client_factory_or_hosts
        self._session_timeout_s = session_timeout_s
        self._auth = auth
        self._on_leader = on_leader
        self._on_follower = on_follower
        self._log = logger or logging.getLogger(__name__)
        self._data = json.dumps({"endpoint": endpoint, "version": version, "started_ms": _now_ms()}).encode()

        self._client: Any = None
        self._worker: threading.Thread | None = None
        self._stop_guard = threading.Lock()
        self._stopped = False
        self._write_ok = threading.Event()  # cleared at once by the listener on SUSPENDED / LOST
        self._leading = False  # what the callbacks last said; only the worker changes it
        self._failures = 0
        self._peer: str | None = None
        # Guarded by _cond, never held across a ZooKeeper call or a callback.
        self._cond = threading.Condition()
        self._ticks = 0  # bumped by every state change, watch and stop(): the worker looks again
        self._generation = 0  # bumped on every LOST: nodes of older sessions are gone
        self._stopping = False
        self._lock: Any = None  # the kazoo Lock of the current round
        self._watched_gen: int | None = None  # the session whose registration is being watched

    # -- the interface -------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        """Connect, register, start competing in the background; ClusterError if ZooKeeper is unreachable."""
        with self._stop_guard:
            if self._client is not None or self._stopped:
                raise RuntimeError("Membership.start() may be called only once")
            client = KazooClient(
                hosts=self._hosts,
                timeout=self._session_timeout_s,
                auth_data=[("digest", self._auth)] if self._auth else None,
                default_acl=CREATOR_ALL_ACL if self._auth else OPEN_ACL_UNSAFE,
                connection_retry=dict(_RETRY),
                command_retry=dict(_RETRY),
            )
            client.add_listener(self._on_state)
            self._log.info("synctool %s: connecting to ZooKeeper %s", self.endpoint, self._hosts)
            try:
                client.start(timeout=timeout)
            except KazooTimeoutError:  # kazoo has already stopped and closed the client
                raise ClusterError(
                    f"could not connect to ZooKeeper at {self._hosts} within {timeout:g} s", hint=CONNECT_HINT
                ) from None
            except KazooException as exc:
                client.stop()
                client.close()
                raise ClusterError(
                    f"ZooKeeper at {self._hosts} refused the session ({type(exc).__name__})",
                    hint="check the auth (user:password), like OpenMLDB's --zk_cert",
                ) from exc
            self._client = client
            # Registered before start() returns when the path is free, so clients see this
            # synctool at once; the worker waits out a stale node of an earlier process.
            try:
                with zk_errors(self.node_path):
                    client.create(self.node_path, self._data, ephemeral=True, makepath=True)
                self._log.info("synctool %s: registered %s", self.endpoint, self.node_path)
            except OmsyncError as exc:  # taken (a stale node?) or failed: the worker deals with it
                self._log.debug("synctool %s: not registered yet: %s", self.endpoint, exc)
            self._worker = threading.Thread(
                target=self._run, name=f"omsync-membership-{self.endpoint}", daemon=True
            )
            self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """``on_follower("stopping")`` if leader, release the lock, unregister, close; idempotent."""
        with self._stop_guard:
            if self._stopped:
                return
            self._stopped = True
        with self._cond:
            self._stopping = True
            self._ticks += 1
            lock = self._lock
            self._cond.notify_all()
        if lock is not None:
            lock.cancel()  # a pending acquire() returns; an acquired lock is not affected
        worker = self._worker
        own_thread = worker is threading.current_thread()  # stop() called from a callback
        if worker is not None and not own_thread:
            worker.join(timeout)
            if worker.is_alive():
                self._log.warning(
                    "synctool %s: still busy after %g s; closing the session (ZooKeeper drops its nodes)",
                    self.endpoint,
                    timeout,
                )
        if self._client is not None:
            try:
                self._client.stop()
            finally:
                self._client.close()
        if worker is not None and not own_thread and worker.is_alive():
            worker.join(timeout)  # the closed client fails the call it was blocked in
        self._log.info("synctool %s: left ZooKeeper", self.endpoint)

    @property
    def is_leader(self) -> bool:
        """Between ``on_leader`` and ``on_follower``; stays true while SUSPENDED (see ``may_write``)."""
        return self._leading

    @property
    def may_write(self) -> bool:
        """Leader with a live connection right now: false at once on SUSPENDED / LOST."""
        client = self._client
        return (
            self._leading
            and self._write_ok.is_set()
            and client is not None
            and client.state == KazooState.CONNECTED
        )

    def wait_leader(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._leading, timeout)

    @property
    def leader(self) -> str | None:
        """The current leader's endpoint, best effort (a ZooKeeper read when not leading)."""
        if self._leading:
            return self.endpoint
        if self.zk_state != "connected":
            return self._peer
        try:
            holder = _lock_holder(self._client, self.lock_path)
        except OmsyncError:
            return self._peer
        # Our own endpoint while we do not lead: a node of our previous session or process.
        self._peer = holder if holder != self.endpoint else None
        return self._peer

    # -- kazoo's threads: record and wake, never block -------------------------------------------

    def _on_state(self, state: str) -> bool:
        lock = None
        with self._cond:
            if state != KazooState.CONNECTED:
                self._write_ok.clear()
            if state == KazooState.LOST:
                self._generation += 1
                lock = self._lock
            self._ticks += 1
            stopping = self._stopping
            self._cond.notify_all()
        if lock is not None:
            lock.cancel()  # its queue node died with the session
        if not stopping:
            if state == KazooState.SUSPENDED:
                self._log.warning("synctool %s: ZooKeeper connection lost; writes paused", self.endpoint)
            elif state == KazooState.LOST:
                self._log.warning("synctool %s: ZooKeeper session lost; reconnecting", self.endpoint)
            else:
                self._log.info("synctool %s: connected to ZooKeeper", self.endpoint)
        return False

    def _watch_registration(self, gen: int) -> None:
        """Re-create our registration if it is deleted while the worker waits in the lock queue.

        Runs on kazoo's threads, so only asynchronous calls; a failure is repaired by the worker's
        next round (every new session registers again).
        """

        with self._cond:
            if self._watched_gen == gen:
                return  # this session's watch chain is already set
            self._watched_gen = gen

        def on_event(event: WatchedEvent) -> None:
            self._poke()
            if self._abandoned(gen):
                return
            if event.type == EventType.DELETED:
                self._log.warning(
                    "synctool %s: %s vanished; registering again", self.endpoint, self.node_path
                )
                self._client.create_async(self.node_path, self._data, ephemeral=True, makepath=True)
            self._client.exists_async(self.node_path, watch=on_event)  # watches fire once: re-arm

        self._client.exists_async(self.node_path, watch=on_event)

    # -- the worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        reason = "stopping"
        try:
            while (gen := self._wait_connected()) is not None:
                if not self._register(gen):
                    continue
                self._watch_registration(gen)
                lock = self._acquire(gen)
                if lock is None:
                    continue
                self._serve(gen, lock)
                if not self._stopping:  # stop() leaves with the lock, see _leave
                    with self._cond:
                        self._lock = None
        except Exception:
            reason = "the membership thread failed"
            self._log.exception("synctool %s: %s", self.endpoint, reason)
        finally:
            self._leave(reason)

    def _register(self, gen: int) -> bool:
        """Our ephemeral node exists in this session; False if the session ended or we stop."""
        waiting_for: int | None = None
        while True:
            seen = self._ticks
            if self._abandoned(gen):
                return False
            try:
                with zk_errors(self.node_path):
                    try:
                        self._client.create(self.node_path, self._data, ephemeral=True, makepath=True)
                        self._log.info("synctool %s: registered %s", self.endpoint, self.node_path)
                        return True
                    except NodeExistsError:
                        pass
                    stat = self._client.exists(self.node_path, watch=self._poke)
                    if stat is None:
                        continue
                    owner = stat.ephemeralOwner
                    if owner == self._session_id():
                        return True
                    if owner == 0:  # persistent (made by hand?): replace it with ours
                        with suppress(NoNodeError, BadVersionError):
                            self._client.delete(self.node_path, version=stat.version)
                        continue
                    if owner != waiting_for:
                        waiting_for = owner
                        # An earlier process with our endpoint that died less than a session
                        # timeout ago: ZooKeeper removes its node when the session ends.
                        self._log.warning(
                            "synctool %s: waiting for %s to go: it belongs to another live session 0x%x",
                            self.endpoint,
                            self.node_path,
                            owner,
                        )
            except OmsyncError as exc:
                if self._abandoned(gen):
                    return False
                self._trouble(f"could not register {self.node_path}", exc)
                continue
            self._wait(seen)

    def _acquire(self, gen: int) -> Any:
        """Queue for the leader lock; the Lock once held, None if this session ended or we stop."""
        lock = self._client.Lock(self.lock_path, self.endpoint)
        # Lock.acquire retries internally with no way to stop it; this retry gives up once the
        # session it queued in is gone.
        lock._retry = KazooRetry(**_RETRY, interrupt=lambda: self._abandoned(gen))
        with self._cond:
            if self._abandoned(gen):
                return None
            self._lock = lock
        acquired = False
        try:
            with zk_errors(self.lock_path):
                holder = _lock_holder(self._client, self.lock_path)
                if holder is not None:
                    self._log.info("synctool %s: follower, %s leads", self.endpoint, holder)
                try:
                    acquired = bool(lock.acquire(blocking=True))
                except CancelledError:
                    acquired = False
        except OmsyncError as exc:
            if not self._abandoned(gen):
                self._trouble(f"could not queue for the lock {self.lock_path}", exc)
        if acquired and not self._abandoned(gen):
            return lock
        with self._cond:
            if self._lock is lock and not self._stopping:
                self._lock = None
        return None

    def _serve(self, gen: int, lock: Any) -> None:
        """Leader until the session is lost, the lock node vanishes, or we stop."""
        self._failures = 0
        self._write_ok.set()
        self._set_leading(True)
        self._log.info("synctool %s: LEADER", self.endpoint)
        while True:
            seen = self._ticks
            if self._stopping:
                return
            if self._generation != gen:
                self._set_leading(False, SESSION_EXPIRED)
                return
            if self._client.state == KazooState.CONNECTED:
                holding = self._check(gen, lock)
                if holding is False:
                    self._set_leading(False, "lost the leader lock (its znode was deleted)")
                    return
                if holding:
                    self._write_ok.set()
            self._wait(seen)

    def _check(self, gen: int, lock: Any) -> bool | None:
        """Still holding? False: the lock node is gone; None: could not tell (retried on the next event)."""
        try:
            with zk_errors(self.lock_path):
                if self._client.exists(f"{self.lock_path}/{lock.node}", watch=self._poke) is None:
                    return False
                stat = self._client.exists(self.node_path, watch=self._poke)
        except OmsyncError as exc:
            self._log.debug("synctool %s: could not check the leader lock: %s", self.endpoint, exc)
            return None
        if stat is not None and stat.ephemeralOwner == self._session_id():
            return True
        return True if self._register(gen) else None

    def _leave(self, reason: str) -> None:
        self._set_leading(False, reason)
        if self._client.state != KazooState.CONNECTED:
            return  # nothing can be deleted now; the nodes go when the session ends
        lock = self._lock
        if lock is not None and lock.is_acquired:  # first, so a follower takes over at once
            try:
                lock.release()
            except KazooException as exc:
                self._log.debug("synctool %s: could not release the lock: %r", self.endpoint, exc)
        try:
            stat = self._client.exists(self.node_path)
            if stat is not None and stat.ephemeralOwner == self._session_id():
                self._client.delete(self.node_path, version=stat.version)
        except KazooException as exc:  # it goes with our session anyway
            self._log.debug("synctool %s: could not delete %s: %r", self.endpoint, self.node_path, exc)

    def _set_leading(self, leading: bool, reason: str = "") -> None:
        if leading == self._leading:
            return
        with self._cond:
            self._leading = leading  # before the callback: on_leader may already write
            if not leading:
                self._write_ok.clear()
            self._cond.notify_all()
        if leading:
            self._callback(self._on_leader)
        else:
            level = logging.INFO if reason == "stopping" else logging.WARNING
            self._log.log(level, "synctool %s: no longer the leader: %s", self.endpoint, reason)
            self._callback(self._on_follower, reason)
