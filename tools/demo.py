"""``make demo``: a sandbox OpenMLDB cluster, real-format tables, decoded by ``omsync inspect``,
then a live sync: one ``omsync collector`` per tablet host, two ``omsync synctool`` sharing the
work, a continuous task per table — ``shop.orders`` to local Parquet, ``shop.events`` to the
sandbox's real HDFS (a MiniDFSCluster on loopback, ``sandbox up --hdfs``) — while the sandbox
keeps writing, watched in ``omsync tui`` (in a terminal) or with ``omsync task status`` every few
seconds (no TTY), then verified.

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
    run("sandbox", "up", *d, "--hdfs", "--binlog-max-kb", "64", "--snapshot-compression", "snappy")
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
    hdfs = next(line.split()[1] for line in lines if line.startswith("hdfs  "))
    parts = [Path(line.strip()) for line in lines if line.startswith("         ")]
    orders, events = parts[0], parts[2]
    # where a sync of orders/pid 0 continues after its snapshot: MANIFEST.offset + 1
    offset = int(next(line for line in lines if "pid 0" in line).split(" offset ")[1].split()[0])
    run("inspect", "binlog", str(orders / "binlog"), head=9)
    run("inspect", "binlog", str(orders / "binlog"), "-o", "jsonl", "--from", str(offset + 1), head=3)
    run("inspect", "snapshot", str(orders / "snapshot"), head=5)
    run("inspect", "snapshot", str(events / "snapshot"), "-o", "jsonl", head=3)
    run("inspect", "binlog", str(events / "binlog"), tail=3)
    live_sync(base, hdfs, seconds=20)
    print(f"\nThe sandbox is still up: explore {base}/tablets, or run `make demo-down`.")


def free_port(host: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def live_sync(base: Path, hdfs: str, seconds: float) -> None:
    """Collectors on both simulated hosts, two synctools, continuous tasks to local Parquet and HDFS."""
    import time
    import urllib.request

    from omsync_tui.sandbox.state import SandboxConfig

    config = SandboxConfig.load(base)
    d = ["--dir", str(base)]
    procs: list[subprocess.Popen[bytes]] = []
    dests = {
        "shop.orders": str(base / "offline" / "shop.orders"),
        "shop.events": f"{hdfs}/offline/shop.events",
    }
    print(
        "\n-- live sync: a collector per tablet host, two synctools sharing the work, continuous tasks to "
        "local disk and HDFS --"
    )

    def start(args: list[str], ready: str) -> None:
        print(f"$ omsync {' '.join(shlex.quote(a) for a in args)} &")
        log = open(base / f"{args[0]}-{len(procs)}.log", "wb")  # noqa: SIM115 - lives with the process
        procs.append(subprocess.Popen([str(BIN), *args], stdout=subprocess.DEVNULL, stderr=log))
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{ready}/readyz", timeout=1):
                    return
            except OSError:
                if procs[-1].poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{args[0]} did not start; see {log.name}") from None
                time.sleep(0.2)

    try:
        for tablet in config.tablets:
            host = tablet.split(":")[0]
            endpoint = f"{host}:{free_port(host)}"
            tdir = base / "tablets" / tablet.replace(":", "_")
            start(
                [
                    "collector",
                    "--endpoint",
                    endpoint,
                    "--zk",
                    config.zk_hosts,
                    "--tablet-flagfile",
                    str(tdir / "tablet.flags"),
                    "--datadir",
                    str(base / "collectors" / host),
                    "--log-dir",
                    str(base / "collectors" / host / "log"),
                ],
                endpoint,
            )
        synctools = []
        for name in ("synctool", "synctool2"):  # two synctools share the work (the first leads)
            endpoint = f"127.0.0.1:{free_port('127.0.0.1')}"
            (base / f"{name}.toml").write_text(
                f'[synctool]\nendpoint = "{endpoint}"\ndatadir = "{base / name}"\n'
                f'[sink]\ncommit_seconds = 5\n[zookeeper]\nhosts = "{config.zk_hosts}"\n'
                f'[log]\ndir = "{base / name / "log"}"\n'
            )
            start(["synctool", "--config", str(base / f"{name}.toml")], endpoint)
            for _ in range(100):  # until the first is elected leader
                if synctools or _leader(endpoint):
                    break
                time.sleep(0.1)
            synctools.append(endpoint)
        synctool = synctools[0]
        st = ["--synctool", synctool]
        for table, dest in dests.items():
            run("task", "create", table, "--dest", dest, "--mode", "continuous", *st)
        writers = []
        for table, rate in (("shop.orders", 200), ("shop.events", 50)):  # events: live rows to HDFS
            print(f"$ omsync sandbox write --dir {base} {table} --rate {rate} --duration {seconds:g} &")
            writers.append(
                subprocess.Popen(
                    [
                        str(BIN),
                        "sandbox",
                        "write",
                        *d,
                        table,
                        "--rate",
                        str(rate),
                        "--duration",
                        str(seconds),
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )
        procs.extend(writers)
        if sys.stdin.isatty() and sys.stdout.isatty():
            print(f"$ omsync tui --synctool {synctool}      (q quits; the demo then verifies)")
            subprocess.run([str(BIN), "tui", *st])
        else:  # no terminal: a status view every few seconds instead of the TUI
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(min(5.0, max(0.0, end - time.monotonic())))
                run("task", "status", *st)
        for writer in writers:
            writer.wait(30)
        for table in ("shop.orders", "shop.events"):
            run("task", "wait", table, "--timeout", "60", *st)
        run("task", "status", *st)
        run("task", "status", "shop.events", *st)  # each subtask with the synctool that writes it
        for table in ("shop.orders", "shop.events"):
            run("task", "verify", table, *st)
        run("collector", "list", *st)
        run("synctool", "list", *st)
        print(f"\n$ curl http://{synctool}/status")
        with urllib.request.urlopen(f"http://{synctool}/status", timeout=5) as r:
            print(r.read().decode().rstrip())
        _compare(base, dests)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(15)
        print("collectors and synctools stopped")


def _leader(endpoint: str) -> bool:
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{endpoint}/api/v1/status", timeout=2) as r:
            return bool(json.loads(r.read()).get("role") == "leader")
    except OSError:
        return False


def _compare(base: Path, dests: dict[str, str]) -> None:
    """The Parquet datasets (local disk and HDFS) against the sandbox's record of what was written."""
    import pyarrow.dataset as ds
    from kazoo.client import KazooClient

    from omsync_tui.sandbox.cluster import SandboxCluster
    from omsync_tui.sandbox.state import SandboxConfig
    from omsync_tui.services.sinks.destination import open_destination

    config = SandboxConfig.load(base)
    zk = KazooClient(hosts=config.zk_hosts)
    zk.start(timeout=10)
    try:
        cluster = SandboxCluster(base, zk, config)
        for table, uri in dests.items():
            want = sum(len(rows) for rows in cluster.expected_full_sync(table).values())
            dest = open_destination(uri)
            got = ds.dataset(
                dest.root, format="parquet", partitioning="hive", filesystem=dest.fs
            ).count_rows()
            verdict = "exactly the rows written" if got == want else f"NOT the {want:,} rows written"
            print(f"{table}: {got:,} rows in {uri} — {verdict}")
    finally:
        zk.stop()
        zk.close()


if __name__ == "__main__":
    main()
