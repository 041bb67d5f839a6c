"""One partition's SendData path against a real local destination: files roll every pack and
close in the background, closes overlap, renames and stored points keep their order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omsync_tui.core.states import Format, Mode, State
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.proto import data_sync_pb2 as ds
from omsync_tui.openmldb.row.encode import encode_row
from omsync_tui.openmldb.schema import TableSchema
from omsync_tui.sandbox.datagen import RowGenerator, preset_spec
from omsync_tui.services import syncwire
from omsync_tui.services.sinks.destination import Destination, DestinationError, open_destination
from omsync_tui.services.sinks.readback import list_files
from omsync_tui.services.sinks.writer import FileRange, PartitionWriter, Sealed
from omsync_tui.services.synctool.ingest import Budget, Partition
from omsync_tui.services.synctool.model import SubtaskRecord, TaskRecord

SPEC = preset_spec("mixed", "db", "t", partition_num=1)
SCHEMA = TableSchema(SPEC.columns)
ROWS = RowGenerator(SPEC.columns, seed=7)
ARROW = pa.schema([("v", pa.int64())])
B = SyncPoint.binlog


def pack(first: int, count: int, *, finished: bool = False) -> tuple[ds.SendDataRequest, bytes]:
    """``count`` rows from binlog offset ``first`` (log indexes start at 1) to ``first + count``."""
    req = ds.SendDataRequest(tid=1, pid=0, count=count, finished=finished)
    req.start_point.CopyFrom(syncwire.to_proto(SyncPoint.binlog(first)))
    req.next_point.CopyFrom(syncwire.to_proto(SyncPoint.binlog(first + count)))
    rows = b"".join(encode_row(SPEC.columns, ROWS.row(first + i)) for i in range(count))
    return req, rows


class Stored:
    """The ``save`` a manager gives a partition: it keeps each record and checks, at the moment a
    point is stored, that the destination holds contiguous files up to at least that point."""

    def __init__(self, dest: Destination) -> None:
        self.dest = dest
        self.points: list[SyncPoint] = []

    def __call__(self, rec: SubtaskRecord, reason: str | None) -> SubtaskRecord:
        if not self.points or rec.committed != self.points[-1]:
            files = list_files(self.dest, 0)
            assert [f.first for f in files[1:]] == [f.next for f in files[:-1]], "a gap in the files"
            assert rec.committed.key() <= (files[-1].next.key() if files else SyncPoint.binlog(1).key())
            self.points.append(rec.committed)
        return rec


def partition(dest: Destination, stored: Stored, described: Callable[[], None] = lambda: None) -> Partition:
    task = TaskRecord(tid=1, db="db", table="t", mode=Mode.FULL, dest=dest.uri, partitions=1)
    rec = SubtaskRecord(tid=1, pid=0, committed=SyncPoint.binlog(1), updated_ms=0, tablet="127.0.0.1:1")
    return Partition(
        task,
        rec,
        dest,
        lambda: SCHEMA,
        lambda: SCHEMA,
        stored,
        Budget(per_partition=64 << 20, total=256 << 20),
        roll_rows=1,  # every pack rolls its file
        roll_bytes=64 << 20,
        commit_seconds=3600,
        described=described,
    )


def test_rolled_files_are_renamed_and_stored_in_order(tmp_path: Path) -> None:
    dest = open_destination(str(tmp_path / "out"))
    stored = Stored(dest)
    p = partition(dest, stored)
    first = 1
    for k in range(12):
        count = 5 + k % 4
        answer = p.receive(*pack(first, count, finished=k == 11))
        assert answer.code == 0, answer.msg
        first += count
    assert p.record.state is State.SUCCESS and p.record.committed == SyncPoint.binlog(first)
    files = list_files(dest, 0)
    assert len(files) == 12 and files[-1].next == SyncPoint.binlog(first)
    assert stored.points == sorted(stored.points, key=lambda s: s.key())
    assert stored.points[-1] == SyncPoint.binlog(first)
    assert sum(pq.read_metadata(f.path).num_rows for f in files) == first - 1 == p.record.rows
    assert not [n for n in (tmp_path / "out" / "pid=0").iterdir() if n.name.startswith("_tmp-")]


def sealed(dest: Destination, first: int, nxt: int) -> Sealed:
    w = PartitionWriter(dest, 0, Format.PARQUET, ARROW)
    w.append(pa.record_batch({"v": pa.array(range(first, nxt), pa.int64())}), B(first), B(nxt))
    s = w.seal()
    assert s is not None
    return s


def test_a_file_is_renamed_only_after_the_one_before_it(tmp_path: Path) -> None:
    dest = open_destination(str(tmp_path / "out"))
    s = sealed(dest, 1, 3)
    seen: list[list[str]] = []
    done = s.finish(
        before=lambda: seen.append(sorted(n.name for n in (tmp_path / "out" / "pid=0").iterdir()))
    )
    # before() ran with the file closed but not yet renamed: only its temporary was there
    assert len(seen) == 1 and len(seen[0]) == 1 and seen[0][0].startswith("_tmp-")
    assert isinstance(done, FileRange) and Path(done.path).is_file()


def test_a_file_is_dropped_when_the_one_before_it_failed(tmp_path: Path) -> None:
    dest = open_destination(str(tmp_path / "out"))
    s = sealed(dest, 3, 5)

    def failed() -> None:
        raise DestinationError("cannot commit a file to the destination: the file before failed")

    with pytest.raises(DestinationError, match="the file before failed"):
        s.finish(before=failed)
    assert list((tmp_path / "out" / "pid=0").iterdir()) == []


def test_rows_not_in_committed_files_are_pending_and_counted(tmp_path: Path) -> None:
    dest = open_destination(str(tmp_path / "out"))
    p = partition(dest, Stored(dest))
    p.roll = (10_000, 64 << 20, 3600)  # nothing rolls by itself
    assert p.pending_since() is None and p.uncommitted_rows == 0
    req, rows = pack(1, 5)
    req.binlog_latest = 5  # the collector sent everything it knows of
    before = time.time()
    assert p.receive(req, rows).code == 0
    since = p.pending_since()
    assert since is not None and before <= since <= time.time()
    assert p.uncommitted_rows == 5 and p.settled == SyncPoint.binlog(1)
    assert p.commit()
    assert p.pending_since() is None and p.uncommitted_rows == 0 and p.settled == SyncPoint.binlog(6)


def test_entries_reported_but_not_sent_are_pending_until_received(tmp_path: Path) -> None:
    dest = open_destination(str(tmp_path / "out"))
    p = partition(dest, Stored(dest))
    req, rows = pack(1, 2)
    req.binlog_latest = 9  # the tablet holds offsets 3..9 the collector has not sent yet
    assert p.receive(req, rows).code == 0
    assert p.commit()
    since = p.pending_since()
    assert since is not None  # nothing uncommitted here, but the tablet is ahead
    req, rows = pack(3, 7)
    req.binlog_latest = 9
    assert p.receive(req, rows).code == 0 and p.commit()
    assert p.pending_since() is None  # caught up: everything reported is in committed files


def test_rows_in_a_file_still_closing_are_not_settled(tmp_path: Path) -> None:
    """``settled`` (what ``task wait`` trusts) stays at the committed point until the file holding
    the rows is renamed; here the close is held at its first step (the table's description)."""
    dest = open_destination(str(tmp_path / "out"))
    gate = threading.Event()
    p = partition(dest, Stored(dest), described=lambda: gate.wait(10))
    assert p.receive(*pack(1, 5)).code == 0  # rolls at once (roll_rows 1): a close in a thread
    assert p.closing and p.writer is None
    assert p.settled == SyncPoint.binlog(1) and p.uncommitted_rows == 5  # not binlog(6)
    # a commit waiting for that close (the timer's, or the last pack's) changes nothing meanwhile
    committing = threading.Thread(target=p.commit)
    committing.start()
    time.sleep(0.2)
    assert committing.is_alive() and p.settled == SyncPoint.binlog(1)
    gate.set()
    committing.join(10)
    assert p.settled == SyncPoint.binlog(6) == p.record.committed and p.uncommitted_rows == 0
