"""``services/cluster``'s pure parts: how far a task's committed files are behind the tablets."""

from __future__ import annotations

from dataclasses import replace

from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.services.cluster import SubtaskInfo, TaskInfo, offsets_to_go

BASE = SubtaskInfo(0, "RUNNING", "", "", "binlog", "", 0, 0, 0, 0, None, None, 0.0, 0, "", "")


def task(*subtasks: SubtaskInfo) -> TaskInfo:
    return TaskInfo(
        tid=1,
        name="db.t",
        mode="continuous",
        dest="/d",
        format="parquet",
        state="RUNNING",
        partitions=len(subtasks),
        states={},
        rows=0,
        bytes=0,
        files=0,
        lag_offsets=0,
        last_update_ms=0,
        subtasks=subtasks,
    )


def test_offsets_to_go_counts_from_the_settled_point_to_the_head() -> None:
    t = task(
        replace(BASE, pid=0, settled=SyncPoint.binlog(101)),  # 1..100 in files: head 100 reached
        replace(BASE, pid=1, settled=SyncPoint.binlog(90)),  # 90..100 still to commit
        replace(BASE, pid=2, settled=SyncPoint(Phase.SNAPSHOT, snapshot="s", ordinal=7)),
        replace(BASE, pid=3, settled=SyncPoint.binlog(200)),  # past the head: rows written later
        replace(BASE, pid=4, settled=SyncPoint.binlog(5)),  # no head: not counted
    )
    assert offsets_to_go(t, {0: 100, 1: 100, 2: 100, 3: 100}) == {0: 0, 1: 11, 2: None, 3: 0}


def test_an_empty_partition_is_caught_up_once_it_reads_the_binlog() -> None:
    t = task(replace(BASE, pid=0, settled=SyncPoint.binlog(1)))
    assert offsets_to_go(t, {0: 0}) == {0: 0}
    assert offsets_to_go(task(replace(BASE, pid=0, settled=SyncPoint.start())), {0: 0}) == {0: None}
