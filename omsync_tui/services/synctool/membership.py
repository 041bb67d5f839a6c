"""``Membership``: this synctool's registration in ZooKeeper and its leader election.

It follows the collector's ``Registration`` (``services/collector/registration.py``): kazoo's state
listener only records and wakes; one worker thread makes every ZooKeeper write and runs the
callbacks, strictly alternating ``on_leader`` / ``on_follower`` (the first is ``on_leader``).
SUSPENDED keeps ``is_leader`` but clears ``may_write`` at once; LOST (session expired) calls
``on_follower("ZooKeeper session expired")``, then the worker registers again with the new session
and queues for the lock again. The nodes are those of ``store.SyncPaths``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadVersionError,
    CancelledError,
    KazooException,
    NodeExistsError,
    NoNodeError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import EventType, WatchedEvent
from kazoo.retry import KazooRetry
from kazoo.security import CREATOR_ALL_ACL, OPEN_ACL_UNSAFE

from omsync_tui.core.errors import ClusterError, OmsyncError, UsageError
from omsync_tui.openmldb.zkpaths import CONNECT_HINT, zk_errors
from omsync_tui.services.synctool.store import SyncPaths, lock_holder, now_ms
from omsync_tui.services.zkworker import ZkWorker

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
        self._data = json.dumps({"endpoint": endpoint, "version": version, "started_ms": now_ms()}).encode()

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
            holder = lock_holder(self._client, self.lock_path)
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
                holder = lock_holder(self._client, self.lock_path)
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
