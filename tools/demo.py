"""``make demo``: a sandbox OpenMLDB cluster, real-format tables, decoded by ``omsync inspect``.

Each step prints the command it runs, so a person can repeat it by hand. The sandbox is left
running at the end (``make demo-down`` stops it) so its files can be explored.
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
    print(f"\nThe sandbox is still up: explore {base}/tablets, or run `make demo-down`.")


if __name__ == "__main__":
    main()
