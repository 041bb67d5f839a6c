"""The ``/api/v1`` documents: what ``to_json`` writes, ``from_json`` reads back, ``summary`` prints."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from omsync_tui.core.errors import NotFoundError, RpcProtocolError, UsageError
from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.services.synctool.wire import (
    CollectorInfo,
    CreateRequest,
    DestinationInfo,
    ErrorReply,
    EventInfo,
    HeldRange,
    PartitionCheck,
    SubtaskInfo,
    SynctoolStatus,
    TableInfoView,
    TabletHead,
    TaskInfo,
    VerifyReport,
    lag_text,
    summary,
)

SNAP = SyncPoint(
    Phase.SNAPSHOT, snapshot="snapshot_20240101", ordinal=4200, pk=b"\xffcard-7", ts=1_700_000_000_123
)

SUBTASK = SubtaskInfo(
    pid=3,
    state="RUNNING",
    collector="10.0.0.5:8888",
    tablet="10.0.0.2:9527",
    phase="snapshot",
    position=str(SNAP),
    rows=4200,
    bytes=1_048_576,
    files=2,
    uncommitted_rows=17,
    lag_offsets=None,
    last_update_age_s=2.5,
    silent_s=0.4,
    retries=1,
    cause="collector_silent",
    last_error="collector 10.0.0.6:8888 silent for 30 s",
    lag_s=12.5,
    committed=SNAP,
    accepted=SyncPoint.binlog(88),
    rows_received=4217,
    binlog_latest=120,
    last_update_ms=1_700_000_050_000,
    token="8b1e-3",
)

TASK = TaskInfo(
    tid=12,
    name="shop.orders",
    mode="continuous",
    dest="hdfs://nn:8020/sync/orders",
    format="csv",
    state="RUNNING",
    partitions=2,
    states={"INIT": 0, "RUNNING": 1, "REASSIGNING": 0, "SUCCESS": 1, "FAILED": 0},
    rows=9000,
    bytes=2_000_000,
    files=5,
    lag_offsets=33,
    last_update_ms=1_700_000_050_000,
    start_ts=1_699_000_000_000,
    deletes=True,
    rows_received=5000,
    uncommitted_rows=300,
    lag_s=12.5,
    subtasks=(
        SUBTASK,
        SubtaskInfo(0, "SUCCESS", "", "", "binlog", "binlog@51", 4800, 900, 3, 0, 0, None, 9.0, 0, "", ""),
    ),
    db="shop",
    table="orders",
    storage="ssd",
    created_ms=1_699_999_000_000,
)


def wire(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as it arrives: through JSON text."""
    loaded: dict[str, Any] = json.loads(json.dumps(doc, ensure_ascii=False))
    return loaded


def test_subtask_round_trip_keeps_the_committed_text_key() -> None:
    doc = wire(SUBTASK.to_json())
    assert doc["committed_text"] == "snapshot snapshot_20240101#4200 (pk b'\\xffcard-7', ts 1700000000123)"
    assert "position" not in doc
    assert doc["committed"] == SNAP.to_dict() and doc["accepted"] == {"phase": "binlog", "offset": 88}
    assert SubtaskInfo.from_json(doc) == SUBTASK


def test_task_round_trip_with_and_without_subtasks() -> None:
    assert TaskInfo.from_json(wire(TASK.to_json(detail=True))) == TASK
    listed = wire(TASK.to_json(detail=False))
    assert "subtasks" not in listed
    assert TaskInfo.from_json(listed) == replace(TASK, subtasks=())
    assert TASK.failed == 0


def test_the_api_documents_keep_their_schema_version_1_keys() -> None:
    # schema_version 1's keys in their order, with the keys added since at the end (lag_s, a
    # task's rows_received and uncommitted_rows, a subtask's worker): a reader of version 1 finds
    # everything it knew
    assert list(TASK.to_json(detail=True)) == [
        "tid", "name", "db", "table", "mode", "dest", "format", "start_ts", "deletes", "storage",
        "created_ms", "state", "partitions", "states", "rows", "bytes", "files", "last_update_ms",
        "lag_offsets", "lag_s", "rows_received", "uncommitted_rows", "subtasks",
    ]  # fmt: skip
    assert list(SUBTASK.to_json()) == [
        "pid", "state", "collector", "tablet", "phase", "committed", "committed_text", "accepted",
        "settled", "rows", "bytes", "files", "rows_received", "uncommitted_rows", "binlog_latest",
        "lag_offsets", "lag_s", "last_update_ms", "last_update_age_s", "silent_s", "retries", "cause",
        "last_error", "token", "worker",
    ]  # fmt: skip


def test_summary_is_what_the_cli_printed_before() -> None:
    # ... with the freshness keys added since at the end of each document's keys
    printed = summary(TASK)
    assert list(printed) == [
        "tid", "name", "mode", "dest", "format", "state", "partitions", "states", "rows", "bytes",
        "files", "lag_offsets", "last_update_ms", "start_ts", "deletes", "rows_received",
        "uncommitted_rows", "lag_s", "subtasks",
    ]  # fmt: skip
    assert list(printed["subtasks"][0]) == [
        "pid", "state", "collector", "tablet", "phase", "position", "rows", "bytes", "files",
        "uncommitted_rows", "lag_offsets", "last_update_age_s", "silent_s", "retries", "cause", "last_error",
        "lag_s", "worker",
    ]  # fmt: skip
    assert printed["subtasks"][0]["position"] == str(SNAP)
    assert json.loads(json.dumps(printed))["states"]["SUCCESS"] == 1


def test_a_document_of_an_older_synctool_reads_with_defaults() -> None:
    gone = ("committed", "accepted", "settled", "token")
    old = {k: v for k, v in wire(SUBTASK.to_json()).items() if k not in gone}
    sub = SubtaskInfo.from_json(old)
    assert (sub.committed, sub.accepted, sub.settled, sub.token, sub.position) == (
        SyncPoint.start(),
        SyncPoint.start(),
        SyncPoint.start(),
        "",
        SUBTASK.position,
    )
    # one that knew no settled point: every row before its committed point is in files
    without_settled = {k: v for k, v in wire(SUBTASK.to_json()).items() if k != "settled"}
    assert SubtaskInfo.from_json(without_settled).settled == SUBTASK.committed


def test_a_document_without_its_required_keys_is_a_protocol_error() -> None:
    doc = wire(TASK.to_json(detail=False))
    del doc["tid"]
    with pytest.raises(RpcProtocolError, match=r"task document is malformed.*tid"):
        TaskInfo.from_json(doc)
    with pytest.raises(RpcProtocolError, match="subtask"):
        SubtaskInfo.from_json({"pid": "three", "state": "RUNNING"})


def test_verify_round_trip() -> None:
    report = VerifyReport(
        "shop.orders",
        False,
        (
            PartitionCheck(0, True, 3, 4800, 4800, (), (), (), SyncPoint.start(), SyncPoint.binlog(51)),
            PartitionCheck(
                1,
                False,
                2,
                4000,
                4200,
                (("binlog@40", "binlog@44"),),
                (("p1/a.parquet", "p1/b.parquet"),),
                (("p1/c.parquet", 3),),
            ),
        ),
    )
    doc = wire(report.to_json())
    assert (
        doc["partitions"][1]["gaps"] == [["binlog@40", "binlog@44"]] and doc["partitions"][1]["first"] is None
    )
    assert VerifyReport.from_json(doc) == report
    assert "first" not in summary(report)["partitions"][0]


def test_destination_round_trip_keeps_the_table_key() -> None:
    info = DestinationInfo(
        uri="/data/orders",
        table_json={
            "db": "shop",
            "table": "orders",
            "tid": 12,
            "schema": [{"name": "card", "type": "string"}],
        },
        partitions=(HeldRange(0, 2, 300, "snapshot #0", "binlog@9", SyncPoint.start(), SyncPoint.binlog(9)),),
        resolved="hdfs://nn:8020/data/orders",
        note="a bare path: fs.defaultFS hdfs://nn:8020 from /etc/hadoop/core-site.xml",
    )
    doc = wire(info.to_json())
    assert doc["table"]["tid"] == 12 and doc["empty"] is False
    assert doc["partitions"][0]["next_point"] == {"phase": "binlog", "offset": 9}
    back = DestinationInfo.from_json(doc)
    assert back == info and back.table == "shop.orders"
    empty = DestinationInfo.from_json({"uri": "/x", "table": None, "partitions": []})
    assert (empty.table, empty.empty, empty.resolved) == (None, True, "/x")


@pytest.mark.parametrize(
    "doc",
    [
        SynctoolStatus("10.0.0.1:8848", "0.1.0", "leader", "10.0.0.1:8848", "connected", 12.5, 3),
        SynctoolStatus("10.0.0.2:8848", "0.1.0", "follower", None, "suspended", 0.0, 0),
        CollectorInfo("10.0.0.5:8888", "10.0.0.5", True, ("shop.orders/0", "shop.orders/3"), 1.2),
        CollectorInfo("10.0.0.6:8888", "10.0.0.6", False, (), None),
        EventInfo(1_700_000_000_000, 12, 3, "RUNNING", "REASSIGNING", "collector silent", "10.0.0.1:8848"),
        EventInfo(1_700_000_000_001, 12, None, "", "RUNNING", "created", ""),
        TableInfoView("shop.orders", 12, 8, "memory", True),
        TabletHead(3, "10.0.0.2:9527", 1201),
        TabletHead(4, "10.0.0.3:9527", None, "GetTableStatus on 10.0.0.3:9527: refused"),
    ],
    ids=repr,
)
def test_small_documents_round_trip(doc: Any) -> None:
    assert type(doc).from_json(wire(doc.to_json())) == doc
    assert summary(doc) == {k: list(v) if isinstance(v, tuple) else v for k, v in doc.to_json().items()}


def test_create_request_round_trip_with_offsets_and_newer_keys() -> None:
    req = CreateRequest(
        name="shop.orders",
        dest="s3://bucket/orders",
        mode="incremental",
        start_ts=1_699_000_000_000,
        format="csv",
        start_offsets={0: 51, 3: 7},
        resume_from_dest=True,
        deletes=True,
        extra={"compression": "zstd"},
    )
    doc = wire(req.to_json())
    assert doc["start_offsets"] == {"0": 51, "3": 7} and doc["compression"] == "zstd"
    assert CreateRequest.from_json(doc) == req
    assert CreateRequest.from_json({"name": "a.b", "dest": "/d"}) == CreateRequest("a.b", "/d")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], 'at least "name"'),
        ({"name": "a.b"}, 'at least "name"'),
        ({"name": "a.b", "dest": "/d", "start_ts": "soon"}, "bad create request"),
        ({"name": "a.b", "dest": "/d", "start_offsets": {"x": 1}}, "bad create request"),
    ],
)
def test_a_bad_create_request_is_a_usage_error(body: object, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        CreateRequest.from_json(body)


def test_error_reply_round_trip_and_the_rpc_layers_own_errors() -> None:
    reply = ErrorReply.of(NotFoundError("no sync task for shop.x", hint="see omsync task status"))
    assert reply == ErrorReply("no sync task for shop.x", "see omsync task status", 1, "not_found")
    assert ErrorReply.from_json(wire(reply.to_json()), "HTTP 404") == reply
    assert reply.http_status == 404
    from_rpc = {"error": "POST /api/v1/tasks needs the server's auth token; none was sent", "code": 1004}
    assert ErrorReply.from_json(from_rpc, "HTTP 401") == ErrorReply(from_rpc["error"], None, 1, "")
    assert ErrorReply.from_json({}, "HTTP 502").error == "HTTP 502"


def test_lag_text() -> None:
    assert lag_text(None, None) == "-"
    assert lag_text(1234, None) == "1,234"
    assert lag_text(0, 0.0) == "0"
    assert lag_text(86, 0.4) == "86"  # under a second is no news
    assert lag_text(120, 14.4) == "120 · 14s"
    assert lag_text(None, 3.0) == "3s"
    assert TASK.lag_text == "33 · 12s"  # its lag_offsets and lag_s (12.5 rounds to even)
