"""The plumbing shared by omsync's ZooKeeper memberships: the collector's ``Registration`` and the
synctool's ``Membership``.

Both run one worker thread that competes for a lock and keeps an ephemeral node, woken by kazoo
listener events through a condition variable (``_poke``); ``_generation`` counts sessions so a
step started in an old session gives up (``_abandoned``). This base class owns the waiting, the
backoff after failed steps and the callback guard; the subclasses own what they register and how
they compete.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient, KazooState

from omsync_tui.core.errors import OmsyncError

PAUSE_MIN_S, PAUSE_MAX_S = 0.5, 30.0


class ZkWorker:
    """Subclasses set ``endpoint``, ``_client``, ``_cond``, ``_log`` and the counters below."""

    KIND = "worker"  # in log lines: "collector 10.0.0.5:8888: ..."

    endpoint: str
    _client: Any
    _cond: threading.Condition
    _log: logging.Logger
    _stopping: bool
    _stopped: bool
    _generation: int
    _ticks: int
    _failures: int

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

    def _callback(self, fn: Callable[..., None], *args: str) -> None:
        try:
            fn(*args)
        except Exception:
            name = getattr(fn, "__name__", repr(fn))
            self._log.exception("%s %s: callback %s failed", self.KIND, self.endpoint, name)
