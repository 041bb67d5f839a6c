"""The rules a SendData must pass before the stand-in SyncTool (``sandbox.receiver``) accepts it.

Checked in the original's order (reference §1.6): ``check`` is its preCheck — unknown or deleted
task, task no longer INIT/RUNNING, token, start point (protobuf equality there; ``SyncPoint``
equality here); ``validate`` then applies omsync's extensions to the pack itself: ``count`` must
match the rows split from the attachment (§4.7) and ``DeleteOp.row`` must stay within them, in
order. A failure raises ``Refused`` with the message a person needs; the ``Receiver`` answers it
``code -1`` with ``delete_task``. Both functions only read their arguments: the ``Receiver``
calls them under its lock and applies what they return.
"""

from __future__ import annotations

from omsync_tui.core.errors import OmsyncError, UsageError
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.proto import data_sync_pb2 as ds
from omsync_tui.openmldb.row.codec import split_rows
from omsync_tui.sandbox.receiver_records import DeleteOp, Subtask
from omsync_tui.services import syncwire


class Refused(Exception):
    """A SendData the receiver does not accept: answered code -1 with delete_task."""


def check(key: tuple[int, int], task: Subtask | None, request: ds.SendDataRequest) -> Subtask:
    """The original's preCheck (§1.6 step 2), with the messages a person needs."""
    name = f"{key[0]}-{key[1]}"
    if task is None or task.forgotten:
        raise Refused(f"can't find sync task {name}")
    if task.finished or task.error is not None:
        raise Refused(f"sync task {name} is {task.status}, not INIT or RUNNING")
    if request.token != task.token:
        raise Refused(f"token not match for sync task {name}: got {request.token!r}")
    got: SyncPoint | None = None
    if request.HasField("start_point"):
        try:
            got = syncwire.from_proto(request.start_point)
        except UsageError:
            got = None  # a malformed point matches nothing
    if got != task.point:
        shown = syncwire.describe(request.start_point) if request.HasField("start_point") else "(none)"
        raise Refused(f"start point {shown} of sync task {name} does not match the stored {task.point}")
    return task


def validate(
    key: tuple[int, int], request: ds.SendDataRequest, attachment: bytes, keep_rows: bool
) -> tuple[list[bytes], list[DeleteOp], SyncPoint]:
    """Rows, deletes and next point of a pack, or ``Refused`` saying what is wrong with it."""
    name = f"{key[0]}-{key[1]}"
    if not request.HasField("next_point"):
        raise Refused(f"SendData for {name} has no next_point")
    try:
        next_point = syncwire.from_proto(request.next_point)
        offsets, lengths = split_rows(attachment)
    except OmsyncError as exc:
        raise Refused(f"SendData for {name}: {exc}") from None
    if len(offsets) != request.count:
        raise Refused(
            f"SendData for {name} says count {request.count} but its attachment holds {len(offsets)} rows"
        )
    deletes: list[DeleteOp] = []
    for op in request.deletes:
        before = deletes[-1].row if deletes else 0
        if not before <= op.row <= request.count:
            raise Refused(
                f"SendData for {name}: delete at log_index {op.log_index} follows row {op.row}, "
                f"outside {before}..{request.count} (rows must be in order and within count)"
            )
        deletes.append(DeleteOp(op.log_index, op.row, op.idx, op.key, op.ts, op.end_ts, op.ts_name))
    rows: list[bytes] = []
    if keep_rows:
        rows = [attachment[o : o + n] for o, n in zip(offsets.tolist(), lengths.tolist(), strict=True)]
    return rows, deletes, next_point
