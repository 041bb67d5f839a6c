"""LogEntry messages of many payload spans in one protobuf parse (``BinlogColumns.to_batch``).

This module owns turning a batch of payload spans into protobuf ``LogEntry`` objects at once, for
the readers that want objects (``inspect``): each payload is prefixed with the tag and length of
field 1 of a wrapper message (``repeated openmldb.api.LogEntry entries = 1``, built at runtime so
no .proto file changes), the prefixed payloads are gathered into one buffer with numpy, and the
protobuf runtime parses it in a single call — about twice as fast as a ``FromString`` per entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.spans import I64, U8, gather_buffer

_PREFIX = 6  # tag byte + a varint length of at most 5 bytes


def _batch_class() -> Any:
    """The wrapper message, with LogEntry as its repeated field 1."""
    name = "omsync/openmldb/logentry_batch.proto"
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(name)
    except KeyError:
        fdp = descriptor_pb2.FileDescriptorProto(
            name=name, package="omsync.internal", syntax="proto2", dependency=[tablet_pb2.DESCRIPTOR.name]
        )
        msg = fdp.message_type.add(name="LogEntryBatch")
        msg.field.add(
            name="entries",
            number=1,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
            type_name=".openmldb.api.LogEntry",
        )
        pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("omsync.internal.LogEntryBatch"))


_LogEntryBatch = _batch_class()


def parse_spans(data: U8, starts: I64, ends: I64) -> Sequence[tablet_pb2.LogEntry]:
    """The LogEntries ``data[starts[i]:ends[i]]``, in order, parsed in one call.

    Raises ``DecodeError`` if a payload is not a LogEntry.
    """
    n = len(starts)
    if not n:
        return []
    lengths = ends - starts
    width = 1 + sum((lengths >= 1 << (7 * j)).astype(np.int64) for j in range(1, 5))
    prefix = np.zeros((n, _PREFIX), dtype=np.uint8)
    prefix[:, 0] = 0x0A  # field 1, length-delimited
    for j in range(5):
        byte = (lengths >> (7 * j)) & 0x7F
        prefix[:, 1 + j] = np.where(j < width - 1, byte | 0x80, byte)
    src = np.concatenate((data, prefix.ravel()))
    at = len(data) + _PREFIX * np.arange(n, dtype=np.int64)
    span_starts = np.empty(2 * n, dtype=np.int64)
    span_ends = np.empty(2 * n, dtype=np.int64)
    span_starts[0::2], span_ends[0::2] = at, at + 1 + width
    span_starts[1::2], span_ends[1::2] = starts, ends
    batch = _LogEntryBatch()
    batch.ParseFromString(bytes(gather_buffer(src, span_starts, span_ends)))
    entries: Sequence[tablet_pb2.LogEntry] = batch.entries
    return entries


__all__ = ["parse_spans"]
