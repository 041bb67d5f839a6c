"""Collector → receiver, end to end: rows/s and MB/s of a real ``omsync collector`` process.

Run by ``make bench`` as ``.venv/bin/python bench/bench_collector_e2e.py [--rows N]``. Starts a
throwaway ZooKeeper, lays out one tablet partition (a memory snapshot holding the first half of
the rows, a binlog holding the second half; the 10-column mixed table), starts ``omsync
collector`` as a subprocess, and hands it a FULL task whose SendData calls go to an in-process
``Receiver`` (the stand-in SyncTool; it splits and counts rows, keeps none). Reports each phase,
and the collector's own CPU time, so "rows per collector CPU-second" is the one-core figure.

Goal of the collector issue: ≥ 1 M rows/s on one core.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_collector import build

from omsync_tui.core.syncpoint import Phase
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.sandbox.jvm.zkserver import ZkServer, free_port
from omsync_tui.sandbox.receiver import Receiver

GOAL = 1_000_000


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_healthy(endpoint: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"collector exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://{endpoint}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("collector did not become ready")


def run(tmp: Path, rows: int, pack_size: int) -> None:
    zk = ZkServer(tmp / "zk")
    zk.start()
    root = tmp / "tablet"
    part = root / "1_0"
    t0 = time.perf_counter()
    build(part, rows)
    size = sum(f.stat().st_size for f in part.rglob("*") if f.is_file())
    took = time.perf_counter() - t0
    print(f"setup: {rows:,} rows (half snapshot, half binlog, {size / 1e6:.0f} MB) in {took:.1f} s")
    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    conf = tmp / "collector.toml"
    conf.write_text(
        f'[collector]\nendpoint = "{endpoint}"\ndatadir = "{tmp / "collector"}"\n'
        f"max_pack_size = {pack_size}\n"
        f'[zookeeper]\nhosts = "{zk.hosts}"\n[tablet]\nroot_paths = ["{root}"]\n'
        f'[log]\ndir = "{tmp / "log"}"\nlevel = "warning"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "omsync_tui.cli.main", "collector", "--config", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "collector.err", "wb"),  # noqa: SIM115 - lives as long as the process
    )
    try:
        wait_healthy(endpoint, proc)
        with Receiver(keep_rows=False) as rx:
            cpu0 = cpu_seconds(proc.pid)
            t_start = time.perf_counter()
            marks: dict[str, tuple[float, int, int, float]] = {}

            def progress(r: Receiver) -> bool:
                sub = r.subtask(1, 0)
                if sub.point.phase is Phase.BINLOG and "snapshot" not in marks:
                    now, cpu = time.perf_counter(), cpu_seconds(proc.pid)
                    marks["snapshot"] = (now, sub.row_count, sub.byte_count, cpu)
                return sub.finished

            rx.assign(endpoint, 1, 0, mode=data_sync_pb2.kFull)
            rx.wait(progress, timeout=600, what="the FULL task to finish")
            t_end, cpu_end = time.perf_counter(), cpu_seconds(proc.pid)
            sub = rx.subtask(1, 0)
        assert sub.row_count == rows, (sub.row_count, rows)
        t_snap, rows_snap, bytes_snap, cpu_snap = marks["snapshot"]
        phases = (
            ("snapshot", t_snap - t_start, rows_snap, bytes_snap, cpu_snap - cpu0),
            (
                "binlog",
                t_end - t_snap,
                sub.row_count - rows_snap,
                sub.byte_count - bytes_snap,
                cpu_end - cpu_snap,
            ),
            ("overall", t_end - t_start, sub.row_count, sub.byte_count, cpu_end - cpu0),
        )
        print(f"-- max_pack_size {pack_size // 1024} KiB, {sub.sends} SendData calls")
        for name, wall, n, b, cpu in phases:
            print(
                f"{name:9s}: {n / wall:12,.0f} rows/s  {b / wall / 1e6:7.1f} MB/s wall; "
                f"collector CPU {cpu:5.2f} s = {n / max(cpu, 1e-9):12,.0f} rows per CPU-second"
            )
        overall = sub.row_count / (cpu_end - cpu0)
        verdict = "meets" if overall >= GOAL else "MISSES"
        print(f"one core : {overall:12,.0f} rows per collector CPU-second ({verdict} the {GOAL:,}/s goal)")
    finally:
        proc.terminate()
        proc.wait(15)
        zk.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pack-size", type=int, action="append", help="max_pack_size bytes (repeatable)")
    args = parser.parse_args()
    for pack_size in args.pack_size or [1 << 20, 4 << 20]:
        with tempfile.TemporaryDirectory() as tmp:
            run(Path(tmp), args.rows, pack_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
