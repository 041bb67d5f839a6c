"""Spark, OpenMLDB's offline engine, reads what the synctool wrote: a real Spark (pyspark, one
``local[1]`` session for the module) on local disk and on HDFS (the MiniDFSCluster of
``hdfs_server``), with real processes writing (ZooKeeper, the sandbox's tablets, a collector per
host, a synctool).

* Parquet: ``spark.read.parquet(dest)``; partition discovery turns ``pid=<n>`` directories into an
  int ``pid`` column, and Spark skips every path whose name starts with ``_``: omsync's
  ``_omsync/`` and the ``_tmp-`` files a killed synctool leaves (one is planted to prove it).
* CSV: ``spark.read.schema(<the table's schema as Spark types>).csv(dest)``; the files are the
  original SyncTool's lines (reference §4.8): no header, NULL as a bare ``null``, strings in quotes
  with JSON escapes, timestamps as wall-clock time in ``[sink] csv_timezone``. Spark undoes only the
  ``\\"`` and ``\\\\`` escapes, so the expected strings are the truth's as Spark's CSV reader sees
  the original's text (``csv_text_as_spark_reads_it``).
* ALTER TABLE ADD COLUMN mid-sync: ``mergeSchema`` reads the older files' rows with NULL in the
  new columns.

Rows are compared with the sandbox's truth as a multiset per partition (``canon``: timestamps as
epoch milliseconds, computed inside Spark so the Python process's time zone plays no part).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from helpers.e2e import (
    Rows,
    canon,
    count,
    create_task,
    leading_synctool,
    sandbox,
    start_collectors,
    truth_rows,
    wait_rows,
    wait_state,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.services.sinks.destination import OMSYNC_DIR, TMP_PREFIX, open_destination

pytestmark = [pytest.mark.slow, pytest.mark.hdfs]

# The Spark type of each OpenMLDB type (OpenMLDB's offline engine maps them the same way).
SPARK_TYPE: dict[ColumnType, T.DataType] = {
    ColumnType.BOOL: T.BooleanType(),
    ColumnType.SMALLINT: T.ShortType(),
    ColumnType.INT: T.IntegerType(),
    ColumnType.BIGINT: T.LongType(),
    ColumnType.FLOAT: T.FloatType(),
    ColumnType.DOUBLE: T.DoubleType(),
    ColumnType.DATE: T.DateType(),
    ColumnType.TIMESTAMP: T.TimestampType(),
    ColumnType.STRING: T.StringType(),
    ColumnType.VARCHAR: T.StringType(),
}
TABLES = (("db.mem", "memory"), ("db.disk", "ssd"))
CSV_TIMEZONE = "Asia/Shanghai"  # not the session's UTC: the reader must be told the writer's zone


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One small local Spark for the module (its JVM takes seconds to start), on loopback only."""
    scratch = tmp_path_factory.mktemp("spark")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # else Spark resolves the host name and warns
        began = time.monotonic()
        session = (
            SparkSession.builder.master("local[1]")
            .appName("omsync-spark-reads")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.sql.shuffle.partitions", "1")
            .config("spark.default.parallelism", "1")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.local.dir", str(scratch / "local"))
            .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
            # Spark's HDFS client reaches the DataNode at the address the NameNode reports
            # (127.0.0.1), not by a host name; Hadoop's default, kept whatever a site config says
            .config("spark.hadoop.dfs.client.use.datanode.hostname", "false")
            # a few hundred rows per read: a small heap, the serial collector and only the C1 JIT
            # start faster and use less memory than the defaults
            .config("spark.driver.memory", "512m")
            .config("spark.driver.extraJavaOptions", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1")
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("ERROR")
    print(f"Spark {session.version} started in {time.monotonic() - began:.1f} s")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(params=["local", "hdfs"])
def dest_root(request: pytest.FixtureRequest, tmp_path: Path, hdfs_server: Any) -> str:
    """Where the synctool writes: a local directory, or a fresh directory on the test HDFS.

    Every test names ``hdfs_server`` (the module is about both): a failed one then carries the
    HDFS log, whichever destination it wrote to."""
    if request.param == "local":
        # a file:// URI: a bare path would go to fs.defaultFS for the synctool and for Spark
        # alike, were a Hadoop config (HADOOP_CONF_DIR) on this machine to name an HDFS
        return (tmp_path / "out").as_uri()
    url: str = request.getfixturevalue("hdfs_url")
    return url


@contextmanager
def sql_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """``key`` set to ``value`` in the shared session for a while."""
    before = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


# -- syncing --------------------------------------------------------------------------------------


def full_sync(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], dest_root: str, fmt: str, extra_sink: str = ""
) -> tuple[SandboxCluster, dict[str, str]]:
    """A memory and a disk ``mixed`` table (snapshot + binlog), FULL-synced; their destinations."""
    cluster = sandbox(tmp_path, zk, zk_hosts)
    for name, storage in TABLES:
        cluster.create_table(preset_spec("mixed", *name.split("."), partition_num=4, storage=storage))
        cluster.write(name, 500)
        cluster.snapshot(name)
        cluster.write(name, 200)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts, extra_sink=extra_sink)
    dests = {name: f"{dest_root}/{name}" for name, _ in TABLES}
    for name, dest in dests.items():
        create_task(s, name, dest, mode="full", format=fmt)
    for name in dests:
        wait_state(s, name, "SUCCEEDED")
    return cluster, dests


def plant_temporary(dest: str, ext: str, content: bytes) -> None:
    """A temporary as a synctool killed mid-write leaves it (the synctool removes those only when
    it starts): were Spark to read it, the read would fail or hold a row too many."""
    d = open_destination(dest)
    with d.fs.open_output_stream(d.path("pid=0", f"{TMP_PREFIX}killed.{ext}.tmp")) as f:
        f.write(content)


def committed_files(dest: str) -> tuple[set[str], set[str]]:
    """(``pid=<n>/<name>`` of every file whose path has no ``_`` name, those of the others)."""
    d = open_destination(dest)
    visible: set[str] = set()
    hidden: set[str] = set()
    for info in d.fs.get_file_info(pafs.FileSelector(d.root, recursive=True)):
        if info.is_file:
            parts = info.path[len(d.root) + 1 :].split("/")
            (hidden if any(p.startswith("_") for p in parts) else visible).add("/".join(parts[-2:]))
    return visible, hidden


def read_files(df: DataFrame) -> set[str]:
    """``pid=<n>/<name>`` of every file Spark reads for ``df``."""
    return {"/".join(uri.rsplit("/", 2)[-2:]) for uri in df.inputFiles()}


# -- rows -----------------------------------------------------------------------------------------


def spark_rows(df: DataFrame) -> Rows:
    """The DataFrame's rows as ``canon`` strings per ``pid``.

    Timestamps become epoch milliseconds inside Spark (a TIMESTAMP_NTZ through the session's UTC):
    PySpark itself would turn a TIMESTAMP into the Python process's local time."""
    columns = [c for c in df.columns if c != "pid"]
    selected = []
    for field in df.schema.fields:
        if isinstance(field.dataType, T.TimestampType | T.TimestampNTZType):
            selected.append(F.unix_millis(F.col(field.name).cast(T.TimestampType())).alias(field.name))
        else:
            selected.append(F.col(field.name))
    out: Rows = {}
    for row in df.select(*selected).collect():
        values = row.asDict()
        pid = values.pop("pid")
        out.setdefault(int(pid), Counter())[canon([values[c] for c in columns], len(columns))] += 1
    return out


def differences(got: Rows, want: Rows, limit: int = 8) -> str:
    """The first rows missing from or extra in ``got``, one a line (a dict diff of canon strings
    is unreadable)."""
    lines = []
    for pid in sorted(set(got) | set(want)):
        g, w = got.get(pid, Counter()), want.get(pid, Counter())
        lines += [f"pid {pid} missing x{n}: {row}" for row, n in (w - g).items()]
        lines += [f"pid {pid} extra x{n}: {row}" for row, n in (g - w).items()]
    return "\n".join(lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else []))


_JSON_SHORT = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "/": "\\/"}


def csv_text_as_spark_reads_it(s: str) -> str | None:
    """A string as Spark's CSV reader returns the original's ``"<escapeJson(s)>"`` (reference §4.8).

    Spark's escape char ``\\`` undoes ``\\"`` and ``\\\\``; every other JSON escape stays as written
    (``\\n``, ``\\/``, ``\\u00E9``: non-ASCII text comes back as ``\\uXXXX`` escapes of UTF-16 units).
    A string "null" reads as NULL, like the bare ``null`` of a NULL (the format cannot tell them apart).
    """
    if s == "null":
        return None
    out = []
    for ch in s:
        if ch in _JSON_SHORT:
            out.append(_JSON_SHORT[ch])
        elif 0x20 <= ord(ch) <= 0x7F:
            out.append(ch)
        else:
            data = ch.encode("utf-16-be")
            out.extend(f"\\u{data[i] << 8 | data[i + 1]:04X}" for i in range(0, len(data), 2))
    return "".join(out)


def csv_truth_as_spark_reads_it(cluster: SandboxCluster, name: str) -> Rows:
    columns = cluster.table(name).schema.latest
    text = {i for i, c in enumerate(columns) if c.type in (ColumnType.STRING, ColumnType.VARCHAR)}
    out: Rows = {}
    for pid, rows in cluster.expected_full_sync(name).items():
        for r in rows:
            values = [
                csv_text_as_spark_reads_it(v) if i in text and isinstance(v, str) else v
                for i, v in enumerate(r.values)
            ]
            out.setdefault(pid, Counter())[canon(values, len(columns))] += 1
    return out


def spark_schema(columns: list[Column] | tuple[Column, ...]) -> T.StructType:
    return T.StructType([T.StructField(c.name, SPARK_TYPE[c.type]) for c in columns])


# -- tests ----------------------------------------------------------------------------------------


def test_spark_reads_a_parquet_full_sync_with_every_type_and_row(
    spark: SparkSession, tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], dest_root: str
) -> None:
    cluster, dests = full_sync(tmp_path, zk, zk_hosts, procs, dest_root, "parquet")
    for name, dest in dests.items():
        plant_temporary(dest, "parquet", b"PAR1 torn by kill -9")
        df = spark.read.parquet(dest)

        columns = cluster.table(name).schema.latest
        # arrow_schema writes TIMESTAMP as timestamp[ms] without a zone (isAdjustedToUTC=false),
        # which Spark infers as TIMESTAMP_NTZ: epoch milliseconds as UTC wall-clock time
        want_types = [
            (c.name, T.TimestampNTZType() if c.type == ColumnType.TIMESTAMP else SPARK_TYPE[c.type])
            for c in columns
        ]
        assert [(f.name, f.dataType) for f in df.schema.fields] == [*want_types, ("pid", T.IntegerType())]

        visible, hidden = committed_files(dest)
        assert f"pid=0/{TMP_PREFIX}killed.parquet.tmp" in hidden
        assert f"{OMSYNC_DIR}/table.json" in hidden
        assert read_files(df) == visible
        assert all(re.fullmatch(r"pid=\d+/[bs][0-9-]+_[bs][0-9-]+\.parquet", f) for f in visible), visible

        want = truth_rows(cluster, name)
        assert df.count() == count(want), name
        got = spark_rows(df)
        assert got == want, f"{name}:\n{differences(got, want)}"

        # a Spark without TIMESTAMP_NTZ (before 3.4; OpenMLDB's offline engine is a 3.2 build)
        # reads the column as TIMESTAMP: the same instants
        with sql_conf(spark, "spark.sql.parquet.inferTimestampNTZ.enabled", "false"):
            instants = spark.read.parquet(dest)
            assert instants.schema["ts"].dataType == T.TimestampType()
            assert spark_rows(instants) == want, name


def test_spark_reads_a_csv_full_sync_with_the_tables_schema(
    spark: SparkSession, tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], dest_root: str
) -> None:
    cluster, dests = full_sync(
        tmp_path, zk, zk_hosts, procs, dest_root, "csv", extra_sink=f'csv_timezone = "{CSV_TIMEZONE}"'
    )
    for name, dest in dests.items():
        plant_temporary(dest, "csv", b'1,"a row a killed synctool had begun')
        columns = cluster.table(name).schema.latest
        df = (
            spark.read.schema(spark_schema(columns))
            .options(nullValue="null", timeZone=CSV_TIMEZONE, mode="FAILFAST")
            .csv(dest)
        )
        want_types = [(c.name, SPARK_TYPE[c.type]) for c in columns]
        assert [(f.name, f.dataType) for f in df.schema.fields] == [*want_types, ("pid", T.IntegerType())]

        visible, hidden = committed_files(dest)
        assert f"pid=0/{TMP_PREFIX}killed.csv.tmp" in hidden
        assert read_files(df) == visible

        want = csv_truth_as_spark_reads_it(cluster, name)
        assert df.count() == count(want), name
        got = spark_rows(df)
        assert got == want, f"{name}:\n{differences(got, want)}"


def test_spark_merge_schema_reads_rows_from_before_add_column_with_null(
    spark: SparkSession, tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], dest_root: str
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 200)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts)
    dest = f"{dest_root}/db.t"
    create_task(s, "db.t", dest, mode="continuous")
    wait_rows(s, "db.t", 200)
    cluster.add_column("db.t", Column("extra", ColumnType.STRING))
    cluster.write("db.t", 150)  # rows of schema version 2: the new column holds values
    cluster.add_column("db.t", Column("score", ColumnType.DOUBLE))
    cluster.write("db.t", 50)
    want = truth_rows(cluster, "db.t")
    wait_rows(s, "db.t", count(want))

    d = open_destination(dest)
    visible, _ = committed_files(dest)
    widths = {len(pq.read_schema(d.path(f), filesystem=d.fs)) for f in visible}
    assert 10 in widths and 12 in widths, widths  # files from before the ALTERs and after both

    df = spark.read.option("mergeSchema", "true").parquet(dest)
    assert df.columns[-3:] == ["extra", "score", "pid"]
    assert df.schema["extra"].dataType == T.StringType() and df.schema["score"].dataType == T.DoubleType()
    got = spark_rows(df)
    assert got == want, differences(got, want)  # the truth pads rows of older versions with NULL
    # the 200 rows written before the first ALTER (ids 0..199) read back with NULL in both new columns
    old = df.where(F.col("id") < 200)
    assert old.count() == 200
    assert old.where(F.col("extra").isNotNull() | F.col("score").isNotNull()).count() == 0
    assert df.where(F.col("extra").isNotNull()).count() > 0
