"""Scale-out (DESIGN §9): the 2 M-row FULL sync with one synctool and with two, and what the
leader's scheduling costs.

Run by ``make bench`` as ``.venv/bin/python bench/bench_scaleout.py [--rows N] [--partitions P]``.
The bench table of ``bench_e2e`` (P partitions, default 4) is synced to local Parquet ``--trials``
times (default 3) by each of three set-ups, alternated so that the machine's slow phases fall on
all alike:

- ``1 synctool``: the leader writes every subtask;
- ``2 synctools``: both write, the leader spreads the partitions over them;
- ``leader + 1``: the leader only schedules (``work = false``) and one worker writes — the
  leader's CPU is then the scheduling's own cost, shown per row.

This machine has 2 cores, and the collector and every synctool share them: two synctools cannot
go faster than one here (the collector alone takes about a core); the figures show what the
second process costs, not what a second host would give. Then, for the paper sizing of the
README, an idle continuous task of ``--idle-partitions`` (default 64) subtasks is scheduled by a
non-working leader for ``--idle-seconds`` (default 20): its CPU per subtask per second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_e2e import Trial, cpu_seconds, http, pipeline, process_names, trial

SETUPS = {
    "1 synctool": ("",),
    "2 synctools": ("", ""),
    "leader + 1": ("work = false", ""),
}


def show(label: str, rows: int, r: Trial) -> None:
    synctools = {k: v for k, v in r.cpu.items() if k.startswith("synctool")}
    cpu = ", ".join(f"{k} {v:.2f} s" for k, v in synctools.items())
    print(
        f"{label:12}: {r.rate:12,.0f} rows/s  ({rows:,} rows in {r.wall:.2f} s, {r.files} files; "
        f"CPU collector {r.cpu['collector']:.2f} s, {cpu}; steal {r.steal:.0%})"
    )


def full_syncs(tmp: Path, rows: int, partitions: int, trials: int) -> None:
    results: dict[str, list[Trial]] = {name: [] for name in SETUPS}
    for k in range(trials):
        for name, synctools in SETUPS.items():
            run = tmp / f"{name.replace(' ', '-')}-{k}"
            run.mkdir()
            with pipeline(run, rows, partitions, synctools) as (s_ep, procs):
                r = trial(str(run / "out"), s_ep, rows, procs)
            results[name].append(r)
            show(f"{name}", rows, r)
    print()
    medians = {name: statistics.median(r.rate for r in rs) for name, rs in results.items()}
    for name, rate in medians.items():
        print(f"{name:12}: {rate:12,.0f} rows/s median of {trials}")
    print(f"2 synctools / 1: {medians['2 synctools'] / medians['1 synctool']:.2f} (2 cores shared by all)")
    sched = [r.cpu["synctool"] for r in results["leader + 1"]]
    per_row = statistics.median(sched) / rows
    worker = statistics.median(r.cpu["synctool2"] for r in results["leader + 1"]) / rows
    print(
        f"scheduling: the non-working leader used {statistics.median(sched):.3f} s CPU for {rows:,} rows "
        f"({per_row * 1e9:.1f} ns per row; the worker {worker * 1e9:.0f} ns per row)"
    )


def idle_schedule(tmp: Path, partitions: int, seconds: float) -> None:
    with pipeline(tmp, partitions * 100, partitions, ("work = false", "")) as (s_ep, procs):
        http(
            "POST",
            f"http://{s_ep}/api/v1/tasks",
            {"name": "bench.t", "dest": str(tmp / "out"), "mode": "continuous"},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            task = http("GET", f"http://{s_ep}/api/v1/tasks/bench.t")["task"]
            assert isinstance(task, dict)
            if all(p["state"] == "RUNNING" for p in task["subtasks"]):
                break
            time.sleep(0.2)
        names = process_names(len(procs))
        cpu0 = {n: cpu_seconds(p.pid) for n, p in zip(names, procs, strict=True)}
        time.sleep(seconds)
        cpu = {n: cpu_seconds(p.pid) - cpu0[n] for n, p in zip(names, procs, strict=True)}
    per = cpu["synctool"] / seconds / partitions
    print(
        f"idle continuous task of {partitions} subtasks for {seconds:.0f} s: leader (scheduling only) "
        f"{cpu['synctool'] / seconds * 1000:.1f} ms CPU/s = {per * 1e6:.0f} µs per subtask per second; "
        f"worker {cpu['synctool2'] / seconds * 1000:.1f} ms CPU/s; "
        f"collector {cpu['collector'] / seconds * 1000:.1f} ms CPU/s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--trials", type=int, default=3, help="syncs per set-up (0: none); the median counts")
    parser.add_argument("--idle-partitions", type=int, default=64)
    parser.add_argument("--idle-seconds", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.trials:
            full_syncs(Path(tmp), args.rows, args.partitions, args.trials)
        (Path(tmp) / "idle").mkdir()
        idle_schedule(Path(tmp) / "idle", args.idle_partitions, args.idle_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
