"""``ZkMember``: one process's seat in a ZooKeeper group, held by the collector's ``Registration``
and the synctool's ``Membership`` (each holds one; neither is one).

A member is one ZooKeeper session, an ephemeral node ``node_path`` holding ``data``, a place in
the queue of ``lock_path`` (contenders named by endpoint) and one worker thread, which runs the
holder's rounds (``start(run, ...)``). The member gives that thread its steps: wait for a
connection (``wait_connected``), register the node (``register``), queue for the lock
(``acquire``), serve until the session, the lock or the node ends it (``hold``), and leave
(``delete_own_node``, ``release_lock``); the waiting, the backoff after failed steps
(``trouble``) and the callback guard (``callback``). The holder owns the order of its rounds,
what serving means and how it steps down; its own state may be guarded by ``cond``.

Kazoo's threads only record and wake (the state listener, ``poke``): ``cond`` is never held
across a ZooKeeper call or a callback, and a session counter makes a step started in an old
session give up (``abandoned``). The worker makes every write.
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
    """Why serving ended (``ZkMember.hold``), other than stopping."""

    SESSION = "session"  # expired: our node and our place in the lock went with it
    LOCK = "lock"  # the lock node was deleted: another member may hold the lock now


class ZkMember:
    """One ZooKeeper session, an ephemeral node ``node_path`` holding ``data``, a place in the
    queue of ``lock_path`` (contenders named by endpoint), and the worker thread running the
    holder's rounds."""

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
        kind: str,
        paused: str,
    ) -> None:
        """``kind`` names the member in log lines ("collector 10.0.0.5:8888: ..."); ``paused`` is
        what stops at once on SUSPENDED / LOST, for the log."""
        if auth is not None and ":" not in auth:
            raise UsageError("ZooKeeper auth must be user:password", hint="like OpenMLDB's --zk_cert")
        self.endpoint = endpoint
        self.node_path = node_path
        self.lock_path = lock_path
        self.data = data
        self._hosts = hosts
        self._session_timeout_s = session_timeout_s
        self._auth = auth
        self.log = logger
        self.kind = kind
        self.paused = paused

        self._client: Any = None  # KazooClient; kazoo has no type hints
        self._worker: threading.Thread | None = None
        self._stop_guard = threading.Lock()
        self._stopped = False
        self.ok = threading.Event()  # serving and connected; cleared at once on SUSPENDED / LOST
        self._failures = 0
        # Guarded by cond, which is never held across a ZooKeeper call or a callback, so kazoo's
        # threads (listener, watches) only ever wait for bookkeeping.
        self.cond = threading.Condition()
        self._ticks = 0  # bumped by every state change, watch and stop(): the worker looks again
        self._generation = 0  # bumped on every LOST: nodes of older sessions are gone
        self._stopping = False
        self._lock: Any = None  # the kazoo Lock of the current round

    # -- the session ---------------------------------------------------------------------------

    def start(
        self,
        run: Callable[[], None],
        *,
        thread: str,
        timeout: float = 15.0,
        connected: Callable[[], None] = ignore,
    ) -> None:
        """Connect, call ``connected`` (the session is up, the worker not started yet), then run
        ``run`` in the worker thread ``omsync-<thread>-<endpoint>``; ClusterError if ZooKeeper is
        unreachable. ``run`` is the holder's rounds of ``register`` / ``acquire`` / ``hold``."""
        with self._stop_guard:
            if self._client is not None or self._stopped:
                raise RuntimeError(f"{self.kind} {self.endpoint}: start() may be called only once")
            client = KazooClient(
                hosts=self._hosts,
                timeout=self._session_timeout_s,
                auth_data=[("digest", self._auth)] if self._auth else None,
                default_acl=CREATOR_ALL_ACL if self._auth else OPEN_ACL_UNSAFE,
                connection_retry=dict(RETRY),
                command_retry=dict(RETRY),
            )
            client.add_listener(self._on_state)
            self.log.info("%s %s: connecting to ZooKeeper %s", self.kind, self.endpoint, self._hosts)
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
            connected()
            self._worker = threading.Thread(target=run, name=f"omsync-{thread}-{self.endpoint}", daemon=True)
            self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Let the worker's rounds end (they step down and leave), then close the session;
        idempotent."""
        with self._stop_guard:
            if self._stopped:
                return
            self._stopped = True
        with self.cond:
            self._stopping = True
            self._ticks += 1
            lock = self._lock
            self.cond.notify_all()
        if lock is not None:
            lock.cancel()  # a pending acquire() returns; an acquired lock is not affected
        worker = self._worker
        own_thread = worker is threading.current_thread()  # stop() called from a callback
        if worker is not None and not own_thread:
            worker.join(timeout)
            if worker.is_alive():
                self.log.warning(
                    "%s %s: still busy after %g s (a callback or a ZooKeeper call); "
                    "closing the session anyway, ZooKeeper drops its nodes",
                    self.kind,
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
        self.log.info("%s %s: left ZooKeeper", self.kind, self.endpoint)

    @property
    def stopping(self) -> bool:
        """``stop()`` was called: the rounds end."""
        return self._stopping

    @property
    def lock(self) -> Any:
        """The kazoo Lock of the current round (queued or held), or None."""
        return self._lock

    def serving(self) -> None:
        """The holder serves: failed steps are forgotten, ``ok`` is set."""
        self._failures = 0
        self.ok.set()

    def end_round(self) -> None:
        """Forget the round's lock (unless stopping: ``stop()`` leaves with it)."""
        if not self._stopping:
            with self.cond:
                self._lock = None

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
        with self.cond:
            if state != KazooState.CONNECTED:
                self.ok.clear()
            if state == KazooState.LOST:
                self._generation += 1
                lock = self._lock
            self._ticks += 1
            stopping = self._stopping
            self.cond.notify_all()
        if lock is not None:
            # Its queue node died with the session; the wait must not carry on in the new one.
            lock.cancel()
        if not stopping:
            if state == KazooState.SUSPENDED:
                self.log.warning(
                    "%s %s: ZooKeeper connection lost; %s", self.kind, self.endpoint, self.paused
                )
            elif state == KazooState.LOST:
                self.log.warning("%s %s: ZooKeeper session lost; reconnecting", self.kind, self.endpoint)
            else:
                self.log.info("%s %s: connected to ZooKeeper", self.kind, self.endpoint)
        return False  # stay registered

    def poke(self, *_event: object) -> None:
        with self.cond:
            self._ticks += 1
            self.cond.notify_all()

    def wait_connected(self) -> int | None:
        with self.cond:
            self.cond.wait_for(lambda: self._stopping or self._client.state == KazooState.CONNECTED)
            return None if self._stopping else self._generation

    def wait(self, seen: int) -> None:
        """Sleep until something happened after tick ``seen``: a state change, a watch, stop()."""
        with self.cond:
            self.cond.wait_for(lambda: self._ticks != seen or self._stopping)

    def abandoned(self, gen: int) -> bool:
        return self._stopping or self._generation != gen

    def session_id(self) -> int | None:
        client_id = self._client.client_id
        return int(client_id[0]) if client_id else None

    def trouble(self, what: str, exc: OmsyncError) -> None:
        """Log a failed step and pause (exponential backoff with jitter) before it is retried."""
        pause = min(PAUSE_MAX_S, PAUSE_MIN_S * 2**self._failures) * random.uniform(0.8, 1.2)
        self._failures += 1
        hint = f" ({exc.hint})" if exc.hint else ""
        self.log.warning(
            "%s %s: %s: %s%s; retrying in %.1f s", self.kind, self.endpoint, what, exc, hint, pause
        )
        with self.cond:
            self.cond.wait_for(lambda: self._stopping, pause)

    # -- the worker's steps ----------------------------------------------------------------------

    def register(self, gen: int) -> bool:
        """Create our ephemeral node; True once it is there, False if this session ended or we stop."""
        waiting_for: int | None = None
        while True:
            seen = self._ticks
            if self.abandoned(gen):
                return False
            try:
                with zk_errors(self.node_path):
                    try:
                        self._client.create(self.node_path, self.data, ephemeral=True, makepath=True)
                        self.log.info("%s %s: registered %s", self.kind, self.endpoint, self.node_path)
                        return True
                    except NodeExistsError:
                        pass
                    stat = self._client.exists(self.node_path, watch=self.poke)
                    if stat is None:
                        continue  # gone meanwhile
                    owner = stat.ephemeralOwner
                    if owner == self.session_id():
                        return True  # ours: an earlier create whose answer was lost
                    if owner == 0:
                        self.log.warning(
                            "%s %s: %s is a persistent node (made by hand?); replacing it with our "
                            "ephemeral one",
                            self.kind,
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
                        self.log.warning(
                            "%s %s: waiting for %s to disappear: it belongs to another live "
                            "session 0x%x (a previous %s with this endpoint that died less "
                            "than a session timeout ago, or another process using %s)",
                            self.kind,
                            self.endpoint,
                            self.node_path,
                            owner,
                            self.kind,
                            self.endpoint,
                        )
            except OmsyncError as exc:
                if self.abandoned(gen):
                    return False
                self.trouble(f"could not register {self.node_path}", exc)
                continue
            self.wait(seen)

    def acquire(self, gen: int, queued: Callable[[Any], None] = ignore) -> Any:
        """Queue for the lock; the Lock once held, None if this session ended or we stop.
        ``queued(lock)`` runs in the queue, before the wait (ZooKeeper errors may escape it)."""
        lock = self._client.Lock(self.lock_path, self.endpoint)
        # Lock.acquire retries internally with no way to stop it; this retry gives up once the
        # session it queued in is gone.
        lock._retry = KazooRetry(**RETRY, interrupt=lambda: self.abandoned(gen))
        with self.cond:
            if self.abandoned(gen):
                return None
            self._lock = lock
        acquired = False
        try:
            with zk_errors(self.lock_path):
                queued(lock)
                try:
                    acquired = bool(lock.acquire(blocking=True))
                except CancelledError:
                    acquired = False
        except OmsyncError as exc:
            if not self.abandoned(gen):
                self.trouble(f"could not queue for the lock {self.lock_path}", exc)
        if acquired and not self.abandoned(gen):
            self.log.info("%s %s: holds the lock %s", self.kind, self.endpoint, self.lock_path)
            return lock
        with self.cond:
            if self._lock is lock and not self._stopping:
                self._lock = None
        return None

    def _check(self, gen: int, lock: Any) -> bool | None:
        """Still holding? False: the lock node is gone; None: could not tell (retried on next event).

        A vanished registration node is created again (``ok`` cleared meanwhile).
        """
        try:
            with zk_errors(self.lock_path):
                if self._client.exists(f"{self.lock_path}/{lock.node}", watch=self.poke) is None:
                    return False
                stat = self._client.exists(self.node_path, watch=self.poke)
        except OmsyncError as exc:
            # Usually the connection dropped again; the next CONNECTED brings us back here.
            self.log.debug("%s %s: could not check the lock: %s", self.kind, self.endpoint, exc)
            return None
        if stat is not None and stat.ephemeralOwner == self.session_id():
            return True
        self.ok.clear()
        self.log.warning("%s %s: %s vanished; registering again", self.kind, self.endpoint, self.node_path)
        return True if self.register(gen) else None

    def hold(self, gen: int, lock: Any) -> Ended | None:
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
                    self.ok.set()
            self.wait(seen)

    def delete_own_node(self) -> None:
        try:
            stat = self._client.exists(self.node_path)
            if stat is not None and stat.ephemeralOwner == self.session_id():
                self._client.delete(self.node_path, version=stat.version)
        except KazooException as exc:  # it goes with our session anyway
            self.log.debug("%s %s: could not delete %s: %r", self.kind, self.endpoint, self.node_path, exc)

    def release_lock(self) -> None:
        lock = self._lock
        if lock is not None and lock.is_acquired:
            try:
                lock.release()
            except KazooException as exc:
                self.log.debug("%s %s: could not release the lock: %r", self.kind, self.endpoint, exc)

    def callback(self, fn: Callable[..., None], *args: str) -> None:
        try:
            fn(*args)
        except Exception:
            name = getattr(fn, "__name__", repr(fn))
            self.log.exception("%s %s: callback %s failed", self.kind, self.endpoint, name)
