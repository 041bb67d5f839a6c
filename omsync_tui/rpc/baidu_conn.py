"""Serving one baidu_std connection: read frames, run each request, write its response.

Frames are read one after another and each request runs as soon as it is read, so requests
pipelined on one connection run concurrently; responses go out as they finish, each carrying
its request's ``correlation_id``. With ``max_inflight_per_connection`` requests running, the
connection is not read further until one finishes (backpressure, not an unbounded queue).

A frame that cannot be trusted (wrong magic, a body over ``max_body_size``, an unparsable
RpcMeta, a frame without request meta, a peer closing inside a frame) ends the connection with a
log line naming the peer: after such a frame the byte stream has no reliable boundary left.
A well-framed but wrong request (unknown service or method, compressed or undecodable payload,
missing token) gets an error response and the connection stays open.
"""

from __future__ import annotations

import asyncio

from omsync_tui.core.errors import RpcProtocolError
from omsync_tui.rpc import framing
from omsync_tui.rpc.conn import CallHost, Connection
from omsync_tui.rpc.dispatch import Outcome, error_outcome, invoke_baidu
from omsync_tui.rpc.service import CallContext


async def serve_baidu(host: CallHost, conn: Connection) -> None:
    """Serve ``conn`` until it closes or sends a bad frame; its magic has been read already."""
    slots = asyncio.Semaphore(host.max_inflight_per_connection)
    magic_read = True  # the sniffer consumed the first frame's magic
    while True:
        frame = await _read_frame(host, conn, magic_read)
        if frame is None:
            return
        magic_read = False
        if frame.meta.HasField("authentication_data"):
            # Remembered in read order, so requests pipelined after the first one carry it too.
            conn.auth = frame.meta.authentication_data
        await slots.acquire()
        host.track(_answer(host, conn, frame, conn.auth, slots))


async def _read_frame(host: CallHost, conn: Connection, magic_read: bool) -> framing.Frame | None:
    """The next request frame, or ``None`` (logged unless it is a clean close between frames)."""
    try:
        if magic_read:
            header = framing.MAGIC + await conn.stream.readexactly(framing.HEADER_SIZE - 4)
        else:
            header = await conn.stream.readexactly(framing.HEADER_SIZE)
    except asyncio.IncompleteReadError as exc:
        if exc.partial or magic_read:
            host.log.warning("baidu_std peer %s closed the connection inside a frame header", conn.peer)
        return None
    try:
        body_size, meta_size = framing.parse_header(header, max_body_size=host.max_body_size)
    except RpcProtocolError as exc:
        host.log.warning("closing baidu_std connection from %s: %s", conn.peer, exc)
        return None
    # In three reads, so the attachment (the bulk of a SendData) is the buffer it was read into.
    read = 0  # body bytes before the current read
    try:
        meta = framing.decode_meta(await conn.stream.readexactly(meta_size), body_size)
        read = meta_size
        payload = await conn.stream.readexactly(body_size - meta_size - meta.attachment_size)
        read = body_size - meta.attachment_size
        attachment = await conn.stream.readexactly(meta.attachment_size)
    except asyncio.IncompleteReadError as exc:
        host.log.warning(
            "baidu_std peer %s closed the connection inside a frame (%d of %d body bytes)",
            conn.peer,
            read + len(exc.partial),
            body_size,
        )
        return None
    except RpcProtocolError as exc:
        host.log.warning("closing baidu_std connection from %s: %s", conn.peer, exc)
        return None
    frame = framing.Frame(meta, payload, attachment)
    if not frame.meta.HasField("request"):
        host.log.warning("closing baidu_std connection from %s: a frame without request meta", conn.peer)
        return None
    return frame


async def _answer(
    host: CallHost, conn: Connection, frame: framing.Frame, auth: bytes | None, slots: asyncio.Semaphore
) -> None:
    try:
        outcome = await _outcome(host, conn, frame, auth)
        await conn.send(
            framing.encode_response(
                frame.meta.correlation_id,
                outcome.payload,
                outcome.attachment,
                error_code=outcome.error_code,
                error_text=outcome.error_text,
            )
        )
    except OSError as exc:
        host.log.info("cannot answer baidu_std peer %s: %s", conn.peer, exc)
    except Exception:
        host.log.exception("failed to answer baidu_std peer %s", conn.peer)
    finally:
        slots.release()


async def _outcome(host: CallHost, conn: Connection, frame: framing.Frame, auth: bytes | None) -> Outcome:
    request = frame.meta.request
    why = framing.compression_error(frame.meta)
    if why is not None:
        return error_outcome(framing.EREQUEST, why)
    found = host.lookup(request.service_name, request.method_name)
    if isinstance(found, Outcome):
        return found
    service, method = found
    refused = host.authorize(method.mutating, auth, f"{service.full_name}.{method.name}") or host.busy()
    if refused is not None:
        return refused
    ctx = CallContext(
        conn.peer,
        "baidu_std",
        service.full_name,
        method.name,
        auth,
        correlation_id=frame.meta.correlation_id,
        log_id=request.log_id if request.HasField("log_id") else None,
    )
    outcome = await host.in_pool(invoke_baidu, method, frame.payload, frame.attachment, ctx, host.log)
    return outcome if outcome is not None else error_outcome(framing.ELOGOFF, "server is stopping")
