"""omsync's collector feeding OpenMLDB's original SyncTool, case by case, checked row for row.

Run as ``.venv/bin/python bench/peer_interop.py`` with ``OMSYNC_ORIGINAL_SYNCTOOL`` set (see
``original_synctool.py``; OpenMLDB does not publish the SyncTool on Maven Central, so this cannot
be a CI test). One sandbox cluster (ZooKeeper, one tablet host, the nameserver/tablet responder),
a MiniDFSCluster, one ``omsync collector`` and the original; each case creates a task through the
original's HTTP face (the calls ``synctool_helper.py`` makes, our own client) and compares the CSV
lines the original wrote to HDFS with the sandbox's ground truth rendered as the original renders
rows (``render_csv``). Prints one line per case: what the original did, and ``OK`` or ``DIFFERS``.

Cases: mode 0 (disk table, snapshot + binlog), mode 1 with a start ts, mode 2 while the sandbox
writes; then what the original is documented to reject or mangle: a memory table, a snappy table,
ALTER TABLE ADD COLUMN, a multi-index table; and the shape of its TaskStatus JSON.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa
from bench_e2e import free_port
from bench_peer import collector
from original_synctool import OriginalSyncTool, Unavailable, locate

from omsync_tui.openmldb.metadata import read_manifest
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.row.batch import arrow_schema
from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import BASE_TS, preset_spec
from omsync_tui.sandbox.jvm.hdfs import HdfsServer
from omsync_tui.sandbox.jvm.zkserver import ZkServer
from omsync_tui.sandbox.partition import read_journal
from omsync_tui.sandbox.responder import ClusterResponder
from omsync_tui.sandbox.state import SandboxConfig
from omsync_tui.sandbox.truth import TruthRow
from omsync_tui.services.sinks.csvformat import render_csv

Lines = Counter[str]


def truth_lines(
    cluster: SandboxCluster,
    name: str,
    keep: Callable[[int, TruthRow], bool] | None = None,
    *,
    width: int | None = None,
) -> Lines:
    """The rows a FULL sync must produce, as the original's CSV lines (latest schema, or its first
    ``width`` columns)."""
    latest = cluster.table(name).schema.latest
    width = len(latest) if width is None else width
    schema = arrow_schema(latest[:width])
    out: Lines = Counter()
    for pid, rows in cluster.expected_full_sync(name).items():
        rows = [r for r in rows if keep is None or keep(pid, r)]
        if not rows:
            continue
        padded = [(tuple(r.values) + (None,) * width)[:width] for r in rows]
        columns = list(zip(*padded, strict=True))
        batch = pa.record_batch([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema)
        out.update(render_csv(batch, "UTC").decode().splitlines())
    return out


def hdfs_lines(hdfs_url: str, path: str) -> tuple[Lines, int]:
    from hdfs_native import Client

    client = Client(hdfs_url)
    lines: Lines = Counter()
    files = 0
    try:
        listed = list(client.list_status(path))
    except FileNotFoundError:
        return lines, 0
    for s in listed:
        if s.isdir:
            continue
        files += 1
        with client.read(s.path) as f:
            lines.update(f.read().decode().splitlines())
    return lines, files


def describe(got: Lines, want: Lines) -> str:
    extra, missing = got - want, want - got
    if not extra and not missing:
        return f"OK: {sum(got.values()):,} rows, each once, byte for byte"
    return (
        f"DIFFERS: {sum(got.values()):,} rows; {sum(extra.values()):,} not in the truth, "
        f"{sum(missing.values()):,} missing"
    )


class Env:
    def __init__(self, tmp: Path, home: Path) -> None:
        self.tmp = tmp
        self.zk = ZkServer(tmp / "zk")
        self.zk.start()
        self.hdfs = HdfsServer(tmp / "hdfs")
        self.hdfs.start()
        from kazoo.client import KazooClient

        self.zkc = KazooClient(hosts=self.zk.hosts)
        self.zkc.start(timeout=15)
        self.tablet = f"127.0.0.1:{free_port()}"
        self.cluster = SandboxCluster.create(
            tmp / "sb", self.zkc, SandboxConfig(self.zk.hosts, tablets=(self.tablet,))
        )
        self.cluster.register_tablets(ephemeral=True)
        self.responder = ClusterResponder(self.cluster)
        self.responder.start()
        roots = [self.cluster.tablet_root(self.tablet, s) for s in ("memory", "ssd", "hdd")]
        self.collector = collector(tmp, self.zk.hosts, roots)
        self.orig = OriginalSyncTool(
            home, tmp / "original", port=free_port(), zk_hosts=self.zk.hosts, zk_root="/openmldb",
            hdfs_url=self.hdfs.url, check_period=2,
        )  # fmt: skip
        self.orig.start()

    def close(self) -> None:
        for stop in (
            self.orig.stop,
            self.collector.terminate,
            self.responder.stop,
            self.zkc.stop,
            self.hdfs.stop,
            self.zk.stop,
        ):
            try:
                stop()
            except Exception as exc:
                print(f"(stopping: {exc})", file=sys.stderr)

    def table(self, name: str, *, storage: str = "hdd", preset: str = "mixed", snappy: bool = False) -> None:
        self.cluster.create_table(
            preset_spec(preset, *name.split("."), partition_num=2, storage=storage, snappy=snappy)
        )

    def wait_lines(self, path: str, want: Lines, timeout: float = 90) -> tuple[Lines, int]:
        deadline = time.monotonic() + timeout
        while True:
            got, files = hdfs_lines(self.hdfs.url, path)
            if got == want or time.monotonic() > deadline:
                return got, files
            time.sleep(1)

    def wait_idle(self, name: str, timeout: float = 90) -> None:
        """Until the original lists no task of ``name``'s tid (a FULL table task is removed when done)."""
        tid = self.cluster.table(name).tid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(t.get("progress", {}).get("tid") == tid for t in self.orig.tasks()):  # type: ignore[union-attr]
                return
            time.sleep(0.5)


def run_cases(env: Env) -> None:
    c, orig = env.cluster, env.orig

    def report(case: str, text: str) -> None:
        print(f"{case:34}| {text}", flush=True)

    # mode 0: a disk table, snapshot + binlog
    env.table("peer.full")
    c.write("peer.full", 3000)
    c.snapshot("peer.full")
    c.write("peer.full", 1000)
    answer = orig.create("peer", "full", 0, "/interop/full")
    env.wait_idle("peer.full")
    got, files = hdfs_lines(env.hdfs.url, "/interop/full")
    report(
        "mode 0, hdd table", f"create {answer}; {files} files; " + describe(got, truth_lines(c, "peer.full"))
    )

    # mode 1: rows from start_ts (snapshot part by index 0's ts column, binlog part by put time)
    env.table("peer.incr", storage="ssd")
    c.write("peer.incr", 2000)
    c.snapshot("peer.incr")
    c.write("peer.incr", 1000)
    start_ts = BASE_TS + 7 * 1200 + 3
    st = c.table("peer.incr")
    offsets = {
        pid: int(read_manifest(c.partition_dir(st, pid) / "snapshot" / "MANIFEST").offset) for pid in range(2)
    }
    put_ts = {
        pid: {
            int(op["i"]): int(tablet_pb2.LogEntry.FromString(bytes.fromhex(op["e"])).ts)
            for op in read_journal(c.journal_path(st, pid))
            if op["op"] == "put"
        }
        for pid in range(2)
    }
    want = truth_lines(
        c,
        "peer.incr",
        lambda pid, r: (r.ts if r.log_index <= offsets[pid] else put_ts[pid][r.log_index]) >= start_ts,
    )
    answer = orig.create("peer", "incr", 1, "/interop/incr", start_ts)
    got, files = env.wait_lines("/interop/incr", want)
    report("mode 1 from a start ts, ssd table", f"create {answer}; {files} files; " + describe(got, want))

    # mode 2 while the sandbox writes
    env.table("peer.live")
    c.write("peer.live", 500)
    answer = orig.create("peer", "live", 2, "/interop/live")
    writer = threading.Thread(
        target=lambda: [c.write("peer.live", 100) or time.sleep(0.3) for _ in range(15)]
    )
    writer.start()
    writer.join()
    got, files = env.wait_lines("/interop/live", truth_lines(c, "peer.live"))
    report(
        "mode 2 while the sandbox writes",
        f"create {answer}; {files} files; " + describe(got, truth_lines(c, "peer.live")),
    )
    status = orig.status()
    task = status["task"][0]  # type: ignore[index]
    info = status["readableInfo"][0]  # type: ignore[index]
    shape = f"keys {sorted(task)}; progress keys {sorted(task['progress'])}; count {task['count']!r}"
    report("TaskStatus JSON (GET + {} body)", f"{shape}; readableInfo {info!r}")
    orig.delete("peer", "live")

    # what the original is documented to refuse or mangle
    env.table("peer.mem", storage="memory")
    c.write("peer.mem", 500)
    report("memory table", f"create {orig.create('peer', 'mem', 0, '/interop/mem')}")

    env.table("peer.snappy", snappy=True)
    c.write("peer.snappy", 1500)
    c.snapshot("peer.snappy")
    c.write("peer.snappy", 500)
    answer = orig.create("peer", "snappy", 0, "/interop/snappy")
    env.wait_idle("peer.snappy")
    got, files = hdfs_lines(env.hdfs.url, "/interop/snappy")
    report(
        "snappy table (omsync decompresses)",
        f"create {answer}; {files} files; " + describe(got, truth_lines(c, "peer.snappy")),
    )

    env.table("peer.multi", preset="multiindex")
    c.write("peer.multi", 1000)
    answer = orig.create("peer", "multi", 0, "/interop/multi")
    env.wait_idle("peer.multi")
    got, files = hdfs_lines(env.hdfs.url, "/interop/multi")
    report(
        "multi-index table (binlog only)",
        f"create {answer}; {files} files; " + describe(got, truth_lines(c, "peer.multi")),
    )

    env.table("peer.alter")
    c.write("peer.alter", 500)
    c.add_column("peer.alter", Column("city", ColumnType.VARCHAR))
    c.write("peer.alter", 500)
    answer = orig.create("peer", "alter", 0, "/interop/alter")
    time.sleep(20)
    got, files = hdfs_lines(env.hdfs.url, "/interop/alter")
    still = [t.get("status") for t in orig.tasks()]
    log = (env.tmp / "original" / "synctool.log").read_text(errors="replace")
    errors = sorted({line.split(" - ", 1)[-1][:220] for line in log.splitlines() if "Response error" in line})
    base = len(c.table("peer.alter").spec.columns)
    report(
        "ALTER TABLE ADD COLUMN",
        f"create {answer}; after 20 s {files} files, {sum(got.values()):,} of 1,000 rows; tasks still listed "
        f"{still}; against all {base + 1} columns: "
        + describe(got, truth_lines(c, "peer.alter"))
        + f"; against the {base} columns of column_desc: "
        + describe(got, truth_lines(c, "peer.alter", width=base))
        + f"; SendData errors: {errors[:2]}",
    )


def main() -> int:
    try:
        home = locate()
    except Unavailable as exc:
        print(f"original SyncTool: unavailable: {exc}")
        return 1
    origin = home / "ORIGIN"
    print(f"original SyncTool: {home}" + (f" ({origin.read_text().strip()})" if origin.exists() else ""))
    with tempfile.TemporaryDirectory() as name:
        env = Env(Path(name), home)
        try:
            run_cases(env)
        finally:
            env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
