"""What a task tells the synctool when it cannot go on: ``TaskFailure`` and ``failure_of``.

A reader fault the task cannot get past (a binlog gap, a damaged record, a snapshot or partition
that is gone) becomes a ``TaskError`` with a code the synctool acts on, carrying the missing
log_index range for gaps, so nothing is skipped silently.
"""

from __future__ import annotations

from omsync_tui.core.errors import BadRecordError, NotFoundError, OmsyncError
from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.openmldb.binlog.files import BinlogGapError, BinlogStartError
from omsync_tui.openmldb.proto import data_sync_pb2


class TaskFailure(OmsyncError):
    """A terminal fault of one task; ``error`` is what the synctool is told."""

    def __init__(self, error: data_sync_pb2.TaskError) -> None:
        super().__init__(error.message)
        self.error = error


def failure_of(exc: OmsyncError, point: SyncPoint) -> data_sync_pb2.TaskError:
    """The TaskError for a reader fault met at ``point``."""
    if isinstance(exc, BinlogGapError):
        err = data_sync_pb2.TaskError(code="binlog_gap", message=str(exc))
        missing = exc.gap.missing_log_indexes
        if missing is not None:
            err.missing_from, err.missing_to = missing
        elif point.phase is Phase.BINLOG:
            err.missing_from = point.offset
        return err
    if isinstance(exc, BinlogStartError):
        return data_sync_pb2.TaskError(
            code="binlog_gap",
            message=exc.message,
            missing_from=exc.requested or point.offset,
            missing_to=max(0, exc.oldest - 1),
        )
    if isinstance(exc, BadRecordError):
        return data_sync_pb2.TaskError(code="bad_record", message=exc.message)
    if isinstance(exc, NotFoundError):
        code = "snapshot_gone" if point.phase is Phase.SNAPSHOT else "partition_gone"
        return data_sync_pb2.TaskError(code=code, message=exc.message)
    return data_sync_pb2.TaskError(code="io", message=exc.message)
