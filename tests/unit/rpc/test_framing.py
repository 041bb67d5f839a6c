"""baidu_std frames, the JSON mapping of messages and the service registry, without sockets."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omsync_tui.core.errors import (
    RpcError,
    RpcProtocolError,
    RpcRemoteError,
    RpcTimeout,
    RpcUnavailable,
    UsageError,
)
from omsync_tui.openmldb.proto import data_sync_pb2 as ds
from omsync_tui.rpc import framing
from omsync_tui.rpc.client import split_endpoint
from omsync_tui.rpc.jsoncodec import json_to_message, message_to_json, message_to_obj
from omsync_tui.rpc.proto.baidu_rpc_meta_pb2 import RpcMeta
from omsync_tui.rpc.service import CallContext, Routes, Service, ServiceRegistry, text_route


def test_request_bytes_match_a_hand_encoded_frame() -> None:
    # RpcMeta{request{service_name:"S" method_name:"M"} correlation_id:1 attachment_size:2
    #         authentication_data:"sdefault"}, written out field by field from reference §2.6
    meta = bytes.fromhex("0a06 0a0153 12014d200128023a08") + b"sdefault"
    payload, attachment = b"\x08\x05", b"ab"
    expected = b"PRPC" + struct.pack(">II", len(meta) + 4, len(meta)) + meta + payload + attachment
    assert framing.encode_request("S", "M", 1, payload, attachment, auth=b"sdefault") == expected


def test_meta_field_numbers_of_reference_2_6() -> None:
    fields = RpcMeta.DESCRIPTOR.fields_by_name
    numbers = {name: fields[name].number for name in fields}
    assert numbers == {
        "request": 1,
        "response": 2,
        "compress_type": 3,
        "correlation_id": 4,
        "attachment_size": 5,
        "chunk_info": 6,
        "authentication_data": 7,
        "stream_settings": 8,
        "user_fields": 9,
    }
    request = RpcMeta.DESCRIPTOR.fields_by_name["request"].message_type.fields_by_name
    assert (request["service_name"].number, request["method_name"].number, request["timeout_ms"].number) == (
        1,
        2,
        8,
    )
    assert request["service_name"].is_required and request["method_name"].is_required
    response = RpcMeta.DESCRIPTOR.fields_by_name["response"].message_type.fields_by_name
    assert (response["error_code"].number, response["error_text"].number) == (1, 2)


def test_error_codes_are_brpcs() -> None:
    assert (framing.ENOSERVICE, framing.ENOMETHOD, framing.EREQUEST, framing.ERPCAUTH) == (
        1001,
        1002,
        1003,
        1004,
    )
    assert (framing.ERPCTIMEDOUT, framing.EINTERNAL, framing.ELIMIT) == (1008, 2001, 2004)
    assert framing.error_name(2001) == "EINTERNAL"
    assert framing.error_name(77) == "77"


@given(
    service=st.text(min_size=1, max_size=40),
    method=st.text(min_size=1, max_size=20),
    correlation_id=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    payload=st.binary(max_size=300),
    attachment=st.binary(max_size=300),
    auth=st.none() | st.binary(max_size=20),
)
def test_request_round_trip(
    service: str, method: str, correlation_id: int, payload: bytes, attachment: bytes, auth: bytes | None
) -> None:
    data = framing.encode_request(service, method, correlation_id, payload, attachment, auth=auth)
    frame, used = framing.decode_frame(data + b"next frame")
    assert used == len(data)
    assert (frame.meta.request.service_name, frame.meta.request.method_name) == (service, method)
    assert frame.meta.correlation_id == correlation_id
    assert (frame.payload, frame.attachment) == (payload, attachment)
    assert frame.meta.HasField("authentication_data") == (auth is not None)
    if auth is not None:
        assert frame.meta.authentication_data == auth


@given(payload=st.binary(max_size=200), attachment=st.binary(max_size=200), cid=st.integers(0, 2**40))
def test_response_round_trip(payload: bytes, attachment: bytes, cid: int) -> None:
    frame, _ = framing.decode_frame(framing.encode_response(cid, payload, attachment))
    assert (frame.meta.correlation_id, frame.payload, frame.attachment) == (cid, payload, attachment)
    assert frame.meta.HasField("response") and frame.meta.response.error_code == 0
    assert not frame.meta.HasField("request")


def test_error_response_drops_payload_and_attachment() -> None:
    data = framing.encode_response(
        9, b"pay", b"att", error_code=framing.ENOMETHOD, error_text="no such method"
    )
    frame, _ = framing.decode_frame(data)
    assert (frame.meta.response.error_code, frame.meta.response.error_text) == (1002, "no such method")
    assert (frame.payload, frame.attachment) == (b"", b"")


def test_header_checks() -> None:
    good = struct.pack(">4sII", b"PRPC", 10, 4)
    assert framing.parse_header(good) == (10, 4)
    with pytest.raises(RpcProtocolError, match="magic"):
        framing.parse_header(struct.pack(">4sII", b"POST", 10, 4))
    with pytest.raises(RpcProtocolError, match="max_body_size"):
        framing.parse_header(struct.pack(">4sII", b"PRPC", framing.DEFAULT_MAX_BODY_SIZE + 1, 4))
    assert framing.parse_header(struct.pack(">4sII", b"PRPC", 100, 4), max_body_size=100) == (100, 4)
    with pytest.raises(RpcProtocolError, match="max_body_size 99"):
        framing.parse_header(struct.pack(">4sII", b"PRPC", 100, 4), max_body_size=99)
    with pytest.raises(RpcProtocolError, match="meta_size"):
        framing.parse_header(struct.pack(">4sII", b"PRPC", 3, 4))
    with pytest.raises(RpcProtocolError, match="12 bytes"):
        framing.parse_header(b"PRPC")


def test_body_checks() -> None:
    meta = RpcMeta(correlation_id=1, attachment_size=50)
    meta.request.service_name, meta.request.method_name = "S", "M"
    raw = meta.SerializeToString()
    with pytest.raises(RpcProtocolError, match="attachment_size 50"):
        framing.decode_body(raw + b"short", len(raw))
    with pytest.raises(RpcProtocolError, match="unparsable RpcMeta"):
        framing.decode_body(b"\xff\xff\xff\xff", 4)
    partial = RpcMeta(correlation_id=1)
    partial.request.service_name = "S"  # method_name missing
    raw = partial.SerializePartialToString()
    with pytest.raises(RpcProtocolError, match="method_name"):
        framing.decode_body(raw, len(raw))
    with pytest.raises(RpcProtocolError, match="truncated"):
        framing.decode_frame(framing.encode_request("S", "M", 1, b"payload")[:-1])


def test_compression_is_refused_by_name() -> None:
    meta = RpcMeta(compress_type=1)
    assert framing.compression_error(meta) is not None
    assert "snappy" in (framing.compression_error(meta) or "")
    assert framing.compression_error(RpcMeta()) is None


# -- JSON ---------------------------------------------------------------------------------------


def test_json_uses_proto_names_enum_names_and_int64_numbers() -> None:
    status = ds.TaskStatusResponse(response=ds.GeneralResponse(code=0))
    task = status.task.add(count=2**63 + 5, status="RUNNING", data_collector="h:1")
    task.progress.tid, task.progress.mode, task.progress.start_ts = (
        5,
        ds.kFullAndContinuous,
        1_700_000_000_000,
    )
    task.progress.sync_point.type, task.progress.sync_point.offset = ds.kBINLOG, 1235
    status.readableInfo.append("lastUpdateTime=1")
    obj = json.loads(message_to_json(status))
    assert obj == message_to_obj(status)
    assert obj["task"][0]["count"] == 2**63 + 5
    progress = obj["task"][0]["progress"]
    assert progress == {
        "tid": 5,
        "mode": "kFullAndContinuous",
        "start_ts": 1_700_000_000_000,
        "sync_point": {"type": "kBINLOG", "offset": 1235},
    }
    assert obj["readableInfo"] == ["lastUpdateTime=1"]
    assert json_to_message(message_to_json(status), ds.TaskStatusResponse) == status


def test_json_input_accepts_enum_numbers_and_an_empty_body() -> None:
    request = json_to_message(b'{"start_point": {"type": 1, "offset": "7"}, "count": 3}', ds.SendDataRequest)
    assert request.start_point.type == ds.kBINLOG and request.start_point.offset == 7 and request.count == 3
    assert json_to_message(b"", ds.TaskStatusRequest) == ds.TaskStatusRequest()
    assert json_to_message(b"  \n", ds.TaskStatusRequest) == ds.TaskStatusRequest()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"{", "not valid JSON"),
        (b"\xff", "not valid JSON"),
        (b"[1]", "JSON object"),
        (b'{"bogus": 1}', "bogus"),
        (b'{"count": "many"}', "count"),
        (b'{"count": -1}', "count"),
        (b'{"start_point": {"offset": 1}}', "start_point.type"),
    ],
)
def test_json_input_errors_are_usage_errors(body: bytes, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        json_to_message(body, ds.SendDataRequest)


# -- registry -----------------------------------------------------------------------------------


def _noop(
    request: ds.TaskStatusRequest, attachment: bytes, ctx: CallContext
) -> tuple[ds.GeneralResponse, bytes]:
    return ds.GeneralResponse(), b""


def test_services_are_found_by_full_and_short_name() -> None:
    tool = Service("openmldb.datasync.SyncTool").add(
        "TaskStatus", ds.TaskStatusRequest, ds.GeneralResponse, _noop
    )
    registry = ServiceRegistry([tool])
    assert registry.find("openmldb.datasync.SyncTool") is tool
    assert registry.find("SyncTool") is tool
    assert registry.find("datasync.SyncTool") is None
    assert list(registry) == [tool] and len(registry) == 1
    assert tool.methods["TaskStatus"].mutating is False


def test_registry_refuses_ambiguous_names() -> None:
    registry = ServiceRegistry([Service("a.SyncTool")])
    with pytest.raises(UsageError, match="SyncTool"):
        registry.add(Service("b.SyncTool"))
    service = Service("x.Y").add("M", ds.TaskStatusRequest, ds.GeneralResponse, _noop)
    with pytest.raises(UsageError, match="twice"):
        service.add("M", ds.TaskStatusRequest, ds.GeneralResponse, _noop)
    with pytest.raises(UsageError):
        Service("has/slash")


def test_routes_prefer_exact_then_longest_prefix() -> None:
    routes = Routes()
    ok = text_route(lambda: "ok")
    routes.add("/api/", ok, prefix=True).add("/api/v1/", ok, prefix=True).add("/healthz", ok)
    assert routes.find("/healthz") is not None and routes.find("/healthz/x") is None
    found = routes.find("/api/v1/tasks")
    assert found is not None and found.path == "/api/v1/"
    found = routes.find("/api/v2")
    assert found is not None and found.path == "/api/"
    with pytest.raises(UsageError):
        routes.add("/healthz", ok)
    with pytest.raises(UsageError):
        routes.add("healthz", ok)


# -- endpoints and the error tree ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("127.0.0.1:8848", ("127.0.0.1", 8848)),
        ("http://tool.example:80/", ("tool.example", 80)),
        ("[::1]:9000", ("::1", 9000)),
    ],
)
def test_split_endpoint(endpoint: str, expected: tuple[str, int]) -> None:
    assert split_endpoint(endpoint) == expected


@pytest.mark.parametrize("endpoint", ["", "host", "host:", ":80", "host:http", "host:70000"])
def test_split_endpoint_refuses_garbage(endpoint: str) -> None:
    with pytest.raises(UsageError, match="host:port"):
        split_endpoint(endpoint)


def test_rpc_errors_say_whether_to_retry() -> None:
    assert RpcUnavailable("x").transient and RpcTimeout("x").transient
    remote = RpcRemoteError(framing.ENOMETHOD, "no such method", http_status=404)
    assert not remote.transient and remote.exit_code == 6
    assert (remote.code, remote.text, remote.http_status) == (1002, "no such method", 404)
    assert str(remote) == "no such method (rpc error 1002)"
    assert isinstance(remote, RpcError) and isinstance(RpcProtocolError("x"), RpcError)
