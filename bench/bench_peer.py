"""Side by side with the original: one omsync collector feeding OpenMLDB's SyncTool and omsync's.

Run by ``make bench`` as ``.venv/bin/python bench/bench_peer.py [--rows N] [--trials T]
[--crashes K]``. It needs the original SyncTool (``OMSYNC_ORIGINAL_SYNCTOOL``, see
``original_synctool.py``: OpenMLDB does not publish it on Maven Central); without it, it says so
and ends with ``peer ratio (...): unavailable`` instead of a figure.

Set-up: a sandbox cluster (ZooKeeper, one tablet host, the nameserver/tablet responder OpenMLDB's
SDK needs), a MiniDFSCluster, and the bench table as a **disk** table (the original reads only
those): ``--rows`` rows of the mixed preset in 2 partitions, 90 % in a RocksDB snapshot, 10 % in
the binlog after it. One ``omsync collector`` serves both SyncTools, which run side by side.

Trials: FULL syncs of the table to HDFS, alternated — original CSV, omsync CSV, omsync Parquet —
``--trials`` times each; per trial rows/s (create request → last partition finished: the original's
``<pid>.progress.finished.<ms>`` stamp, omsync's SUCCEEDED stamp), CPU seconds of the collector
and of the SyncTool, files written and their bytes; then each process's peak RSS. Every trial's
rows are checked: the CSV lines of each run as a multiset, against the first omsync CSV run (whose
line count must be the table's).

Crashes: ``--crashes`` random moments (fractions of each SyncTool's own median sync time, the same
fractions for both), each a FULL sync to a fresh directory during which the SyncTool gets kill -9
and is started again; then the duplicated and missing rows of what it left in HDFS.

The last line is exactly ``peer ratio (omsync csv ÷ original csv, rows/s): X.XX`` (scripts read it).
Goal: ≥ 2.00.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_e2e import cpu_seconds, free_port, http, peak_rss_mib, wait_ready
from original_synctool import OriginalSyncTool, Unavailable, locate

from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.jvm.hdfs import HdfsServer
from omsync_tui.sandbox.jvm.zkserver import ZkServer
from omsync_tui.sandbox.responder import ClusterResponder
from omsync_tui.sandbox.state import SandboxConfig

LAST = "peer ratio (omsync csv ÷ original csv, rows/s): "
TABLE = "bench.t"
POLL_S = 0.2
# The collector's wait before the first SendData of a task the original assigns (its own
# DataCollector's sync_task_long_interval_ms default): the original records a task only after
# AddSyncTask returns. omsync's synctool says it is ready, so omsync's tasks start at once.
FIRST_SEND_WAIT_S = 5.0
CRASH_TIMEOUT_S = 240.0  # a crash run not finished by then is reported as such


@dataclass(frozen=True)
class Trial:
    rate: float
    wall: float
    files: int
    size: int
    cpu_collector: float
    cpu_synctool: float
    lines: Counter[bytes] | None  # CSV only: digests of the lines


def hdfs_files(hdfs_url: str, path: str) -> list[tuple[str, int]]:
    from hdfs_native import Client

    client = Client(hdfs_url)
    return [
        (s.path, s.length)
        for s in client.list_status(path, recursive=True)
        if not s.isdir and s.path.endswith((".csv", ".parquet")) and "/_" not in s.path
    ]


def csv_digests(hdfs_url: str, files: list[tuple[str, int]]) -> Counter[bytes]:
    from hdfs_native import Client

    client = Client(hdfs_url)
    lines: Counter[bytes] = Counter()
    for path, _ in files:
        with client.read(path) as f:
            data = f.read()
        lines.update(hashlib.blake2b(line, digest_size=8).digest() for line in data.splitlines())
    return lines


class Omsync:
    """``omsync synctool`` as a process that can be killed and started again on the same config."""

    def __init__(self, tmp: Path, zk_hosts: str) -> None:
        self.endpoint = f"127.0.0.1:{free_port()}"
        self.config = tmp / "synctool.toml"
        self.config.write_text(
            f'[synctool]\nendpoint = "{self.endpoint}"\ndatadir = "{tmp / "sdata"}"\n'
            f'[zookeeper]\nhosts = "{zk_hosts}"\nsession_timeout_ms = 3000\n'
            f'[log]\ndir = "{tmp / "slog"}"\nlevel = "warning"\n'
        )
        self.err = tmp / "synctool.err"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "omsync_tui.cli.main", "synctool", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.err, "ab"),  # noqa: SIM115 - lives as long as the process
        )
        wait_ready(f"http://{self.endpoint}/readyz", self.proc, "omsync synctool")
        deadline = time.monotonic() + 60
        while http("GET", f"http://{self.endpoint}/api/v1/status").get("role") != "leader":
            if time.monotonic() > deadline:
                raise SystemExit("omsync synctool did not lead within 60 s")
            time.sleep(0.05)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def task(self) -> dict[str, object]:
        task = http("GET", f"http://{self.endpoint}/api/v1/tasks/{TABLE}")["task"]
        assert isinstance(task, dict)
        return task


def collector(tmp: Path, zk_hosts: str, roots: Sequence[Path]) -> subprocess.Popen[bytes]:
    endpoint = f"127.0.0.1:{free_port()}"
    root_list = ", ".join(f'"{r}"' for r in roots)
    (tmp / "collector.toml").write_text(
        f'[collector]\nendpoint = "{endpoint}"\ndatadir = "{tmp / "cdata"}"\n'
        f"sync_task_long_interval_ms = {int(FIRST_SEND_WAIT_S * 1000)}\n"
        f'[zookeeper]\nhosts = "{zk_hosts}"\n[tablet]\nroot_paths = [{root_list}]\n'
        f'[log]\ndir = "{tmp / "clog"}"\nlevel = "warning"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "omsync_tui.cli.main", "collector", "--config", str(tmp / "collector.toml")],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "collector.err", "wb"),  # noqa: SIM115 - lives as long as the process
    )
    wait_ready(f"http://{endpoint}/readyz", proc, "collector")
    return proc


def wait_for(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_S)


def original_sync(
    orig: OriginalSyncTool, tid: int, dest: str, *, kill_at: float | None = None, timeout: float = 600
) -> float:
    """A FULL sync through the original; seconds from the create request to its last partition's
    finish stamp. With ``kill_at``, kill -9 it that many seconds in and start it again."""
    t0_ms = int(time.time() * 1000)
    answer = orig.create("bench", "t", 0, dest)
    if answer.get("code", 0) != 0:
        raise SystemExit(f"the original refused the task: {answer}")
    if kill_at is not None:
        time.sleep(kill_at)
        orig.kill9()
        orig.start()
    wait_for(lambda: len(orig.finished_ms(tid, t0_ms)) >= 2, timeout, "the original's partitions to finish")
    wait_for(lambda: not orig.tasks(), 60, "the original to drop the finished table")
    return (max(orig.finished_ms(tid, t0_ms)) - t0_ms) / 1000


def omsync_sync(
    s: Omsync, dest: str, fmt: str, *, kill_at: float | None = None, timeout: float = 600
) -> float:
    t_wall = time.time()
    body = {"name": TABLE, "dest": dest, "mode": "full", "format": fmt}
    http("POST", f"http://{s.endpoint}/api/v1/tasks", body)
    if kill_at is not None:
        time.sleep(kill_at)
        s.kill9()
        s.start()
    wait_for(lambda: s.task()["state"] == "SUCCEEDED", timeout, "omsync's task to succeed")
    wall = int(str(s.task()["last_update_ms"])) / 1000 - t_wall
    http("DELETE", f"http://{s.endpoint}/api/v1/tasks/{TABLE}")
    return wall


def measure(
    run: Callable[[], float], hdfs_url: str, path: str, rows: int, procs: dict[str, int], csv: bool
) -> Trial:
    cpu0 = {k: cpu_seconds(pid) for k, pid in procs.items()}
    wall = run()
    cpu = {k: cpu_seconds(pid) - cpu0[k] for k, pid in procs.items()}
    files = hdfs_files(hdfs_url, path)
    lines = csv_digests(hdfs_url, files) if csv else None
    return Trial(
        rows / wall, wall, len(files), sum(n for _, n in files), cpu["collector"], cpu["synctool"], lines
    )


def show(label: str, rows: int, t: Trial) -> None:
    print(
        f"{label}: {t.rate:10,.0f} rows/s  ({rows:,} rows in {t.wall:6.2f} s; CPU collector "
        f"{t.cpu_collector:5.2f} s, synctool {t.cpu_synctool:5.2f} s; {t.files} files, "
        f"{t.size / 1e6:.0f} MB)",
        flush=True,
    )


def build_table(cluster: SandboxCluster, rows: int) -> None:
    cluster.create_table(preset_spec("mixed", "bench", "t", partition_num=2, storage="hdd"))
    t0 = time.perf_counter()
    cluster.write(TABLE, rows - rows // 10)
    cluster.snapshot(TABLE)
    cluster.write(TABLE, rows // 10)
    print(f"setup          : {rows:,} rows (disk table, 2 partitions, 90 % in the snapshot) in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip


def compare(reference: Counter[bytes], got: Counter[bytes]) -> tuple[int, int]:
    """(duplicated rows, missing rows) of ``got`` against ``reference`` (every line once)."""
    duplicated = sum(n - 1 for n in got.values() if n > 1) + sum(
        n for line, n in got.items() if line not in reference
    )
    missing = sum(1 for line in reference if line not in got)
    return duplicated, missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--trials", type=int, default=3, help="syncs per kind; the median counts")
    parser.add_argument("--crashes", type=int, default=3, help="kill -9 moments per SyncTool")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    try:
        home = locate()
    except Unavailable as exc:
        print(f"original SyncTool: unavailable: {exc}")
        print(LAST + "unavailable (no original SyncTool to measure)")
        return 0
    origin = home / "ORIGIN"
    print(f"original SyncTool: {home}" + (f" ({origin.read_text().strip()})" if origin.exists() else ""))
    rows = args.rows
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        zk = ZkServer(tmp / "zk")
        zk.start()
        hdfs = HdfsServer(tmp / "hdfs")
        hdfs.start()
        from kazoo.client import KazooClient

        zkc = KazooClient(hosts=zk.hosts)
        zkc.start(timeout=15)
        tablet = f"127.0.0.1:{free_port()}"
        cluster = SandboxCluster.create(tmp / "sb", zkc, SandboxConfig(zk.hosts, tablets=(tablet,)))
        cluster.register_tablets(ephemeral=True)
        responder = ClusterResponder(cluster)
        stoppers: list[Callable[[], None]] = [zk.stop, hdfs.stop, zkc.stop, responder.stop]
        try:
            responder.start()
            build_table(cluster, rows)
            tid = cluster.table(TABLE).tid
            c = collector(tmp, zk.hosts, [cluster.tablet_root(tablet, "hdd")])
            stoppers.append(lambda: (c.terminate(), c.wait(30)))
            omsync = Omsync(tmp, zk.hosts)
            omsync.start()
            stoppers.append(omsync.stop)
            orig = OriginalSyncTool(
                home, tmp / "original", port=free_port(), zk_hosts=zk.hosts, zk_root="/openmldb",
                hdfs_url=hdfs.url, check_period=2,
            )  # fmt: skip
            t0 = time.perf_counter()
            orig.start()
            print(f"original start : {time.perf_counter() - t0:.1f} s (JVM, JNI SDK, ZooKeeper)", flush=True)
            stoppers.append(orig.stop)
            return run_trials(args, rows, tid, tmp, hdfs.url, c, omsync, orig)
        finally:
            for stop in reversed(stoppers):
                try:
                    stop()
                except Exception as exc:  # keep stopping the rest
                    print(f"(stopping: {exc})", file=sys.stderr)


def run_trials(
    args: argparse.Namespace,
    rows: int,
    tid: int,
    tmp: Path,
    hdfs_url: str,
    c: subprocess.Popen[bytes],
    omsync: Omsync,
    orig: OriginalSyncTool,
) -> int:
    kinds = ("original csv", "omsync csv", "omsync parquet")
    results: dict[str, list[Trial]] = {k: [] for k in kinds}
    for k in range(args.trials):
        for kind in kinds:
            path = f"/peer/{kind.replace(' ', '-')}-{k}"
            if kind == "original csv":
                trial = measure(
                    lambda p=path: original_sync(orig, tid, p), hdfs_url, path, rows,
                    {"collector": c.pid, "synctool": orig.pid}, csv=True,
                )  # fmt: skip
            else:
                fmt = kind.split()[1]
                trial = measure(
                    lambda p=path, f=fmt: omsync_sync(omsync, f"{hdfs_url}{p}", f), hdfs_url, path, rows,
                    {"collector": c.pid, "synctool": omsync.pid}, csv=fmt == "csv",
                )  # fmt: skip
            results[kind].append(trial)
            show(f"{kind:15} {k + 1}", rows, trial)
    reference = results["omsync csv"][0].lines
    assert reference is not None
    if sum(reference.values()) != rows or len(reference) != rows:
        raise SystemExit(
            f"the reference run holds {sum(reference.values()):,} lines, {len(reference):,} distinct"
        )
    for kind in ("original csv", "omsync csv"):
        for k, t in enumerate(results[kind]):
            assert t.lines is not None
            dup, miss = compare(reference, t.lines)
            if dup or miss:
                print(f"{kind} {k + 1}: {dup:,} duplicated, {miss:,} missing rows (a clean run!)")
    print("rows           : every clean run holds each of the table's rows once (CSV lines compared)")
    medians = {k: statistics.median(t.rate for t in v) for k, v in results.items()}
    net = statistics.median(rows / (t.wall - FIRST_SEND_WAIT_S) for t in results["original csv"])
    for kind, rate in medians.items():
        ts = results[kind]
        print(
            f"{kind:15}: {rate:10,.0f} rows/s median of {len(ts)}; CPU collector "
            f"{statistics.median(t.cpu_collector for t in ts):.2f} s, synctool "
            f"{statistics.median(t.cpu_synctool for t in ts):.2f} s; {ts[0].files} files, "
            f"{ts[0].size / 1e6:.0f} MB"
        )
    print(
        f"peak RSS       : collector {peak_rss_mib(c.pid):.0f} MiB, omsync synctool "
        f"{peak_rss_mib(omsync.pid):.0f} MiB, original SyncTool {peak_rss_mib(orig.pid):.0f} MiB",
        flush=True,
    )
    crash_comparison(args, rows, tid, hdfs_url, omsync, orig, medians, reference, results)
    ratio = medians["omsync csv"] / medians["original csv"]
    parquet = medians["omsync parquet"] / medians["original csv"]
    print(
        f"original csv without the collector's {FIRST_SEND_WAIT_S:g} s first-send wait: {net:,.0f} rows/s; "
        f"omsync csv ÷ that: {medians['omsync csv'] / net:.2f}"
    )
    print(f"omsync parquet ÷ original csv (rows/s): {parquet:.2f}")
    print(f"goal ≥ 2.00 with omsync's CSV: {'met' if ratio >= 2.0 else 'MISSED'}")
    print(f"{LAST}{ratio:.2f}")
    return 0


def stuck(who: str, orig: OriginalSyncTool, omsync: Omsync) -> str:
    """How an unfinished crash run stands; the task is deleted so the next run can start."""
    if who == "original":
        states = [str(t.get("status")) for t in orig.tasks()]
        orig.delete("bench", "t")
        return f"subtasks {states} (deleted)"
    task = omsync.task()
    http("DELETE", f"http://{omsync.endpoint}/api/v1/tasks/{TABLE}")
    return f"task {task.get('state')} (deleted)"


def crash_comparison(
    args: argparse.Namespace,
    rows: int,
    tid: int,
    hdfs_url: str,
    omsync: Omsync,
    orig: OriginalSyncTool,
    medians: dict[str, float],
    reference: Counter[bytes],
    results: dict[str, list[Trial]],
) -> None:
    rng = random.Random(args.seed)
    fractions = [round(rng.uniform(0.15, 0.85), 2) for _ in range(args.crashes)]
    # (start, length) of the data transfer of each: the original's starts after the first-send wait
    walls = {k: statistics.median(t.wall for t in results[k]) for k in ("original csv", "omsync csv")}
    spans = {
        "original": (FIRST_SEND_WAIT_S, walls["original csv"] - FIRST_SEND_WAIT_S),
        "omsync": (0.0, walls["omsync csv"]),
    }
    print(
        f"crashes        : kill -9 at {fractions} of each SyncTool's median transfer time (the original's "
        f"after the {FIRST_SEND_WAIT_S:g} s first-send wait), then start it again"
    )
    totals = {"original": [0, 0], "omsync": [0, 0]}
    for n, f in enumerate(fractions):
        for who in ("original", "omsync"):
            path = f"/peer/crash-{who}-{n}"
            kill_at = spans[who][0] + f * spans[who][1]
            t0 = time.perf_counter()
            try:
                if who == "original":
                    original_sync(orig, tid, path, kill_at=kill_at, timeout=CRASH_TIMEOUT_S)
                else:
                    omsync_sync(omsync, f"{hdfs_url}{path}", "csv", kill_at=kill_at, timeout=CRASH_TIMEOUT_S)
                done = f"done {time.perf_counter() - t0:6.1f} s after the create"
            except SystemExit as exc:  # it never finished: say how it stands, count what it left
                done = f"NOT DONE ({exc}); " + stuck(who, orig, omsync)
            files = hdfs_files(hdfs_url, path)
            dup, miss = compare(reference, csv_digests(hdfs_url, files))
            totals[who][0] += dup
            totals[who][1] += miss
            print(
                f"crash {n + 1} {who:8}: killed at {kill_at:5.2f} s; {done}; "
                f"{len(files)} files; {dup:,} duplicated, {miss:,} missing rows",
                flush=True,
            )
    for who, (dup, miss) in totals.items():
        print(f"crashes {who:8}: {dup:,} duplicated and {miss:,} missing rows over {len(fractions)} kills")


if __name__ == "__main__":
    raise SystemExit(main())
