"""A collector's presence in ZooKeeper: OpenMLDB's registration node, plus standby and takeover.

``Registration`` owns, for one collector process:

* its ZooKeeper session (``client``; the daemon may reuse it for reads);
* its place in the per-host lock ``<root>/sync_tool/omsync/collector_lock/<host>`` (a kazoo
  ``Lock`` whose contenders are named by endpoint): of the collectors started on one tablet host
  (different ports) the holder is ACTIVE and the others are STANDBY, queued behind it, so the
  next one takes over as soon as the holder stops or its session ends;
* the holder's EPHEMERAL node ``<root>/sync_tool/collector/<ip:port>`` whose data is the endpoint
  in ASCII: the node OpenMLDB's DataCollector creates and its SyncTool reads.

How connection events change things:

* SUSPENDED (connection lost, the session may survive): ``may_send`` is false at once;
* CONNECTED with the same session: the node and the lock node are checked again, a vanished
  registration node is re-created, then ``may_send`` is true again; a vanished lock node means
  another collector may now hold the lock, so this one steps down;
* LOST (session expired): the node and the lock went with the session: ``on_standby`` at once,
  and once kazoo has a new session the process competes again (it may stay standby).

Kazoo runs state listeners on its connection thread, which must never block: the listener only
records the change (and cancels a lock wait of the dead session) and wakes this module's one
worker thread. The worker does every ZooKeeper write and runs the callbacks, strictly alternating
``on_active`` / ``on_standby`` (the first call is ``on_active``), never concurrently.
"""

from __future__ import annotations

import logging
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

from omsync_tui.core.collector_config import parse_endpoint
from omsync_tui.core.errors import ClusterError, OmsyncError, UsageError
from omsync_tui.openmldb.zkpaths import CONNECT_HINT, ZkPaths, zk_errors
from omsync_tui.services.zkworker import ZkWorker

# kazoo's defaults wait up to an hour between reconnection attempts (and between the command
# retries of Lock.release); a collector must be back, and a standby take over, within seconds.
_RETRY = {"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 1.0}


class Role(StrEnum):
    """Where a collector stands; only ACTIVE may serve sync tasks."""

    CONNECTING = "connecting"  # start() not called yet, or connecting for the first time
    STANDBY = "standby"  # queued for the lock, or waiting for a stale registration node to go
    ACTIVE = "active"  # holds the lock and the registration node
    STOPPED = "stopped"


def collector_lock_path(paths: ZkPaths, host: str) -> str:
    """The lock the collectors of one tablet host queue on (omsync's own node, not OpenMLDB's)."""
    base = "" if paths.root == "/" else paths.root
    return f"{base}/sync_tool/omsync/collector_lock/{host}"


def endpoint_host(endpoint: str) -> str:
    """``ip:port`` → ``ip`` (``[v6]:port`` → ``v6``); UsageError if the endpoint is malformed."""
    try:
        return parse_endpoint(endpoint)[0]
    except ValueError as exc:
        raise UsageError(f"collector endpoint: {exc}", hint="e.g. 10.0.0.1:8888") from None


def _no_active() -> None:
    pass


def _no_standby(reason: str) -> None:
    pass


class Registration(ZkWorker):
    """Registers ``endpoint`` under ``root_path`` and keeps it registered while it holds its host's lock."""

    KIND = "collector"

    def __init__(
        self,
        hosts: str,
        root_path: str,
        endpoint: str,
        *,
        session_timeout_s: float = 10.0,
        auth: str | None = None,
        on_active: Callable[[], None] = _no_active,
        on_standby: Callable[[str], None] = _no_standby,
        logger: logging.Logger | None = None,
    ) -> None:
        if auth is not None and ":" not in auth:
            raise UsageError("ZooKeeper auth must be user:password", hint="like OpenMLDB's --zk_cert")
        self.endpoint = endpoint
        self.host = endpoint_host(endpoint)
        self.paths = ZkPaths(root_path)
        self.node_path = self.paths.collector(endpoint)
        self.lock_path = collector_lock_path(self.paths, self.host)
        self._hosts = hosts
        self._session_timeout_s = session_timeout_s
        self._auth = auth
        self._on_active = on_active
        self._on_standby = on_standby
        self._log = logger or logging.getLogger(__name__)
        if not endpoint.isascii():
            raise UsageError(f"collector endpoint {endpoint!r} is not ASCII", hint="e.g. 10.0.0.1:8888")
        self._data = endpoint.encode("ascii")  # OpenMLDB's node data: the endpoint, as text

        self._client: Any = None  # KazooClient; kazoo has no type hints
        self._worker: threading.Thread | None = None
        self._stop_guard = threading.Lock()
        self._stopped = False
        self._send_ok = threading.Event()  # cleared at once by the listener on SUSPENDED / LOST
        self._announced_active = False  # what the callbacks last said; only the worker touches it
        self._failures = 0
        self._peer: str | None = None
        # Guarded by _cond, which is never held across a ZooKeeper call or a callback, so kazoo's
        # threads (listener, watches) only ever wait for bookkeeping.
        self._cond = threading.Condition()
        self._ticks = 0  # bumped by every state change, watch and stop(): the worker looks again
        self._generation = 0  # bumped on every LOST: nodes of older generations are gone
        self._stopping = False
        self._lock: Any = None  # the kazoo Lock of the current round
        self._role = Role.CONNECTING

    # -- the interface -------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        """Connect and start competing in the background; ClusterError if ZooKeeper is unreachable."""
        with self._stop_guard:
            if self._client is not None or self._stopped:
                raise RuntimeError("Registration.start() may be called only once")
            client = KazooClient(
                hosts=self._hosts,
                timeout=self._session_timeout_s,
                auth_data=[("digest", self._auth)] if self._auth else None,
                default_acl=CREATOR_ALL_ACL if self._auth else OPEN_ACL_UNSAFE,
                connection_retry=dict(_RETRY),
                command_retry=dict(_RETRY),
            )
            client.add_listener(self._on_state)
            self._log.info("collector %s: connecting to ZooKeeper %s", self.endpoint, self._hosts)
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
            self._worker = threading.Thread(
                target=self._run, name=f"omsync-registration-{self.endpoint}", daemon=True
            )
            self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Step down (``on_standby("stopping")``), delete the node, release the lock, close; idempotent."""
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
                    "collector %s: still busy after %g s (a callback or a ZooKeeper call); "
                    "closing the session anyway, ZooKeeper drops its nodes",
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
        with self._cond:
            self._role = Role.STOPPED
            self._cond.notify_all()
        self._log.info("collector %s: left ZooKeeper", self.endpoint)

    @property
    def role(self) -> Role:
        return self._role

    @property
    def may_send(self) -> bool:
        """Active, registered and connected right now (kazoo updates its state before listeners run)."""
        client = self._client
        return self._send_ok.is_set() and client is not None and client.state == KazooState.CONNECTED

    def wait_may_send(self, timeout: float) -> bool:
        return self._send_ok.wait(timeout) and self.may_send

    def wait_active(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._role is Role.ACTIVE, timeout)

    @property
    def active_peer(self) -> str | None:
        """While standby: the endpoint holding this host's lock (best effort, a ZooKeeper read)."""
        lock = self._lock
        if self._role is not Role.STANDBY or lock is None or self.zk_state != "connected":
            return None
        try:
            contenders = lock.contenders()
        except KazooException:
            return self._peer
        holder = contenders[0] if contenders else None
        self._peer = holder if holder != self.endpoint else None
        return self._peer

    # -- kazoo's threads: record and wake, never block -------------------------------------------

    def _on_state(self, state: str) -> bool:
        lock = None
        with self._cond:
            if state != KazooState.CONNECTED:
                self._send_ok.clear()
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
                self._log.warning("collector %s: ZooKeeper connection lost; sends paused", self.endpoint)
            elif state == KazooState.LOST:
                self._log.warning("collector %s: ZooKeeper session lost; reconnecting", self.endpoint)
            else:
                self._log.info("collector %s: connected to ZooKeeper", self.endpoint)
        return False  # stay registered

    # -- the worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        reason = "stopping"
        try:
            while (gen := self._wait_connected()) is not None:
                lock = self._acquire(gen)
                if lock is None:
                    continue
                if self._register(gen):
                    self._serve(gen, lock)
                if not self._stopping:  # stop() leaves with the lock, see _leave
                    with self._cond:
                        self._lock = None
        except Exception:
            reason = "the registration thread failed"
            self._log.exception("collector %s: %s", self.endpoint, reason)
        finally:
            self._leave(reason)

    def _acquire(self, gen: int) -> Any:
        """Queue for the host's lock; the Lock once held, None if this session ended or we stop."""
        lock = self._client.Lock(self.lock_path, self.endpoint)
        # Lock.acquire retries internally with no way to stop it; this retry gives up once the
        # session it queued in is gone.
        lock._retry = KazooRetry(**_RETRY, interrupt=lambda: self._abandoned(gen))
        with self._cond:
            if self._abandoned(gen):
                return None
            self._lock = lock
            if self._role is not Role.STOPPED:
                self._role = Role.STANDBY
        try:
            with zk_errors(self.lock_path):
                contenders = lock.contenders()
                if contenders:
                    self._log.info(
                        "collector %s: standby, %s is active for host %s",
                        self.endpoint,
                        contenders[0],
                        self.host,
                    )
                try:
                    acquired = bool(lock.acquire(blocking=True))
                except CancelledError:
                    acquired = False
        except OmsyncError as exc:
            acquired = False
            if not self._abandoned(gen):
                self._trouble(f"could not queue for the lock {self.lock_path}", exc)
        if acquired and not self._abandoned(gen):
            self._log.info("collector %s: holds the lock of host %s", self.endpoint, self.host)
            return lock
        with self._cond:
            if self._lock is lock and not self._stopping:
                self._lock = None
        return None

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
                        self._log.info("collector %s: registered %s", self.endpoint, self.node_path)
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
                            "collector %s: %s is a persistent node (made by hand?); replacing it with our "
                            "ephemeral one",
                            self.endpoint,
                            self.node_path,
                        )
                        # If it changed meanwhile, the next round looks again.
                        with suppress(NoNodeError, BadVersionError):
                            self._client.delete(self.node_path, version=stat.version)
                        continue
                    if owner != waiting_for:
                        waiting_for = owner
                        # Deleting it could unregister a live collector; a dead one's session
                        # ends within the session timeout and ZooKeeper removes the node then.
                        self._log.warning(
                            "collector %s: waiting for %s to disappear: it belongs to another live "
                            "session 0x%x (a previous collector with this endpoint that died less "
                            "than a session timeout ago, or another process using %s)",
                            self.endpoint,
                            self.node_path,
                            owner,
                            self.endpoint,
                        )
            except OmsyncError as exc:
                if self._abandoned(gen):
                    return False
                self._trouble(f"could not register {self.node_path}", exc)
                continue
            self._wait(seen)

    def _serve(self, gen: int, lock: Any) -> None:
        """Active until the session is lost, the lock node vanishes, or we stop."""
        self._failures = 0
        self._send_ok.set()
        self._set_role(Role.ACTIVE)
        self._log.info("collector %s: ACTIVE for host %s", self.endpoint, self.host)
        while True:
            seen = self._ticks
            if self._stopping:
                return
            if self._generation != gen:
                self._demote("ZooKeeper session expired: the registration node and the lock are gone")
                return
            if self._client.state == KazooState.CONNECTED:
                holding = self._check(gen, lock)
                if holding is False:
                    self._demote(f"lost the lock of host {self.host} (its znode was deleted)")
                    self._delete_own_node()  # the new holder must not wait for it
                    return
                if holding:
                    self._send_ok.set()
            self._wait(seen)

    def _check(self, gen: int, lock: Any) -> bool | None:
        """Still holding? False: the lock node is gone; None: could not tell (retried on next event)."""
        try:
            with zk_errors(self.lock_path):
                if self._client.exists(f"{self.lock_path}/{lock.node}", watch=self._poke) is None:
                    return False
                stat = self._client.exists(self.node_path, watch=self._poke)
        except OmsyncError as exc:
            # Usually the connection dropped again; the next CONNECTED brings us back here.
            self._log.debug("collector %s: could not check the registration: %s", self.endpoint, exc)
            return None
        if stat is not None and stat.ephemeralOwner == self._session_id():
            return True
        self._send_ok.clear()
        self._log.warning("collector %s: %s vanished; registering again", self.endpoint, self.node_path)
        return True if self._register(gen) else None

    def _delete_own_node(self) -> None:
        try:
            stat = self._client.exists(self.node_path)
            if stat is not None and stat.ephemeralOwner == self._session_id():
                self._client.delete(self.node_path, version=stat.version)
        except KazooException as exc:  # it goes with our session anyway
            self._log.debug("collector %s: could not delete %s: %r", self.endpoint, self.node_path, exc)

    def _leave(self, reason: str) -> None:
        self._demote(reason)
        if self._client.state != KazooState.CONNECTED:
            return  # nothing can be deleted now; the nodes go when the session ends
        self._delete_own_node()  # before the lock, so the next holder finds the path free
        lock = self._lock
        if lock is not None and lock.is_acquired:
            try:
                lock.release()
            except KazooException as exc:
                self._log.debug("collector %s: could not release the lock: %r", self.endpoint, exc)

    def _demote(self, reason: str) -> None:
        self._send_ok.clear()
        self._set_role(Role.STANDBY, reason)

    def _set_role(self, role: Role, reason: str = "") -> None:
        with self._cond:
            if self._role is not Role.STOPPED:
                self._role = role
            self._cond.notify_all()
        if role is Role.ACTIVE and not self._announced_active:
            self._announced_active = True
            self._callback(self._on_active)
        elif role is not Role.ACTIVE and self._announced_active:
            self._announced_active = False
            self._log.warning("collector %s: no longer active: %s", self.endpoint, reason)
            self._callback(self._on_standby, reason)
