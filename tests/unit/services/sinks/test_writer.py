"""The destination layer on a local directory: range-named files, replays, audits, errors."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omsync_tui.core.errors import UsageError
from omsync_tui.core.states import Format
from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.services.sinks.csvformat import render_csv
from omsync_tui.services.sinks.destination import (
    Destination,
    DestinationError,
    open_destination,
    probe_writable,
    read_json,
    write_json,
)
from omsync_tui.services.sinks.readback import audit, list_files, list_pids, remove_temporaries
from omsync_tui.services.sinks.writer import (
    FileRange,
    PartitionWriter,
    file_name,
    parse_file_name,
    parse_point_token,
    point_token,
    write_deletes,
)

B = SyncPoint.binlog
SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])


def snap(ordinal: int, name: str = "202611232129") -> SyncPoint:
    return SyncPoint(Phase.SNAPSHOT, snapshot=name, ordinal=ordinal)


def rows(start: int, n: int, schema: pa.Schema = SCHEMA) -> pa.RecordBatch:
    cols = {
        "id": pa.array(range(start, start + n), pa.int64()),
        "name": pa.array([f"n{i}" for i in range(n)]),
    }
    for f in schema:
        if f.name not in cols:
            cols[f.name] = pa.array(range(n)).cast(f.type)
    return pa.record_batch([cols[f.name] for f in schema], schema=schema)


@pytest.fixture
def dest(tmp_path: Path) -> Destination:
    return open_destination(str(tmp_path / "out"))


def names(dest: Destination, pid: int) -> list[str]:
    d = Path(dest.root) / f"pid={pid}"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def write_file(
    dest: Destination, pid: int, first: SyncPoint, nxt: SyncPoint, n: int, **kw: object
) -> FileRange:
    w = PartitionWriter(dest, pid, Format.PARQUET, SCHEMA, **kw)  # type: ignore[arg-type]
    w.append(rows(0, n), first, nxt)
    done = w.commit()
    assert done is not None
    return done


# -- points and names --------------------------------------------------------------------------


def test_point_tokens() -> None:
    assert point_token(B(1201)) == "b00000000000000001201"
    assert point_token(snap(7)) == "s202611232129-00000000000000000007"
    assert (
        point_token(snap(0, "202611232129.sdb.snappy.snappy"))
        == "s202611232129.sdb.snappy.snappy-" + "0" * 20
    )
    assert point_token(SyncPoint.start()) == "s-" + "0" * 20
    assert point_token(snap(1, "a_b/c~d é")) == "sa~5fb~2fc~7ed~20~c3~a9-" + "0" * 19 + "1"
    for bad in ("b1", "x00000000000000000001", "s~zz-" + "0" * 20, "sa_b-" + "0" * 20, "s~c3-" + "0" * 20):
        with pytest.raises(ValueError):
            parse_point_token(bad)
    assert file_name(snap(0), B(5), "parquet") == f"s202611232129-{'0' * 20}_b{'0' * 19}5.parquet"
    assert parse_file_name(file_name(snap(3, "x.sdb"), B(5), "csv")) == (snap(3, "x.sdb"), B(5), "csv")


@given(st.text(max_size=30), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_point_tokens_round_trip(name: str, ordinal: int, offset: int) -> None:
    for p in (SyncPoint(Phase.SNAPSHOT, snapshot=name, ordinal=ordinal), B(offset)):
        t = point_token(p)
        assert parse_point_token(t) == p
        assert "_" not in t and "/" not in t and t.isascii()


# -- opening -----------------------------------------------------------------------------------


def test_bare_relative_and_file_uris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rel = open_destination("rel/dir/")
    assert rel.root == str(tmp_path / "rel" / "dir") and rel.uri == "rel/dir/"
    assert open_destination(str(tmp_path / "abs")).root == str(tmp_path / "abs")
    assert open_destination(f"file://{tmp_path}/u/").root == f"{tmp_path}/u"
    probe_writable(rel)
    assert list(Path(rel.root, "_omsync").iterdir()) == []  # the probe is gone


@pytest.mark.parametrize("uri", ["gs://bucket/x", "ftp://host/x", "", "  "])
def test_unsupported_scheme(uri: str) -> None:
    with pytest.raises(UsageError, match="unsupported destination") as e:
        open_destination(uri)
    assert e.value.hint is not None and "s3://" in e.value.hint and "hdfs://" in e.value.hint


def test_probe_on_an_unwritable_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    d = open_destination(str(tmp_path / "file" / "dest"))
    with pytest.raises(DestinationError) as e:
        probe_writable(d)
    assert str(tmp_path / "file" / "dest") in e.value.message and e.value.hint


# -- writing -----------------------------------------------------------------------------------


def test_appends_then_commit_make_one_range_file(dest: Destination) -> None:
    w = PartitionWriter(dest, 3, Format.PARQUET, SCHEMA, metadata={"omsync.table": "db.t"})
    w.append(rows(0, 5), snap(0), snap(5))
    w.append(rows(5, 0), snap(5), snap(5))  # empty: only the point moves (here: not at all)
    w.append(rows(5, 3), snap(5), B(101))
    assert (w.first, w.next, w.rows) == (snap(0), B(101), 8)
    (tmp,) = names(dest, 3)
    assert tmp.startswith("_tmp-") and tmp.endswith(".parquet.tmp")
    # an open file is invisible to dataset readers
    assert ds.dataset(dest.root, partitioning="hive").count_rows() == 0
    done = w.commit()
    assert done is not None and (done.first, done.next, done.rows) == (snap(0), B(101), 8)
    assert names(dest, 3) == [file_name(snap(0), B(101), "parquet")]
    assert done.path == f"{dest.root}/pid=3/{file_name(snap(0), B(101), 'parquet')}"
    assert done.size == os.path.getsize(done.path)
    assert (w.first, w.next, w.rows, w.opened_at) == (None, None, 0, None)
    kv = pq.read_metadata(done.path).metadata
    assert (
        kv[b"omsync.first"] == point_token(snap(0)).encode()
        and kv[b"omsync.next"] == b"b" + b"0" * 17 + b"101"
    )
    assert kv[b"omsync.rows"] == b"8" and kv[b"omsync.table"] == b"db.t"
    assert list_files(dest, 3) == [done]


def test_readers_see_rows_and_pid_but_never_temporaries(dest: Destination) -> None:
    write_file(dest, 0, B(1), B(11), 10)
    write_file(dest, 1, B(1), B(4), 3)
    open_one = PartitionWriter(dest, 1, Format.PARQUET, SCHEMA, row_group_rows=1)
    open_one.append(rows(100, 7), B(4), B(11))  # flushed into its temporary, not committed
    table = ds.dataset(dest.root, partitioning="hive").to_table()
    assert table.num_rows == 13 and sorted(table.column_names) == ["id", "name", "pid"]
    assert sorted(table.column("pid").to_pylist()) == [0] * 10 + [1] * 3
    con = duckdb.connect()
    got = con.execute(
        f"select pid, count(*) from read_parquet('{dest.root}/*/*.parquet', hive_partitioning=true) "
        "group by pid order by pid"
    ).fetchall()
    assert got == [(0, 10), (1, 3)]
    open_one.abort()


def test_abort_removes_the_temporary(dest: Destination) -> None:
    w = PartitionWriter(dest, 2, Format.PARQUET, SCHEMA)
    w.append(rows(0, 4), B(1), B(5))
    assert len(names(dest, 2)) == 1
    w.abort()
    assert names(dest, 2) == [] and (w.first, w.rows) == (None, 0)
    w.append(rows(0, 1), B(9), B(10))  # a new file may start anywhere after an abort
    assert w.commit() is not None


def test_replaying_a_range_replaces_its_file(dest: Destination) -> None:
    write_file(dest, 0, B(1), B(6), 5)
    write_file(dest, 0, B(1), B(6), 5)
    assert len(names(dest, 0)) == 1
    assert ds.dataset(dest.root, partitioning="hive").count_rows() == 5
    assert audit(dest, 0, expect_rows=5).ok


def test_zero_rows_commit_nothing(dest: Destination) -> None:
    w = PartitionWriter(dest, 4, Format.PARQUET, SCHEMA)
    assert w.commit() is None
    w.append(rows(0, 0), B(1), B(7))
    w.append(rows(0, 0), B(7), B(9))
    assert (w.first, w.next, w.rows) == (B(1), B(9), 0)
    assert not w.due(now=1e12)
    assert w.commit() is None
    assert names(dest, 4) == [] and w.next is None


def test_due_by_rows_bytes_and_age(dest: Destination) -> None:
    w = PartitionWriter(dest, 0, Format.PARQUET, SCHEMA, roll_rows=10, roll_bytes=1 << 40, commit_seconds=60)
    w.append(rows(0, 9), B(1), B(10))
    assert w.opened_at is not None
    assert not w.due(now=w.opened_at + 59)
    assert w.due(now=w.opened_at + 60)
    w.append(rows(9, 1), B(10), B(11))
    assert w.due(now=w.opened_at)
    w.abort()
    w = PartitionWriter(dest, 0, Format.PARQUET, SCHEMA, roll_bytes=1000)
    w.append(rows(0, 10), B(1), B(11))
    assert w.bytes > 0 and not w.due()
    w.append(rows(10, 200), B(11), B(211))
    assert w.bytes >= 1000 and w.due()
    w.abort()


def test_continuity_and_schema_changes(dest: Destination) -> None:
    w = PartitionWriter(dest, 0, Format.PARQUET, SCHEMA)
    w.append(rows(0, 2), B(1), B(3))
    with pytest.raises(UsageError, match="does not continue"):
        w.append(rows(2, 1), B(4), B(5))
    with pytest.raises(UsageError, match="ends before"):
        w.append(rows(2, 1), B(3), B(2))
    wider = SCHEMA.append(pa.field("added", pa.int32()))
    with pytest.raises(UsageError, match="cannot join") as e:
        w.append(rows(2, 1, wider), B(3), B(4))
    assert e.value.hint and "commit()" in e.value.hint
    w.append(rows(2, 0, wider), B(3), B(4))  # no rows: nothing to disagree about
    first = w.commit()
    w.append(rows(4, 2, wider), B(4), B(6))  # after a commit the next file takes the new columns
    second = w.commit()
    assert first is not None and second is not None
    assert pq.read_schema(second.path).names == ["id", "name", "added"]
    table = ds.dataset(
        dest.root, partitioning="hive", schema=wider.append(pa.field("pid", pa.int32()))
    ).to_table()
    assert table.num_rows == 4 and table.column("added").null_count == 2


def test_small_batches_are_gathered_into_row_groups(dest: Destination) -> None:
    w = PartitionWriter(dest, 0, Format.PARQUET, SCHEMA, row_group_rows=100)
    for i in range(30):
        w.append(rows(i * 10, 10), B(1 + i * 10), B(11 + i * 10))
    done = w.commit()
    assert done is not None
    md = pq.read_metadata(done.path)
    assert md.num_rows == 300 and md.num_row_groups == 3
    assert md.row_group(0).column(0).compression == "ZSTD"


def test_csv_files_hold_the_originals_lines(dest: Destination) -> None:
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("ts", pa.timestamp("ms"))])
    batch = pa.record_batch(
        [pa.array([1, 2]), pa.array([1_700_000_000_000, None], pa.timestamp("ms"))], schema=schema
    )
    w = PartitionWriter(dest, 5, Format.CSV, schema, csv_timezone="Asia/Shanghai")
    w.append(batch, B(1), B(3))
    w.append(batch, B(3), B(5))
    assert w.bytes == 2 * len(render_csv(batch, "Asia/Shanghai"))
    done = w.commit()
    assert done is not None and done.path.endswith(".csv")
    assert Path(done.path).read_bytes() == b"1,2023-11-15 06:13:20.0\n2,null\n" * 2
    assert list_files(dest, 5) == [done]
    assert audit(dest, 5, expect_first=B(1), expect_rows=4).ok
    with pytest.raises(UsageError, match="time zone"):
        PartitionWriter(dest, 5, Format.CSV, schema, csv_timezone="Nowhere/Else")


# -- reading back ------------------------------------------------------------------------------


def test_list_files_sorted_and_points_restored_from_the_footer(dest: Destination) -> None:
    seek = SyncPoint(Phase.SNAPSHOT, snapshot="s1", ordinal=4, pk=b"k\x00", ts=17)
    write_file(dest, 2, B(10), B(20), 3)
    write_file(dest, 2, SyncPoint(Phase.SNAPSHOT, snapshot="s1"), seek, 4)
    write_file(dest, 2, seek, B(10), 2)
    files = list_files(dest, 2)
    assert [(f.first.key(), f.next.key()) for f in files] == [
        ((0, "s1", 0), (0, "s1", 4)),
        ((0, "s1", 4), (1, "", 10)),
        ((1, "", 10), (1, "", 20)),
    ]
    assert files[0].next == seek and files[1].first == seek  # pk/ts come back from the footer
    assert [f.rows for f in files] == [4, 2, 3]
    assert list_pids(dest) == [2]


def test_audit_finds_gaps_overlaps_and_false_footers(
    dest: Destination, caplog: pytest.LogCaptureFixture
) -> None:
    write_file(dest, 0, B(1), B(11), 10)
    write_file(dest, 0, B(11), B(21), 10)
    assert audit(dest, 0, expect_first=B(1), expect_rows=20).ok
    assert not audit(dest, 0, expect_rows=19).ok
    a = audit(dest, 0, expect_first=B(0))
    assert a.gaps == [(B(0), B(1))] and not a.ok

    write_file(dest, 0, B(31), B(41), 10)  # gap 21..31
    write_file(dest, 0, B(35), B(45), 10)  # overlaps the previous file
    d = Path(dest.root, "pid=0")
    lying = d / file_name(B(45), B(50), "parquet")  # footer says 5 rows, holds 3
    pq.write_table(pa.Table.from_batches([rows(0, 3)]).replace_schema_metadata({"omsync.rows": "5"}), lying)
    (d / "notes.txt").write_text("ignored")
    (d / "b1_b2.parquet").write_bytes(b"")  # not a canonical range name: ignored, logged
    with caplog.at_level(logging.WARNING, logger="omsync.synctool.sink"):
        a = audit(dest, 0, expect_first=B(1))
    assert "b1_b2.parquet" in caplog.text
    assert a.files == 5 and a.rows == 43 and (a.first, a.next) == (B(1), B(50))
    assert a.gaps == [(B(21), B(31))]
    assert [(x.first, y.first) for x, y in a.overlaps] == [(B(31), B(35))]
    assert [(f.path, n) for f, n in a.bad_rows] == [(str(lying), 3)]
    assert not a.ok

    broken = d / file_name(B(50), B(60), "parquet")
    broken.write_bytes(b"PAR1 not really")
    a = audit(dest, 0)
    assert (a.bad_rows[-1][0].path, a.bad_rows[-1][1]) == (str(broken), -1) and a.errors
    with pytest.raises(DestinationError, match="cannot read committed file"):
        list_files(dest, 0)


def test_remove_temporaries(dest: Destination) -> None:
    for pid in (0, 1):
        w = PartitionWriter(dest, pid, Format.PARQUET, SCHEMA, row_group_rows=1)
        w.append(rows(0, 2), B(1), B(3))
        del w  # a crash: the temporary stays
    write_file(dest, 1, B(3), B(5), 2)
    Path(dest.root, "_omsync").mkdir()
    Path(dest.root, "_omsync", "_tmp-x.tmp").write_text("{}")
    assert remove_temporaries(dest, 0) == 1
    assert names(dest, 0) == []
    assert remove_temporaries(dest) == 2
    assert names(dest, 1) == [file_name(B(3), B(5), "parquet")]
    assert remove_temporaries(dest) == 0
    assert remove_temporaries(open_destination(str(Path(dest.root) / "missing"))) == 0


def test_json_and_deletes(dest: Destination) -> None:
    assert read_json(dest, "_omsync/table.json") is None
    write_json(dest, "_omsync/table.json", {"db": "d", "tid": 3})
    write_json(dest, "_omsync/table.json", {"db": "d", "tid": 4})
    assert read_json(dest, "_omsync/table.json") == {"db": "d", "tid": 4}
    assert sorted(p.name for p in Path(dest.root, "_omsync").iterdir()) == ["table.json"]
    with pytest.raises(UsageError):
        write_json(dest, "../escape.json", {})
    Path(dest.root, "_omsync", "bad.json").write_text("{")
    with pytest.raises(DestinationError, match="not JSON"):
        read_json(dest, "_omsync/bad.json")

    deletes = pa.table(
        {
            "log_index": pa.array([7], pa.uint64()),
            "idx": pa.array([0], pa.uint32()),
            "key": pa.array([b"k"], pa.binary()),
            "ts": pa.array([None], pa.uint64()),
            "end_ts": pa.array([None], pa.uint64()),
        }
    )
    path = write_deletes(dest, 2, B(5), B(9), deletes)
    assert path == f"{dest.root}/_omsync/deletes/pid=2/{file_name(B(5), B(9), 'parquet')}"
    assert pq.read_table(path).equals(deletes.replace_schema_metadata(pq.read_table(path).schema.metadata))
    assert pq.read_metadata(path).metadata[b"omsync.rows"] == b"1"
    assert ds.dataset(dest.root, partitioning="hive").count_rows() == 0  # deletes are not table rows


def test_write_errors_become_destination_errors(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    d = open_destination(str(tmp_path / "file"))
    w = PartitionWriter(d, 0, Format.PARQUET, SCHEMA)
    with pytest.raises(DestinationError, match="cannot write to"):
        w.append(rows(0, 1), B(1), B(2))
    w.abort()
    with pytest.raises(DestinationError):
        write_json(d, "_omsync/table.json", {})


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: writes past it fail with ENOSPC, like a full destination disk."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_destination_fails_the_append_or_commit_never_a_partial_file(tiny_fs: Path) -> None:
    """ENOSPC mid-file: the call that hit it fails naming the destination; nothing is committed."""
    d = open_destination(str(tiny_fs))
    schema = pa.schema([("id", pa.int64()), ("blob", pa.binary())])
    w = PartitionWriter(d, 0, Format.PARQUET, schema, row_group_rows=1000)
    noise = [os.urandom(512) for _ in range(1000)]  # incompressible: 512 KB per row group
    with pytest.raises(DestinationError) as info:
        for k in range(8):
            batch = pa.record_batch(
                [pa.array(range(k * 1000, (k + 1) * 1000)), pa.array(noise)], schema=schema
            )
            w.append(batch, B(1 + k * 1000), B(1 + (k + 1) * 1000))
        w.commit()
    assert str(tiny_fs) in str(info.value) and "space" in str(info.value).lower(), info.value
    assert "filesystem is full" in (info.value.hint or "")
    w.abort()
    assert list(tiny_fs.rglob("*.parquet")) == [] and list(tiny_fs.rglob("*.tmp")) == []
