"""Helpers for tests that need ZooKeeper to misbehave: a dropped connection, an expired session.

Both act on the real server and wait for kazoo to report the resulting state change, with a
deadline instead of a fixed sleep. ``drop_connection`` keeps the session (ephemeral nodes
survive); ``expire_session`` ends it on the server (ephemeral nodes are deleted).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kazoo.client import KazooClient, KazooState

from helpers.waiting import DEFAULT_TIMEOUT


class StateRecorder:
    """A kazoo listener that records states and lets a test wait for a sequence of them."""

    def __init__(self) -> None:
        self.states: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, state: str) -> bool:
        with self._cond:
            self.states.append(state)
            self._cond.notify_all()
        return False  # stay registered

    def wait_for(self, *expected: str, since: int = 0, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until ``expected`` occurs, in order (not necessarily adjacent), after ``since``."""

        def seen() -> bool:
            it = iter(self.states[since:])
            return all(any(s == e for s in it) for e in expected)

        with self._cond:
            if not self._cond.wait_for(seen, timeout):
                raise AssertionError(
                    f"kazoo did not report {' → '.join(expected)} within {timeout:g} s; "
                    f"saw {self.states[since:]}"
                )


@contextmanager
def recording(client: KazooClient) -> Iterator[StateRecorder]:
    recorder = StateRecorder()
    client.add_listener(recorder)
    try:
        yield recorder
    finally:
        client.remove_listener(recorder)


def drop_connection(client: KazooClient, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Break the client's TCP connection; kazoo reconnects with the same session.

    Returns once the listener has seen SUSPENDED and then CONNECTED again.
    """
    assert client.connected, "drop_connection needs a connected client"
    session_id = client.client_id[0]
    with recording(client) as recorder:
        sock = client._connection._socket
        # shutdown (not close) wakes kazoo's select() from this thread: recv() returns b"" and
        # kazoo treats it as a broken connection.
        sock.shutdown(socket.SHUT_RDWR)
        recorder.wait_for(KazooState.SUSPENDED, KazooState.CONNECTED, timeout=timeout)
    assert client.client_id is not None and client.client_id[0] == session_id, "session changed"


def expire_session(client: KazooClient, zk_hosts: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Make the server expire the client's session, the standard way.

    A second connection joins the same session (id + password) and then closes it: the server
    ends the session and deletes its ephemeral nodes; the original client learns this when it
    reconnects. Returns once its listener has seen LOST (kazoo then starts a new session).
    """
    client_id = client.client_id
    assert client_id is not None, "expire_session needs a connected client"
    with recording(client) as recorder:
        intruder = KazooClient(hosts=zk_hosts, client_id=client_id, timeout=client._session_timeout / 1000)
        try:
            intruder.start(timeout=timeout)
            intruder.stop()
        finally:
            intruder.close()
        recorder.wait_for(KazooState.LOST, timeout=timeout)
