"""Clients for the two faces of an omsync/OpenMLDB port: ``BaiduStdClient`` (protobuf over
baidu_std, what a collector uses to push batches and a real brpc peer understands) and
``HttpJsonClient`` (the JSON API, what ``omsync task`` and scripts use).

Both keep one persistent connection, are safe to share between threads (one call at a time per
client: a lock is held for the whole exchange), and translate every failure into the
``RpcError`` family at one place (``_transport_errors``):

    refused / reset / closed connection, connect timeout  → RpcUnavailable (transient)
    no answer within the call's timeout                   → RpcTimeout (transient)
    bytes that are not a valid answer                     → RpcProtocolError
    the server answered with an error                     → RpcRemoteError(code, text)

A connection that failed or timed out is dropped (a late answer must not be taken for the next
call's), and the next call connects again. Before reusing an idle connection the clients check
that the server has not closed it meanwhile (restart, idle timeout) and reconnect if so; that
happens before anything is sent, so it never runs a call twice.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

from google.protobuf.message import EncodeError, Message

from omsync_tui.core.errors import (
    RpcError,
    RpcProtocolError,
    RpcRemoteError,
    RpcTimeout,
    RpcUnavailable,
    UsageError,
)
from omsync_tui.rpc import framing
from omsync_tui.rpc.jsoncodec import missing_required

M = TypeVar("M", bound=Message)


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``"host:port"`` / ``"[v6]:port"`` (an ``http://`` prefix and a trailing ``/`` are allowed)."""
    text = endpoint.strip()
    for scheme in ("http://", "HTTP://"):
        text = text.removeprefix(scheme)
    text = text.rstrip("/")
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"bad endpoint {endpoint!r}: expected host:port")
    return host, int(port)


@contextlib.contextmanager
def _transport_errors(endpoint: str, phase: str) -> Iterator[None]:
    """The one place socket and http.client errors become ``RpcError``s."""
    try:
        yield
    except RpcError:
        raise
    except TimeoutError as exc:
        if phase == "connect":
            raise RpcUnavailable(f"connecting to {endpoint} timed out") from exc
        raise RpcTimeout(f"no answer from {endpoint} in time ({phase})") from exc
    except ConnectionRefusedError as exc:
        raise RpcUnavailable(f"{endpoint} refused the connection", hint="is the server running?") from exc
    except http.client.RemoteDisconnected as exc:
        raise RpcUnavailable(f"{endpoint} closed the connection ({phase})") from exc
    except http.client.HTTPException as exc:
        raise RpcProtocolError(f"bad HTTP answer from {endpoint}: {exc!r}") from exc
    except OSError as exc:  # reset, broken pipe, unreachable, name resolution
        raise RpcUnavailable(f"connection to {endpoint} failed ({phase}): {exc}") from exc


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _peer_closed(sock: socket.socket) -> bool:
    """Whether an idle connection is unusable: closed by the server, or holding unexpected bytes."""
    timeout = sock.gettimeout()
    try:
        sock.setblocking(False)
        sock.recv(1, socket.MSG_PEEK)
        return True  # b"" (EOF) or stray bytes: either way not a clean idle connection
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(timeout)


class BaiduStdClient:
    """Call protobuf services over baidu_std on one persistent connection.

    ``auth`` is sent as ``authentication_data`` on the first request of each connection
    (OpenMLDB's own services send ``b"sdefault"``; ``None`` sends nothing).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
        auth: bytes | None = b"sdefault",
        max_body_size: int = framing.DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.endpoint = endpoint
        self._address = split_endpoint(endpoint)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.auth = auth
        self.max_body_size = max_body_size
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._auth_sent = False
        self._ids = itertools.count(1)

    def call(
        self,
        service: str,
        method: str,
        request: Message,
        response_type: type[M],
        *,
        attachment: bytes = b"",
        timeout: float | None = None,
    ) -> tuple[M, bytes]:
        """Call ``service.method``; return the response and its attachment.

        ``service`` is sent as given: the full name (``openmldb.datasync.SyncTool``, what
        OpenMLDB's C++ clients send) or the short one. ``timeout`` (seconds) bounds the whole
        call, connecting included.
        """
        budget = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        try:
            payload = request.SerializeToString()
        except EncodeError as exc:
            raise UsageError(f"cannot send {type(request).__name__}: {exc}") from exc
        with self._lock:
            sock = self._connected(deadline)
            correlation_id = next(self._ids)
            meta = framing.request_meta(
                service,
                method,
                correlation_id,
                auth=None if self._auth_sent else self.auth,
                timeout_ms=max(1, int(budget * 1000)),
            )
            parts = framing.frame_parts(meta, payload, attachment)
            try:
                with _transport_errors(self.endpoint, f"{service}.{method}"):
                    _send_all(sock, parts, deadline)
                    self._auth_sent = True
                    answer = self._receive(sock, correlation_id, deadline)
            except RpcError:
                self._drop()
                raise
        meta = answer.meta
        if meta.response.error_code:
            raise RpcRemoteError(meta.response.error_code, meta.response.error_text or "(no error text)")
        response = response_type()
        try:
            response.ParseFromString(answer.payload)
        except Exception as exc:  # DecodeError, or ValueError from upb
            raise RpcProtocolError(
                f"cannot parse {response_type.__name__} from {self.endpoint}: {exc}"
            ) from exc
        missing = missing_required(response)
        if missing:
            raise RpcProtocolError(
                f"{response_type.__name__} from {self.endpoint} lacks {', '.join(missing)}"
            )
        return response, answer.attachment

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> BaiduStdClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _connected(self, deadline: float) -> socket.socket:
        if self._sock is not None and _peer_closed(self._sock):
            self._drop()
        if self._sock is None:
            with _transport_errors(self.endpoint, "connect"):
                sock = socket.create_connection(
                    self._address, timeout=min(self.connect_timeout, _remaining(deadline))
                )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock, self._auth_sent = sock, False
        return self._sock

    def _drop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None

    def _receive(self, sock: socket.socket, correlation_id: int, deadline: float) -> framing.Frame:
        while True:
            header = _recv_exact(sock, framing.HEADER_SIZE, deadline)
            body_size, meta_size = framing.parse_header(header, max_body_size=self.max_body_size)
            frame = framing.decode_body(_recv_exact(sock, body_size, deadline), meta_size)
            if frame.meta.correlation_id == correlation_id:
                return frame
            # Not ours: an answer to an earlier call on this connection; calls are serialised, so
            # it can only be a late one, which nobody waits for any more.


def _send_all(sock: socket.socket, parts: tuple[bytes, bytes], deadline: float) -> None:
    """``sendall`` of the parts one after the other, without joining them (``sendmsg``)."""
    views = [memoryview(p) for p in parts if p]
    while views:
        sock.settimeout(_remaining(deadline))
        sent = sock.sendmsg(views)
        while views and sent >= len(views[0]):
            sent -= len(views[0])
            views.pop(0)
        if sent:
            views[0] = views[0][sent:]


def _recv_exact(sock: socket.socket, size: int, deadline: float) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        sock.settimeout(_remaining(deadline))
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            raise RpcUnavailable(f"connection closed by the server after {got} of {size} bytes")
        got += n
    return bytes(buffer)


class HttpJsonClient:
    """Call the JSON face of a port: RPCs as ``POST /<service>/<method>`` and plain GET routes."""

    def __init__(self, base: str, *, timeout: float = 5.0, auth_token: str | None = None) -> None:
        self.base = base
        self.host, self.port = split_endpoint(base)
        self.endpoint = f"{self.host}:{self.port}"
        self.timeout = timeout
        self.auth_token = auth_token
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None

    def call(
        self,
        service: str,
        method: str,
        payload: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST ``payload`` as JSON to ``/<service>/<method>``; return the JSON answer.

        An error status raises ``RpcRemoteError`` with the server's ``code`` (brpc errno) and
        ``error`` text, and the HTTP status.
        """
        body = json.dumps(dict(payload or {})).encode()
        status, data = self._request("POST", f"/{service}/{method}", body, timeout)
        try:
            answer = json.loads(data or b"{}")
        except ValueError as exc:
            if status != 200:
                raise RpcRemoteError(
                    framing.EHTTP, data[:200].decode(errors="replace"), http_status=status
                ) from exc
            raise RpcProtocolError(
                f"{self.endpoint} answered {service}.{method} with bad JSON: {exc}"
            ) from exc
        if status != 200:
            if isinstance(answer, dict) and "error" in answer:
                code = answer.get("code")
                raise RpcRemoteError(
                    code if isinstance(code, int) else framing.EHTTP, str(answer["error"]), http_status=status
                )
            raise RpcRemoteError(framing.EHTTP, f"HTTP {status}: {answer!r}", http_status=status)
        if not isinstance(answer, dict):
            raise RpcProtocolError(
                f"{self.endpoint} answered {service}.{method} with a non-object: {answer!r}"
            )
        return answer

    def request(
        self, verb: str, path: str, body: bytes | None = None, *, timeout: float | None = None
    ) -> tuple[int, str]:
        """Any method on ``path`` (a JSON ``body``); the status and the body as text, 4xx/5xx too."""
        status, data = self._request(verb, path, body, timeout)
        return status, data.decode("utf-8", errors="replace")

    def get(self, path: str, *, timeout: float | None = None) -> tuple[int, str]:
        """GET ``path``; return the status and the body as text (no error for 4xx/5xx)."""
        status, data = self._request("GET", path, None, timeout)
        return status, data.decode("utf-8", errors="replace")

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> HttpJsonClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _request(self, verb: str, path: str, body: bytes | None, timeout: float | None) -> tuple[int, bytes]:
        seconds = self.timeout if timeout is None else timeout
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.auth_token is not None:
            headers["Authorization"] = f"Bearer {self.auth_token}"
        with self._lock:
            try:
                conn = self._connected(seconds)
                with _transport_errors(self.endpoint, f"{verb} {path}"):
                    assert conn.sock is not None
                    conn.sock.settimeout(seconds)
                    conn.request(verb, path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                if response.will_close:
                    self._drop()
                return response.status, data
            except RpcError:
                self._drop()
                raise

    def _connected(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is not None and (self._conn.sock is None or _peer_closed(self._conn.sock)):
            self._drop()
        if self._conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            with _transport_errors(self.endpoint, "connect"):
                conn.connect()
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
