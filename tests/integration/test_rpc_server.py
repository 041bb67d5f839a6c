"""RpcServer + clients over real loopback sockets: both protocols, bad peers, slow handlers, auth.

Every bad-input test also checks that a well-behaved client is still answered while (or after)
the bad one misbehaves. Nothing sleeps for a fixed time: tests wait for a condition (an answer,
a closed socket, a log line) with a deadline.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import h11
import pytest
from helpers.daemonproc import free_port
from helpers.waiting import wait_until
from prometheus_client import CollectorRegistry, Counter

from omsync_tui.core.errors import (
    NotFoundError,
    OmsyncError,
    RpcRemoteError,
    RpcTimeout,
    RpcUnavailable,
    UsageError,
)
from omsync_tui.openmldb.proto import data_sync_pb2 as ds
from omsync_tui.rpc import framing
from omsync_tui.rpc.client import BaiduStdClient, HttpJsonClient
from omsync_tui.rpc.proto.baidu_rpc_meta_pb2 import RpcMeta
from omsync_tui.rpc.server import RpcServer
from omsync_tui.rpc.service import CallContext, HttpRequest, Routes, Service, prometheus_route, text_route

TOOL = "openmldb.datasync.SyncTool"
COLLECTOR = "openmldb.datasync.DataCollector"
WAIT = 5.0


# -- the demo services ------------------------------------------------------------------------


@dataclass
class Demo:
    """Handlers over the real data_sync messages; the slow one waits on ``release``."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    contexts: list[CallContext] = field(default_factory=list)

    def send_data(
        self, request: ds.SendDataRequest, attachment: bytes, ctx: CallContext
    ) -> tuple[ds.SendDataResponse, bytes]:
        self.contexts.append(ctx)
        msg = f"{len(attachment)} bytes, {request.count} rows via {ctx.protocol}"
        return ds.SendDataResponse(response=ds.GeneralResponse(code=0, msg=msg)), attachment

    def task_status(
        self, request: ds.TaskStatusRequest, attachment: bytes, ctx: CallContext
    ) -> tuple[ds.TaskStatusResponse, bytes]:
        answer = ds.TaskStatusResponse(response=ds.GeneralResponse(code=0))
        task = answer.task.add(count=2**40 + 1, status="RUNNING", data_collector="127.0.0.1:8888")
        task.progress.tid, task.progress.mode = 7, ds.kFull
        task.progress.sync_point.type, task.progress.sync_point.offset = ds.kBINLOG, 1235
        answer.readableInfo.append(f"clear_all={request.clear_all}")
        return answer, b""

    def create(
        self, request: ds.CreateSyncTaskRequest, attachment: bytes, ctx: CallContext
    ) -> tuple[ds.GeneralResponse, bytes]:
        # The table name picks the failure, so one method covers the whole error mapping.
        failures: dict[str, Exception] = {
            "bad": UsageError("mode is required"),
            "missing": NotFoundError("table db.missing does not exist"),
            "broken": OmsyncError("ZooKeeper said no"),
            "bug": ZeroDivisionError("secret internals"),
        }
        if request.name in failures:
            raise failures[request.name]
        return ds.GeneralResponse(code=0, msg=f"created {request.db}.{request.name}"), b""

    def slow(
        self, request: ds.DeleteSyncTaskRequest, attachment: bytes, ctx: CallContext
    ) -> tuple[ds.GeneralResponse, bytes]:
        self.entered.set()
        released = self.release.wait(WAIT)
        return ds.GeneralResponse(code=0 if released else 1, msg="slow done"), b""

    def add_task(
        self, request: ds.AddSyncTaskRequest, attachment: bytes, ctx: CallContext
    ) -> tuple[ds.GeneralResponse, bytes]:
        return ds.GeneralResponse(code=0, msg=f"tid {request.tid} token {ctx.auth_token!r}"), b""

    def services(self) -> list[Service]:
        tool = (
            Service(TOOL)
            .add("SendData", ds.SendDataRequest, ds.SendDataResponse, self.send_data, mutating=True)
            .add("TaskStatus", ds.TaskStatusRequest, ds.TaskStatusResponse, self.task_status)
            .add("CreateSyncTask", ds.CreateSyncTaskRequest, ds.GeneralResponse, self.create, mutating=True)
            .add("DeleteSyncTask", ds.DeleteSyncTaskRequest, ds.GeneralResponse, self.slow)
        )
        collector = Service(COLLECTOR).add(
            "AddSyncTask", ds.AddSyncTaskRequest, ds.GeneralResponse, self.add_task
        )
        return [tool, collector]

    def routes(self) -> Routes:
        registry = CollectorRegistry()
        Counter("demo_calls", "calls seen", registry=registry).inc(3)

        def boom(_request: HttpRequest) -> tuple[int, str, bytes]:
            raise RuntimeError("route internals")

        def echo(request: HttpRequest) -> tuple[int, str, bytes]:
            return (
                200,
                "text/plain",
                f"{request.method} {request.path}?{request.query} {request.body!r}".encode(),
            )

        return (
            Routes()
            .add("/healthz", text_route(lambda: "ok\n"))
            .add("/status", text_route(lambda: "version: test\n"))
            .add("/metrics", prometheus_route(registry))
            .add("/boom", boom)
            .add("/api/v1/", echo, methods=("GET", "POST"), prefix=True, mutating=True)
        )


class LogRecords(logging.Handler):
    """Collects what one server logs (on its own logger, so parallel servers do not mix)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger(f"omsync.rpc.test.{uuid.uuid4().hex[:8]}")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def find(self, *parts: str) -> logging.LogRecord | None:
        for record in list(self.records):
            text = record.getMessage()
            if all(part in text for part in parts):
                return record
        return None

    def wait_for(self, *parts: str) -> logging.LogRecord:
        wait_until(lambda: self.find(*parts) is not None, WAIT, f"a log line with {parts}", every=0.005)
        record = self.find(*parts)
        assert record is not None
        return record


@pytest.fixture
def logs() -> Iterator[LogRecords]:
    handler = LogRecords()
    handler.logger.setLevel(logging.DEBUG)
    handler.logger.addHandler(handler)
    yield handler
    handler.logger.removeHandler(handler)


@pytest.fixture
def demo() -> Iterator[Demo]:
    demo = Demo()
    yield demo
    demo.release.set()  # never leave a worker blocked


def make_server(demo: Demo, logs: LogRecords, **options: Any) -> RpcServer:
    return RpcServer("127.0.0.1", 0, demo.services(), demo.routes(), logger=logs.logger, **options)


@pytest.fixture
def server(demo: Demo, logs: LogRecords) -> Iterator[RpcServer]:
    with make_server(demo, logs) as server:
        yield server


def endpoint(server: RpcServer) -> str:
    return f"127.0.0.1:{server.port}"


def assert_serving(server: RpcServer) -> None:
    """A fresh, well-behaved client gets answers over both protocols."""
    with BaiduStdClient(endpoint(server), timeout=WAIT) as client:
        response, attachment = client.call(
            TOOL, "SendData", ds.SendDataRequest(count=1), ds.SendDataResponse, attachment=b"row"
        )
    assert response.response.msg.startswith("3 bytes") and attachment == b"row"
    with HttpJsonClient(endpoint(server), timeout=WAIT) as http:
        assert http.call("SyncTool", "TaskStatus", {})["response"] == {"code": 0}


# -- raw peers ----------------------------------------------------------------------------------


_RAW_SOCKETS: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_raw_sockets() -> Iterator[None]:
    yield
    while _RAW_SOCKETS:
        _RAW_SOCKETS.pop().close()


def connect(server: RpcServer) -> socket.socket:
    """A raw loopback connection, closed after the test."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _RAW_SOCKETS.append(sock)
    return sock


def peer_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def read_frame(sock: socket.socket) -> framing.Frame:
    def exact(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "server closed the connection"
            data += chunk
        return data

    body_size, meta_size = framing.parse_header(exact(framing.HEADER_SIZE))
    return framing.decode_body(exact(body_size), meta_size)


def wait_closed(sock: socket.socket) -> None:
    """The server closed this connection (EOF or reset), after any answer it sent."""
    sock.settimeout(WAIT)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass


def send_data_frame(cid: int, attachment: bytes = b"", **meta_fields: Any) -> bytes:
    payload = ds.SendDataRequest(count=cid).SerializeToString()
    meta = RpcMeta(correlation_id=cid, **meta_fields)
    meta.request.service_name, meta.request.method_name = TOOL, "SendData"
    return framing.encode_frame(meta, payload, attachment)


class HttpPeer:
    """A raw HTTP/1.1 client over one socket (h11 on the client side)."""

    def __init__(self, server: RpcServer) -> None:
        self.sock = connect(server)
        self.http = h11.Connection(h11.CLIENT)

    def send(
        self, method: str, target: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None
    ) -> None:
        all_headers = [("host", "test"), ("content-length", str(len(body))), *(headers or [])]
        data = self.http.send(h11.Request(method=method, target=target, headers=all_headers)) or b""
        if body:
            data += self.http.send(h11.Data(data=body)) or b""
        data += self.http.send(h11.EndOfMessage()) or b""
        self.sock.sendall(data)

    def expect(self, method: str, target: str) -> None:
        """Tell the client-side parser about a request that went out as raw bytes."""
        self.http.send(h11.Request(method=method, target=target, headers=[("host", "test")]))
        self.http.send(h11.EndOfMessage())

    def receive(self) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = 0, {}, b""
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                self.http.receive_data(self.sock.recv(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                if self.http.our_state is h11.DONE and self.http.their_state is h11.DONE:
                    self.http.start_next_cycle()
                return status, headers, body
            else:
                raise AssertionError(f"unexpected {event!r}")


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", [TOOL, "SyncTool"])
def test_baidu_std_round_trip_with_attachments(server: RpcServer, service: str) -> None:
    with BaiduStdClient(endpoint(server)) as client:
        for size in (0, 10, 5 * 1024 * 1024):
            attachment = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            response, echoed = client.call(
                service,
                "SendData",
                ds.SendDataRequest(count=size),
                ds.SendDataResponse,
                attachment=attachment,
            )
            assert response.response.msg == f"{size} bytes, {size} rows via baidu_std"
            assert echoed == attachment
        response, _ = client.call(COLLECTOR, "AddSyncTask", ds.AddSyncTaskRequest(tid=4), ds.GeneralResponse)
        assert response.msg == "tid 4 token b'sdefault'"


def test_handler_context(server: RpcServer, demo: Demo) -> None:
    with BaiduStdClient(endpoint(server), auth=b"u1") as client:
        client.call("SyncTool", "SendData", ds.SendDataRequest(), ds.SendDataResponse)
    ctx = demo.contexts[-1]
    assert (ctx.protocol, ctx.service, ctx.method, ctx.auth_token) == ("baidu_std", TOOL, "SendData", b"u1")
    assert ctx.correlation_id == 1 and ctx.peer.startswith("127.0.0.1:")


@pytest.mark.parametrize("service", [TOOL, "SyncTool"])
def test_http_json_round_trip(server: RpcServer, service: str) -> None:
    with HttpJsonClient(f"http://127.0.0.1:{server.port}/") as http:
        answer = http.call(service, "TaskStatus", {"clear_all": True})
        assert answer == {
            "response": {"code": 0},
            "task": [
                {
                    "progress": {
                        "tid": 7,
                        "mode": "kFull",
                        "sync_point": {"type": "kBINLOG", "offset": 1235},
                    },
                    "data_collector": "127.0.0.1:8888",
                    "count": 2**40 + 1,
                    "status": "RUNNING",
                }
            ],
            "readableInfo": ["clear_all=True"],
        }
        sent = {
            "tid": 1,
            "count": 4,
            "start_point": {"type": 1, "offset": 9},
            "next_point": {"type": "kBINLOG"},
        }
        answer = http.call(service, "SendData", sent)
        assert answer == {"response": {"code": 0, "msg": "0 bytes, 4 rows via http"}}
    peer = HttpPeer(server)
    peer.send("POST", f"/{service}/TaskStatus")  # an empty body means {}
    status, headers, body = peer.receive()
    assert status == 200 and headers["content-type"] == "application/json"
    assert b'"clear_all=False"' in body


def test_pipelined_baidu_std_requests_on_one_connection(server: RpcServer) -> None:
    sock = connect(server)
    ids = list(range(100, 140))
    sock.sendall(b"".join(send_data_frame(cid, attachment=str(cid).encode() * cid) for cid in ids))
    answers = {}
    for _ in ids:
        frame = read_frame(sock)
        answers[frame.meta.correlation_id] = frame
    assert sorted(answers) == ids
    for cid, frame in answers.items():
        assert frame.meta.response.error_code == 0
        assert frame.attachment == str(cid).encode() * cid
        response = ds.SendDataResponse.FromString(frame.payload)
        assert response.response.msg == f"{len(frame.attachment)} bytes, {cid} rows via baidu_std"
    sock.close()


def test_http_keep_alive_serves_several_requests_on_one_connection(server: RpcServer) -> None:
    peer = HttpPeer(server)
    peer.send("GET", "/healthz")
    assert peer.receive()[::2] == (200, b"ok\n")
    peer.send("POST", "/openmldb.datasync.SyncTool/TaskStatus", b"{}")
    assert peer.receive()[0] == 200
    # synctool_helper.py's `status`: GET with a JSON body
    peer.send("GET", "/openmldb.datasync.SyncTool/TaskStatus", b"{}")
    status, _, body = peer.receive()
    assert status == 200 and b'"code":0' in body.replace(b" ", b"")
    # two requests in one write (HTTP pipelining): answered in order
    peer.sock.sendall(
        b"GET /status HTTP/1.1\r\nhost: t\r\n\r\nPOST /SyncTool/SendData HTTP/1.1\r\nhost: t\r\n"
        b'content-length: 12\r\n\r\n{"count": 2}'
    )
    peer.expect("GET", "/status")
    assert peer.receive()[::2] == (200, b"version: test\n")
    peer.expect("POST", "/SyncTool/SendData")
    assert peer.receive()[2] == b'{"response":{"code":0,"msg":"0 bytes, 2 rows via http"}}'


def test_http_chunked_request_body(server: RpcServer) -> None:
    peer = HttpPeer(server)
    peer.sock.sendall(
        b"POST /SyncTool/SendData HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
        b'6\r\n{"coun\r\n7\r\nt": 11}\r\n0\r\n\r\n'
    )
    peer.expect("POST", "/SyncTool/SendData")
    status, _headers, body = peer.receive()
    assert status == 200 and b"11 rows" in body


def test_http_expect_100_continue(server: RpcServer) -> None:
    peer = HttpPeer(server)
    body = b'{"count": 5}'
    headers = [("host", "t"), ("content-length", str(len(body))), ("expect", "100-continue")]
    peer.sock.sendall(
        peer.http.send(h11.Request(method="POST", target="/SyncTool/SendData", headers=headers)) or b""
    )
    events: list[Any] = []
    while not events or not isinstance(events[-1], h11.InformationalResponse):
        event = peer.http.next_event()
        if event is h11.NEED_DATA:
            peer.http.receive_data(peer.sock.recv(65536))
        else:
            events.append(event)
    assert events[-1].status_code == 100
    peer.sock.sendall(
        (peer.http.send(h11.Data(data=body)) or b"") + (peer.http.send(h11.EndOfMessage()) or b"")
    )
    status, _headers, answer = peer.receive()
    assert status == 200 and b"5 rows" in answer


def test_plain_routes(server: RpcServer) -> None:
    with HttpJsonClient(endpoint(server)) as http:
        assert http.get("/healthz") == (200, "ok\n")
        status, text = http.get("/metrics")
        assert status == 200 and "demo_calls_total 3.0" in text
        status, text = http.get("/nowhere")
        assert status == 404 and "no route" in text
    peer = HttpPeer(server)
    peer.send("POST", "/healthz", b"x")
    status, headers, _ = peer.receive()
    assert status == 405 and "GET" in headers["allow"]
    peer.send("HEAD", "/healthz")
    status, headers, body = peer.receive()
    assert (status, headers["content-length"], body) == (200, "3", b"")
    peer.send("PUT", "/SyncTool/TaskStatus", b"{}")
    status, headers, _ = peer.receive()
    assert status == 405 and headers["allow"] == "GET, POST"


def test_route_failure_is_a_500_with_the_traceback_only_in_the_log(
    server: RpcServer, logs: LogRecords
) -> None:
    with HttpJsonClient(endpoint(server)) as http:
        status, text = http.get("/boom")
    assert status == 500 and "route internals" not in text and "error" in text
    assert logs.wait_for("/boom").exc_info is not None


# -- bad baidu_std peers: the connection is closed, everybody else is served -------------------


def test_body_over_max_body_size_closes_the_connection(demo: Demo, logs: LogRecords) -> None:
    with make_server(demo, logs, max_body_size=1024 * 1024) as server:
        bad = connect(server)
        bad.sendall(struct.pack(">4sII", b"PRPC", 1024 * 1024 + 1, 10))  # and never the body
        wait_closed(bad)
        logs.wait_for(peer_of(bad), "exceeds max_body_size 1048576")
        assert_serving(server)
        with BaiduStdClient(endpoint(server)) as client:  # exactly at the limit is fine
            attachment = b"a" * (1024 * 1024 - 200)
            _, echoed = client.call(
                TOOL, "SendData", ds.SendDataRequest(), ds.SendDataResponse, attachment=attachment
            )
            assert echoed == attachment


def test_default_max_body_size_is_64_mib(server: RpcServer, logs: LogRecords) -> None:
    bad = connect(server)
    bad.sendall(struct.pack(">4sII", b"PRPC", 64 * 1024 * 1024 + 1, 10))
    wait_closed(bad)
    logs.wait_for(peer_of(bad), "exceeds max_body_size 67108864")
    assert_serving(server)


def test_bad_magic_between_frames_closes_the_connection(server: RpcServer, logs: LogRecords) -> None:
    bad = connect(server)
    bad.sendall(send_data_frame(1))
    assert read_frame(bad).meta.correlation_id == 1
    bad.sendall(b"GARBAGE-GARBAGE")
    wait_closed(bad)
    logs.wait_for(peer_of(bad), "bad baidu_std magic b'GARB'")
    assert_serving(server)


def test_peer_closing_mid_frame_is_logged(server: RpcServer, logs: LogRecords) -> None:
    frame = send_data_frame(1, attachment=b"z" * 1000)
    bad = connect(server)
    bad.sendall(frame[:500])
    assert_serving(server)  # while the bad peer holds half a frame
    bad_peer = peer_of(bad)
    bad.close()
    logs.wait_for(bad_peer, "inside a frame", f"of {len(frame) - framing.HEADER_SIZE} body bytes")
    assert_serving(server)


def test_peer_closing_inside_a_header_is_logged(server: RpcServer, logs: LogRecords) -> None:
    bad = connect(server)
    bad.sendall(b"PRPC\x00\x00")
    bad_peer = peer_of(bad)
    bad.close()
    logs.wait_for(bad_peer, "inside a frame header")
    assert_serving(server)


def test_unparsable_meta_closes_the_connection(server: RpcServer, logs: LogRecords) -> None:
    bad = connect(server)
    bad.sendall(struct.pack(">4sII", b"PRPC", 4, 4) + b"\xff\xff\xff\xff")
    wait_closed(bad)
    logs.wait_for(peer_of(bad), "unparsable RpcMeta")
    assert_serving(server)


def test_frame_without_request_meta_closes_the_connection(server: RpcServer, logs: LogRecords) -> None:
    bad = connect(server)
    bad.sendall(framing.encode_response(5, b""))  # a response sent to a server
    wait_closed(bad)
    logs.wait_for(peer_of(bad), "without request meta")
    assert_serving(server)


# -- well-framed but wrong requests: an error response, the connection stays open --------------


def raw_call(
    sock: socket.socket, service: str, method: str, cid: int, payload: bytes, **meta: Any
) -> RpcMeta:
    frame_meta = RpcMeta(correlation_id=cid, **meta)
    frame_meta.request.service_name, frame_meta.request.method_name = service, method
    sock.sendall(framing.encode_frame(frame_meta, payload))
    answer = read_frame(sock)
    assert answer.meta.correlation_id == cid
    return answer.meta


def test_unknown_service_and_method_answer_enoservice_and_enomethod(server: RpcServer) -> None:
    sock = connect(server)
    meta = raw_call(sock, "openmldb.datasync.Nope", "SendData", 1, b"")
    assert meta.response.error_code == framing.ENOSERVICE
    assert "openmldb.datasync.Nope" in meta.response.error_text
    meta = raw_call(sock, TOOL, "Nope", 2, b"")
    assert meta.response.error_code == framing.ENOMETHOD
    assert meta.response.error_text == f"{TOOL} has no method 'Nope'"
    meta = raw_call(sock, "SyncTool", "TaskStatus", 3, b"")  # same connection still served
    assert meta.response.error_code == 0
    with BaiduStdClient(endpoint(server)) as client:
        with pytest.raises(RpcRemoteError) as caught:
            client.call("DataCollector", "Nope", ds.AddSyncTaskRequest(), ds.GeneralResponse)
        assert caught.value.code == framing.ENOMETHOD
        client.call("DataCollector", "AddSyncTask", ds.AddSyncTaskRequest(), ds.GeneralResponse)


def test_undecodable_payload_answers_erequest(server: RpcServer) -> None:
    sock = connect(server)
    meta = raw_call(sock, TOOL, "SendData", 1, b"\xff\xff\xff")
    assert meta.response.error_code == framing.EREQUEST
    assert "openmldb.datasync.SendDataRequest" in meta.response.error_text
    # well-formed protobuf, but a required field (SyncPoint.type) is missing
    partial = ds.SendDataRequest()
    partial.start_point.offset = 3
    meta = raw_call(sock, TOOL, "SendData", 2, partial.SerializePartialToString())
    assert meta.response.error_code == framing.EREQUEST
    assert "start_point.type" in meta.response.error_text
    assert raw_call(sock, TOOL, "TaskStatus", 3, b"").response.error_code == 0
    assert_serving(server)


def test_compressed_payload_answers_erequest_naming_it(server: RpcServer) -> None:
    sock = connect(server)
    meta = raw_call(sock, TOOL, "TaskStatus", 1, b"", compress_type=1)
    assert meta.response.error_code == framing.EREQUEST
    assert "compress_type 1 (snappy)" in meta.response.error_text
    assert raw_call(sock, TOOL, "TaskStatus", 2, b"").response.error_code == 0


def test_handler_errors_over_baidu_std(server: RpcServer, logs: LogRecords) -> None:
    with BaiduStdClient(endpoint(server)) as client:

        def create(name: str) -> RpcRemoteError:
            with pytest.raises(RpcRemoteError) as caught:
                client.call(
                    TOOL, "CreateSyncTask", ds.CreateSyncTaskRequest(db="db", name=name), ds.GeneralResponse
                )
            return caught.value

        assert (create("bad").code, create("bad").text) == (framing.EREQUEST, "mode is required")
        assert (create("missing").code, create("missing").text) == (
            framing.EINTERNAL,
            "table db.missing does not exist",
        )
        assert (create("broken").code, create("broken").text) == (framing.EINTERNAL, "ZooKeeper said no")
        bug = create("bug")
        assert bug.code == framing.EINTERNAL and "secret" not in bug.text and "server log" in bug.text
        response, _ = client.call(
            TOOL, "CreateSyncTask", ds.CreateSyncTaskRequest(db="d", name="t"), ds.GeneralResponse
        )
        assert response.msg == "created d.t"
    record = logs.wait_for("CreateSyncTask", "raised")
    assert record.exc_info is not None and isinstance(record.exc_info[1], ZeroDivisionError)


# -- bad HTTP peers -----------------------------------------------------------------------------


def test_http_unknown_service_method_and_path_are_404_json(server: RpcServer) -> None:
    with HttpJsonClient(endpoint(server)) as http:
        with pytest.raises(RpcRemoteError) as caught:
            http.call("openmldb.datasync.Nope", "TaskStatus", {})
        assert (caught.value.http_status, caught.value.code) == (404, framing.ENOSERVICE)
        assert "Nope" in caught.value.text
        with pytest.raises(RpcRemoteError) as caught:
            http.call("SyncTool", "Nope", {})
        assert (caught.value.http_status, caught.value.code) == (404, framing.ENOMETHOD)
        assert http.call("SyncTool", "TaskStatus")["response"] == {"code": 0}  # same client, still fine


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"{not json", b"not valid JSON"),
        (b'{"bogus": 1}', b"bogus"),
        (b"[]", b"JSON object"),
        (b'{"tid": "x"}', b"tid"),
    ],
)
def test_http_bad_json_is_400(server: RpcServer, body: bytes, match: bytes) -> None:
    peer = HttpPeer(server)
    peer.send("POST", "/SyncTool/SendData", body, [("content-type", "application/json")])
    status, headers, answer = peer.receive()
    assert status == 400 and headers["content-type"] == "application/json" and match in answer
    assert b'"code": 1003' in answer
    peer.send("POST", "/SyncTool/TaskStatus", b"{}")  # the connection stays usable
    assert peer.receive()[0] == 200
    assert_serving(server)


def test_malformed_http_is_400_and_closed(server: RpcServer, logs: LogRecords) -> None:
    bad = connect(server)
    bad.sendall(b"THIS IS NOT HTTP\r\n\r\n")
    answer = b""
    bad.settimeout(WAIT)
    while chunk := bad.recv(65536):
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and b"malformed HTTP" in answer
    logs.wait_for(peer_of(bad), "malformed HTTP")
    assert_serving(server)


def test_http_body_over_max_body_size_is_413(demo: Demo, logs: LogRecords) -> None:
    with make_server(demo, logs, max_body_size=1000) as server:
        peer = HttpPeer(server)
        peer.sock.sendall(b"POST /SyncTool/SendData HTTP/1.1\r\nhost: t\r\ncontent-length: 5000\r\n\r\n")
        peer.expect("POST", "/SyncTool/SendData")
        status, _, body = peer.receive()
        assert status == 413 and b"max_body_size" in body
        wait_closed(peer.sock)
        assert_serving(server)


def test_handler_errors_over_http(server: RpcServer) -> None:
    with HttpJsonClient(endpoint(server)) as http:
        expected = {"bad": 400, "missing": 404, "broken": 500, "bug": 500}
        for name, status in expected.items():
            with pytest.raises(RpcRemoteError) as caught:
                http.call(TOOL, "CreateSyncTask", {"db": "db", "name": name})
            assert caught.value.http_status == status
            assert "secret" not in caught.value.text
        assert http.call(TOOL, "CreateSyncTask", {"db": "d", "name": "t"}) == {
            "code": 0,
            "msg": "created d.t",
        }


# -- concurrency, limits, timeouts, restarts ---------------------------------------------------


def test_slow_handler_does_not_block_other_clients(server: RpcServer, demo: Demo) -> None:
    results: list[ds.GeneralResponse] = []

    def slow_call() -> None:
        with BaiduStdClient(endpoint(server), timeout=WAIT) as client:
            results.append(
                client.call(TOOL, "DeleteSyncTask", ds.DeleteSyncTaskRequest(), ds.GeneralResponse)[0]
            )

    caller = threading.Thread(target=slow_call)
    caller.start()
    assert demo.entered.wait(WAIT)
    assert_serving(server)  # answered while the slow call is still running
    assert not results
    demo.release.set()
    caller.join(WAIT)
    assert results and results[0].msg == "slow done" and results[0].code == 0


def test_pool_limit_answers_elimit(demo: Demo, logs: LogRecords) -> None:
    with make_server(demo, logs, workers=1, max_pending=1) as server:
        slow = connect(server)
        slow.sendall(framing.encode_request(TOOL, "DeleteSyncTask", 1, b""))
        assert demo.entered.wait(WAIT)
        other = connect(server)
        assert raw_call(other, TOOL, "TaskStatus", 2, b"").response.error_code == framing.ELIMIT
        demo.release.set()
        assert read_frame(slow).meta.response.error_code == 0
        assert raw_call(other, TOOL, "TaskStatus", 3, b"").response.error_code == 0


def test_client_timeout_raises_rpc_timeout_then_recovers(server: RpcServer, demo: Demo) -> None:
    with BaiduStdClient(endpoint(server)) as client:
        started = time.monotonic()
        with pytest.raises(RpcTimeout):
            client.call(TOOL, "DeleteSyncTask", ds.DeleteSyncTaskRequest(), ds.GeneralResponse, timeout=0.2)
        assert time.monotonic() - started < 2.0
        demo.release.set()
        response, _ = client.call(TOOL, "TaskStatus", ds.TaskStatusRequest(), ds.TaskStatusResponse)
        assert response.response.code == 0
    with HttpJsonClient(endpoint(server), timeout=0.2) as http:
        demo.release.clear()
        with pytest.raises(RpcTimeout):
            http.call(TOOL, "DeleteSyncTask", {})
        demo.release.set()
        assert http.call(TOOL, "TaskStatus", {})["response"] == {"code": 0}


def test_client_reconnects_after_the_server_restarts_on_the_same_port(demo: Demo, logs: LogRecords) -> None:
    first = make_server(demo, logs)
    port = first.start()
    client = BaiduStdClient(f"127.0.0.1:{port}")
    http = HttpJsonClient(f"127.0.0.1:{port}")
    try:
        client.call(TOOL, "TaskStatus", ds.TaskStatusRequest(), ds.TaskStatusResponse)
        http.call(TOOL, "TaskStatus", {})
        first.stop()
        with pytest.raises(RpcUnavailable):
            client.call(TOOL, "TaskStatus", ds.TaskStatusRequest(), ds.TaskStatusResponse)
        with pytest.raises(RpcUnavailable):
            http.call(TOOL, "TaskStatus", {})
        second = RpcServer("127.0.0.1", port, demo.services(), demo.routes())
        assert second.start() == port
        try:
            response, _ = client.call(TOOL, "TaskStatus", ds.TaskStatusRequest(), ds.TaskStatusResponse)
            assert response.response.code == 0
            assert http.call(TOOL, "TaskStatus", {})["response"] == {"code": 0}
            # the server goes away under an idle, connected client: the next call reconnects
            second.stop()
            second = RpcServer("127.0.0.1", port, demo.services(), demo.routes())
            second.start()
            response, _ = client.call(TOOL, "TaskStatus", ds.TaskStatusRequest(), ds.TaskStatusResponse)
            assert response.response.code == 0
            assert http.call(TOOL, "TaskStatus", {})["response"] == {"code": 0}
        finally:
            second.stop()
    finally:
        client.close()
        http.close()


def test_stop_lets_a_running_call_answer(demo: Demo, logs: LogRecords) -> None:
    server = make_server(demo, logs)
    port = server.start()
    sock = connect(server)
    sock.sendall(framing.encode_request(TOOL, "DeleteSyncTask", 7, b""))
    assert demo.entered.wait(WAIT)
    stopper = threading.Thread(target=server.stop)
    stopper.start()

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
            return False
        except (ConnectionRefusedError, ConnectionResetError):  # reset: was queued when it closed
            return True

    wait_until(refused, WAIT, "the server to stop accepting", every=0.005)
    demo.release.set()
    answer = read_frame(sock)
    assert answer.meta.correlation_id == 7 and answer.meta.response.error_code == 0
    wait_closed(sock)
    stopper.join(WAIT)
    assert not stopper.is_alive()


def test_busy_port_is_a_usage_error(server: RpcServer) -> None:
    with pytest.raises(UsageError, match="cannot listen"):
        RpcServer("127.0.0.1", server.port).start()


def test_nothing_listening_is_rpc_unavailable() -> None:
    port = free_port()  # free a moment ago, and nothing listens there
    with pytest.raises(RpcUnavailable, match="refused"):
        BaiduStdClient(f"127.0.0.1:{port}").call(
            TOOL, "TaskStatus", ds.TaskStatusRequest(), ds.TaskStatusResponse
        )
    with pytest.raises(RpcUnavailable):
        HttpJsonClient(f"127.0.0.1:{port}").get("/healthz")


# -- auth ---------------------------------------------------------------------------------------


@pytest.fixture
def guarded(demo: Demo, logs: LogRecords) -> Iterator[RpcServer]:
    with make_server(demo, logs, auth_token="s3cret") as server:
        yield server


def test_baidu_std_auth_token(guarded: RpcServer) -> None:
    request = ds.SendDataRequest(count=1)
    with BaiduStdClient(endpoint(guarded)) as client:  # sends OpenMLDB's b"sdefault"
        with pytest.raises(RpcRemoteError) as caught:
            client.call(TOOL, "SendData", request, ds.SendDataResponse)
        assert caught.value.code == framing.ERPCAUTH
        # methods not marked mutating stay open
        client.call(TOOL, "TaskStatus", ds.TaskStatusRequest(), ds.TaskStatusResponse)
    with (
        BaiduStdClient(endpoint(guarded), auth=None) as client,
        pytest.raises(RpcRemoteError, match="auth token"),
    ):
        client.call(TOOL, "SendData", request, ds.SendDataResponse)
    with BaiduStdClient(endpoint(guarded), auth=b"s3cret") as client:
        for _ in range(3):  # the token goes on the first request only; the server remembers it
            response, _ = client.call(TOOL, "SendData", request, ds.SendDataResponse)
            assert response.response.code == 0
    sock = connect(guarded)
    assert raw_call(sock, TOOL, "SendData", 1, b"", authentication_data=b"s3cret").response.error_code == 0
    assert raw_call(sock, TOOL, "SendData", 2, b"").response.error_code == 0
    other = connect(guarded)  # remembered per connection, not per client address
    assert raw_call(other, TOOL, "SendData", 3, b"").response.error_code == framing.ERPCAUTH


def test_http_auth_token(guarded: RpcServer) -> None:
    with HttpJsonClient(endpoint(guarded)) as http:
        with pytest.raises(RpcRemoteError) as caught:
            http.call(TOOL, "SendData", {"count": 1})
        assert (caught.value.http_status, caught.value.code) == (401, framing.ERPCAUTH)
        assert http.call(TOOL, "TaskStatus", {})["response"] == {"code": 0}
        assert http.get("/api/v1/tasks")[0] == 401
        assert http.get("/healthz") == (200, "ok\n")
    with HttpJsonClient(endpoint(guarded), auth_token="wrong") as http:
        with pytest.raises(RpcRemoteError) as caught:
            http.call(TOOL, "SendData", {"count": 1})
        assert caught.value.http_status == 401
    with HttpJsonClient(endpoint(guarded), auth_token="s3cret") as http:
        assert http.call(TOOL, "SendData", {"count": 1})["response"]["code"] == 0
        assert http.get("/api/v1/tasks?state=RUNNING") == (200, "GET /api/v1/tasks?state=RUNNING b''")
    peer = HttpPeer(guarded)
    peer.send("POST", "/api/v1/tasks", b"{}", [("authorization", "Bearer s3cret")])
    status, headers, body = peer.receive()
    assert status == 200 and body == b"POST /api/v1/tasks? b'{}'"
    peer.send("POST", "/api/v1/tasks", b"{}")
    status, headers, _ = peer.receive()
    assert status == 401 and headers["www-authenticate"] == "Bearer"
