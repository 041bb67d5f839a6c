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

from kazoo.client import KazooClient, KazooState
from kazoo.protocol.states import EventType, WatchedEvent

from omsync_tui.core.errors import OmsyncError
from omsync_tui.services.synctool.syncpaths import SyncPaths, lock_holder, now_ms
from omsync_tui.services.zk.errors import zk_errors
from omsync_tui.services.zk.member import Ended, ZkMember, ignore

SESSION_EXPIRED = "ZooKeeper session expired"


class Membership:
    """Registers this synctool and competes for leadership; callbacks from one background thread,
    in order. Its ZooKeeper seat is a ``ZkMember`` (``member``)."""

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
        self.endpoint = endpoint
        self.member = ZkMember(
            hosts,
            endpoint,
            node_path=self.paths.synctool(endpoint),
            lock_path=self.paths.leader_lock,
            data=json.dumps(self._registration).encode(),
            session_timeout_s=session_timeout_s,
            auth=auth,
            logger=logger or logging.getLogger(__name__),
            kind="synctool",
            paused="writes paused",
        )
        self._log = self.member.log
        self._on_leader = on_leader
        self._on_follower = on_follower
        self._on_session_lost = on_session_lost
        self._leading = False  # what the callbacks last said; only the worker changes it
        self._watched_gen: int | None = None  # the session whose registration is being watched
        self._peer: str | None = None  # the leader, last seen

    def start(self, timeout: float = 15.0) -> None:
        """Connect, register and compete for leadership; ClusterError if ZooKeeper is unreachable."""
        self.member.start(self._run, thread="membership", timeout=timeout, connected=self._register_now)

    def stop(self, timeout: float = 5.0) -> None:
        """Step down and leave (lock, then node), then close the session; idempotent."""
        self.member.stop(timeout)

    @property
    def zk_state(self) -> str:
        return self.member.zk_state

    @property
    def client(self) -> KazooClient | None:
        """The kazoo client, to share its session (reads, the task store)."""
        return self.member.client

    def _register_now(self) -> None:
        # Registered before start() returns when the path is free, so clients see this
        # synctool at once; the worker waits out a stale node of an earlier process.
        m = self.member
        client: Any = m.client
        try:
            with zk_errors(m.node_path):
                client.create(m.node_path, m.data, ephemeral=True, makepath=True)
            self._log.info("synctool %s: registered %s", self.endpoint, m.node_path)
        except OmsyncError as exc:  # taken (a stale node?) or failed: the worker deals with it
            self._log.debug("synctool %s: not registered yet: %s", self.endpoint, exc)

    @property
    def is_leader(self) -> bool:
        """Between ``on_leader`` and ``on_follower``; stays true while SUSPENDED (see ``may_write``)."""
        return self._leading

    @property
    def may_write(self) -> bool:
        """Leader with a live connection right now: false at once on SUSPENDED / LOST."""
        client = self.member.client
        return (
            self._leading
            and self.member.ok.is_set()
            and client is not None
            and client.state == KazooState.CONNECTED
        )

    def wait_leader(self, timeout: float) -> bool:
        with self.member.cond:
            return self.member.cond.wait_for(lambda: self._leading, timeout)

    @property
    def leader(self) -> str | None:
        """The current leader's endpoint, best effort (a ZooKeeper read when not leading)."""
        if self._leading:
            return self.endpoint
        if self.zk_state != "connected":
            return self._peer
        try:
            holder = lock_holder(self.member.client, self.member.lock_path)
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

        m = self.member
        with m.cond:
            if self._watched_gen == gen:
                return  # this session's watch chain is already set
            self._watched_gen = gen

        client: Any = m.client

        def on_event(event: WatchedEvent) -> None:
            m.poke()
            if m.abandoned(gen):
                return
            if event.type == EventType.DELETED:
                self._log.warning("synctool %s: %s vanished; registering again", self.endpoint, m.node_path)
                client.create_async(m.node_path, m.data, ephemeral=True, makepath=True)
            client.exists_async(m.node_path, watch=on_event)  # watches fire once: re-arm

        client.exists_async(m.node_path, watch=on_event)

    # -- the worker ------------------------------------------------------------------------------

    def publish(self, report: dict[str, object]) -> None:
        """Put ``report`` into the registration node (best effort: the next one comes soon)."""
        m = self.member
        data = json.dumps({**self._registration, **report}).encode()
        m.data = data  # a registration made again carries the latest
        client = m.client
        if client is None or client.state != KazooState.CONNECTED:
            return
        try:
            with zk_errors(m.node_path):
                client.set(m.node_path, data)
        except OmsyncError as exc:
            self._log.debug("synctool %s: report not published: %s", self.endpoint, exc)

    def _run(self) -> None:
        m = self.member
        reason = "stopping"
        session: int | None = None
        try:
            while (gen := m.wait_connected()) is not None:
                if session is not None and gen != session:
                    m.callback(self._on_session_lost)
                session = gen
                if not m.register(gen):
                    continue
                self._watch_registration(gen)
                lock = m.acquire(gen, self._queued)
                if lock is None:
                    continue
                self._serve(gen, lock)
                m.end_round()  # stop() leaves with the lock, see _leave
        except Exception:
            reason = "the membership thread failed"
            self._log.exception("synctool %s: %s", self.endpoint, reason)
        finally:
            self._leave(reason)

    def _queued(self, lock: Any) -> None:
        holder = lock_holder(self.member.client, self.member.lock_path)
        if holder is not None:
            self._log.info("synctool %s: follower, %s leads", self.endpoint, holder)

    def _serve(self, gen: int, lock: Any) -> None:
        """Leader until the session is lost, the lock node vanishes, or we stop."""
        self.member.serving()
        self._set_leading(True)
        self._log.info("synctool %s: LEADER", self.endpoint)
        ended = self.member.hold(gen, lock)
        if ended is Ended.SESSION:
            self._set_leading(False, SESSION_EXPIRED)
        elif ended is Ended.LOCK:
            self._set_leading(False, "lost the leader lock (its znode was deleted)")

    def _leave(self, reason: str) -> None:
        self._set_leading(False, reason)
        client = self.member.client
        if client is None or client.state != KazooState.CONNECTED:
            return  # nothing can be deleted now; the nodes go when the session ends
        self.member.release_lock()  # first, so a follower takes over at once
        self.member.delete_own_node()

    def _set_leading(self, leading: bool, reason: str = "") -> None:
        if leading == self._leading:
            return
        with self.member.cond:
            self._leading = leading  # before the callback: on_leader may already write
            if not leading:
                self.member.ok.clear()
            self.member.cond.notify_all()
        if leading:
            self.member.callback(self._on_leader)
        else:
            level = logging.INFO if reason == "stopping" else logging.WARNING
            self._log.log(level, "synctool %s: no longer the leader: %s", self.endpoint, reason)
            self.member.callback(self._on_follower, reason)
