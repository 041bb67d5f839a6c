"""Binlog read throughput: framing alone, and framing + LogEntry parse (the collector's read path).

Run by ``make bench`` as ``.venv/bin/python bench/bench_binlog.py [--entries N]``. Writes a binlog of
1 M ``LogEntry`` records (a 10-column mixed table, rows from ``encode_row``, ~100 bytes per entry)
into a temporary directory, then measures on one core, best of ``--repeat`` runs, file in page cache:

* framing only: ``LogFileReader.read_spans`` (records/s), with and without CRC checks;
* read + parse: ``BinlogReader.read_columns`` (entries/s and MB/s of binlog), with and without CRC
  — the collector's path: payload spans scanned as columns, no object per entry;
* read + parse + touching every entry's ``log_index`` (what a consumer adds);
* ``BinlogReader.read_batch`` (the same entries as protobuf objects, what ``inspect`` reads);
* the per-record path (``read()`` + ``LogEntry.FromString``) on a subset, for comparison.

Goal: read + parse ≥ 1 M entries/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mixed_table import row_pool

from omsync_tui.openmldb.binlog.files import binlog_name
from omsync_tui.openmldb.binlog.reader import BinlogReader
from omsync_tui.openmldb.log.format import LogWriter, ReadStatus
from omsync_tui.openmldb.log.reader import LogFileReader
from omsync_tui.openmldb.proto import tablet_pb2

GOAL_ENTRIES_PER_S = 1_000_000
BATCH = 65536


def write_binlog(directory: Path, entries: int, distinct: int) -> Path:
    rows = row_pool(distinct)
    keys = [f"user{i:05d}" for i in range(5000)]
    path = directory / binlog_name(0)
    template = tablet_pb2.LogEntry(term=3, pk="")
    with open(path, "wb") as f:
        w = LogWriter(f)
        for i in range(1, entries + 1):
            e = tablet_pb2.LogEntry()
            e.CopyFrom(template)
            e.log_index = i
            e.value = rows[i % distinct]
            e.ts = 1_700_000_000_000 + i
            dim = e.dimensions.add()
            dim.key = keys[i % len(keys)]
            dim.idx = 0
            w.add_record(e.SerializeToString())
        w.flush()
    return path


def best_of(repeat: int, fn: Callable[[], int]) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - start)
    return best, count


def framing_only(path: Path, verify_crc: bool) -> int:
    n = 0
    with LogFileReader(path, verify_crc=verify_crc) as r:
        while True:
            spans = r.read_spans(BATCH)
            if spans.stop is not None:
                return n
            n += len(spans)


def read_parse(directory: Path, verify_crc: bool, touch: bool = False) -> int:
    n = 0
    with BinlogReader(directory, verify_crc=verify_crc) as r:
        while batch := r.read_columns(BATCH):
            n += len(batch)
            if touch:
                for log_index in batch.cols.log_index.tolist():
                    _ = log_index
    return n


def read_objects(directory: Path) -> int:
    n = 0
    with BinlogReader(directory, verify_crc=True) as r:
        while batch := r.read_batch(BATCH):
            n += len(batch)
    return n


def per_record(path: Path, limit: int) -> int:
    n = 0
    with LogFileReader(path, verify_crc=True) as r:
        while n < limit:
            res = r.read()
            if res.status is not ReadStatus.RECORD or res.payload is None:
                break
            tablet_pb2.LogEntry.FromString(res.payload)
            n += 1
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=20_000, help="distinct rows in the pool")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-record", type=int, default=200_000, help="entries for the per-record path")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="omsync-bench-binlog-") as tmp:
        directory = Path(tmp) / "binlog"
        directory.mkdir()
        t0 = time.perf_counter()
        path = write_binlog(directory, args.entries, args.distinct)
        size = os.path.getsize(path)
        mb = size / 1e6
        print(
            f"setup: {args.entries:,} entries written in {time.perf_counter() - t0:.1f} s; "
            f"binlog file {size:,} bytes ({mb:.1f} MB, {size / args.entries:.1f} B/record with framing)"
        )

        # correctness before timing
        got = read_parse(directory, verify_crc=True)
        assert got == args.entries, (got, args.entries)

        for verify in (False, True):
            crc = "CRC checked" if verify else "no CRC check"
            dt, n = best_of(args.repeat, lambda v=verify: framing_only(path, v))
            print(f"framing only ({crc}):            {n / dt:>12,.0f} records/s   {mb / dt:8.1f} MB/s")
        for verify in (False, True):
            crc = "CRC checked" if verify else "no CRC check"
            dt, n = best_of(args.repeat, lambda v=verify: read_parse(directory, v))
            rate = n / dt
            verdict = "meets" if rate >= GOAL_ENTRIES_PER_S else "MISSES"
            print(
                f"read+parse ({crc}):              {rate:>12,.0f} entries/s   {mb / dt:8.1f} MB/s"
                f"   ({verdict} the {GOAL_ENTRIES_PER_S:,}/s goal)"
            )
        dt, n = best_of(args.repeat, lambda: read_parse(directory, False, touch=True))
        print(f"read+parse+touch log_index (no CRC):   {n / dt:>12,.0f} entries/s   {mb / dt:8.1f} MB/s")
        dt, n = best_of(1, lambda: read_objects(directory))
        print(f"read_batch: protobuf objects (CRC):    {n / dt:>12,.0f} entries/s   {mb / dt:8.1f} MB/s")
        dt, n = best_of(1, lambda: per_record(path, args.per_record))
        print(f"per-record read()+FromString (CRC):    {n / dt:>12,.0f} entries/s   (first {n:,} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
