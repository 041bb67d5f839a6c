"""Spark reads the Iceberg table the synctool wrote, through Iceberg's JDBC catalog on the same
SQLite file pyiceberg's SQL catalog writes — as OpenMLDB's offline engine reads an Iceberg
offline table. The Spark is real: pyspark 4.1 with Iceberg's Spark runtime for 4.1
(``sandbox/jvm/icebergspark``: the newest runtime does not run on the test extra's Spark 4.3),
``local[1]`` in a subprocess.

The sync is real (sandbox tablets, a collector per host, a synctool subprocess), with an ALTER
TABLE ADD COLUMN mid-sync; Spark's schema, count and rows are compared with the sandbox's truth.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers.e2e import (
    Rows,
    canon,
    count,
    create_task,
    leading_synctool,
    mixed_table,
    sandbox,
    start_collectors,
    truth_rows,
    wait_rows,
)

from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.sandbox.jvm import icebergspark

pytestmark = pytest.mark.slow
CATALOG = "omsync"  # the JDBC catalog's name is the catalog_name pyiceberg's rows carry


def spark_rows(read: dict[str, Any]) -> Rows:
    """Spark's rows as ``canon`` strings per ``omsync_pid`` (timestamps came as epoch ms)."""
    names = [n for n, _t in read["schema"]]
    dates = {i for i, (_n, t) in enumerate(read["schema"]) if t == "date"}
    at = names.index("omsync_pid")
    out: Rows = {}
    for row in read["rows"]:
        values = [dt.date.fromisoformat(v) if i in dates and v is not None else v for i, v in enumerate(row)]
        pid = values.pop(at)
        out.setdefault(int(pid), Counter())[canon(values, len(values))] += 1
    return out


def test_spark_reads_the_iceberg_table_through_the_jdbc_catalog_after_add_column(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    catalog_dir = tmp_path / "iceberg"
    catalog_dir.mkdir()
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="memory", rows=300, then=100)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    s = leading_synctool(procs, tmp_path, zk_hosts, extra_sink="roll_rows = 120")
    uri = (
        f"iceberg://off.t?name={CATALOG}&uri=sqlite:///{catalog_dir}/catalog.db"
        f"&warehouse={(catalog_dir / 'wh').as_uri()}"
    )
    create_task(s, "db.t", uri, mode="continuous")
    wait_rows(s, "db.t", 400)
    cluster.add_column("db.t", Column("extra", ColumnType.STRING))
    cluster.write("db.t", 80)
    want = truth_rows(cluster, "db.t")
    wait_rows(s, "db.t", count(want))

    read = icebergspark.read_table(catalog_dir / "catalog.db", (catalog_dir / "wh").as_uri(), "off.t")
    columns = cluster.table("db.t").schema.latest
    types = dict(read["schema"])
    assert [n for n, _t in read["schema"]] == [c.name for c in columns[:-1]] + ["omsync_pid", "extra"]
    assert types["ts"] == "timestamp_ntz"  # Iceberg's timestamp without zone
    assert (types["day"], types["id"], types["extra"]) == ("date", "bigint", "string")
    assert read["count"] == count(want)
    assert spark_rows(read) == want
    assert any("omsync.next" in summary for summary in read["snapshots"])
