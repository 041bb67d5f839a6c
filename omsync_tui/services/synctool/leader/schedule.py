"""``Schedule``: the tasks the leader places, and the only writes it makes to their records.

A ``Table`` is one task being scheduled: its record, its destination and the records of its
subtasks as last read or written. ``Schedule`` keeps the set of them (``create`` adds one,
``delete`` drops it, ``lead`` loads them all, ``step_down`` forgets them) and stores a subtask's
record only by ``update``: a compare-and-set on the freshest record (workers write records too),
refused once this synctool may no longer write. ``reconcile`` is the one write that looks at the
destination: the largest committed end wins, so files a worker renamed just before it died count.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from omsync_tui.core.errors import ClusterError, NotFoundError
from omsync_tui.core.synctool_config import HdfsSection
from omsync_tui.services.sinks import destination, readback
from omsync_tui.services.synctool.model import SubtaskRecord, TaskRecord
from omsync_tui.services.synctool.store import Store

log = logging.getLogger("omsync.synctool")

Change = Callable[[SubtaskRecord], SubtaskRecord]


class Table:
    """A task being scheduled: its record, destination and the last-read records of its subtasks."""

    def __init__(self, record: TaskRecord, dest: destination.Destination) -> None:
        self.record = record
        self.dest = dest
        self.recs: dict[int, SubtaskRecord] = {}  # pid -> record, as last read or written
        self.next_try: dict[int, float] = {}  # pid -> monotonic time of the next assignment attempt


class Schedule:
    """The leader's tasks (a ``Table`` each) and its guarded writes of their subtask records."""

    def __init__(self, store: Store, hdfs: HdfsSection, may_write: Callable[[], bool]) -> None:
        self.store = store
        self.hdfs = hdfs
        self.may_write = may_write
        self._tables: dict[int, Table] = {}
        self._lock = threading.Lock()

    # -- the set of tasks ------------------------------------------------------------------------

    def load(self, task: TaskRecord) -> Table:
        """Schedule a stored task, with its subtasks' records as stored."""
        table = Table(task, destination.open_destination(task.dest, self.hdfs))
        table.recs = self.read(table)
        self.add(table)
        return table

    def add(self, table: Table) -> None:
        with self._lock:
            self._tables[table.record.tid] = table

    def drop(self, tid: int) -> None:
        with self._lock:
            self._tables.pop(tid, None)

    def clear(self) -> int:
        """Forget every task; how many there were."""
        with self._lock:
            n = len(self._tables)
            self._tables = {}
        return n

    def tables(self) -> list[Table]:
        with self._lock:
            return list(self._tables.values())

    def find(self, name: str) -> Table:
        """The task of ``name`` (``db.table`` or its tid)."""
        for t in self.tables():
            if t.record.name == name or str(t.record.tid) == name:
                return t
        raise NotFoundError(f"no sync task for {name}", hint="`omsync task status` lists the tasks")

    # -- records -----------------------------------------------------------------------------------

    def read(self, table: Table) -> dict[int, SubtaskRecord]:
        """The task's subtask records, as stored now."""
        return {v.record.pid: v.record for v in self.store.subtasks(table.record.tid)}

    def update(self, tid: int, pid: int, change: Change, reason: str) -> SubtaskRecord:
        """Compare-and-set ``change`` on the freshest record (the workers write records too)."""
        if not self.may_write():
            raise ClusterError("not the leader with a live ZooKeeper session: not storing")
        stored = self.store.update_subtask(tid, pid, change, reason=reason or None)
        if stored is None:
            raise NotFoundError(f"subtask {tid}-{pid} is gone from ZooKeeper (task deleted?)")
        return stored

    def fresh(self, table: Table, pid: int) -> SubtaskRecord:
        """The subtask's record as stored now, kept in ``table``."""
        got = self.update(table.record.tid, pid, lambda old: old, "")
        table.recs[pid] = got
        return got

    def reconcile(self, table: Table, rec: SubtaskRecord) -> SubtaskRecord:
        """Largest committed end wins: files renamed just before a worker died count. Only while
        no worker holds the subtask (the assigner has let it go)."""
        readback.remove_temporaries(table.dest, rec.pid)
        files = readback.list_files(table.dest, rec.pid)
        if not files or files[-1].next.key() <= rec.committed.key():
            return rec
        last = files[-1]
        log.info(
            "%s pid %d: the destination holds up to %s, ZooKeeper said %s; taking the destination's",
            table.record.name,
            rec.pid,
            last.next,
            rec.committed,
        )

        def caught_up(old: SubtaskRecord) -> SubtaskRecord:
            if last.next.key() <= old.committed.key():
                return old
            newer = [f for f in files if f.first.key() >= old.committed.key()]
            return old.but(
                committed=last.next,
                rows=old.rows + sum(f.rows for f in newer),
                bytes=old.bytes + sum(f.size for f in newer),
                files=old.files + len(newer),
            )

        return self.update(rec.tid, rec.pid, caught_up, "")
