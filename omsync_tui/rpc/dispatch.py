"""Running one call in a worker thread, whatever protocol brought it: decode the request, call
the handler, encode the answer, and turn every failure into an answer the caller can read.

Nothing here raises: a handler's ``OmsyncError`` becomes its message under a mapped code, any
other exception is logged with its traceback and answered with a generic text (the details stay
in the server's log, not on the wire). ``ErrorMapping`` is the one table from errors to brpc
codes and HTTP statuses.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from google.protobuf.message import Message

from omsync_tui.core.errors import NotFoundError, OmsyncError, UsageError
from omsync_tui.rpc import framing
from omsync_tui.rpc.jsoncodec import json_to_message, message_to_json, missing_required
from omsync_tui.rpc.service import CallContext, HttpRequest, Method, Route, RouteResult

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to one call: ``error_code`` 0 with a body, or an error code and text."""

    error_code: int = 0
    error_text: str = ""
    payload: bytes = b""
    """baidu_std: the serialized response message; HTTP: the JSON body."""
    attachment: bytes = b""
    http_status: int = 200


HTTP_STATUS = {
    framing.ENOSERVICE: 404,
    framing.ENOMETHOD: 404,
    framing.EREQUEST: 400,
    framing.ERPCAUTH: 401,
    framing.EINTERNAL: 500,
    framing.ELOGOFF: 503,
    framing.ELIMIT: 503,
}


def error_outcome(code: int, text: str, *, http_status: int | None = None) -> Outcome:
    """An error answer; its HTTP status follows ``HTTP_STATUS`` unless given."""
    return Outcome(code, text, http_status=http_status or HTTP_STATUS.get(code, 500))


def exception_outcome(exc: BaseException, what: str, peer: str, logger: logging.Logger) -> Outcome:
    """Map a handler's exception: OmsyncError → its message, anything else → a logged bug.

    ``what`` names the call for the log and the client (``"pkg.Service.Method"``, ``"GET /x"``).
    """
    where = f"{what} from {peer}"
    if isinstance(exc, UsageError):
        logger.info("%s: bad request: %s", where, exc)
        return error_outcome(framing.EREQUEST, str(exc))
    if isinstance(exc, NotFoundError):
        logger.info("%s: not found: %s", where, exc)
        return error_outcome(framing.EINTERNAL, str(exc), http_status=404)
    if isinstance(exc, OmsyncError):
        logger.warning("%s failed: %s", where, exc)
        return error_outcome(framing.EINTERNAL, str(exc))
    logger.error("%s raised", where, exc_info=exc)
    return error_outcome(framing.EINTERNAL, f"internal error in {what} (see the server log)")


def _exception_outcome(exc: BaseException, ctx: CallContext, logger: logging.Logger) -> Outcome:
    return exception_outcome(exc, f"{ctx.service}.{ctx.method}", f"{ctx.peer} ({ctx.protocol})", logger)


def _call(method: Method, request: Message, attachment: bytes, ctx: CallContext) -> tuple[Message, bytes]:
    result = method.handler(request, attachment, ctx)
    response, out_attachment = result
    if not isinstance(response, method.response_type):
        raise TypeError(f"handler returned {type(response).__name__}, not {method.response_type.__name__}")
    if not isinstance(out_attachment, bytes | bytearray | memoryview):
        raise TypeError(f"handler returned a {type(out_attachment).__name__} attachment, not bytes")
    return response, bytes(out_attachment)


def invoke_baidu(
    method: Method, payload: bytes, attachment: bytes, ctx: CallContext, logger: logging.Logger
) -> Outcome:
    """Serve one baidu_std request whose method is known."""
    request = method.request_type()
    try:
        request.ParseFromString(payload)
    except Exception as exc:  # DecodeError, or ValueError from upb on some inputs
        return error_outcome(
            framing.EREQUEST,
            f"cannot parse {method.request_type.DESCRIPTOR.full_name} from the payload: {exc}",
        )
    missing = missing_required(request)
    if missing:
        return error_outcome(
            framing.EREQUEST,
            f"{method.request_type.DESCRIPTOR.full_name} lacks required fields: {', '.join(missing)}",
        )
    try:
        response, out_attachment = _call(method, request, attachment, ctx)
        return Outcome(payload=response.SerializeToString(), attachment=out_attachment)
    except Exception as exc:
        return _exception_outcome(exc, ctx, logger)


def invoke_http(method: Method, body: bytes, ctx: CallContext, logger: logging.Logger) -> Outcome:
    """Serve one HTTP/JSON call whose method is known; the attachment is empty both ways."""
    try:
        request = json_to_message(body, method.request_type)
    except UsageError as exc:
        return error_outcome(framing.EREQUEST, str(exc))
    try:
        response, _attachment = _call(method, request, b"", ctx)
        return Outcome(payload=message_to_json(response))
    except Exception as exc:
        return _exception_outcome(exc, ctx, logger)


def invoke_route(route: Route, request: HttpRequest, logger: logging.Logger) -> RouteResult:
    """Serve one plain HTTP route; failures become a JSON ``{"error": ...}`` answer."""
    try:
        status, content_type, body = route.handler(request)
        return int(status), str(content_type), bytes(body)
    except Exception as exc:
        outcome = exception_outcome(exc, f"{request.method} {request.path}", request.peer, logger)
        return outcome.http_status, JSON, error_json(outcome.error_text, outcome.error_code)


def error_json(text: str, code: int | None = None) -> bytes:
    """The body of every HTTP error omsync answers: ``{"error": text, "code": brpc errno}``."""
    obj: dict[str, object] = {"error": text}
    if code is not None:
        obj["code"] = code
    return json.dumps(obj, ensure_ascii=False).encode()
