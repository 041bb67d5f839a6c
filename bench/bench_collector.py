"""The collector's read path: rows/s of ``PartitionPacker`` over a snapshot and a binlog.

Run by ``make bench`` as ``.venv/bin/python bench/bench_collector.py [--rows N]``. Builds one
partition directory the way a tablet leaves it — a memory snapshot (``.sdb``) holding the first
half of the rows and a binlog holding the second half — from the 10-column mixed table, then packs
it from the start in 1 MiB packs, single core, and reports each phase. (Until the synctool exists,
this is the collector side of "collector → receiver"; no network in the loop.) ``--repeat N``
packs the partition N times per CRC setting and reports the best time of each phase, for loaded
machines.

Goal of the collector issue: ≥ 1 M rows/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mixed_table import COLUMNS, row_pool

from omsync_tui.core.syncpoint import Phase, SyncPoint
from omsync_tui.openmldb.binlog.files import binlog_name
from omsync_tui.openmldb.log.format import LogWriter
from omsync_tui.openmldb.metadata import write_manifest, write_table_meta
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.snapshot.memory import write_sdb
from omsync_tui.services.collector.packer import PartitionPacker

GOAL = 1_000_000


def entry(i: int, value: bytes) -> bytes:
    e = tablet_pb2.LogEntry(term=1, log_index=i, pk="", value=value, ts=1_700_000_000_000 + i)
    e.dimensions.add(key=f"user{i % 5000:05d}", idx=0)
    return e.SerializeToString()


def build(part: Path, rows: int) -> None:
    pool = row_pool(4096)
    half = rows // 2
    (part / "snapshot").mkdir(parents=True)
    (part / "binlog").mkdir()
    meta = tablet_pb2.TableMeta(tid=1, pid=0, name="t", db="db")
    for c in COLUMNS:
        meta.column_desc.add(name=c.name, data_type=int(c.type))
    meta.column_key.add(index_name="idx0", col_name=["name"], ts_name="ts")
    write_table_meta(part / "table_meta.txt", meta)
    name = "202601010000.sdb"
    write_sdb(part / "snapshot" / name, (entry(i, pool[i % len(pool)]) for i in range(1, half + 1)), None)
    write_manifest(
        part / "snapshot" / "MANIFEST", tablet_pb2.Manifest(offset=half, name=name, count=half, term=1)
    )
    with open(part / "binlog" / binlog_name(0), "wb") as f:
        w = LogWriter(f)
        for i in range(half + 1, rows + 1):
            w.add_record(entry(i, pool[i % len(pool)]))
        w.flush()


def run(packer: PartitionPacker) -> dict[Phase, list[float]]:
    """Pack the partition from its start to the binlog end in 1 MiB packs: (rows, bytes, s) per phase."""
    point = SyncPoint.start()
    totals = {Phase.SNAPSHOT: [0, 0, 0.0], Phase.BINLOG: [0, 0, 0.0]}
    while True:
        phase = point.phase
        t = time.perf_counter()
        pack = packer.pack(point, 1 << 20)
        totals[phase][0] += pack.count
        totals[phase][1] += len(pack.rows)
        totals[phase][2] += time.perf_counter() - t
        point = pack.next
        if pack.at_end:
            break
    packer.close()
    return totals


def report(totals: dict[Phase, list[float]], rows: int) -> None:
    all_rows = sum(int(v[0]) for v in totals.values())
    all_time = sum(v[2] for v in totals.values())
    for phase, (count, size, seconds) in totals.items():
        rate, mbs = count / seconds, size / seconds / 1e6
        print(f"{phase.value:9s}: {rate:12,.0f} rows/s  {mbs:7.1f} MB/s  ({count:,} rows)")
    verdict = "meets" if all_rows / all_time >= GOAL else "MISSES"
    print(f"overall  : {all_rows / all_time:12,.0f} rows/s  ({verdict} the {GOAL:,}/s goal)")
    assert all_rows == rows, all_rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting; the best time per phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "1_0"
        t0 = time.perf_counter()
        build(part, args.rows)
        print(f"setup: {args.rows:,} rows (half snapshot, half binlog) in {time.perf_counter() - t0:.1f} s")
        from omsync_tui.openmldb.metadata import read_table_meta

        meta = read_table_meta(part / "table_meta.txt")
        for verify in (True, False):
            best: dict[Phase, list[float]] = {}
            for _ in range(max(1, args.repeat)):
                totals = run(PartitionPacker(part, meta, verify_crc=verify))
                for phase, values in totals.items():
                    if phase not in best or values[2] < best[phase][2]:
                        best[phase] = values
            runs = f", best of {args.repeat}" if args.repeat > 1 else ""
            print(f"-- CRC {'checked' if verify else 'not checked'}{runs}")
            report(best, args.rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
