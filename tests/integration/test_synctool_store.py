"""The synctool's records in ZooKeeper (Store) and its leader election (Membership), on a real server."""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from helpers.waiting import wait_until
from helpers.zk import drop_connection, expire_session
from kazoo.client import KazooClient, KazooState

from omsync_tui.core.errors import ClusterError, NotFoundError, UsageError
from omsync_tui.core.states import TRANSITIONS, Mode, State, can_move
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.services.synctool.membership import Membership
from omsync_tui.services.synctool.model import Event, SubtaskRecord, TaskRecord
from omsync_tui.services.synctool.store import StaleRecord, Store
from omsync_tui.services.synctool.syncpaths import SyncPaths

ROOT = "/openmldb"
PATHS = SyncPaths.of(ROOT)
SESSION_TIMEOUT_S = 4.0
WAIT_S = 15.0


def _task(tid: int = 7, partitions: int = 3) -> tuple[TaskRecord, list[SubtaskRecord]]:
    task = TaskRecord(tid=tid, db="db", table=f"t{tid}", mode=Mode.FULL, dest="file:///tmp/x", partitions=3)
    return task, [SubtaskRecord(tid=tid, pid=pid, token=f"tok{pid}") for pid in range(partitions)]


@pytest.fixture
def store(zk: KazooClient) -> Store:
    return Store(zk, ROOT, by="127.0.0.1:9000")


# -- tasks ------------------------------------------------------------------------------------------


def test_create_read_delete(zk: KazooClient, store: Store) -> None:
    task, subs = _task()
    store.create_task(task, subs)
    got = store.task(7)
    assert got is not None and got.record == task and got.version == 0
    assert store.tasks() == [task]
    assert [v.record for v in store.subtasks(7)] == subs
    assert [v.version for v in store.subtasks(7)] == [0, 0, 0]
    one = store.subtask(7, 1)
    assert one is not None and one.record == subs[1]
    assert zk.get_children(PATHS.task(7)) and zk.exists(PATHS.subtask(7, 2)).ephemeralOwner == 0
    assert store.task(8) is None and store.subtask(7, 9) is None and store.subtasks(8) == []

    assert store.delete_task(7) is True
    assert zk.exists(PATHS.task(7)) is None
    assert store.delete_task(7) is False
    assert store.tasks() == []
    # The journal says what happened to the task as a whole.
    assert [(e.pid, e.old, e.new) for e in store.events(tid=7)] == [
        (None, "", "RUNNING"),
        (None, "", "DELETED"),
    ]


def test_duplicate_create_is_refused_and_a_failed_transaction_leaves_nothing(
    zk: KazooClient, store: Store
) -> None:
    task, subs = _task()
    store.create_task(task, subs)
    with pytest.raises(UsageError, match=r"a task for db\.t7 \(tid 7\) already exists"):
        store.create_task(task, subs)

    # A subtask node made by hand: the transaction fails and creates none of the others.
    other, other_subs = _task(tid=8)
    zk.create(PATHS.subtask(8, 1), b"by hand", makepath=True)
    with pytest.raises(UsageError, match="already exists"):
        store.create_task(other, other_subs)
    assert zk.get_children(PATHS.task(8)) == ["1"]
    assert zk.get(PATHS.task(8))[0] == b""

    # A failure after the task node was created in the transaction rolls that back too.
    third, third_subs = _task(tid=9)
    with pytest.raises(ClusterError, match=r"NodeExistsError on .*/tasks/9/1; nothing was created"):
        store.create_task(third, [*third_subs, third_subs[1]])
    assert zk.exists(PATHS.task(9)) is None

    with pytest.raises(UsageError, match="do not belong"):
        store.create_task(third, [SubtaskRecord(tid=1, pid=0)])


def test_compare_and_set(zk_hosts: str, zk: KazooClient, store: Store) -> None:
    task, subs = _task()
    store.create_task(task, subs)
    assert store.put_subtask(subs[0].but(rows=10), 0) == 1
    with pytest.raises(StaleRecord):
        store.put_subtask(subs[0].but(rows=20), 0)
    assert store.subtask(7, 0).record.rows == 10  # type: ignore[union-attr]

    # Another synctool (its own client) writes between our read and our write: the first
    # compare-and-set loses, the update reads again and applies the change on the newer record.
    other = KazooClient(hosts=zk_hosts)
    other.start(timeout=WAIT_S)
    try:
        rival = Store(other, ROOT, by="127.0.0.1:9001")
        calls: list[SubtaskRecord] = []

        def change(rec: SubtaskRecord) -> SubtaskRecord:
            calls.append(rec)
            if len(calls) == 1:
                current = rival.subtask(7, 0)
                assert current is not None
                rival.put_subtask(current.record.but(bytes=999), current.version)
            return rec.but(files=rec.files + 1)

        stored = store.update_subtask(7, 0, change)
    finally:
        other.stop()
        other.close()
    assert stored is not None and stored.files == 1 and stored.bytes == 999 and stored.rows == 10
    assert len(calls) == 2
    again = store.subtask(7, 0)
    assert again is not None and again.record == stored and again.version == 3

    # None (or the same record) writes nothing; a missing subtask is None.
    assert store.update_subtask(7, 0, lambda _r: None) == stored
    assert store.update_subtask(7, 0, lambda r: r) == stored
    assert store.subtask(7, 0).version == 3  # type: ignore[union-attr]
    assert store.update_subtask(7, 5, lambda r: r.but(rows=1)) is None

    # Always losing: StaleRecord after the attempts.
    def always_lose(rec: SubtaskRecord) -> SubtaskRecord:
        cur = store.subtask(7, 1)
        assert cur is not None
        store.put_subtask(cur.record.but(rows=cur.record.rows + 1), cur.version)
        return rec.but(state=State.RUNNING)

    with pytest.raises(StaleRecord, match="3 attempts"):
        store.update_subtask(7, 1, always_lose, attempts=3)

    store.delete_task(7)
    with pytest.raises(NotFoundError):
        store.put_subtask(subs[2].but(rows=1), 0)


def test_events_on_state_changes_only(store: Store) -> None:
    task, subs = _task()
    store.create_task(task, subs)
    base = len(store.events())
    store.update_subtask(7, 0, lambda r: r.but(rows=5))
    assert len(store.events()) == base
    store.update_subtask(7, 0, lambda r: r.but(state=State.RUNNING), reason="assigned to 127.0.0.1:8888")
    store.update_subtask(7, 0, lambda r: r.but(state=State.REASSIGNING, cause="collector-timeout"))
    events = store.events(tid=7)[-2:]
    assert [(e.pid, e.old, e.new, e.reason, e.by) for e in events] == [
        (0, "INIT", "RUNNING", "assigned to 127.0.0.1:8888", "127.0.0.1:9000"),
        (0, "RUNNING", "REASSIGNING", "collector-timeout", "127.0.0.1:9000"),
    ]
    assert len(store.events()) == base + 2
    assert store.events(limit=0) == []


def test_a_new_assignment_is_journalled_though_the_state_stays(store: Store) -> None:
    """A new leader reassigns RUNNING subtasks (a new token) without changing their state."""
    task, subs = _task()
    store.create_task(task, subs)
    store.update_subtask(7, 0, lambda r: r.but(state=State.RUNNING, token="a"), reason="first data")
    base = len(store.events())
    store.update_subtask(7, 0, lambda r: r.but(token="b"), reason="takeover: assigned to 127.0.0.1:8888")
    store.update_subtask(7, 0, lambda r: r.but(token="c", cause="collector_silent"))
    store.update_subtask(7, 0, lambda r: r.but(rows=9))  # progress: not an event
    assert len(store.events()) == base + 2
    assert [(e.old, e.new, e.reason) for e in store.events(tid=7)[-2:]] == [
        ("RUNNING", "RUNNING", "takeover: assigned to 127.0.0.1:8888"),
        ("RUNNING", "RUNNING", "collector_silent"),
    ]


def test_the_state_machine_guards_every_state_change_the_store_writes(store: Store) -> None:
    task, subs = _task()
    store.create_task(task, subs)
    to = {State.RUNNING: "first data", State.SUCCESS: "FULL sync done"}
    for state, reason in to.items():
        store.update_subtask(7, 0, lambda r, s=state: r.but(state=s), reason=reason)
    before = len(store.events())
    # a finished subtask never runs again, and a FAILED one comes back only through REASSIGNING
    with pytest.raises(ClusterError, match=r"subtask 7-0: SUCCESS → RUNNING is not a state change"):
        store.update_subtask(7, 0, lambda r: r.but(state=State.RUNNING), reason="a bug")
    store.update_subtask(7, 1, lambda r: r.but(state=State.FAILED, cause="destination"))
    with pytest.raises(ClusterError, match="FAILED → RUNNING"):
        store.update_subtask(7, 1, lambda r: r.but(state=State.RUNNING))
    got = {v.record.pid: v.record.state for v in store.subtasks(7)}
    assert (got[0], got[1]) == (State.SUCCESS, State.FAILED)  # nothing stored
    assert len(store.events()) == before + 1  # only the FAILED one is journalled
    store.update_subtask(7, 1, lambda r: r.but(state=State.REASSIGNING, cause="retry"))
    store.update_subtask(7, 1, lambda r: r.but(state=State.RUNNING))
    for old, allowed in TRANSITIONS.items():
        for new in State:
            assert can_move(old, new) == (new == old or new in allowed)


def test_events_are_trimmed_and_filtered(zk: KazooClient) -> None:
    store = Store(zk, ROOT, max_events=5)
    for i in range(12):
        store.journal.add(Event(ts_ms=i, tid=i % 2, pid=i, old="INIT", new="RUNNING", reason=f"r{i}"))
    assert len(zk.get_children(PATHS.events)) == 5
    assert [e.pid for e in store.events()] == [7, 8, 9, 10, 11]  # the newest, newest last
    assert [e.pid for e in store.events(limit=2)] == [10, 11]
    assert [e.pid for e in store.events(tid=1)] == [7, 9, 11]
    assert [e.pid for e in store.events(tid=0, limit=1)] == [10]
    assert store.events(tid=3) == []
    assert all(n.startswith("e-") and len(n) == 12 for n in zk.get_children(PATHS.events))

    # A second writer (a new leader) keeps the same bound.
    Store(zk, ROOT, max_events=5).journal.add(Event(ts_ms=99, tid=1, pid=99, old="", new="X", reason=""))
    assert [e.pid for e in store.events()] == [8, 9, 10, 11, 99]


def test_records_survive_a_new_client(zk_hosts: str, store: Store) -> None:
    task, subs = _task()
    store.create_task(task, subs)
    store.update_subtask(
        7, 2, lambda r: r.but(state=State.RUNNING, committed=SyncPoint.binlog(1201), rows=1200)
    )
    fresh = KazooClient(hosts=zk_hosts)
    fresh.start(timeout=WAIT_S)
    try:
        again = Store(fresh, ROOT)
        assert again.tasks() == [task]
        sub = again.subtask(7, 2)
        assert sub is not None and sub.version == 1
        assert sub.record == subs[2].but(state=State.RUNNING, committed=SyncPoint.binlog(1201), rows=1200)
        assert again.events(tid=7)[-1].new == "RUNNING"
    finally:
        fresh.stop()
        fresh.close()


# -- membership -------------------------------------------------------------------------------------


class Member:
    """A Membership as the daemon uses it, with its callbacks recorded."""

    def __init__(self, zk_hosts: str, endpoint: str) -> None:
        self.events: list[str] = []
        self.threads: set[str] = set()
        self.m = Membership(
            zk_hosts,
            ROOT,
            endpoint,
            session_timeout_s=SESSION_TIMEOUT_S,
            on_leader=self._leader,
            on_follower=self._follower,
            logger=logging.getLogger(f"test.membership.{endpoint}"),
            version="9.9",
        )

    def _leader(self) -> None:
        self.threads.add(threading.current_thread().name)
        assert self.m.is_leader and self.m.may_write  # the callback may write at once
        self.events.append("leader")

    def _follower(self, reason: str) -> None:
        self.threads.add(threading.current_thread().name)
        assert not self.m.is_leader
        self.events.append(f"follower: {reason}")

    @property
    def session(self) -> int | None:
        """The current session id; None while kazoo is between sessions."""
        client = self.m.client
        client_id = client.client_id if client is not None else None
        return int(client_id[0]) if client_id else None

    def kinds(self) -> list[str]:
        return [e.split(":")[0] for e in self.events]


@pytest.fixture
def member(zk_hosts: str) -> Iterator[Callable[[str], Member]]:
    made: list[Member] = []

    def make(endpoint: str) -> Member:
        c = Member(zk_hosts, endpoint)
        made.append(c)
        c.m.start(timeout=WAIT_S)
        return c

    yield make
    for c in made:
        c.m.stop()
        assert c.threads <= {f"omsync-membership-{c.m.endpoint}"}
        kinds = c.kinds()
        assert all(a != b for a, b in itertools.pairwise(kinds)), c.events
        assert kinds[:1] in ([], ["leader"]), c.events


def _owner(zk: KazooClient, endpoint: str) -> int | None:
    stat = zk.exists(PATHS.synctool(endpoint))
    return None if stat is None else int(stat.ephemeralOwner)


def test_one_leader_one_follower_then_stop_hands_over(
    zk: KazooClient, store: Store, member: Callable[[str], Member]
) -> None:
    a = member("127.0.0.1:9001")
    assert a.m.wait_leader(WAIT_S)
    b = member("127.0.0.1:9002")
    wait_until(lambda: b.m.leader == "127.0.0.1:9001", WAIT_S, "b to see the leader")
    assert not b.m.is_leader and not b.m.may_write and b.events == []
    assert a.m.is_leader and a.m.may_write and a.m.leader == "127.0.0.1:9001"
    assert store.leader() == "127.0.0.1:9001"
    tools = store.synctools()
    assert sorted(tools) == ["127.0.0.1:9001", "127.0.0.1:9002"]
    assert tools["127.0.0.1:9002"]["endpoint"] == "127.0.0.1:9002"
    assert tools["127.0.0.1:9002"]["version"] == "9.9"
    assert isinstance(tools["127.0.0.1:9002"]["started_ms"], int)
    assert _owner(zk, "127.0.0.1:9002") == b.session
    assert a.m.zk_state == "connected"

    a.m.stop()
    assert b.m.wait_leader(WAIT_S)
    assert a.events == ["leader", "follower: stopping"]
    assert a.m.zk_state == "closed" and not a.m.is_leader
    assert sorted(store.synctools()) == ["127.0.0.1:9002"]
    assert store.leader() == "127.0.0.1:9002"
    a.m.stop()  # idempotent


def test_leader_session_expiry_hands_over_and_the_old_leader_rejoins(
    zk: KazooClient, zk_hosts: str, store: Store, member: Callable[[str], Member]
) -> None:
    a = member("127.0.0.1:9001")
    assert a.m.wait_leader(WAIT_S)
    b = member("127.0.0.1:9002")
    wait_until(lambda: b.m.leader == "127.0.0.1:9001", WAIT_S, "b to queue")
    old_session = a.session

    assert a.m.client is not None
    expire_session(a.m.client, zk_hosts)
    assert b.m.wait_leader(SESSION_TIMEOUT_S + 2)
    wait_until(lambda: a.kinds() == ["leader", "follower"], WAIT_S, "a to step down")
    assert a.events[1] == "follower: ZooKeeper session expired"
    # a came back with a new session: registered again and queued behind b.
    wait_until(
        lambda: a.session not in (None, old_session) and _owner(zk, "127.0.0.1:9001") == a.session,
        WAIT_S,
        "a to re-register",
    )
    wait_until(lambda: a.m.leader == "127.0.0.1:9002", WAIT_S, "a to queue again")
    assert not a.m.is_leader and not a.m.may_write
    assert sorted(store.synctools()) == ["127.0.0.1:9001", "127.0.0.1:9002"]
    assert store.leader() == "127.0.0.1:9002"


def test_a_dropped_connection_pauses_writes_without_stepping_down(member: Callable[[str], Member]) -> None:
    a = member("127.0.0.1:9001")
    assert a.m.wait_leader(WAIT_S)
    client = a.m.client
    assert client is not None
    seen: list[tuple[str, bool, bool]] = []

    def watch(state: str) -> bool:
        seen.append((state, a.m.is_leader, a.m.may_write))
        return False

    client.add_listener(watch)
    try:
        drop_connection(client)
    finally:
        client.remove_listener(watch)
    assert (KazooState.SUSPENDED, True, False) in seen
    wait_until(lambda: a.m.may_write, WAIT_S, "may_write after reconnecting")
    assert a.events == ["leader"]


def test_a_deleted_registration_comes_back(zk: KazooClient, member: Callable[[str], Member]) -> None:
    a = member("127.0.0.1:9001")
    assert a.m.wait_leader(WAIT_S)
    b = member("127.0.0.1:9002")
    wait_until(lambda: b.m.leader == "127.0.0.1:9001", WAIT_S, "b to queue")
    for c in (a, b):  # the leader and a follower waiting in the lock queue
        zk.delete(PATHS.synctool(c.m.endpoint))
        wait_until(lambda c=c: _owner(zk, c.m.endpoint) == c.session, WAIT_S, f"{c.m.endpoint} back")
    assert a.events == ["leader"] and b.events == []


_CRASHING_LEADER = """
import sys, time
from omsync_tui.services.synctool.membership import Membership
m = Membership(sys.argv[1], "/openmldb", sys.argv[2], session_timeout_s=float(sys.argv[3]))
m.start()
assert m.wait_leader(15)
print("leader", flush=True)
time.sleep(120)
"""


def test_a_standby_takes_over_when_the_leader_process_dies(
    zk_hosts: str, store: Store, member: Callable[[str], Member]
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_LEADER, zk_hosts, "127.0.0.1:9009", str(SESSION_TIMEOUT_S)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "leader"
        b = member("127.0.0.1:9002")
        wait_until(lambda: b.m.leader == "127.0.0.1:9009", WAIT_S, "b to queue")
        proc.kill()  # no goodbye to ZooKeeper: its session must time out
        died = time.monotonic()
        assert b.m.wait_leader(WAIT_S)
        took = time.monotonic() - died
    finally:
        proc.kill()
        proc.wait()
    assert took < 10.0, f"took {took:.1f} s"
    assert store.leader() == "127.0.0.1:9002"
    assert sorted(store.synctools()) == ["127.0.0.1:9002"]


def test_unreachable_zookeeper_is_a_cluster_error() -> None:
    from omsync_tui.sandbox.jvm.zkserver import free_port

    hosts = f"127.0.0.1:{free_port()}"
    m = Membership(hosts, ROOT, "127.0.0.1:9001")
    with pytest.raises(ClusterError, match=hosts):
        m.start(timeout=1.0)
    m.stop()
    with pytest.raises(UsageError):
        Membership(hosts, ROOT, "127.0.0.1:9001", auth="nocolon")


def test_registration_data_is_json(zk: KazooClient, member: Callable[[str], Member]) -> None:
    a = member("127.0.0.1:9001")
    data = json.loads(zk.get(PATHS.synctool("127.0.0.1:9001"))[0])
    assert data["endpoint"] == "127.0.0.1:9001" and data["version"] == "9.9"
    assert a.m.wait_leader(WAIT_S)
