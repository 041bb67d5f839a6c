"""OpenMLDB SyncTool's progress files, read to switch a running table over to omsync.

The original SyncTool keeps each partition's point in ``<sync_task.progress_path>/<tid>/<pid>.progress``
(reference §5): one ``AddSyncTaskRequest`` preceded by its length as a varint (Java's
``writeDelimitedTo``), rewritten on every accepted SendData. A finished partition's file is
renamed ``<pid>.progress.finished.<ms>``, a deleted table's directory ``<tid>.deleted.<ms>``.
``binlog_offsets`` turns a table's directory into the per-partition binlog offsets an omsync task
starts from (``omsync task create --from-original-progress DIR``).
"""

from __future__ import annotations

from pathlib import Path

from omsync_tui.core.errors import FormatError, NotFoundError, UsageError
from omsync_tui.openmldb.proto import data_sync_pb2


def read_progress(path: Path) -> data_sync_pb2.AddSyncTaskRequest:
    """The request stored in one ``<pid>.progress`` file."""
    data = path.read_bytes()
    size, pos = 0, 0
    for shift in range(0, 35, 7):
        if pos >= len(data):
            raise FormatError(f"{path}: truncated length prefix (not an OpenMLDB SyncTool progress file?)")
        byte = data[pos]
        pos += 1
        size |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
    else:
        raise FormatError(f"{path}: bad length prefix (not an OpenMLDB SyncTool progress file?)")
    if pos + size != len(data):
        raise FormatError(
            f"{path}: the length prefix says {size} bytes, the file holds {len(data) - pos} after it "
            "(a file being rewritten? stop the original SyncTool first)"
        )
    return data_sync_pb2.AddSyncTaskRequest.FromString(data[pos:])


def binlog_offsets(table_dir: Path) -> dict[int, int]:
    """pid → the binlog offset each partition's next SendData starts at (what it has not written).

    Refuses a partition still in the snapshot phase: its point is a (pk, ts) position inside a
    snapshot the original's collector pinned, which omsync cannot resume inside.
    """
    files = sorted(table_dir.glob("*.progress"))
    if not files:
        raise NotFoundError(
            f"no <pid>.progress files in {table_dir}",
            hint="give the original SyncTool's <sync_task.progress_path>/<tid> directory of the table",
        )
    offsets: dict[int, int] = {}
    for path in files:
        request = read_progress(path)
        point = request.sync_point
        if point.type != data_sync_pb2.kBINLOG:
            raise UsageError(
                f"{path}: partition {request.pid} is still in the snapshot phase of the original's sync",
                hint="wait until its TaskStatus shows sync_point type kBINLOG, then stop the original "
                "SyncTool and try again (or sync the table from the start into another destination)",
            )
        offsets[request.pid] = int(point.offset)
    return offsets
