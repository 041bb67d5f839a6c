"""Freshness: how long a row put on a tablet takes to be in a committed file (put → visible).

Run by ``make bench`` as ``.venv/bin/python bench/bench_fresh.py [--writes N]``. A sandbox cluster
(a real ZooKeeper, a one-partition memory table whose binlog the sandbox appends to), one
collector and one synctool as processes, a continuous task to local disk. The bench puts ``N``
rows one at a time (random gaps, 100 ms on average), and a poller asks the synctool every 20 ms
for the partition's committed point: a row at binlog offset ``o`` is visible once that point is
past ``o`` (its file renamed and the point stored). Printed per configuration: p50, p90, p99 and
the worst of put → visible, over every row.

Configurations: ``[sink] commit_seconds`` 1 and 60 (the default); the collector as configured by
default (an idle partition's binlog is polled every 0.2 s; ``sync_task_long_interval_ms`` only
spaces its heartbeats). Goal (issue "scale-out and freshness"): with ``commit_seconds = 1``, p50 ≤
1.5 s and p99 ≤ 3 s.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_e2e import free_port, http, wait_ready

from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.jvm.zkserver import ZkServer
from omsync_tui.sandbox.state import SandboxConfig

TABLET = "127.0.0.1:10921"
CONFIGS = (1.0, 60.0)  # commit_seconds


def subtask(s_ep: str) -> dict[str, Any]:
    """The task's one subtask as ``/api/v1`` shows it."""
    with urllib.request.urlopen(f"http://{s_ep}/api/v1/tasks/db.t", timeout=5) as r:
        (sub,) = json.loads(r.read())["task"]["subtasks"]
    assert isinstance(sub, dict)
    return sub


def committed_offset(s_ep: str) -> int:
    point = subtask(s_ep)["committed"]
    return int(point["offset"]) if point.get("phase") == "binlog" else 0


def start(what: str, tmp: Path, config: str) -> subprocess.Popen[bytes]:
    path = tmp / f"{what}.toml"
    path.write_text(config)
    return subprocess.Popen(
        [sys.executable, "-m", "omsync_tui.cli.main", what, "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / f"{what}.err", "wb"),
    )


def one(tmp: Path, zk: ZkServer, commit_s: float, writes: int) -> list[float]:
    """Seconds from put to visible of each of ``writes`` rows, one configuration."""
    from kazoo.client import KazooClient

    tmp.mkdir(parents=True)
    hosts = f"{zk.hosts}/commit-{int(commit_s)}"  # a chroot of its own
    client = KazooClient(hosts=zk.hosts)
    client.start(timeout=10)
    client.ensure_path("/" + hosts.split("/", 1)[1])
    client.stop()
    client.close()
    client = KazooClient(hosts=hosts)
    client.start(timeout=10)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        cluster = SandboxCluster.create(tmp / "sb", client, SandboxConfig(hosts, tablets=(TABLET,)))
        cluster.create_table(preset_spec("mixed", "db", "t", partition_num=1, storage="memory"))
        c_ep, s_ep = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        roots = ", ".join(f'"{cluster.tablet_root(TABLET, s)}"' for s in ("memory", "ssd", "hdd"))
        procs.append(
            start(
                "collector",
                tmp,
                f'[collector]\nendpoint = "{c_ep}"\ndatadir = "{tmp / "cdata"}"\n'
                f'[zookeeper]\nhosts = "{hosts}"\n'
                f'[tablet]\nroot_paths = [{roots}]\n[log]\ndir = "{tmp / "clog"}"\nlevel = "warning"\n',
            )
        )
        procs.append(
            start(
                "synctool",
                tmp,
                f'[synctool]\nendpoint = "{s_ep}"\ndatadir = "{tmp / "sdata"}"\n'
                f"[sink]\ncommit_seconds = {commit_s}\n"
                f'[zookeeper]\nhosts = "{hosts}"\n'
                f'[log]\ndir = "{tmp / "slog"}"\nlevel = "warning"\n',
            )
        )
        wait_ready(f"http://{c_ep}/readyz", procs[0], "collector")
        wait_ready(f"http://{s_ep}/readyz", procs[1], "synctool")
        while http("GET", f"http://{s_ep}/api/v1/status").get("role") != "leader":
            time.sleep(0.05)
        http(
            "POST",
            f"http://{s_ep}/api/v1/tasks",
            {"name": "db.t", "dest": str(tmp / "out"), "mode": "continuous"},
        )
        while subtask(s_ep)["state"] != "RUNNING":
            time.sleep(0.05)

        put_at: dict[int, float] = {}  # binlog offset -> when its put returned
        seen_at: dict[int, float] = {}
        done = threading.Event()

        def poll() -> None:
            last = 0
            while not done.is_set():
                now_off = committed_offset(s_ep)
                t = time.time()
                for o in range(last, now_off):
                    seen_at.setdefault(o, t)
                last = max(last, now_off)
                if len(put_at) == writes and all(o in seen_at for o in put_at):
                    return
                time.sleep(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        rng = random.Random(1)
        for _ in range(writes):
            first, _end = cluster.write("db.t", 1)
            put_at[first + 1] = time.time()  # row n is binlog offset n + 1 (one partition, puts only)
            time.sleep(rng.uniform(0.0, 0.2))
        poller.join(commit_s + 60)
        done.set()
        missing = [o for o in put_at if o not in seen_at]
        if missing:
            raise SystemExit(f"{len(missing)} rows never became visible (first offset {min(missing)})")
        return [seen_at[o] - put_at[o] for o in sorted(put_at)]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
        client.stop()
        client.close()


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1] if len(xs) > 1 else xs[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        zk = ZkServer(tmp / "zk")
        zk.start()
        try:
            results = {}
            for commit_s in CONFIGS:
                lat = one(tmp / f"commit-{commit_s:g}", zk, commit_s, args.writes)
                results[commit_s] = lat
                print(
                    f"put → visible, commit_seconds {commit_s:>4g}: p50 {pct(lat, 50):5.2f} s, "
                    f"p90 {pct(lat, 90):5.2f} s, p99 {pct(lat, 99):5.2f} s, worst {max(lat):5.2f} s "
                    f"({len(lat)} rows)"
                )
        finally:
            zk.stop()
    lat = results[1.0]
    ok = pct(lat, 50) <= 1.5 and pct(lat, 99) <= 3.0
    print("goal (commit_seconds 1: p50 ≤ 1.5 s, p99 ≤ 3 s): " + ("met" if ok else "MISSED"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
