"""A Spark that reads omsync's Iceberg tables through Iceberg's JDBC catalog (issue 17).

``icebergspark/pom.xml`` names Iceberg's Spark runtime and SQLite's JDBC driver on Maven Central;
``prepare()`` resolves them once with ``hdfsbuild``'s build (Maven writes the classpath, javac
compiles ``IcebergProbe.java``, a check that they load). Iceberg's newest runtime is built for
Spark 4.1, and Spark 4.3 (the test extra's pyspark) cannot run it: 4.3 refuses a catalog that
is both a table and a view catalog (Iceberg's ``SparkCatalog`` is), and changed methods the
runtime calls (``CatalogV2Util.structTypeToV2Columns``). So ``prepare()`` also installs pyspark
``PYSPARK_VERSION`` (4.1) from PyPI into the cache, beside the jars, and ``read_table`` runs
Spark from there in a subprocess of its own (``python -m omsync_tui.sandbox.jvm.icebergspark
read``): a ``local[1]`` session with the JDBC catalog on the SQLite file pyiceberg's SQL catalog
writes, printing the table's schema, count and rows (timestamps as epoch milliseconds, computed
in Spark) as one JSON document.

    python -m omsync_tui.sandbox.jvm.icebergspark prepare
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from omsync_tui.core.errors import ClusterError, OmsyncError
from omsync_tui.sandbox.jvm.hdfsbuild import (
    INSTALL_HINT,
    JavaBuild,
    JavaProgram,
    build_program,
    jdk_tool,
    locked,
)

PROGRAM = JavaProgram(
    main_class="IcebergProbe",
    source_dir=Path(__file__).resolve().with_name("icebergspark"),
    cache_env="OMSYNC_ICEBERGSPARK_CACHE",
    cache_name="icebergspark",
    purpose="Iceberg's Spark runtime",
    jars="Iceberg's Spark runtime and SQLite's JDBC driver (~60 MB)",
    prepare_command="python -m omsync_tui.sandbox.jvm.icebergspark prepare",
)
PYSPARK_VERSION = "4.1.4"  # the Spark iceberg-spark-runtime-4.1_2.13 is built for
_STAMP = "installed"


def prepare() -> tuple[JavaBuild, Path]:
    """The jars (resolved and checked) and the directory pyspark 4.1 is installed in; the first
    call downloads them (Maven Central, PyPI), later ones return at once."""
    build = build_program(PROGRAM)
    target = build.directory.parent / f"pyspark-{PYSPARK_VERSION}"
    if (target / _STAMP).is_file():
        return build, target
    with locked(target.with_name(target.name + ".lock")):  # one pip at a time into the cache
        if not (target / _STAMP).is_file():
            _install_pyspark(target)
    return build, target


def _install_pyspark(target: Path) -> None:
    work = target.with_name(target.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)  # what a crashed install left
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--target", str(work)]
    hint = "connect to PyPI, then run: " + PROGRAM.prepare_command
    try:
        done = subprocess.run(
            [*pip, f"pyspark=={PYSPARK_VERSION}"], capture_output=True, text=True, timeout=1800
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(
            f"pip did not install pyspark {PYSPARK_VERSION} within 30 min", hint=hint
        ) from None
    if done.returncode != 0:
        raise ClusterError(
            f"pip could not install pyspark {PYSPARK_VERSION} into {work}: {done.stderr.strip()[-2000:]}",
            hint=hint,
        )
    (work / _STAMP).write_text(PYSPARK_VERSION + "\n")
    if target.exists():
        shutil.rmtree(target)
    os.replace(work, target)


def probe() -> dict[str, str]:
    """The versions the jars report, by running the probe; ClusterError if they do not load."""
    build, _ = prepare()
    java = jdk_tool("java")
    if java is None:
        raise ClusterError("cannot run the Iceberg probe: no java on PATH (or JAVA_HOME)", hint=INSTALL_HINT)
    done = subprocess.run(
        [java, "-cp", build.classpath, PROGRAM.main_class], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise ClusterError(
            f"the Iceberg probe failed with code {done.returncode}: {done.stderr.strip()[-2000:]}",
            hint=f"rebuild with `{PROGRAM.prepare_command}`; the pom is {PROGRAM.source_dir / 'pom.xml'}",
        )
    found: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def read_table(catalog_db: Path, warehouse: str, table: str, *, catalog: str = "omsync") -> dict[str, Any]:
    """What Spark 4.1 with Iceberg's runtime reads of ``<catalog>.<table>`` through the JDBC
    catalog on the SQLite file ``catalog_db``: ``{"schema": [[name, type], ...], "count": n,
    "rows": [[...], ...], "snapshots": [summary, ...], "spark": version}``."""
    build, pyspark_dir = prepare()
    java = jdk_tool("java")
    if java is None:
        raise ClusterError("cannot run Spark: no java on PATH (or JAVA_HOME)", hint=INSTALL_HINT)
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[3])  # the directory holding omsync_tui
    env["PYTHONPATH"] = os.pathsep.join([str(pyspark_dir), here])  # pyspark 4.1 before the venv's
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["JAVA_HOME"] = str(Path(java).resolve().parents[1])
    env.pop("SPARK_HOME", None)
    with tempfile.TemporaryDirectory(prefix="omsync-spark-") as scratch:
        args = [sys.executable, "-m", "omsync_tui.sandbox.jvm.icebergspark", "read", "--jars"]
        args += [",".join(map(str, build.jars)), "--catalog-db", str(catalog_db), "--warehouse", warehouse]
        args += ["--table", table, "--catalog", catalog, "--scratch", scratch]
        done = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    if done.returncode != 0:
        raise ClusterError(f"Spark could not read {catalog}.{table}:\n{done.stderr.strip()[-4000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _read(ns: argparse.Namespace) -> dict[str, Any]:
    """In the subprocess, with pyspark 4.1 first on the path."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    prefix = f"spark.sql.catalog.{ns.catalog}"
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("omsync-iceberg-read")
        .config("spark.jars", ns.jars)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.local.dir", f"{ns.scratch}/local")
        .config("spark.sql.warehouse.dir", f"{ns.scratch}/warehouse")
        .config("spark.hadoop.dfs.client.use.datanode.hostname", "false")
        .config(prefix, "org.apache.iceberg.spark.SparkCatalog")
        .config(f"{prefix}.type", "jdbc")
        .config(f"{prefix}.uri", f"jdbc:sqlite:{ns.catalog_db}")
        .config(f"{prefix}.warehouse", ns.warehouse)
        .config("spark.driver.memory", "512m")
        .config("spark.driver.extraJavaOptions", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        name = f"{ns.catalog}.{ns.table}"
        df = spark.table(name)
        selected = [
            F.unix_millis(F.col(f.name).cast(T.TimestampType())).alias(f.name)
            if isinstance(f.dataType, T.TimestampType | T.TimestampNTZType)
            else F.col(f.name)
            for f in df.schema.fields
        ]
        rows = [[_json_value(v) for v in r] for r in df.select(*selected).collect()]
        summaries = [dict(r["summary"]) for r in spark.sql(f"SELECT summary FROM {name}.snapshots").collect()]
        return {
            "spark": spark.version,
            "schema": [[f.name, f.dataType.simpleString()] for f in df.schema.fields],
            "count": df.count(),
            "rows": rows,
            "snapshots": summaries,
        }
    finally:
        spark.stop()


def _json_value(v: object) -> object:
    return v.isoformat() if isinstance(v, dt.date) else v


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m omsync_tui.sandbox.jvm.icebergspark", description=__doc__
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="download the jars and pyspark 4.1, check that the jars load")
    reading = sub.add_parser("read", help="(internal) read a table with Spark, print it as JSON")
    for opt in ("--jars", "--catalog-db", "--warehouse", "--table", "--catalog", "--scratch"):
        reading.add_argument(opt, required=True)
    ns = parser.parse_args(argv)
    if ns.command == "read":
        print(json.dumps(_read(ns)))
        return 0
    try:
        versions = probe()
    except OmsyncError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    print(
        f"Iceberg's Spark runtime {versions['iceberg']}, sqlite-jdbc {versions['sqlite_jdbc']}, "
        f"pyspark {PYSPARK_VERSION} in {prepare()[1]}: ready"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
