"""``IcebergTable`` on a local warehouse with the SQLite catalog: table creation, exactly-once
commits, ranges read back, schema evolution, compaction, snapshot expiry, the audit."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
from helpers.iceberg import ARROW, COLUMNS, B, commit, rows, uri_of, writer

from omsync_tui.core.errors import UsageError
from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.services.sinks.destination import Destination, DestinationError, open_destination
from omsync_tui.services.sinks.iceberg import table as iceberg
from omsync_tui.services.sinks.readback import audit, list_files, list_pids


def test_table_is_made_partitioned_by_pid_with_the_source_named(dest: Destination) -> None:
    t = iceberg.table_of(dest).load()
    assert t is not None
    assert [f.name for f in t.schema().fields] == ["id", "name", "ts", "small", "omsync_pid"]
    assert str(t.schema().find_field("ts").field_type) == "timestamp"
    assert [f.name for f in t.spec().fields] == ["omsync_pid"]
    assert t.properties["omsync.source"] == "db.t" and t.properties["omsync.tid"] == "7"
    assert t.location() == f"file://{dest.root}"


def test_an_existing_table_with_other_columns_is_refused_naming_them(dest: Destination) -> None:
    other = [Column("id", ColumnType.INT), Column("name", ColumnType.STRING), Column("new", ColumnType.DATE)]
    with pytest.raises(DestinationError) as err:
        iceberg.table_of(dest).ensure(other, "db.t", 7)
    msg = err.value.message
    assert "column id is long in the table, int in OpenMLDB" in msg
    assert "column new (date) is missing" in msg
    assert "the table has a column ts (timestamp)" in msg


def test_commits_read_back_as_ranges_and_rows(dest: Destination) -> None:
    assert commit(dest, 0, 1, 10) == 10
    assert commit(dest, 0, 11, 5) == 5
    assert commit(dest, 1, 1, 7) == 7
    assert [(r.first, r.next, r.rows) for r in list_files(dest, 0)] == [(B(1), B(11), 10), (B(11), B(16), 5)]
    assert list_pids(dest) == [0, 1]
    t = iceberg.table_of(dest).load()
    assert t is not None
    got = t.scan().to_arrow().sort_by("id")
    assert got.num_rows == 22
    assert got.filter(pa.compute.equal(got["omsync_pid"], 1)).num_rows == 7
    first = got.filter(pa.compute.equal(got["omsync_pid"], 0)).sort_by("id").slice(0, 1).to_pylist()[0]
    assert first["ts"].timestamp() == pytest.approx(1_700_000_000.001)
    assert first["small"] == 1
    a = audit(dest, 0, expect_rows=15)
    assert a.ok and a.rows == 15 and a.files == 2 and a.next == B(16)


def test_a_replayed_range_is_not_appended_twice_and_its_file_goes(dest: Destination) -> None:
    commit(dest, 0, 1, 10)
    assert commit(dest, 0, 1, 10) == 0  # a replay after a crash between the table and ZooKeeper
    t = iceberg.table_of(dest).load()
    assert t is not None and t.scan().to_arrow().num_rows == 10
    data = Path(dest.root) / "data" / "pid=0"
    assert len(list(data.glob("*.parquet"))) == 1


def test_a_range_inside_a_committed_one_is_refused(dest: Destination) -> None:
    commit(dest, 0, 1, 10)
    with pytest.raises(DestinationError, match="holds up to"):
        commit(dest, 0, 5, 10)


def test_concurrent_committers_all_land(dest: Destination) -> None:
    # four processes' worth of committers would conflict on the catalog row; in one process
    # each gets its own table handle, so the retry on CommitFailedException is what lands them
    tables = [iceberg.IcebergTable(dest, iceberg.HdfsSection()) for _ in range(4)]

    def run(pid: int) -> None:
        for k in range(5):
            w = writer(dest, pid)
            w.table = tables[pid]
            w.append(rows(100 * pid + 3 * k, 3), B(3 * k + 1), B(3 * k + 4))
            assert w.commit() is not None

    threads = [threading.Thread(target=run, args=(pid,)) for pid in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for pid in range(4):
        a = audit(dest, pid, expect_rows=15)
        assert a.ok and a.next == B(16), a
        assert len(list_files(dest, pid)) == 5
    t = iceberg.table_of(dest).load()
    assert t is not None and t.scan().to_arrow().num_rows == 60


def test_a_new_column_evolves_the_schema_in_the_commit_that_writes_it(dest: Destination) -> None:
    commit(dest, 0, 1, 4)
    wider = ARROW.append(pa.field("extra", pa.string()))
    commit(dest, 0, 5, 3, wider)
    t = iceberg.table_of(dest).load()
    assert t is not None
    assert t.schema().column_names[-1] == "extra"
    snap = t.current_snapshot()
    assert snap is not None and snap.schema_id == t.schema().schema_id
    got = t.scan().to_arrow().sort_by("id").to_pylist()
    assert [r["extra"] for r in got] == [None] * 4 + ["x5", "x6", "x7"]


def test_compaction_rewrites_small_files_atomically(dest: Destination) -> None:
    for k in range(6):
        commit(dest, 0, 1 + 10 * k, 10)
    commit(dest, 0, 61, 2, ARROW.append(pa.field("extra", pa.string())))
    t = iceberg.table_of(dest)
    before = t.load()
    assert before is not None
    assert t.compact(0) == 7
    after = t.load()
    assert after is not None
    assert t.pid_files(after, 0).files == 1
    assert sorted(after.scan().to_arrow().to_pylist(), key=lambda r: r["id"]) == sorted(
        before.scan().to_arrow().to_pylist(), key=lambda r: r["id"]
    )
    a = audit(dest, 0, expect_rows=62)
    assert a.ok and a.files == 1  # the ranges stay recorded in the append snapshots


def test_old_snapshots_expire_and_the_progress_stays_in_the_table_properties(
    dest: Destination, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(iceberg, "KEEP_SNAPSHOTS", 4)
    for k in range(12):
        commit(dest, 0, 1 + 5 * k, 5)
    t = iceberg.table_of(dest).load()
    assert t is not None
    assert len(t.metadata.snapshots) <= 4 + 16
    assert t.properties["commit.retry.num-retries"] == "0"  # omsync's own retry re-checks the range
    assert iceberg.recorded_end(t, 0) == B(61)
    assert t.scan().to_arrow().num_rows == 60
    assert commit(dest, 0, 56, 5) == 0  # a replay of a range whose snapshot may be gone


def test_many_commits_expire_snapshots_and_the_audit_uses_the_recorded_rows(
    dest: Destination, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(iceberg, "KEEP_SNAPSHOTS", 3)
    monkeypatch.setattr(iceberg, "_EXPIRE_EVERY", 2)
    for k in range(10):
        commit(dest, 1, 1 + 2 * k, 2)
    t = iceberg.table_of(dest).load()
    assert t is not None and len(t.metadata.snapshots) <= 5
    assert len(list_files(dest, 1)) < 10  # the ranges of expired snapshots are gone ...
    a = audit(dest, 1, expect_rows=20)
    assert a.ok and a.rows == 20 and a.next == B(21)  # ... the record is not


def test_partition_by_day_needs_a_timestamp_or_date_column(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match=r"partition=day\(name\) needs a timestamp or date column \(it is string\)"
    ):
        iceberg.table_of(open_destination(uri_of(tmp_path, extra="&partition=day(name)"))).ensure(
            COLUMNS, "db.t", 7
        )
    with pytest.raises(UsageError, match="no such column"):
        iceberg.table_of(open_destination(uri_of(tmp_path, extra="&partition=day(nope)"))).ensure(
            COLUMNS, "db.t", 7
        )


def test_an_existing_table_partitioned_otherwise_is_refused(dest: Destination, tmp_path: Path) -> None:
    by_day = open_destination(uri_of(tmp_path, extra="&partition=day(ts)"))
    with pytest.raises(DestinationError, match="is partitioned by"):
        iceberg.table_of(by_day).ensure(COLUMNS, "db.t", 7)
