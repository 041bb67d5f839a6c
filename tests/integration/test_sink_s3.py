"""The destination layer on S3: a real S3-compatible server (moto's) on loopback; also an Iceberg
table whose warehouse is there."""

from __future__ import annotations

import logging
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
from helpers.daemonproc import free_port

from omsync_tui.core.states import Format
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.services.sinks.destination import (
    DestinationError,
    open_destination,
    probe_writable,
    read_json,
    write_json,
)
from omsync_tui.services.sinks.iceberg import table as iceberg
from omsync_tui.services.sinks.iceberg.writer import IcebergWriter
from omsync_tui.services.sinks.readback import audit, list_files, list_pids, remove_temporaries
from omsync_tui.services.sinks.writer import PartitionWriter, file_name

moto_server = pytest.importorskip("moto.server")

B = SyncPoint.binlog
BUCKET = "omsync-test"
SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])


def rows(start: int, n: int) -> pa.RecordBatch:
    return pa.record_batch(
        [pa.array(range(start, start + n), pa.int64()), pa.array([f"n{i}" for i in range(start, start + n)])],
        schema=SCHEMA,
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """``127.0.0.1:<port>`` of a moto S3 server holding the bucket ``omsync-test``."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"127.0.0.1:{port}"
        admin = pafs.S3FileSystem(
            access_key="test",
            secret_key="test",
            region="us-east-1",
            scheme="http",
            endpoint_override=endpoint,
            allow_bucket_creation=True,
        )
        admin.create_dir(BUCKET)
        yield endpoint
    finally:
        server.stop()


def uri(endpoint: str, bucket: str = BUCKET, *, creds: bool = True) -> str:
    who = "test:test@" if creds else ""
    prefix = f"t-{uuid.uuid4().hex[:10]}"
    return f"s3://{who}{bucket}/{prefix}?endpoint_override={endpoint}&scheme=http&region=us-east-1"


def test_write_commit_list_audit_read_back(s3_endpoint: str) -> None:
    dest = open_destination(uri(s3_endpoint))
    assert dest.fs.type_name == "s3" and dest.root.startswith(f"{BUCKET}/t-")
    assert "test:test" not in dest.display
    probe_writable(dest)
    for pid in (0, 1):
        w = PartitionWriter(dest, pid, Format.PARQUET, SCHEMA, row_group_rows=4)
        w.append(rows(0, 5), B(1), B(6))
        w.append(rows(5, 5), B(6), B(11))
        # an open file is not visible: S3 completes the upload only at close
        assert list_files(dest, pid) == []
        assert ds.dataset(dest.root, filesystem=dest.fs, partitioning="hive").count_rows() == 10 * pid
        done = w.commit()
        assert done is not None and done.rows == 10 and done.size > 0
        assert done.path == f"{dest.root}/pid={pid}/{file_name(B(1), B(11), 'parquet')}"
    # a replayed range replaces its object
    w = PartitionWriter(dest, 1, Format.PARQUET, SCHEMA)
    w.append(rows(0, 10), B(1), B(11))
    assert w.commit() is not None
    w.append(rows(10, 3), B(11), B(14))
    assert w.commit() is not None

    assert list_pids(dest) == [0, 1]
    assert [(f.first, f.next, f.rows) for f in list_files(dest, 1)] == [(B(1), B(11), 10), (B(11), B(14), 3)]
    a = audit(dest, 1, expect_first=B(1), expect_rows=13)
    assert a.ok and (a.files, a.rows, a.next) == (2, 13, B(14))
    table = ds.dataset(dest.root, filesystem=dest.fs, partitioning="hive").to_table()
    assert table.num_rows == 23
    assert sorted(table.filter(pc.equal(table["pid"], 1))["id"].to_pylist()) == list(range(13))


def test_csv_json_and_temporaries(s3_endpoint: str) -> None:
    dest = open_destination(uri(s3_endpoint))
    w = PartitionWriter(dest, 7, Format.CSV, SCHEMA)
    w.append(rows(0, 4), B(1), B(5))
    done = w.commit()
    assert done is not None
    with dest.fs.open_input_stream(done.path) as f:
        assert f.read() == b'0,"n0"\n1,"n1"\n2,"n2"\n3,"n3"\n'
    assert [f.rows for f in list_files(dest, 7)] == [4]

    write_json(dest, "_omsync/table.json", {"tid": 9})
    assert read_json(dest, "_omsync/table.json") == {"tid": 9}
    assert read_json(dest, "_omsync/none.json") is None

    for path in (f"{dest.root}/pid=7/_tmp-crashed.csv.tmp", f"{dest.root}/_omsync/_tmp-x.tmp"):
        with dest.fs.open_output_stream(path) as out:
            out.write(b"partial")
    w = PartitionWriter(dest, 7, Format.CSV, SCHEMA)
    w.append(rows(4, 1), B(5), B(6))
    w.abort()
    assert remove_temporaries(dest) == 2
    assert list_files(dest, 7) == [done]
    names = [i.base_name for i in dest.fs.get_file_info(pafs.FileSelector(f"{dest.root}/pid=7"))]
    assert names == [done.path.rsplit("/", 1)[1]]


def test_credentials_from_the_environment(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    dest = open_destination(uri(s3_endpoint, creds=False))
    probe_writable(dest)


def test_probe_on_a_missing_bucket(s3_endpoint: str) -> None:
    dest = open_destination(uri(s3_endpoint, bucket="no-such-bucket"))
    with pytest.raises(DestinationError) as e:
        probe_writable(dest)
    assert "s3://***@no-such-bucket/" in e.value.message and "test:test" not in e.value.message
    assert "bucket" in e.value.message.lower() and e.value.hint


def test_an_iceberg_table_with_its_warehouse_on_s3(s3_endpoint: str, tmp_path: Path) -> None:
    warehouse = uri(s3_endpoint)  # credentials and endpoint in the warehouse URI, as for s3://
    text = (
        f"iceberg://db.t?uri=sqlite:///{tmp_path}/cat.db&warehouse={urllib.parse.quote(warehouse, safe='')}"
    )
    dest = open_destination(text)
    assert "test:test" not in dest.display
    table = iceberg.table_of(dest)
    table.ensure([Column("id", ColumnType.BIGINT), Column("name", ColumnType.STRING)], "db.t", 1)
    for pid in (0, 1):
        for k in range(3):
            w = IcebergWriter(
                dest,
                pid,
                SCHEMA,
                compact=False,
                roll_rows=10**9,
                roll_bytes=1 << 40,
                commit_seconds=1e9,
                metadata={},
            )
            w.append(rows(10 * k, 5), B(1 + 5 * k), B(6 + 5 * k))
            assert w.commit() is not None
    loaded = table.load()
    assert loaded is not None
    assert loaded.location().startswith(f"s3://{BUCKET}/t-") and loaded.metadata_location.startswith("s3://")
    got = loaded.scan().to_arrow()
    assert got.num_rows == 30 and sorted(set(got["omsync_pid"].to_pylist())) == [0, 1]
    assert table.compact(0) == 3  # one overwrite snapshot on S3 too
    assert [a.ok for a in (audit(dest, 0, expect_rows=15), audit(dest, 1, expect_rows=15))] == [True, True]
    assert list_pids(dest) == [0, 1]
