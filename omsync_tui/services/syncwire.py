"""``SyncPoint`` ↔ ``openmldb.datasync.SyncPoint``: the one place positions cross the wire.

OpenMLDB's points are ``{kSNAPSHOT, pk, ts}`` and ``{kBINLOG, offset}``; omsync adds the pinned
snapshot's name and a row ordinal (fields ≥ 100, which the original tools carry along unread) and
``pk_bytes`` for index keys that are not UTF-8. Points from an original SyncTool (no snapshot
name, no ordinal) read as "the current snapshot, seek to pk/ts".

The synctool compares points with protobuf equality (reference §1.6), so ``to_proto`` must give
the same message for the same point every time: unset fields stay unset.
"""

from __future__ import annotations

from omsync_tui.core.errors import UsageError
from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.openmldb.proto import data_sync_pb2


def to_proto(point: SyncPoint) -> data_sync_pb2.SyncPoint:
    if point.phase is Phase.BINLOG:
        return data_sync_pb2.SyncPoint(type=data_sync_pb2.kBINLOG, offset=point.offset)
    msg = data_sync_pb2.SyncPoint(type=data_sync_pb2.kSNAPSHOT)
    if point.snapshot:
        msg.snapshot = point.snapshot
    if point.ordinal:
        msg.ordinal = point.ordinal
    if point.pk is not None:
        try:
            msg.pk = point.pk.decode()
        except UnicodeDecodeError:
            msg.pk_bytes = point.pk
    if point.ts is not None:
        msg.ts = point.ts
    return msg


def from_proto(msg: data_sync_pb2.SyncPoint) -> SyncPoint:
    """The point ``msg`` names; UsageError for a message no sender should produce."""
    if not msg.HasField("type"):
        raise UsageError("SyncPoint without its required field type")
    if msg.type == data_sync_pb2.kBINLOG:
        if msg.offset < 1:
            raise UsageError(f"binlog SyncPoint with offset {msg.offset}: log indexes start at 1")
        return SyncPoint.binlog(msg.offset)
    pk: bytes | None = None
    if msg.HasField("pk_bytes"):
        pk = msg.pk_bytes
    elif msg.HasField("pk"):
        pk = msg.pk.encode()
    ts = msg.ts if msg.HasField("ts") else None
    if (pk is None) != (ts is None):
        raise UsageError("snapshot SyncPoint with only one of pk and ts")
    return SyncPoint(Phase.SNAPSHOT, snapshot=msg.snapshot, ordinal=msg.ordinal, pk=pk, ts=ts)


def describe(msg: data_sync_pb2.SyncPoint) -> str:
    """Human text of a wire point, even a malformed one (for log lines and errors)."""
    try:
        return str(from_proto(msg))
    except UsageError as exc:
        return f"<bad point: {exc.message}>"
