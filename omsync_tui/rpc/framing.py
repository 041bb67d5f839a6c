"""brpc's baidu_std frames: encoding, decoding and the error codes they carry (reference §2.6).

A frame is ``"PRPC"`` ‖ body_size (u32 BE) ‖ meta_size (u32 BE) ‖ RpcMeta ‖ payload ‖ attachment,
where body_size = meta_size + len(payload) + len(attachment) and the meta's ``attachment_size``
says where the payload ends. Requests carry ``RpcMeta.request`` (service, method), responses
``RpcMeta.response`` (error_code, error_text); both carry the request's ``correlation_id``.

This module is pure: bytes in, bytes out. The server (``server.py``) and the client
(``client.py``) do the reading and writing; both read a 12-byte header first
(``parse_header``, which enforces ``max_body_size`` before anything is allocated), then exactly
body_size bytes (``decode_body``). Malformed bytes raise ``RpcProtocolError``; what to do about
it (close the connection) is the caller's decision.

Payload compression (``compress_type``) is not implemented: omsync and OpenMLDB send 0, and a
request with another value is answered with an EREQUEST error (see ``compression_error``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from omsync_tui.core.errors import RpcProtocolError
from omsync_tui.rpc.proto.baidu_rpc_meta_pb2 import RpcMeta

MAGIC = b"PRPC"
HEADER = struct.Struct(">4sII")
HEADER_SIZE = HEADER.size  # 12
DEFAULT_MAX_BODY_SIZE = 64 * 1024 * 1024  # brpc's default max_body_size
_U32_MAX = 0xFFFF_FFFF

# brpc's errno (brpc src/brpc/errno.proto); the values travel in RpcResponseMeta.error_code.
ENOSERVICE = 1001  # service not found
ENOMETHOD = 1002  # method not found
EREQUEST = 1003  # bad request (unparsable payload, unsupported compression, ...)
ERPCAUTH = 1004  # authentication failed
ERPCTIMEDOUT = 1008  # the call timed out
EFAILEDSOCKET = 1009  # broken connection
EHTTP = 1010  # bad HTTP call (omsync: an HTTP error answer without a code)
EINTERNAL = 2001  # internal server error
ERESPONSE = 2002  # bad response
ELOGOFF = 2003  # server is stopping
ELIMIT = 2004  # server reached a limit on resources

ERROR_NAMES = {
    ENOSERVICE: "ENOSERVICE",
    ENOMETHOD: "ENOMETHOD",
    EREQUEST: "EREQUEST",
    ERPCAUTH: "ERPCAUTH",
    ERPCTIMEDOUT: "ERPCTIMEDOUT",
    EFAILEDSOCKET: "EFAILEDSOCKET",
    EHTTP: "EHTTP",
    EINTERNAL: "EINTERNAL",
    ERESPONSE: "ERESPONSE",
    ELOGOFF: "ELOGOFF",
    ELIMIT: "ELIMIT",
}

COMPRESS_NONE = 0
COMPRESS_NAMES = {0: "none", 1: "snappy", 2: "gzip", 3: "zlib", 4: "lz4"}


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: its meta, the serialized message and the attachment bytes."""

    meta: RpcMeta
    payload: bytes
    attachment: bytes


def encode_frame(meta: RpcMeta, payload: bytes, attachment: bytes = b"") -> bytes:
    """Serialize one frame; sets ``meta.attachment_size`` (left unset when there is none)."""
    head, attachment = frame_parts(meta, payload, attachment)
    return head + attachment if attachment else head


def frame_parts(meta: RpcMeta, payload: bytes, attachment: bytes = b"") -> tuple[bytes, bytes]:
    """``encode_frame`` as (everything before the attachment, the attachment), not joined: a large
    attachment then goes to the socket as it is (``sendmsg``), not copied into one frame first."""
    if attachment:
        meta.attachment_size = len(attachment)
    else:
        meta.ClearField("attachment_size")
    meta_bytes = meta.SerializeToString()
    body_size = len(meta_bytes) + len(payload) + len(attachment)
    if body_size > _U32_MAX:
        raise RpcProtocolError(f"frame body of {body_size} bytes does not fit baidu_std's u32 size")
    return b"".join((HEADER.pack(MAGIC, body_size, len(meta_bytes)), meta_bytes, payload)), attachment


def request_meta(
    service: str,
    method: str,
    correlation_id: int,
    *,
    auth: bytes | None = None,
    timeout_ms: int | None = None,
    log_id: int | None = None,
) -> RpcMeta:
    """The meta of a request for ``service.method`` (service as the server knows it, full or short)."""
    meta = RpcMeta(correlation_id=correlation_id)
    meta.request.service_name = service
    meta.request.method_name = method
    if timeout_ms is not None:
        meta.request.timeout_ms = timeout_ms
    if log_id is not None:
        meta.request.log_id = log_id
    if auth is not None:
        meta.authentication_data = auth
    return meta


def encode_request(
    service: str,
    method: str,
    correlation_id: int,
    payload: bytes,
    attachment: bytes = b"",
    *,
    auth: bytes | None = None,
    timeout_ms: int | None = None,
    log_id: int | None = None,
) -> bytes:
    """A request frame for ``service.method``."""
    meta = request_meta(service, method, correlation_id, auth=auth, timeout_ms=timeout_ms, log_id=log_id)
    return encode_frame(meta, payload, attachment)


def encode_response(
    correlation_id: int,
    payload: bytes = b"",
    attachment: bytes = b"",
    *,
    error_code: int = 0,
    error_text: str = "",
) -> bytes:
    """A response frame; an error response (``error_code`` != 0) carries no payload or attachment."""
    meta = RpcMeta(correlation_id=correlation_id)
    if error_code:
        meta.response.error_code = error_code
        meta.response.error_text = error_text
        payload, attachment = b"", b""
    else:
        # brpc always sends a response meta; an empty one reads as error_code 0.
        meta.response.SetInParent()
    return encode_frame(meta, payload, attachment)


def parse_header(header: bytes, *, max_body_size: int = DEFAULT_MAX_BODY_SIZE) -> tuple[int, int]:
    """Check a 12-byte header; return ``(body_size, meta_size)``.

    Raises ``RpcProtocolError`` on a wrong magic, a body above ``max_body_size`` (checked here so
    the reader never allocates it) or a meta larger than the body.
    """
    if len(header) != HEADER_SIZE:
        raise RpcProtocolError(f"baidu_std header is {HEADER_SIZE} bytes, got {len(header)}")
    magic, body_size, meta_size = HEADER.unpack(header)
    if magic != MAGIC:
        raise RpcProtocolError(f"bad baidu_std magic {magic!r} (expected {MAGIC!r})")
    if body_size > max_body_size:
        raise RpcProtocolError(f"frame body of {body_size} bytes exceeds max_body_size {max_body_size}")
    if meta_size > body_size:
        raise RpcProtocolError(f"meta_size {meta_size} exceeds body_size {body_size}")
    return body_size, meta_size


def decode_meta(meta_bytes: bytes, body_size: int) -> RpcMeta:
    """Parse and check the ``RpcMeta`` of a frame whose body is ``body_size`` bytes."""
    meta = RpcMeta()
    try:
        meta.ParseFromString(meta_bytes)
    except Exception as exc:  # protobuf's DecodeError, or ValueError from upb on some inputs
        raise RpcProtocolError(f"unparsable RpcMeta: {exc}") from exc
    if meta.HasField("request") and not meta.request.IsInitialized():
        raise RpcProtocolError("RpcMeta.request lacks service_name or method_name")
    rest = body_size - len(meta_bytes)
    attachment_size = meta.attachment_size
    if attachment_size < 0 or attachment_size > rest:
        raise RpcProtocolError(
            f"attachment_size {attachment_size} does not fit the {rest} bytes after the meta"
        )
    return meta


def decode_body(body: bytes, meta_size: int) -> Frame:
    """Split a frame body (everything after the header) into meta, payload and attachment."""
    if meta_size > len(body):
        raise RpcProtocolError(f"meta_size {meta_size} exceeds body of {len(body)} bytes")
    meta = decode_meta(body[:meta_size], len(body))
    split = len(body) - meta.attachment_size
    return Frame(meta, bytes(body[meta_size:split]), bytes(body[split:]))


def decode_frame(data: bytes, *, max_body_size: int = DEFAULT_MAX_BODY_SIZE) -> tuple[Frame, int]:
    """Decode the first complete frame of ``data``; return it and the number of bytes it used.

    Raises ``RpcProtocolError`` for malformed bytes and when ``data`` holds less than a frame.
    """
    body_size, meta_size = parse_header(data[:HEADER_SIZE], max_body_size=max_body_size)
    end = HEADER_SIZE + body_size
    if len(data) < end:
        raise RpcProtocolError(f"truncated frame: {len(data)} of {end} bytes")
    return decode_body(data[HEADER_SIZE:end], meta_size), end


def compression_error(meta: RpcMeta) -> str | None:
    """Why this request cannot be served for its compression, or ``None`` when it can."""
    if meta.compress_type == COMPRESS_NONE:
        return None
    name = COMPRESS_NAMES.get(meta.compress_type, "unknown")
    return f"compress_type {meta.compress_type} ({name}) is not supported; send uncompressed payloads"


def error_name(code: int) -> str:
    """brpc's name of an error code (``"EINTERNAL"``), or the number as text."""
    return ERROR_NAMES.get(code, str(code))
