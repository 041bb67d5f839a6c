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
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException

from omsync_tui.core.collector_config import parse_endpoint
from omsync_tui.core.errors import UsageError
from omsync_tui.openmldb.zkpaths import ZkPaths
from omsync_tui.services.zk.member import Ended, ZkMember, ignore


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


class Registration:
    """Registers ``endpoint`` under ``root_path`` and keeps it registered while it holds its host's
    lock; its ZooKeeper seat is a ``ZkMember`` (``member``)."""

    def __init__(
        self,
        hosts: str,
        root_path: str,
        endpoint: str,
        *,
        session_timeout_s: float = 10.0,
        auth: str | None = None,
        on_active: Callable[[], None] = ignore,
        on_standby: Callable[[str], None] = ignore,
        logger: logging.Logger | None = None,
    ) -> None:
        self.host = endpoint_host(endpoint)
        if not endpoint.isascii():
            raise UsageError(f"collector endpoint {endpoint!r} is not ASCII", hint="e.g. 10.0.0.1:8888")
        self.endpoint = endpoint
        self.paths = ZkPaths(root_path)
        self.node_path = self.paths.collector(endpoint)
        self.lock_path = collector_lock_path(self.paths, self.host)
        self.member = ZkMember(
            hosts,
            endpoint,
            node_path=self.node_path,
            lock_path=self.lock_path,
            data=endpoint.encode("ascii"),  # OpenMLDB's node data: the endpoint, as text
            session_timeout_s=session_timeout_s,
            auth=auth,
            logger=logger or logging.getLogger(__name__),
            kind="collector",
            paused="sends paused",
        )
        self._log = self.member.log
        self._on_active = on_active
        self._on_standby = on_standby
        self._announced_active = False  # what the callbacks last said; only the worker touches it
        self._role = Role.CONNECTING  # guarded by the member's cond
        self._peer: str | None = None  # the lock's holder, last seen

    def start(self, timeout: float = 15.0) -> None:
        """Connect and start competing for the host's lock; ClusterError if ZooKeeper is unreachable."""
        self.member.start(self._run, thread="registration", timeout=timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Step down and leave (node, then lock), then close the session; idempotent."""
        self.member.stop(timeout)
        with self.member.cond:
            self._role = Role.STOPPED
            self.member.cond.notify_all()

    @property
    def zk_state(self) -> str:
        return self.member.zk_state

    @property
    def client(self) -> KazooClient | None:
        """The kazoo client, to share its session (reads)."""
        return self.member.client

    @property
    def role(self) -> Role:
        return self._role

    @property
    def may_send(self) -> bool:
        """Active, registered and connected right now (kazoo updates its state before listeners run)."""
        client = self.member.client
        return self.member.ok.is_set() and client is not None and client.state == KazooState.CONNECTED

    def wait_active(self, timeout: float) -> bool:
        with self.member.cond:
            return self.member.cond.wait_for(lambda: self._role is Role.ACTIVE, timeout)

    @property
    def active_peer(self) -> str | None:
        """While standby: the endpoint holding this host's lock (best effort, a ZooKeeper read)."""
        lock = self.member.lock
        if self._role is not Role.STANDBY or lock is None or self.zk_state != "connected":
            return None
        try:
            contenders = lock.contenders()
        except KazooException:
            return self._peer
        holder = contenders[0] if contenders else None
        self._peer = holder if holder != self.endpoint else None
        return self._peer

    # -- the worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        m = self.member
        reason = "stopping"
        try:
            while (gen := m.wait_connected()) is not None:
                lock = m.acquire(gen, self._queued)
                if lock is None:
                    continue
                if m.register(gen):
                    self._serve(gen, lock)
                m.end_round()  # stop() leaves with the lock, see _leave
        except Exception:
            reason = "the registration thread failed"
            self._log.exception("collector %s: %s", self.endpoint, reason)
        finally:
            self._leave(reason)

    def _queued(self, lock: Any) -> None:
        with self.member.cond:
            if self._role is not Role.STOPPED:
                self._role = Role.STANDBY
        contenders = lock.contenders()
        if contenders:
            self._log.info(
                "collector %s: standby, %s is active for host %s", self.endpoint, contenders[0], self.host
            )

    def _serve(self, gen: int, lock: Any) -> None:
        """Active until the session is lost, the lock node vanishes, or we stop."""
        self.member.serving()
        self._set_role(Role.ACTIVE)
        self._log.info("collector %s: ACTIVE for host %s", self.endpoint, self.host)
        ended = self.member.hold(gen, lock)
        if ended is Ended.SESSION:
            self._demote("ZooKeeper session expired: the registration node and the lock are gone")
        elif ended is Ended.LOCK:
            self._demote(f"lost the lock of host {self.host} (its znode was deleted)")
            self.member.delete_own_node()  # the new holder must not wait for it

    def _leave(self, reason: str) -> None:
        self._demote(reason)
        client = self.member.client
        if client is None or client.state != KazooState.CONNECTED:
            return  # nothing can be deleted now; the nodes go when the session ends
        self.member.delete_own_node()  # before the lock, so the next holder finds the path free
        self.member.release_lock()

    def _demote(self, reason: str) -> None:
        self.member.ok.clear()
        self._set_role(Role.STANDBY, reason)

    def _set_role(self, role: Role, reason: str = "") -> None:
        with self.member.cond:
            if self._role is not Role.STOPPED:
                self._role = role
            self.member.cond.notify_all()
        if role is Role.ACTIVE and not self._announced_active:
            self._announced_active = True
            self.member.callback(self._on_active)
        elif role is not Role.ACTIVE and self._announced_active:
            self._announced_active = False
            self._log.warning("collector %s: no longer active: %s", self.endpoint, reason)
            self.member.callback(self._on_standby, reason)
