"""``make demo``: a sandbox OpenMLDB cluster, real-format tables, decoded by ``omsync inspect``,
then a live sync: one ``omsync collector`` per tablet host pushing every partition, continuously,
to a stand-in SyncTool while the sandbox keeps writing; the collectors' ``/status`` pages show it.

Each step prints the command it runs, so a person can repeat it by hand. The collectors stop at
the end (Ctrl-C too); the sandbox is left running (``make demo-down`` stops it) so its files can be
explored.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "omsync"


def run(*args: str, head: int | None = None, tail: int | None = None) -> str:
    shown = "omsync " + " ".join(shlex.quote(a) for a in args)
    pipe = f" | head -n {head}" if head else f" | tail -n {tail}" if tail else ""
    print(f"\n$ {shown}{pipe}", flush=True)
    proc = subprocess.run([str(BIN), *args], capture_output=True, text=True)
    out = proc.stdout
    lines = out.splitlines()
    print("\n".join(lines[:head] if head else lines[-tail:] if tail else lines))
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"demo step failed (exit {proc.returncode}): {shown}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    base = parser.parse_args().dir.resolve()
    d = ["--dir", str(base)]
    run("sandbox", "down", *d)
    if base.exists():
        import shutil

        shutil.rmtree(base)
    run("sandbox", "up", *d, "--binlog-max-kb", "64", "--snapshot-compression", "snappy")
    run("sandbox", "create-table", *d, "shop.orders", "--storage", "memory", "--partitions", "2")
    run(
        "sandbox",
        "create-table",
        *d,
        "shop.events",
        "--preset",
        "multiindex",
        "--storage",
        "ssd",
        "--partitions",
        "3",
        "--snappy",
    )
    for table in ("shop.orders", "shop.events"):
        run("sandbox", "write", *d, table, "--rows", "2000")
        run("sandbox", "snapshot", *d, table)
        run("sandbox", "write", *d, table, "--rows", "300")
    run("sandbox", "delete", *d, "shop.orders", "user001-beta")
    run("sandbox", "alter", *d, "shop.orders", "--add-column", "city:string")
    run("sandbox", "write", *d, "shop.orders", "--rows", "100")
    status = run("sandbox", "status", *d)

    lines = status.splitlines()
    parts = [Path(line.strip()) for line in lines if line.startswith("         ")]
    orders, events = parts[0], parts[2]
    # where a sync of orders/pid 0 continues after its snapshot: MANIFEST.offset + 1
    offset = int(next(line for line in lines if "pid 0" in line).split(" offset ")[1].split()[0])
    run("inspect", "binlog", str(orders / "binlog"), head=9)
    run("inspect", "binlog", str(orders / "binlog"), "-o", "jsonl", "--from", str(offset + 1), head=3)
    run("inspect", "snapshot", str(orders / "snapshot"), head=5)
    run("inspect", "snapshot", str(events / "snapshot"), "-o", "jsonl", head=3)
    run("inspect", "binlog", str(events / "binlog"), tail=3)
    live_sync(base, seconds=20)
    print(f"\nThe sandbox is still up: explore {base}/tablets, or run `make demo-down`.")


def free_port(host: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def live_sync(base: Path, seconds: float) -> None:
    """Collectors on both simulated hosts, continuous tasks for every partition, rows flowing."""
    import time
    import urllib.request

    from omsync_tui.openmldb.proto import data_sync_pb2
    from omsync_tui.sandbox.cluster import SandboxCluster
    from omsync_tui.sandbox.receiver import Receiver
    from omsync_tui.sandbox.state import SandboxConfig

    config = SandboxConfig.load(base)
    d = ["--dir", str(base)]
    procs: list[subprocess.Popen[bytes]] = []
    collectors: dict[str, str] = {}  # tablet endpoint -> collector endpoint
    print("\n-- live sync: a collector per tablet host, a stand-in SyncTool receiving --")
    try:
        for tablet in config.tablets:
            host = tablet.split(":")[0]
            endpoint = f"{host}:{free_port(host)}"
            tdir = base / "tablets" / tablet.replace(":", "_")
            args = [
                "collector", "--endpoint", endpoint, "--zk", config.zk_hosts,
                "--tablet-flagfile", str(tdir / "tablet.flags"),
                "--datadir", str(base / "collectors" / host),
                "--log-dir", str(base / "collectors" / host / "log"),
            ]  # fmt: skip
            print(f"$ omsync {' '.join(shlex.quote(a) for a in args)} &")
            procs.append(
                subprocess.Popen([str(BIN), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            collectors[tablet] = endpoint
        deadline = time.monotonic() + 30
        for endpoint in collectors.values():
            while True:
                try:
                    with urllib.request.urlopen(f"http://{endpoint}/readyz", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"collector {endpoint} did not start") from None
                    time.sleep(0.2)
        writer = subprocess.Popen(
            [str(BIN), "sandbox", "write", *d, "shop.orders", "--rate", "200", "--duration", str(seconds)],
            stdout=subprocess.DEVNULL,
        )
        procs.append(writer)
        print(f"$ omsync sandbox write --dir {base} shop.orders --rate 200 --duration {seconds:g} &")
        from kazoo.client import KazooClient

        zk = KazooClient(hosts=config.zk_hosts)
        zk.start(timeout=10)
        try:
            cluster = SandboxCluster(base, zk, config)
            with Receiver() as rx:
                for name in ("shop.orders", "shop.events"):
                    st = cluster.table(name)
                    for pid in range(st.spec.partition_num):
                        leader = cluster.leader(st, pid)
                        rx.assign(
                            collectors[leader], st.tid, pid, mode=data_sync_pb2.kFullAndContinuous,
                            tablet_endpoint=leader,
                        )  # fmt: skip
                print(
                    f"every partition assigned to the collector on its leader's host; {seconds:g} s of sync"
                )
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    time.sleep(min(5.0, max(0.0, end - time.monotonic())))
                    total = sum(s.row_count for s in rx.subtasks())
                    print(f"  {time.strftime('%H:%M:%S')}  rows received so far: {total:,}")
                writer.wait(30)
                for endpoint in collectors.values():
                    print(f"\n$ curl http://{endpoint}/status")
                    with urllib.request.urlopen(f"http://{endpoint}/status", timeout=5) as r:
                        print(r.read().decode().rstrip())
                # every row written so far must arrive, exactly once
                for name in ("shop.orders", "shop.events"):
                    st = cluster.table(name)
                    want = {pid: len(rows) for pid, rows in cluster.expected_full_sync(name).items()}
                    rx.wait(
                        lambda r, st=st, want=want: all(
                            r.subtask(st.tid, p).row_count >= n for p, n in want.items()
                        ),
                        timeout=60,
                        what=f"every row of {name}",
                    )
                    got = {p: rx.subtask(st.tid, p).row_count for p in want}
                    verdict = "exactly" if got == want else "NOT"
                    print(f"{name}: received {sum(got.values()):,} rows, {verdict} the rows written ({want})")
        finally:
            zk.stop()
            zk.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(15)
        print("collectors stopped")


if __name__ == "__main__":
    main()
