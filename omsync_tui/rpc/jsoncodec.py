"""Protobuf messages as JSON, the way brpc-java's HTTP/JSON gateway shows them (reference §6.4).

Proto field names (``start_ts``, ``sync_point``, literally ``readableInfo``), enums as names on
output and names or numbers on input, unset fields omitted, and 64-bit integers as JSON numbers
(protobuf's own ``json_format`` writes them as strings; brpc-java, as far as known, does not, and
Python's ``json`` reads big integers exactly). Unknown fields in a request are an error.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar, cast

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from omsync_tui.core.errors import UsageError

M = TypeVar("M", bound=Message)

_INT64_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def message_to_obj(message: Message) -> dict[str, Any]:
    """The message as a JSON-ready dict (see the module docstring for the conventions)."""
    obj = json_format.MessageToDict(message, preserving_proto_field_name=True)
    _int64_as_numbers(obj, message.DESCRIPTOR)
    return obj


def message_to_json(message: Message) -> bytes:
    """The message as compact UTF-8 JSON."""
    return json.dumps(message_to_obj(message), ensure_ascii=False, separators=(",", ":")).encode()


def json_to_message(body: bytes, message_type: type[M]) -> M:
    """Parse a JSON request body into ``message_type``; an empty body means ``{}``.

    Raises ``UsageError`` naming what is wrong: not UTF-8, not JSON, not an object, an unknown
    field, a value of the wrong type, a missing required field.
    """
    try:
        text = body.decode("utf-8").strip() or "{}"
        obj = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise UsageError(f"request body must be a JSON object, got {type(obj).__name__}")
    message = message_type()
    try:
        json_format.ParseDict(obj, message, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        # protobuf appends a list of the available fields on a second line; keep the first
        raise UsageError(f"invalid {message_type.DESCRIPTOR.name}: {str(exc).splitlines()[0]}") from exc
    missing = missing_required(message)
    if missing:
        raise UsageError(f"invalid {message_type.DESCRIPTOR.name}: missing required {', '.join(missing)}")
    return message


def missing_required(message: Message) -> list[str]:
    """Paths of the required fields ``message`` lacks (``["start_point.type"]``); empty if none."""
    # FindInitializationErrors exists on every message class; the type stubs omit it.
    errors: list[str] = cast(Any, message).FindInitializationErrors()
    return errors


def _int64_as_numbers(obj: dict[str, Any], descriptor: Any) -> None:
    for key, value in obj.items():
        field = descriptor.fields_by_name.get(key)
        if field is not None:  # None: an extension ("[pkg.ext]"), left as protobuf wrote it
            obj[key] = _fix_value(value, field)


def _fix_value(value: Any, field: Any) -> Any:
    if isinstance(value, list):
        return [_fix_value(item, field) for item in value]
    if field.type in _INT64_TYPES:
        return int(value)
    if field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.full_name.startswith(
        "google.protobuf."
    ):
        return value  # scalars, and well-known types with their own JSON form
    sub = field.message_type
    if sub.GetOptions().map_entry:
        value_field = sub.fields_by_name["value"]
        return {key: _fix_value(item, value_field) for key, item in value.items()}
    _int64_as_numbers(value, sub)
    return value
