"""The synctool's state in ZooKeeper (``Store``).

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

Membership and leader election over these nodes: ``membership.Membership``.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)

from omsync_tui.core.errors import ClusterError, NotFoundError, OmsyncError, UsageError
from omsync_tui.core.states import TaskState
from omsync_tui.openmldb.zkpaths import ZkPaths, zk_errors
from omsync_tui.services.synctool.model import Event, SubtaskRecord, TaskRecord

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


def now_ms() -> int:
    return int(time.time() * 1000)


def _int_children(names: Iterable[str]) -> list[int]:
    return sorted(int(n) for n in names if n.isdigit())


def lock_holder(client: Any, lock_path: str) -> str | None:
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
                now_ms(), task.tid, None, "", TaskState.RUNNING.value, self._created(task), self.by
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
                self._journal(Event(now_ms(), tid, None, "", "DELETED", "deleted", self.by))
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
                        now_ms(), tid, pid, old.state.value, new.state.value, reason or new.cause, self.by
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
            return lock_holder(self.client, self.paths.leader_lock)
        except OmsyncError as exc:
            log.debug("could not read the leader: %s", exc)
            return None


# -- membership -----------------------------------------------------------------------------------

# kazoo's defaults wait up to an hour between reconnection attempts; a standby must take over,
# and a leader come back, within seconds (the same settings as the collector's registration).
