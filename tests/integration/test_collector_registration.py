"""A collector registers in ZooKeeper like OpenMLDB's DataCollector; one per host is active."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator

import pytest
from helpers.daemonproc import free_port
from helpers.waiting import wait_until
from helpers.zk import drop_connection, expire_session
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NoAuthError

from omsync_tui.core.errors import ClusterError
from omsync_tui.openmldb.zkpaths import ZkPaths
from omsync_tui.services.collector.registration import Registration, Role
from omsync_tui.services.zk.reads import list_collectors

ROOT = "/openmldb"
PATHS = ZkPaths(ROOT)
SESSION_TIMEOUT_S = 4.0
WAIT_S = 15.0


class Collector:
    """A Registration as the daemon uses it, with its callbacks recorded."""

    def __init__(self, zk_hosts: str, endpoint: str) -> None:
        self.events: list[str] = []
        self.callback_threads: set[str] = set()
        self.reg = Registration(
            zk_hosts,
            ROOT,
            endpoint,
            session_timeout_s=SESSION_TIMEOUT_S,
            on_active=self._active,
            on_standby=self._standby,
            logger=logging.getLogger(f"test.registration.{endpoint}"),
        )

    def _active(self) -> None:
        self.callback_threads.add(threading.current_thread().name)
        self.events.append("active")

    def _standby(self, reason: str) -> None:
        self.callback_threads.add(threading.current_thread().name)
        self.events.append(f"standby: {reason}")

    @property
    def session(self) -> int:
        client = self.reg.client
        assert client is not None and client.client_id is not None
        return int(client.client_id[0])

    def kinds(self) -> list[str]:
        return [e.split(":")[0] for e in self.events]


@pytest.fixture
def collector(zk_hosts: str) -> Iterator[Callable[[str], Collector]]:
    made: list[Collector] = []

    def make(endpoint: str) -> Collector:
        c = Collector(zk_hosts, endpoint)
        made.append(c)
        c.reg.start(timeout=WAIT_S)
        return c

    yield make
    for c in made:
        c.reg.stop()
        # Callbacks come from the registration's one thread and strictly alternate.
        assert c.callback_threads <= {f"omsync-registration-{c.reg.endpoint}"}
        kinds = c.kinds()
        assert all(a != b for a, b in itertools.pairwise(kinds)), c.events
        assert kinds[:1] in ([], ["active"]), c.events


def _owner(zk: KazooClient, endpoint: str) -> int | None:
    stat = zk.exists(PATHS.collector(endpoint))
    return None if stat is None else int(stat.ephemeralOwner)


def _registered_by(zk: KazooClient, c: Collector) -> bool:
    return _owner(zk, c.reg.endpoint) == c.session


def test_registers_the_ephemeral_node_openmldb_reads(
    zk: KazooClient, collector: Callable[..., Collector]
) -> None:
    c = collector("127.0.0.1:18001")
    assert c.reg.wait_active(WAIT_S)
    data, stat = zk.get("/openmldb/sync_tool/collector/127.0.0.1:18001")
    assert data == b"127.0.0.1:18001"
    assert stat.ephemeralOwner == c.session
    # Parents are persistent and empty, as OpenMLDB makes them.
    for parent in ("/openmldb", "/openmldb/sync_tool", "/openmldb/sync_tool/collector"):
        parent_data, parent_stat = zk.get(parent)
        assert parent_stat.ephemeralOwner == 0
        assert parent_data == b""
    assert list_collectors(zk, PATHS) == {"127.0.0.1:18001": "127.0.0.1:18001"}
    assert c.reg.may_send and c.reg.zk_state == "connected" and c.reg.active_peer is None
    assert c.events == ["active"]


def test_standby_takes_over_when_the_active_one_stops(
    zk: KazooClient, collector: Callable[..., Collector]
) -> None:
    first = collector("127.0.0.1:18001")
    assert first.reg.wait_active(WAIT_S)
    second = collector("127.0.0.1:18002")
    wait_until(lambda: second.reg.active_peer == "127.0.0.1:18001", WAIT_S, "second to see the holder")
    assert second.reg.role is Role.STANDBY and not second.reg.may_send
    assert _owner(zk, "127.0.0.1:18002") is None
    assert second.events == []

    first.reg.stop()
    assert second.reg.wait_active(WAIT_S)
    assert _registered_by(zk, second)
    assert _owner(zk, "127.0.0.1:18001") is None
    assert first.events == ["active", "standby: stopping"]
    assert first.reg.role is Role.STOPPED and first.reg.zk_state == "closed"


def test_standby_takes_over_when_the_active_session_expires(
    zk: KazooClient, zk_hosts: str, collector: Callable[..., Collector]
) -> None:
    first = collector("127.0.0.1:18001")
    assert first.reg.wait_active(WAIT_S)
    second = collector("127.0.0.1:18002")
    wait_until(lambda: second.reg.active_peer == "127.0.0.1:18001", WAIT_S, "second to queue")

    assert first.reg.client is not None
    expire_session(first.reg.client, zk_hosts)
    assert second.reg.wait_active(WAIT_S)
    assert _registered_by(zk, second)
    wait_until(lambda: first.kinds() == ["active", "standby"], WAIT_S, "first to step down")
    assert "expired" in first.events[1]
    # The first one came back with a new session and queued behind the new holder.
    wait_until(lambda: first.reg.active_peer == "127.0.0.1:18002", WAIT_S, "first to queue again")
    assert first.reg.role is Role.STANDBY and not first.reg.may_send
    assert _owner(zk, "127.0.0.1:18001") is None


def test_session_expiry_steps_down_then_registers_again(
    zk: KazooClient, zk_hosts: str, collector: Callable[..., Collector]
) -> None:
    c = collector("127.0.0.1:18001")
    assert c.reg.wait_active(WAIT_S)
    old_session = c.session
    assert c.reg.client is not None
    expire_session(c.reg.client, zk_hosts)
    wait_until(lambda: c.kinds() == ["active", "standby", "active"], WAIT_S, "standby then active again")
    assert c.session != old_session
    wait_until(lambda: _registered_by(zk, c), WAIT_S, "the node to be re-created by the new session")
    wait_until(lambda: c.reg.may_send, WAIT_S, "may_send")
    assert c.reg.role is Role.ACTIVE


def test_dropped_connection_pauses_sending_without_stepping_down(
    zk: KazooClient, collector: Callable[..., Collector]
) -> None:
    c = collector("127.0.0.1:18001")
    assert c.reg.wait_active(WAIT_S)
    wait_until(lambda: c.reg.may_send, WAIT_S, "may_send")
    client = c.reg.client
    assert client is not None
    session = c.session
    seen: list[tuple[str, bool]] = []

    def watch(state: str) -> bool:
        seen.append((state, c.reg.may_send))
        return False

    client.add_listener(watch)
    try:
        drop_connection(client)
    finally:
        client.remove_listener(watch)
    assert (KazooState.SUSPENDED, False) in seen
    wait_until(lambda: c.reg.may_send, WAIT_S, "may_send after reconnecting")
    assert c.session == session
    assert _owner(zk, "127.0.0.1:18001") == session
    assert c.events == ["active"]


def test_node_deleted_while_disconnected_is_recreated(
    zk: KazooClient, collector: Callable[..., Collector]
) -> None:
    c = collector("127.0.0.1:18001")
    assert c.reg.wait_active(WAIT_S)
    client = c.reg.client
    assert client is not None
    zk.delete(PATHS.collector("127.0.0.1:18001"))
    drop_connection(client)
    wait_until(lambda: _registered_by(zk, c), WAIT_S, "the node to be re-created")
    wait_until(lambda: c.reg.may_send, WAIT_S, "may_send")
    assert c.events == ["active"]


def test_persistent_node_is_replaced(zk: KazooClient, collector: Callable[..., Collector]) -> None:
    zk.create(PATHS.collector("127.0.0.1:18001"), b"made by hand", makepath=True)
    c = collector("127.0.0.1:18001")
    assert c.reg.wait_active(WAIT_S)
    data, stat = zk.get(PATHS.collector("127.0.0.1:18001"))
    assert (data, stat.ephemeralOwner) == (b"127.0.0.1:18001", c.session)


def test_live_ephemeral_node_of_another_session_is_waited_for(
    zk: KazooClient,
    zk_hosts: str,
    collector: Callable[..., Collector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    other = KazooClient(hosts=zk_hosts, timeout=SESSION_TIMEOUT_S)
    other.start(timeout=WAIT_S)
    try:
        other.create(PATHS.collector("127.0.0.1:18001"), b"127.0.0.1:18001", ephemeral=True, makepath=True)
        c = collector("127.0.0.1:18001")
        wait_until(
            lambda: any("waiting for" in r.getMessage() for r in caplog.records), WAIT_S, "the waiting log"
        )
        assert _owner(zk, "127.0.0.1:18001") == other.client_id[0]
        assert c.reg.role is Role.STANDBY and c.events == []
    finally:
        other.stop()
        other.close()
    assert c.reg.wait_active(WAIT_S)
    assert _registered_by(zk, c)


def test_stop_removes_the_node_and_is_idempotent(zk: KazooClient, zk_hosts: str) -> None:
    events: list[str] = []
    reg = Registration(
        zk_hosts,
        ROOT,
        "127.0.0.1:18001",
        session_timeout_s=SESSION_TIMEOUT_S,
        on_active=lambda: events.append("active"),
        on_standby=events.append,
    )
    reg.start(timeout=WAIT_S)
    assert reg.wait_active(WAIT_S)
    assert zk.exists(PATHS.collector("127.0.0.1:18001")) is not None
    reg.stop()
    assert zk.exists(PATHS.collector("127.0.0.1:18001")) is None
    assert events == ["active", "stopping"]
    assert reg.role is Role.STOPPED and not reg.may_send and reg.zk_state == "closed"
    reg.stop()
    assert events == ["active", "stopping"]


def test_other_hosts_are_independent(zk: KazooClient, collector: Callable[..., Collector]) -> None:
    a = collector("127.0.0.1:18001")
    b = collector("127.0.0.2:18001")
    assert a.reg.wait_active(WAIT_S)
    assert b.reg.wait_active(WAIT_S)
    assert list_collectors(zk, PATHS) == {
        "127.0.0.1:18001": "127.0.0.1:18001",
        "127.0.0.2:18001": "127.0.0.2:18001",
    }


def test_deleted_lock_node_hands_over_to_the_standby(
    zk: KazooClient, collector: Callable[..., Collector]
) -> None:
    first = collector("127.0.0.1:18001")
    assert first.reg.wait_active(WAIT_S)
    second = collector("127.0.0.1:18002")
    wait_until(lambda: second.reg.active_peer == "127.0.0.1:18001", WAIT_S, "second to queue")
    lock_path = first.reg.lock_path
    assert lock_path == "/openmldb/sync_tool/omsync/collector_lock/127.0.0.1"
    holder = min(zk.get_children(lock_path), key=lambda name: name[-10:])
    assert zk.get(f"{lock_path}/{holder}")[0] == b"127.0.0.1:18001"

    zk.delete(f"{lock_path}/{holder}")  # by hand: the second now holds the lock
    assert second.reg.wait_active(WAIT_S)
    wait_until(lambda: first.kinds() == ["active", "standby"], WAIT_S, "first to step down")
    assert "lock" in first.events[1]
    wait_until(lambda: _owner(zk, "127.0.0.1:18001") is None, WAIT_S, "first's node to go")
    wait_until(lambda: first.reg.active_peer == "127.0.0.1:18002", WAIT_S, "first to queue again")


def test_auth_protects_the_nodes(zk: KazooClient, zk_hosts: str) -> None:
    reg = Registration(
        zk_hosts, ROOT, "127.0.0.1:18001", session_timeout_s=SESSION_TIMEOUT_S, auth="omsync:secret"
    )
    reg.start(timeout=WAIT_S)
    try:
        assert reg.wait_active(WAIT_S)
        assert reg.client is not None
        acls, _stat = reg.client.get_acls(PATHS.collector("127.0.0.1:18001"))
        assert [(acl.id.scheme, acl.id.id.split(":")[0]) for acl in acls] == [("digest", "omsync")]
        with pytest.raises(NoAuthError):
            zk.get(PATHS.collector("127.0.0.1:18001"))  # a session without the credentials
    finally:
        reg.stop()


def test_unreachable_zookeeper_is_a_cluster_error() -> None:
    port = free_port()  # nobody listens there
    reg = Registration(f"127.0.0.1:{port}", ROOT, "127.0.0.1:18001")
    with pytest.raises(ClusterError, match=f"127.0.0.1:{port}"):
        reg.start(timeout=1.0)
    assert reg.role is Role.CONNECTING and reg.zk_state == "closed"
    reg.stop()
    assert reg.role is Role.STOPPED
