"""The stand-in SyncTool (``sandbox.receiver``) over real loopback sockets: SendData semantics of
reference §1.6 plus omsync's extensions, fault injection, ``/status``, and ``assign`` against a
fake DataCollector.

Nothing sleeps for a fixed time: tests wait for the receiver's state or for an answer.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from helpers.golden import EXAMPLE_COLUMNS

from omsync_tui.core.errors import (
    ClusterError,
    NotFoundError,
    RpcError,
    RpcRemoteError,
    RpcTimeout,
    RpcUnavailable,
)
from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.openmldb.proto import data_sync_pb2 as ds
from omsync_tui.openmldb.row.encode import encode_row
from omsync_tui.rpc import framing
from omsync_tui.rpc.client import BaiduStdClient, HttpJsonClient
from omsync_tui.rpc.server import RpcServer
from omsync_tui.rpc.service import CallContext, Service
from omsync_tui.sandbox.receiver import BUSY_CODE, DATA_COLLECTOR, SYNC_TOOL, Receiver
from omsync_tui.sandbox.receiver_records import Answer, DeleteOp, TaskError
from omsync_tui.services.syncwire import to_proto

TOKEN = "3f1c9a52-0000-4000-8000-000000000001"
START = SyncPoint.start()
MID = SyncPoint(Phase.SNAPSHOT, snapshot="MANIFEST-7", ordinal=3, pk=b"k3", ts=1700000000003)
BINLOG = SyncPoint.binlog(12)


def rows(n: int, first: int = 0) -> list[bytes]:
    """``n`` encoded rows of the §4.6 schema, of different sizes (strings grow with ``i``)."""
    return [
        encode_row(
            EXAMPLE_COLUMNS, ["x" * i, i, 1700000000000 + i, None if i % 2 else "y", dt.date(2024, 1, 1)]
        )
        for i in range(first, first + n)
    ]


def send(
    client: BaiduStdClient,
    start: SyncPoint | ds.SyncPoint | None,
    next_point: SyncPoint | None,
    packed: Sequence[bytes] = (),
    *,
    tid: int = 1,
    pid: int = 0,
    token: str = TOKEN,
    count: int | None = None,
    finished: bool = False,
    deletes: Sequence[ds.DeleteOp] = (),
    error: ds.TaskError | None = None,
    attachment: bytes | None = None,
    timeout: float | None = None,
) -> ds.SendDataResponse:
    request = ds.SendDataRequest(
        tid=tid,
        pid=pid,
        token=token,
        count=len(packed) if count is None else count,
        collector="127.0.0.1:9999",
        binlog_latest=42,
    )
    if isinstance(start, SyncPoint):
        request.start_point.CopyFrom(to_proto(start))
    elif start is not None:
        request.start_point.CopyFrom(start)
    if next_point is not None:
        request.next_point.CopyFrom(to_proto(next_point))
    if finished:
        request.finished = True
    request.deletes.extend(deletes)
    if error is not None:
        request.error.CopyFrom(error)
    body = b"".join(packed) if attachment is None else attachment
    response, _ = client.call(
        SYNC_TOOL, "SendData", request, ds.SendDataResponse, attachment=body, timeout=timeout
    )
    return response


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture
def client(receiver: Receiver) -> Iterator[BaiduStdClient]:
    with BaiduStdClient(receiver.endpoint) as c:
        yield c


def refused(response: ds.SendDataResponse, *words: str) -> bool:
    msg = response.response.msg
    return response.response.code == -1 and response.delete_task and all(w in msg for w in words)


# -- accepted packs ----------------------------------------------------------------------------


def test_accepted_packs_advance_the_point_and_keep_the_rows(
    receiver: Receiver, client: BaiduStdClient
) -> None:
    receiver.expect(1, 0, TOKEN)
    first, second = rows(3), rows(4, first=3)

    answer = send(client, START, MID, first)
    assert answer.response.code == 0
    assert not answer.HasField("delete_task")
    task = receiver.subtask(1, 0)
    assert (task.point, task.rows, task.row_count) == (MID, first, 3)
    assert task.byte_count == sum(map(len, first))
    assert (task.sends, task.heartbeats, task.status) == (1, 0, "RUNNING")
    assert (task.last_collector, task.binlog_latest) == ("127.0.0.1:9999", 42)

    delete = ds.DeleteOp(log_index=9, row=2, idx=0, key=b"k1", ts=5, end_ts=1, ts_name="c3")
    answer = send(client, MID, BINLOG, second, deletes=[delete, ds.DeleteOp(log_index=11, row=4)])
    assert answer.response.code == 0
    task = receiver.subtask(1, 0)
    assert task.rows == first + second  # split back exactly as they were concatenated
    assert (task.point, task.row_count, task.sends) == (BINLOG, 7, 2)
    assert task.deletes == [DeleteOp(9, 2, 0, b"k1", 5, 1, "c3"), DeleteOp(11, 4, 0, b"", 0, 0, "")]
    assert receiver.answers()[-1] == Answer(1, 0, 0, "", False, 0, True)


def test_heartbeat_is_counted_and_keeps_the_point(receiver: Receiver, client: BaiduStdClient) -> None:
    receiver.expect(1, 0, TOKEN, BINLOG)
    assert send(client, BINLOG, BINLOG).response.code == 0
    assert send(client, BINLOG, BINLOG).response.code == 0
    task = receiver.subtask(1, 0)
    assert (task.sends, task.heartbeats, task.row_count, task.point) == (2, 2, 0, BINLOG)
    assert task.last_send > 0


def test_a_pack_of_deletes_only_is_not_a_heartbeat(receiver: Receiver, client: BaiduStdClient) -> None:
    receiver.expect(1, 0, TOKEN, BINLOG)
    assert send(client, BINLOG, SyncPoint.binlog(13), deletes=[ds.DeleteOp(log_index=12)]).response.code == 0
    task = receiver.subtask(1, 0)
    assert (task.sends, task.heartbeats, len(task.deletes)) == (1, 0, 1)


def test_keep_rows_false_counts_without_keeping() -> None:
    with Receiver(keep_rows=False) as rx, BaiduStdClient(rx.endpoint) as c:
        rx.expect(1, 0, TOKEN)
        packed = rows(5)
        assert send(c, START, MID, packed).response.code == 0
        task = rx.subtask(1, 0)
        assert (task.rows, task.row_count, task.byte_count) == ([], 5, sum(map(len, packed)))


def test_finished_ends_the_subtask(receiver: Receiver, client: BaiduStdClient) -> None:
    receiver.expect(1, 0, TOKEN, BINLOG)
    assert send(client, BINLOG, SyncPoint.binlog(14), rows(2), finished=True).response.code == 0
    task = receiver.subtask(1, 0)
    assert task.finished and task.status == "SUCCESS"
    assert refused(send(client, SyncPoint.binlog(14), SyncPoint.binlog(14)), "SUCCESS", "1-0")
    assert receiver.subtask(1, 0).rejected == 1


# -- refusals: code -1 and delete_task, nothing changes ------------------------------------------


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("token", ["token not match"]),
        ("start", ["does not match", "binlog@12", "snapshot MANIFEST-7#3"]),
        ("bad start", ["does not match", "bad point"]),
        ("no start", ["does not match", "(none)"]),
        ("no next", ["no next_point"]),
        ("bad next", ["log indexes start at 1"]),
        ("count", ["count 2", "holds 3 rows"]),
        ("truncated", ["truncated row"]),
        ("delete order", ["log_index 8", "in order"]),
        ("delete past count", ["follows row 4"]),
    ],
)
def test_bad_sends_are_refused_with_delete_task(
    receiver: Receiver, client: BaiduStdClient, case: str, words: list[str]
) -> None:
    receiver.expect(1, 0, TOKEN, MID)
    three = rows(3)
    if case == "token":
        answer = send(client, MID, BINLOG, three, token="other")
    elif case == "start":
        answer = send(client, BINLOG, BINLOG, three)
    elif case == "bad start":
        answer = send(client, ds.SyncPoint(type=ds.kBINLOG, offset=0), BINLOG, three)
    elif case == "no start":
        answer = send(client, None, BINLOG, three)
    elif case == "no next":
        answer = send(client, MID, None, three)
    elif case == "bad next":
        request_next = ds.SendDataRequest(next_point=ds.SyncPoint(type=ds.kBINLOG, offset=0))
        request_next.tid, request_next.token, request_next.count = 1, TOKEN, 0
        request_next.start_point.CopyFrom(to_proto(MID))
        answer, _ = client.call(SYNC_TOOL, "SendData", request_next, ds.SendDataResponse)
    elif case == "count":
        answer = send(client, MID, BINLOG, three, count=2)
    elif case == "truncated":
        answer = send(client, MID, BINLOG, count=3, attachment=b"".join(three)[:-1])
    elif case == "delete order":
        answer = send(
            client,
            MID,
            BINLOG,
            three,
            deletes=[ds.DeleteOp(log_index=7, row=2), ds.DeleteOp(log_index=8, row=1)],
        )
    else:
        answer = send(client, MID, BINLOG, three, deletes=[ds.DeleteOp(log_index=7, row=4)])
    assert refused(answer, *words), answer
    task = receiver.subtask(1, 0)
    assert (task.point, task.rows, task.sends, task.rejected) == (MID, [], 0, 1)
    assert receiver.answers()[-1].accepted is False


def test_unknown_and_forgotten_tasks_are_told_to_delete(receiver: Receiver, client: BaiduStdClient) -> None:
    assert refused(send(client, START, MID, rows(1), tid=9, pid=3), "can't find sync task 9-3")
    receiver.expect(1, 0, TOKEN)
    assert send(client, START, MID, rows(1)).response.code == 0
    receiver.forget(1, 0)
    assert refused(send(client, MID, BINLOG, rows(1)), "can't find sync task 1-0")
    task = receiver.subtask(1, 0)  # the data of a forgotten task stays readable
    assert (task.status, task.row_count) == ("DELETED", 1)
    with pytest.raises(NotFoundError, match="9-3"):
        receiver.subtask(9, 3)


def test_task_error_is_recorded_and_ends_the_subtask(receiver: Receiver, client: BaiduStdClient) -> None:
    receiver.expect(1, 0, TOKEN, BINLOG)
    gap = ds.TaskError(code="binlog_gap", message="log 12..20 deleted", missing_from=12, missing_to=20)
    answer = send(client, BINLOG, BINLOG, error=gap)
    assert answer.response.code == 0 and answer.delete_task
    task = receiver.subtask(1, 0)
    assert task.error == TaskError("binlog_gap", "log 12..20 deleted", 12, 20)
    assert (task.status, task.sends, task.last_collector) == ("FAILED", 0, "127.0.0.1:9999")
    assert refused(send(client, BINLOG, BINLOG), "FAILED")


def test_expect_again_reassigns_and_forget_starts_over(receiver: Receiver, client: BaiduStdClient) -> None:
    receiver.expect(1, 0, TOKEN)
    assert send(client, START, MID, rows(2)).response.code == 0
    receiver.expect(1, 0, "new-token", MID)  # a reassignment: the old token is refused now
    assert refused(send(client, MID, BINLOG, rows(1)), "token not match")
    assert send(client, MID, BINLOG, rows(1), token="new-token").response.code == 0
    assert receiver.subtask(1, 0).row_count == 3
    receiver.forget(1, 0)
    receiver.expect(1, 0, TOKEN)
    assert (receiver.subtask(1, 0).row_count, receiver.subtask(1, 0).point) == (0, START)


# -- fault injection ---------------------------------------------------------------------------


def test_fail_next_answers_the_code_without_accepting(receiver: Receiver, client: BaiduStdClient) -> None:
    receiver.expect(1, 0, TOKEN)
    receiver.fail_next(2, code=-7, msg="disk full")
    receiver.fail_next(1, msg="go away", delete_task=True)
    for _ in range(2):
        answer = send(client, START, MID, rows(2))
        assert (answer.response.code, answer.response.msg, answer.delete_task) == (-7, "disk full", False)
    answer = send(client, START, MID, rows(2))
    assert (answer.response.code, answer.delete_task) == (-1, True)
    assert receiver.subtask(1, 0).point == START
    assert send(client, START, MID, rows(2)).response.code == 0
    task = receiver.subtask(1, 0)
    assert (task.point, task.row_count, task.rejected) == (MID, 2, 3)


def test_busy_next_asks_to_retry_later(receiver: Receiver, client: BaiduStdClient) -> None:
    receiver.expect(1, 0, TOKEN)
    receiver.busy_next(retry_after_ms=350)
    answer = send(client, START, MID, rows(2))
    assert (answer.response.code, answer.retry_after_ms, answer.delete_task) == (BUSY_CODE, 350, False)
    assert receiver.subtask(1, 0).point == START
    answer = send(client, START, MID, rows(2))  # the same pack again
    assert (answer.response.code, answer.retry_after_ms) == (0, 0)
    assert receiver.subtask(1, 0).point == MID


def _send_in_thread(
    endpoint: str, timeout: float, outcome: list[BaseException | ds.SendDataResponse]
) -> threading.Thread:
    def run() -> None:
        with BaiduStdClient(endpoint) as slow:
            try:
                outcome.append(send(slow, START, MID, rows(2), timeout=timeout))
            except RpcError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_stalled_call_times_out_while_other_connections_are_answered(
    receiver: Receiver, client: BaiduStdClient
) -> None:
    receiver.expect(1, 0, TOKEN)
    receiver.expect(2, 0, TOKEN, BINLOG)
    receiver.stall_next(1, seconds=1.0)
    outcome: list[BaseException | ds.SendDataResponse] = []
    thread = _send_in_thread(receiver.endpoint, 0.3, outcome)
    receiver.wait(lambda r: r.held == 1, timeout=5, what="the first call to be held")

    assert send(client, BINLOG, BINLOG, tid=2).response.code == 0
    assert receiver.held == 1  # answered while the other call was still held

    thread.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], RpcTimeout)
    # The held request is processed after its hold, like one delayed on the way.
    receiver.wait(lambda r: r.subtask(1, 0).point == MID, timeout=5, what="the held pack to be processed")
    assert receiver.subtask(1, 0).row_count == 2


def test_stall_with_process_first_loses_the_answer(receiver: Receiver, client: BaiduStdClient) -> None:
    receiver.expect(1, 0, TOKEN)
    receiver.stall_next(seconds=1.0, process_first=True)
    with pytest.raises(RpcTimeout):
        send(client, START, MID, rows(2), timeout=0.3)
    assert receiver.subtask(1, 0).point == MID  # accepted before the answer was held
    # A client resending the "unanswered" pack is told its start point is stale (reference §1.8).
    assert refused(send(client, START, MID, rows(2)), "does not match")


def test_stop_releases_held_calls_and_is_idempotent() -> None:
    rx = Receiver()
    rx.start()
    rx.expect(1, 0, TOKEN)
    rx.stall_next(seconds=60)
    outcome: list[BaseException | ds.SendDataResponse] = []
    thread = _send_in_thread(rx.endpoint, 30, outcome)
    rx.wait(lambda r: r.held == 1, timeout=5, what="the call to be held")
    began = time.monotonic()
    rx.stop()
    rx.stop()
    assert time.monotonic() - began < 10  # not the 60 s hold
    thread.join(10)
    assert rx.held == 0 and len(outcome) == 1


# -- wait, /status, auth -----------------------------------------------------------------------


def test_wait_times_out_with_what_and_a_summary(receiver: Receiver) -> None:
    receiver.expect(4, 1, TOKEN)
    with pytest.raises(AssertionError, match=r"(?s)1000 rows.*4-1 3f1c9a52 snapshot <current>#0 rows=0"):
        receiver.wait(lambda r: r.subtask(4, 1).row_count >= 1000, timeout=0.1, what="1000 rows")


def test_wait_wakes_on_a_change(receiver: Receiver, client: BaiduStdClient) -> None:
    receiver.expect(1, 0, TOKEN)
    sender = threading.Thread(target=send, args=(client, START, MID, rows(3)), daemon=True)
    sender.start()
    receiver.wait(lambda r: r.subtask(1, 0).row_count == 3, timeout=5, what="3 rows")
    sender.join(5)


def test_status_route_lists_subtasks(receiver: Receiver, client: BaiduStdClient) -> None:
    receiver.expect(1, 0, TOKEN)
    receiver.expect(1, 1, "abcdef123456", BINLOG)
    send(client, START, MID, rows(2))
    with HttpJsonClient(receiver.endpoint) as http:
        status, text = http.get("/status")
    assert status == 200
    lines = text.splitlines()
    assert lines[0].startswith("1-0 3f1c9a52 snapshot MANIFEST-7#3")
    assert "rows=2 bytes=" in lines[0] and "finished=False error=-" in lines[0]
    assert lines[1].startswith("1-1 abcdef12 binlog@12 rows=0 bytes=0")


def test_auth_token_guards_send_data() -> None:
    with Receiver(auth_token="s3cret") as rx:
        rx.expect(1, 0, TOKEN)
        with BaiduStdClient(rx.endpoint) as anonymous, pytest.raises(RpcRemoteError) as err:
            send(anonymous, START, MID, rows(1))
        assert err.value.code == framing.ERPCAUTH
        with BaiduStdClient(rx.endpoint, auth=b"s3cret") as trusted:
            assert send(trusted, START, MID, rows(1)).response.code == 0


# -- assign against a fake DataCollector -------------------------------------------------------


@dataclass
class FakeCollector:
    code: int = 0
    msg: str = ""
    requests: list[ds.AddSyncTaskRequest] = field(default_factory=list)

    def add_sync_task(
        self, request: ds.AddSyncTaskRequest, attachment: bytes, ctx: CallContext
    ) -> tuple[ds.GeneralResponse, bytes]:
        self.requests.append(request)
        return ds.GeneralResponse(code=self.code, msg=self.msg), b""


@pytest.fixture
def collector() -> Iterator[tuple[FakeCollector, str]]:
    fake = FakeCollector()
    service = Service(DATA_COLLECTOR).add(
        "AddSyncTask", ds.AddSyncTaskRequest, ds.GeneralResponse, fake.add_sync_task
    )
    with RpcServer("127.0.0.1", 0, [service]) as server:
        yield fake, server.endpoint


def test_assign_sends_add_sync_task_and_expects_the_subtask(
    receiver: Receiver, client: BaiduStdClient, collector: tuple[FakeCollector, str]
) -> None:
    fake, endpoint = collector
    token = receiver.assign(
        endpoint,
        5,
        2,
        mode=1,
        start_ts=1700000000000,
        start=MID,
        deletes=True,
        tablet_endpoint="127.0.0.1:10921",
        dest="/tmp/out",
    )
    (request,) = fake.requests
    assert (request.tid, request.pid, request.mode, request.start_ts) == (5, 2, 1, 1700000000000)
    assert request.des_endpoint == receiver.endpoint
    assert (request.token, request.tablet_endpoint, request.dest) == (token, "127.0.0.1:10921", "/tmp/out")
    assert request.sync_point == to_proto(MID)
    assert request.deletes is True
    assert len(token) == 36  # a uuid4
    task = receiver.subtask(5, 2)
    assert (task.token, task.point, task.status) == (token, MID, "INIT")
    assert send(client, MID, BINLOG, rows(1), tid=5, pid=2, token=token).response.code == 0

    assert receiver.assign(endpoint, 5, 3, token="given") == "given"
    request = fake.requests[-1]
    assert request.sync_point == to_proto(START)
    assert not request.HasField("deletes") and not request.HasField("start_ts")


def test_assign_refused_names_the_collector(receiver: Receiver, collector: tuple[FakeCollector, str]) -> None:
    fake, endpoint = collector
    fake.code, fake.msg = -1, "task already exists"
    with pytest.raises(ClusterError, match=rf"{endpoint}.*5-2.*task already exists"):
        receiver.assign(endpoint, 5, 2)


def test_assign_to_a_dead_collector_is_an_rpc_error(receiver: Receiver) -> None:
    dead = RpcServer("127.0.0.1", 0)
    dead.start()
    endpoint = dead.endpoint
    dead.stop()
    with pytest.raises(RpcUnavailable):
        receiver.assign(endpoint, 5, 2, timeout=2)
