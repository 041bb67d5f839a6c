"""The synctool's task and subtask records in ZooKeeper (``Store``).

The znodes are laid out by ``syncpaths.SyncPaths``; ``Store`` also keeps the event journal under
``events/`` (``journal.EventJournal``, which it holds).

Every update of a record is a compare-and-set on the znode version (``put_subtask``,
``update_subtask``): two synctools that both believe they lead for a moment (the old leader has not
yet noticed its session expired) cannot overwrite each other's progress unseen. kazoo's exceptions
become omsync errors in ``zk_errors`` (``omsync_tui.services.zk.errors``); a lost compare-and-set is
a ``StaleRecord``.

Membership and leader election over these nodes: ``membership.Membership``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable
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
from omsync_tui.core.states import TaskState, can_move
from omsync_tui.services.synctool.journal import EventJournal
from omsync_tui.services.synctool.model import Event, SubtaskRecord, TaskRecord
from omsync_tui.services.synctool.syncpaths import SyncPaths, get_many, lock_holder, now_ms
from omsync_tui.services.zk.errors import zk_errors

T = TypeVar("T")
log = logging.getLogger("omsync.synctool.store")


class StaleRecord(ClusterError):
    """A compare-and-set lost against a concurrent writer: the caller re-reads and decides."""


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    record: T
    version: int  # the znode's data version, for the next compare-and-set


def _int_children(names: Iterable[str]) -> list[int]:
    return sorted(int(n) for n in names if n.isdigit())


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
        self.journal = EventJournal(self.client, self.paths, max_events)

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
            self.journal.record(created)
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
                self.journal.record(Event(now_ms(), tid, None, "", "DELETED", "deleted", self.by))
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
        for path, got in get_many(self.client, [self.paths.task(t) for t in _int_children(names)]):
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
            for p, got in get_many(self.client, [f"{path}/{pid}" for pid in _int_children(names)])
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

        ``change`` returning None (or an equal record) writes nothing. A change of state, and a new
        assignment (a new token: a collector given the subtask, also when a new leader takes over
        and the state stays RUNNING), is journalled with the record in one transaction, so the
        journal never misses or invents one. Its reason is ``reason``, else the record's cause.
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
            if not can_move(old.state, new.state):  # the state machine (DESIGN §4) guards every write
                raise ClusterError(
                    f"subtask {tid}-{pid}: {old.state.value} → {new.state.value} is not a state change "
                    f"omsync makes ({reason or new.cause or 'no reason given'}); nothing was stored",
                    hint="this is a bug in omsync: report it with the synctool's log",
                )
            try:
                if new.state == old.state and new.token == old.token:
                    self.put_subtask(new, current.version)
                else:
                    why = reason or new.cause
                    if not why:  # every caller names one; a missing one is a bug, not worth a lost write
                        log.warning("subtask %d-%d: %s → %s has no reason", tid, pid, old.state, new.state)
                        why = "(no reason given)"
                    event = Event(now_ms(), tid, pid, old.state.value, new.state.value, why, self.by)
                    self._put_with_event(new, current.version, event)
                return new
            except StaleRecord:
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))  # let the other writer finish
            except NotFoundError:
                return None
        raise StaleRecord(f"subtask {tid}-{pid} changed under every one of {attempts} attempts to update it")

    def _put_with_event(self, sub: SubtaskRecord, version: int, event: Event) -> None:
        path = self.paths.subtask(sub.tid, sub.pid)
        txn = self.client.transaction()
        txn.set_data(path, sub.to_json(), version=version)
        self.journal.add_to(txn, event)
        with zk_errors(path):
            results = txn.commit()
        first, second = results[0], results[1]
        if isinstance(first, BadVersionError):
            raise StaleRecord(f"subtask {sub.tid}-{sub.pid} was changed by another writer")
        if isinstance(first, NoNodeError):
            raise NotFoundError(f"subtask {sub.tid}-{sub.pid} is gone ({path}; task deleted?)")
        if isinstance(second, NoNodeError):  # events/ deleted by hand: store, then journal apart
            self.journal.lost()
            self.put_subtask(sub, version)
            self.journal.record(event)
            return
        if isinstance(first, Exception) or isinstance(second, Exception):
            raise ClusterError(f"could not update {path}: {type(first).__name__}, {type(second).__name__}")
        self.journal.added(second)

    def events(self, *, tid: int | None = None, limit: int = 200) -> list[Event]:
        """The newest ``limit`` events (of task ``tid`` if given), newest last."""
        return self.journal.events(tid=tid, limit=limit)

    # -- discovery --------------------------------------------------------------------------------

    def synctools(self) -> dict[str, dict[str, object]]:
        """Running synctools: endpoint → what each registered (endpoint, version, started_ms)."""
        with zk_errors(self.paths.synctools):
            try:
                names = self.client.get_children(self.paths.synctools)
            except NoNodeError:
                return {}
        found: dict[str, dict[str, object]] = {}
        for path, got in get_many(self.client, [f"{self.paths.synctools}/{n}" for n in sorted(names)]):
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
