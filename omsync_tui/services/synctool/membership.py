"""``Membership``: this synctool's registration in ZooKeeper and its leader election.

It follows the collector's ``Registration`` (``services/collector/registration.py``): kazoo's state
listener only records and wakes; one worker thread makes every ZooKeeper write and runs the
callbacks, strictly alternating ``on_leader`` / ``on_follower`` (the first is ``on_leader``).
SUSPENDED keeps ``is_leader`` but clears ``may_write`` at once; LOST (session expired) calls
``on_follower("ZooKeeper session expired")``, then the worker registers again with the new session
and queues for the lock again. A new session first calls ``on_session_lost`` (the worker lets its
subtasks go: the leader may already have moved them) before it registers again. ``publish`` puts
the worker's report into the registration node. The nodes are those of ``syncpaths.SyncPaths``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooState
from kazoo.protocol.states import EventType, WatchedEvent

from omsync_tui.core.errors import OmsyncError
from omsync_tui.services.synctool.syncpaths import SyncPaths, lock_holder, now_ms
from omsync_tui.services.zk.errors import zk_errors
from omsync_tui.services.zk.worker import Ended, ZkWorker, ignore

SESSION_EXPIRED = "ZooKeeper session expired"


class Membership(ZkWorker):
    """Registers this synctool and competes for leadership; callbacks from one background thread, in order."""

    KIND = "synctool"
    THREAD = "membership"
    PAUSED = "writes paused"

    def __init__(
        self,
        hosts: str,
        root_path: str,
        endpoint: str,
        *,
        session_timeout_s: float = 10.0,
        auth: str | None = None,
        on_leader: Callable[[], None] = ignore,
        on_follower: Callable[[str], None] = ignore,
        on_session_lost: Callable[[], None] = ignore,
        logger: logging.Logger | None = None,
        version: str = "",
        works: bool = True,
    ) -> None:
        self.paths = SyncPaths.of(root_path)
        self._registration: dict[str, object] = {
            "endpoint": endpoint,
            "version": version,
            "started_ms": now_ms(),
            "works": works,
        }
        super().__init__(
            hosts,
            endpoint,
            node_path=self.paths.synctool(endpoint),
            lock_path=self.paths.leader_lock,
            data=json.dumps(self._registration).encode(),
            session_timeout_s=session_timeout_s,
            auth=auth,
            logger=logger or logging.getLogger(__name__),
        )
        self._on_leader = on_leader
        self._on_follower = on_follower
        self._on_session_lost = on_session_lost
        self._leading = False  # what the callbacks last said; only the worker changes it
        self._watched_gen: int | None = None  # the session whose registration is being watched

    def _connected(self) -> None:
        # Registered before start() returns when the path is free, so clients see this
        # synctool at once; the worker waits out a stale node of an earlier process.
        try:
            with zk_errors(self.node_path):
                self._client.create(self.node_path, self._data, ephemeral=True, makepath=True)
            self._log.info("synctool %s: registered %s", self.endpoint, self.node_path)
        except OmsyncError as exc:  # taken (a stale node?) or failed: the worker deals with it
            self._log.debug("synctool %s: not registered yet: %s", self.endpoint, exc)

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
            and self._ok.is_set()
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
            holder = lock_holder(self._client, self.lock_path)
        except OmsyncError:
            return self._peer
        # Our own endpoint while we do not lead: a node of our previous session or process.
        self._peer = holder if holder != self.endpoint else None
        return self._peer

    # -- kazoo's threads: record and wake, never block -------------------------------------------

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

    def publish(self, report: dict[str, object]) -> None:
        """Put ``report`` into the registration node (best effort: the next one comes soon)."""
        data = json.dumps({**self._registration, **report}).encode()
        self._data = data  # a registration made again carries the latest
        client = self._client
        if client is None or client.state != KazooState.CONNECTED:
            return
        try:
            with zk_errors(self.node_path):
                client.set(self.node_path, data)
        except OmsyncError as exc:
            self._log.debug("synctool %s: report not published: %s", self.endpoint, exc)

    def _run(self) -> None:
        reason = "stopping"
        session: int | None = None
        try:
            while (gen := self._wait_connected()) is not None:
                if session is not None and gen != session:
                    self._callback(self._on_session_lost)
                session = gen
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

    def _queued(self, lock: Any) -> None:
        holder = lock_holder(self._client, self.lock_path)
        if holder is not None:
            self._log.info("synctool %s: follower, %s leads", self.endpoint, holder)

    def _serve(self, gen: int, lock: Any) -> None:
        """Leader until the session is lost, the lock node vanishes, or we stop."""
        self._failures = 0
        self._ok.set()
        self._set_leading(True)
        self._log.info("synctool %s: LEADER", self.endpoint)
        ended = self._hold(gen, lock)
        if ended is Ended.SESSION:
            self._set_leading(False, SESSION_EXPIRED)
        elif ended is Ended.LOCK:
            self._set_leading(False, "lost the leader lock (its znode was deleted)")

    def _leave(self, reason: str) -> None:
        self._set_leading(False, reason)
        if self._client.state != KazooState.CONNECTED:
            return  # nothing can be deleted now; the nodes go when the session ends
        self._release_lock()  # first, so a follower takes over at once
        self._delete_own_node()

    def _set_leading(self, leading: bool, reason: str = "") -> None:
        if leading == self._leading:
            return
        with self._cond:
            self._leading = leading  # before the callback: on_leader may already write
            if not leading:
                self._ok.clear()
            self._cond.notify_all()
        if leading:
            self._callback(self._on_leader)
        else:
            level = logging.INFO if reason == "stopping" else logging.WARNING
            self._log.log(level, "synctool %s: no longer the leader: %s", self.endpoint, reason)
            self._callback(self._on_follower, reason)
