"""Serving one HTTP/1.1 connection with h11: keep-alive, Content-Length or chunked bodies, one
request at a time (pipelined requests are answered in order).

``POST /<service>/<method>`` (full or short service name) is the RPC with a JSON body and a JSON
answer (``jsoncodec``); the attachment cannot be reached over HTTP. Every other path goes to the
plain routes. Every error answer is JSON ``{"error": text, "code": brpc errno}`` with a status
from ``dispatch.HTTP_STATUS`` (404 unknown service/method/path, 400 bad JSON, 401 missing token,
503 busy or stopping, 500 handler failure). Malformed HTTP is answered 400 (431 for oversized
headers, 413 for an oversized body) and the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Iterable

import h11

from omsync_tui.rpc import framing
from omsync_tui.rpc.conn import READ_CHUNK, CallHost, Connection
from omsync_tui.rpc.dispatch import JSON, Outcome, error_json, error_outcome, invoke_http, invoke_route
from omsync_tui.rpc.service import CallContext, HttpRequest

MAX_HEADER_BYTES = 64 * 1024

Headers = list[tuple[str, str]]


class _BodyTooLarge(Exception):
    pass


async def serve_http(host: CallHost, conn: Connection, first: bytes) -> None:
    """Serve ``conn``, whose first bytes (already read) are ``first``."""
    http = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
    http.receive_data(first)
    while True:
        try:
            received = await _read_request(host, conn, http)
        except h11.RemoteProtocolError as exc:
            host.log.warning("malformed HTTP from %s: %s", conn.peer, exc)
            await _error_and_close(conn, http, exc.error_status_hint, f"malformed HTTP: {exc}")
            return
        except _BodyTooLarge:
            host.log.warning("HTTP body from %s exceeds %d bytes; closing", conn.peer, host.max_body_size)
            await _error_and_close(
                conn, http, 413, f"request body exceeds max_body_size {host.max_body_size}"
            )
            return
        if received is None:
            return
        request, body = received
        # Shielded: stop() cancels this reader, not the call it is waiting for.
        if not await asyncio.shield(host.track(_exchange(host, conn, http, request, body))):
            return
        if http.our_state is h11.MUST_CLOSE or http.their_state is h11.MUST_CLOSE:
            return
        try:
            http.start_next_cycle()
        except h11.LocalProtocolError:
            return


async def _read_request(
    host: CallHost, conn: Connection, http: h11.Connection
) -> tuple[h11.Request, bytes] | None:
    """The next request and its whole body; ``None`` when the peer closed between requests."""
    request: h11.Request | None = None
    chunks: list[bytes] = []
    size = 0
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            if request is not None and http.they_are_waiting_for_100_continue:
                await conn.send(http.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
            http.receive_data(await conn.stream.read(READ_CHUNK))
        elif isinstance(event, h11.Request):
            request = event
            declared = _header(event.headers, b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > host.max_body_size:
                raise _BodyTooLarge
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > host.max_body_size:
                raise _BodyTooLarge
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, b"".join(chunks)
        else:  # ConnectionClosed between requests (h11 raises on a close inside one)
            return None


async def _exchange(
    host: CallHost, conn: Connection, http: h11.Connection, request: h11.Request, body: bytes
) -> bool:
    """Answer one request; False when the connection cannot go on.

    Never raises: nobody may be waiting for this task any more (stop() cancels the reader).
    """
    try:
        status, headers, payload = await _answer(host, conn, request, body)
        await _send(conn, http, request.method, status, headers, payload)
        return True
    except OSError as exc:
        host.log.info("cannot answer HTTP peer %s: %s", conn.peer, exc)
    except Exception:
        host.log.exception("failed to answer HTTP peer %s; closing the connection", conn.peer)
    return False


async def _answer(
    host: CallHost, conn: Connection, request: h11.Request, body: bytes
) -> tuple[int, Headers, bytes]:
    path, _, query = request.target.decode("ascii", "replace").partition("?")
    verb = request.method.decode("ascii", "replace").upper()
    token = _bearer(request.headers)
    route = host.routes.find(path)
    if route is not None:
        allowed = route.methods | ({"HEAD"} if "GET" in route.methods else set())
        if verb not in allowed:
            return (
                405,
                [("content-type", JSON), ("allow", ", ".join(sorted(allowed)))],
                error_json(f"{verb} is not allowed on {path}"),
            )
        refused = host.authorize(route.needs_token(verb), token, f"{verb} {path}")
        if refused is not None:
            return _error(refused)
        http_request = HttpRequest(verb, path, query, _header_map(request.headers), body, conn.peer, token)
        result = await host.in_pool(invoke_route, route, http_request, host.log)
        if result is None:
            return _error(error_outcome(framing.ELOGOFF, "server is stopping"))
        status, content_type, payload = result
        return status, [("content-type", content_type)], payload
    parts = path.strip("/").split("/")
    if len(parts) != 2:
        return 404, [("content-type", JSON)], error_json(f"no route for {path}")
    found = host.lookup(*(urllib.parse.unquote(part) for part in parts))
    if isinstance(found, Outcome):
        return _error(found)
    service, method = found
    if verb not in ("POST", "GET"):
        # GET too: OpenMLDB's synctool_helper.py asks for TaskStatus with GET and a JSON body
        return (
            405,
            [("content-type", JSON), ("allow", "GET, POST")],
            error_json(f"call {path} with POST (or GET) and a JSON body", framing.EREQUEST),
        )
    if not body.strip():
        body = b"{}"
    refused = host.authorize(method.mutating, token, f"{service.full_name}.{method.name}") or host.busy()
    if refused is not None:
        return _error(refused)
    ctx = CallContext(conn.peer, "http", service.full_name, method.name, token)
    outcome = await host.in_pool(invoke_http, method, body, ctx, host.log)
    if outcome is None:
        outcome = error_outcome(framing.ELOGOFF, "server is stopping")
    if outcome.error_code:
        return _error(outcome)
    return 200, [("content-type", JSON)], outcome.payload


def _error(outcome: Outcome) -> tuple[int, Headers, bytes]:
    headers = [("content-type", JSON)]
    if outcome.error_code == framing.ERPCAUTH:
        headers.append(("www-authenticate", "Bearer"))
    return outcome.http_status, headers, error_json(outcome.error_text, outcome.error_code)


async def _send(
    conn: Connection, http: h11.Connection, request_method: bytes, status: int, headers: Headers, body: bytes
) -> None:
    all_headers = [*headers, ("content-length", str(len(body))), ("server", "omsync")]
    data = http.send(h11.Response(status_code=status, headers=all_headers)) or b""
    if request_method != b"HEAD" and body:
        data += http.send(h11.Data(data=body)) or b""
    data += http.send(h11.EndOfMessage()) or b""
    await conn.send(data)


async def _error_and_close(conn: Connection, http: h11.Connection, status: int, text: str) -> None:
    if http.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    headers = [("content-type", JSON), ("connection", "close")]
    # The peer may be gone or the state may forbid an answer: closing is all that is left then.
    with contextlib.suppress(h11.LocalProtocolError, OSError):
        await _send(conn, http, b"", status, headers, error_json(text, framing.EREQUEST))


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def _header_map(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in headers:
        name, text = key.decode("latin-1"), value.decode("latin-1")
        result[name] = f"{result[name]}, {text}" if name in result else text
    return result


def _bearer(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    value = _header(headers, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip().encode("latin-1") if scheme.lower() == "bearer" else None
