"""Where the synctool keeps its state in ZooKeeper (``SyncPaths``), who holds its leader lock, and
how many of its znodes are read at once (``get_many``).

Layout under ``<root>/sync_tool/omsync/``::

    tasks/<tid>            persistent, TaskRecord JSON
    tasks/<tid>/<pid>      persistent, SubtaskRecord JSON
    events/e-<seq>         persistent sequential, Event JSON; the newest ``max_events`` are kept
    synctools/<endpoint>   ephemeral, {"endpoint", "version", "started_ms"}: every running synctool
    leader_lock            a kazoo Lock whose contenders are named by endpoint; the holder leads

Its own module because several sides share it: the records (``store.Store`` and its
``journal.EventJournal``) and the registration and election (``membership.Membership``); none has
to import another for the paths.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from kazoo.exceptions import NoNodeError

from omsync_tui.core.errors import UsageError
from omsync_tui.openmldb.zkpaths import ZkPaths
from omsync_tui.services.zk.errors import zk_errors

_LOCK_NODE = re.compile(r"__lock__(\d{10})$")  # kazoo Lock's contender nodes


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


def get_many(client: Any, paths: list[str]) -> list[tuple[str, tuple[bytes, int] | None]]:
    """(path, (data, version)) for each path, read in parallel; None for a node gone meanwhile."""
    pending = [(p, client.get_async(p)) for p in paths]
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
