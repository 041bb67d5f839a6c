"""The plumbing shared by omsync's ZooKeeper memberships: the collector's ``Registration`` and the
synctool's ``Membership``.

Both run one worker thread that competes for a lock and keeps an ephemeral node, woken by kazoo
listener events through a condition variable (``_poke``); ``_generation`` counts sessions so a
step started in an old session gives up (``_abandoned``). This base class owns the session
(``start``/``stop``), the state listener, registering the node, queueing for the lock, checking
both while serving, the waiting, the backoff after failed steps and the callback guard; the
subclasses own the order of their rounds (``_run``), what serving means and how they step down.
Kazoo's threads only record and wake (``_on_state``, ``_poke``); the worker makes every write.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from contextlib import suppress
from enum import StrEnum
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, CancelledError, KazooException, NodeExistsError, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry
from kazoo.security import CREATOR_ALL_ACL, OPEN_ACL_UNSAFE

from omsync_tui.core.errors import ClusterError, OmsyncError, UsageError
from omsync_tui.services.zk.errors import CONNECT_HINT, zk_errors

PAUSE_MIN_S, PAUSE_MAX_S = 0.5, 30.0
# kazoo's defaults wait up to an hour between reconnection attempts (and between the command
# retries of Lock.release); a member must be back, and a standby take over, within seconds.
RETRY = {"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 1.0}


def ignore(*_args: object) -> None:
    """The default of the ``on_*`` callbacks: nothing to do."""


class Ended(StrEnum):
    """Why serving ended (``ZkWorker._hold``), other than stopping."""

    SESSION = "session"  # expired: our node and our place in the lock went with it
    LOCK = "lock"  # the lock node was deleted: another member may hold the lock now


class ZkWorker:
    """One ZooKeeper session, an ephemeral node ``node_path`` holding ``data``, a place in the
    queue of ``lock_path`` (contenders named by endpoint), and the worker thread running ``_run``."""

    KIND = "worker"  # in log lines: "collector 10.0.0.5:8888: ..."
    THREAD = "worker"  # the worker thread's name: omsync-<THREAD>-<endpoint>
    PAUSED = "work paused"  # what stops at once on SUSPENDED / LOST, for the log

    def __init__(
        self,
        hosts: str,
        endpoint: str,
        *,
        node_path: str,
        lock_path: str,
        data: bytes,
        session_timeout_s: float,
        auth: str | None,
        logger: logging.Logger,
    ) -> None:
        if auth is not None and ":" not in auth:
            raise UsageError("ZooKeeper auth must be user:password", hint="like OpenMLDB's --zk_cert")
        self.endpoint = endpoint
        self.node_path = node_path
        self.lock_path = lock_path
        self._data = data
        self._hosts = hosts
        self._session_timeout_s = session_timeout_s
        self._auth = auth
        self._log = logger

        self._client: Any = None  # KazooClient; kazoo has no type hints
        self._worker: threading.Thread | None = None
        self._stop_guard = threading.Lock()
        self._stopped = False
        self._ok = threading.Event()  # serving and connected; cleared at once on SUSPENDED / LOST
        self._failures = 0
        self._peer: str | None = None  # the lock's holder, last seen
        # Guarded by _cond, which is never held across a ZooKeeper call or a callback, so kazoo's
        # threads (listener, watches) only ever wait for bookkeeping.
        self._cond = threading.Condition()
        self._ticks = 0  # bumped by every state change, watch and stop(): the worker looks again
        self._generation = 0  # bumped on every LOST: nodes of older sessions are gone
        self._stopping = False
        self._lock: Any = None  # the kazoo Lock of the current round

    # -- the session ---------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        """Connect and start the worker; ClusterError if ZooKeeper is unreachable."""
        with self._stop_guard:
            if self._client is not None or self._stopped:
                raise RuntimeError(f"{type(self).__name__}.start() may be called only once")
            client = KazooClient(
                hosts=self._hosts,
                timeout=self._session_timeout_s,
                auth_data=[("digest", self._auth)] if self._auth else None,
                default_acl=CREATOR_ALL_ACL if self._auth else OPEN_ACL_UNSAFE,
                connection_retry=dict(RETRY),
                command_retry=dict(RETRY),
            )
            client.add_listener(self._on_state)
            self._log.info("%s %s: connecting to ZooKeeper %s", self.KIND, self.endpoint, self._hosts)
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
            self._connected()
            self._worker = threading.Thread(
                target=self._run, name=f"omsync-{self.THREAD}-{self.endpoint}", daemon=True
            )
            self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Let the worker step down and leave (``_leave``), then close the session; idempotent."""
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
                    "%s %s: still busy after %g s (a callback or a ZooKeeper call); "
                    "closing the session anyway, ZooKeeper drops its nodes",
                    self.KIND,
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
        self._closed()
        self._log.info("%s %s: left ZooKeeper", self.KIND, self.endpoint)

    def _connected(self) -> None:
        """Hook: the session is up, the worker not started yet."""

    def _closed(self) -> None:
        """Hook: the session is closed and the worker gone."""

    def _run(self) -> None:
        """The worker thread: the subclass's rounds of register / queue / serve, then ``_leave``."""
        raise NotImplementedError(f"{type(self).__name__} must define its rounds")

    @property
    def zk_state(self) -> str:
        """``connected``, ``suspended``, ``lost`` (reconnecting with a new session) or ``closed``."""
        client = self._client
        if client is None or self._stopped:
            return "closed"
        names = {KazooState.CONNECTED: "connected", KazooState.SUSPENDED: "suspended"}
        return names.get(client.state, "lost")

    @property
    def client(self) -> KazooClient | None:
        """The kazoo client, to share its session (reads, the task store)."""
        client: KazooClient | None = self._client
        return client

    # -- kazoo's threads: record and wake, never block -------------------------------------------

    def _on_state(self, state: str) -> bool:
        lock = None
        with self._cond:
            if state != KazooState.CONNECTED:
                self._ok.clear()
            if state == KazooState.LOST:
                self._generation += 1
                lock = self._lock
            self._ticks += 1
            stopping = self._stopping
            self._cond.notify_all()
        if lock is not None:
            # Its queue node died with the session; the wait must not carry on in the new one.
            lock.cancel()
        if not stopping:
            if state == KazooState.SUSPENDED:
                self._log.warning(
                    "%s %s: ZooKeeper connection lost; %s", self.KIND, self.endpoint, self.PAUSED
                )
            elif state == KazooState.LOST:
                self._log.warning("%s %s: ZooKeeper session lost; reconnecting", self.KIND, self.endpoint)
            else:
                self._log.info("%s %s: connected to ZooKeeper", self.KIND, self.endpoint)
        return False  # stay registered

    def _poke(self, *_event: object) -> None:
        with self._cond:
            self._ticks += 1
            self._cond.notify_all()

    def _wait_connected(self) -> int | None:
        with self._cond:
            self._cond.wait_for(lambda: self._stopping or self._client.state == KazooState.CONNECTED)
            return None if self._stopping else self._generation

    def _wait(self, seen: int) -> None:
        """Sleep until something happened after tick ``seen``: a state change, a watch, stop()."""
        with self._cond:
            self._cond.wait_for(lambda: self._ticks != seen or self._stopping)

    def _abandoned(self, gen: int) -> bool:
        return self._stopping or self._generation != gen

    def _session_id(self) -> int | None:
        client_id = self._client.client_id
        return int(client_id[0]) if client_id else None

    def _trouble(self, what: str, exc: OmsyncError) -> None:
        """Log a failed step and pause (exponential backoff with jitter) before it is retried."""
        pause = min(PAUSE_MAX_S, PAUSE_MIN_S * 2**self._failures) * random.uniform(0.8, 1.2)
        self._failures += 1
        hint = f" ({exc.hint})" if exc.hint else ""
        self._log.warning(
            "%s %s: %s: %s%s; retrying in %.1f s", self.KIND, self.endpoint, what, exc, hint, pause
        )
        with self._cond:
            self._cond.wait_for(lambda: self._stopping, pause)

    # -- the worker's steps ----------------------------------------------------------------------

    def _register(self, gen: int) -> bool:
        """Create our ephemeral node; True once it is there, False if this session ended or we stop."""
        waiting_for: int | None = None
        while True:
            seen = self._ticks
            if self._abandoned(gen):
                return False
            try:
                with zk_errors(self.node_path):
                    try:
                        self._client.create(self.node_path, self._data, ephemeral=True, makepath=True)
                        self._log.info("%s %s: registered %s", self.KIND, self.endpoint, self.node_path)
                        return True
                    except NodeExistsError:
                        pass
                    stat = self._client.exists(self.node_path, watch=self._poke)
                    if stat is None:
                        continue  # gone meanwhile
                    owner = stat.ephemeralOwner
                    if owner == self._session_id():
                        return True  # ours: an earlier create whose answer was lost
                    if owner == 0:
                        self._log.warning(
                            "%s %s: %s is a persistent node (made by hand?); replacing it with our "
                            "ephemeral one",
                            self.KIND,
                            self.endpoint,
                            self.node_path,
                        )
                        # If it changed meanwhile, the next round looks again.
                        with suppress(NoNodeError, BadVersionError):
                            self._client.delete(self.node_path, version=stat.version)
                        continue
                    if owner != waiting_for:
                        waiting_for = owner
                        # Deleting it could unregister a live member; a dead one's session
                        # ends within the session timeout and ZooKeeper removes the node then.
                        self._log.warning(
                            "%s %s: waiting for %s to disappear: it belongs to another live "
                            "session 0x%x (a previous %s with this endpoint that died less "
                            "than a session timeout ago, or another process using %s)",
                            self.KIND,
                            self.endpoint,
                            self.node_path,
                            owner,
                            self.KIND,
                            self.endpoint,
                        )
            except OmsyncError as exc:
                if self._abandoned(gen):
                    return False
                self._trouble(f"could not register {self.node_path}", exc)
                continue
            self._wait(seen)

    def _acquire(self, gen: int) -> Any:
        """Queue for the lock; the Lock once held, None if this session ended or we stop."""
        lock = self._client.Lock(self.lock_path, self.endpoint)
        # Lock.acquire retries internally with no way to stop it; this retry gives up once the
        # session it queued in is gone.
        lock._retry = KazooRetry(**RETRY, interrupt=lambda: self._abandoned(gen))
        with self._cond:
            if self._abandoned(gen):
                return None
            self._lock = lock
        acquired = False
        try:
            with zk_errors(self.lock_path):
                self._queued(lock)
                try:
                    acquired = bool(lock.acquire(blocking=True))
                except CancelledError:
                    acquired = False
        except OmsyncError as exc:
            if not self._abandoned(gen):
                self._trouble(f"could not queue for the lock {self.lock_path}", exc)
        if acquired and not self._abandoned(gen):
            self._log.info("%s %s: holds the lock %s", self.KIND, self.endpoint, self.lock_path)
            return lock
        with self._cond:
            if self._lock is lock and not self._stopping:
                self._lock = None
        return None

    def _queued(self, lock: Any) -> None:
        """Hook: in the lock's queue, before waiting for it (ZooKeeper errors may escape)."""

    def _check(self, gen: int, lock: Any) -> bool | None:
        """Still holding? False: the lock node is gone; None: could not tell (retried on next event).

        A vanished registration node is created again (``_ok`` cleared meanwhile).
        """
        try:
            with zk_errors(self.lock_path):
                if self._client.exists(f"{self.lock_path}/{lock.node}", watch=self._poke) is None:
                    return False
                stat = self._client.exists(self.node_path, watch=self._poke)
        except OmsyncError as exc:
            # Usually the connection dropped again; the next CONNECTED brings us back here.
            self._log.debug("%s %s: could not check the lock: %s", self.KIND, self.endpoint, exc)
            return None
        if stat is not None and stat.ephemeralOwner == self._session_id():
            return True
        self._ok.clear()
        self._log.warning("%s %s: %s vanished; registering again", self.KIND, self.endpoint, self.node_path)
        return True if self._register(gen) else None

    def _hold(self, gen: int, lock: Any) -> Ended | None:
        """Serve until something ends it: look at the lock and our node again after every event
        (``_check``); None when we stop."""
        while True:
            seen = self._ticks
            if self._stopping:
                return None
            if self._generation != gen:
                return Ended.SESSION
            if self._client.state == KazooState.CONNECTED:
                holding = self._check(gen, lock)
                if holding is False:
                    return Ended.LOCK
                if holding:
                    self._ok.set()
            self._wait(seen)

    def _delete_own_node(self) -> None:
        try:
            stat = self._client.exists(self.node_path)
            if stat is not None and stat.ephemeralOwner == self._session_id():
                self._client.delete(self.node_path, version=stat.version)
        except KazooException as exc:  # it goes with our session anyway
            self._log.debug("%s %s: could not delete %s: %r", self.KIND, self.endpoint, self.node_path, exc)

    def _release_lock(self) -> None:
        lock = self._lock
        if lock is not None and lock.is_acquired:
            try:
                lock.release()
            except KazooException as exc:
                self._log.debug("%s %s: could not release the lock: %r", self.KIND, self.endpoint, exc)

    def _callback(self, fn: Callable[..., None], *args: str) -> None:
        try:
            fn(*args)
        except Exception:
            name = getattr(fn, "__name__", repr(fn))
            self._log.exception("%s %s: callback %s failed", self.KIND, self.endpoint, name)
