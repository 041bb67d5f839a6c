"""Iceberg destinations (issue 17): a FULL sync to an Iceberg table beside plain Parquet, the
commits per minute one table takes, and the file count after an hour of continuous commits with
and without compaction.

Run by ``make bench`` as ``.venv/bin/python bench/bench_iceberg.py [--rows N] [--trials T]``.

1. FULL: the 2 M-row bench table (``bench_e2e``'s pipeline: real collector and synctool
   processes) synced ``--trials`` times (default 3) to local Parquet and to an Iceberg table
   (SQLite catalog, warehouse on local disk), alternated so the machine's slow phases fall on
   both alike; the medians and their ratio. Goal: Iceberg ≥ 0.8 of Parquet.
2. Commits per minute: ``--commits`` (default 600) commits of 100 rows each to one table, from
   2 partitions in turn (``IcebergWriter`` → ``IcebergTable.commit``: the synctool's code, real
   files, the real catalog), one committer and then 4 committers at once (threads, each with
   its own table handle: conflicts and their retries are part of the figure). Each commit writes
   a new metadata file holding every snapshot so far, so the rate falls as the table's history
   grows; the first and last hundred are shown apart.
3. An hour of continuous commits: 2 partitions committing every 10 s for an hour (720 commits)
   into a table without compaction and one with ``compact_files=16``; the data files the current
   snapshot holds afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa
from bench_e2e import STEAL_CALM, Trial, local_size, pipeline, show, trial

from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.services.sinks.destination import Destination, open_destination
from omsync_tui.services.sinks.iceberg import table as iceberg
from omsync_tui.services.sinks.iceberg.writer import IcebergWriter

COLUMNS = [
    Column("id", ColumnType.BIGINT),
    Column("name", ColumnType.STRING),
    Column("ts", ColumnType.TIMESTAMP),
]
ARROW = pa.schema(
    [pa.field("id", pa.int64()), pa.field("name", pa.string()), pa.field("ts", pa.timestamp("ms"))]
)


def iceberg_uri(tmp: Path, table: str, extra: str = "") -> str:
    return f"iceberg://{table}?uri=sqlite:///{tmp}/catalog.db&warehouse=file://{tmp}/wh{extra}"


def iceberg_size(uri: str) -> int:
    dest = open_destination(uri)
    return sum(f.stat().st_size for f in Path(dest.root).rglob("*.parquet"))


def batch(start: int, n: int) -> pa.RecordBatch:
    return pa.record_batch(
        [
            pa.array(range(start, start + n), pa.int64()),
            pa.array([f"user{i % 1000}" for i in range(start, start + n)]),
            pa.array(range(1_700_000_000_000 + start, 1_700_000_000_000 + start + n), pa.timestamp("ms")),
        ],
        schema=ARROW,
    )


def commit(dest: Destination, pid: int, at: int, n: int, table: iceberg.IcebergTable | None = None) -> None:
    w = IcebergWriter(
        dest, pid, ARROW, compact=True, roll_rows=10**9, roll_bytes=1 << 40, commit_seconds=1e9, metadata={}
    )
    if table is not None:
        w.table = table
    w.append(batch(at, n), SyncPoint.binlog(at + 1), SyncPoint.binlog(at + n + 1))
    assert w.commit() is not None


def full(tmp: Path, rows: int, partitions: int, trials: int) -> None:
    with pipeline(tmp, rows, partitions) as (s_ep, procs):
        results: dict[str, list[Trial]] = {"parquet": [], "iceberg": []}
        for k in range(trials):
            results["parquet"].append(trial(str(tmp / f"out-{k}"), s_ep, rows, procs, size_of=local_size))
            show(f"parquet {k + 1}", rows, results["parquet"][-1])
            uri = iceberg_uri(tmp, f"bench.t{k}")
            results["iceberg"].append(trial(uri, s_ep, rows, procs, size_of=iceberg_size))
            show(f"iceberg {k + 1}", rows, results["iceberg"][-1])
        medians = {kind: statistics.median(r.rate for r in rs) for kind, rs in results.items()}
        for kind, rate in medians.items():
            calm = [r.rate for r in results[kind] if r.steal < STEAL_CALM]
            extra = f"; {statistics.median(calm):,.0f} under {STEAL_CALM:.0%} steal" if calm else ""
            print(f"{kind:9}: {rate:12,.0f} rows/s median of {trials}{extra}")
        ratio = medians["iceberg"] / medians["parquet"]
        print(
            f"iceberg ÷ parquet: {ratio:.2f} (FULL, rows/s); goal ≥ 0.8 {'met' if ratio >= 0.8 else 'MISSED'}"
        )


def commits_per_minute(tmp: Path, commits: int) -> None:
    dest = open_destination(iceberg_uri(tmp, "bench.rate", "&compact_files=0"))
    iceberg.table_of(dest).ensure(COLUMNS, "bench.rate", 1)
    times = []
    for k in range(commits):
        t0 = time.perf_counter()
        commit(dest, k % 2, 100 * (k // 2), 100)
        times.append(time.perf_counter() - t0)
    total = sum(times)
    first, last = 60 * 100 / sum(times[:100]), 60 * 100 / sum(times[-100:])
    print(
        f"commits/min, 1 committer : {60 * commits / total:,.0f} over {commits} commits "
        f"(first 100: {first:,.0f}/min, last 100: {last:,.0f}/min)"
    )
    dest = open_destination(iceberg_uri(tmp, "bench.rate4", "&compact_files=0"))
    iceberg.table_of(dest).ensure(COLUMNS, "bench.rate4", 2)
    per = commits // 4

    def run(pid: int) -> None:
        table = iceberg.IcebergTable(dest, iceberg.HdfsSection())  # a committer of its own
        for k in range(per):
            commit(dest, pid, 100 * k, 100, table)

    threads = [threading.Thread(target=run, args=(pid,)) for pid in range(4)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.perf_counter() - t0
    print(f"commits/min, 4 committers: {60 * 4 * per / took:,.0f} over {4 * per} commits (conflicts retried)")


def hour(tmp: Path) -> None:
    for label, extra in (
        ("without compaction", "&compact_files=0"),
        ("compact_files=16  ", "&compact_files=16"),
    ):
        name = "bench.hour_plain" if "=0" in extra else "bench.hour_compact"
        dest = open_destination(iceberg_uri(tmp, name, extra))
        table = iceberg.table_of(dest)
        table.ensure(COLUMNS, name, 3)
        t0 = time.perf_counter()
        for k in range(720):  # 2 partitions × one commit every 10 s × 3600 s
            commit(dest, k % 2, 50 * (k // 2), 50)
        took = time.perf_counter() - t0
        loaded = table.load()
        assert loaded is not None
        files = sum(table.pid_files(loaded, pid).files for pid in (0, 1))
        rows = sum(table.pid_files(loaded, pid).rows for pid in (0, 1))
        assert rows == 720 * 50
        print(f"an hour, 720 commits, {label}: {files:4} data files ({took:.0f} s to run)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--commits", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        full(tmp, args.rows, args.partitions, args.trials)
        commits_per_minute(tmp, args.commits)
        hour(tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
