"""Start-up time of ``omsync.pyz``: cold (first run unpacks it) and warm ``--help``.

Run by ``make bench`` as ``.venv/bin/python bench/bench_startup.py`` (builds ``dist/omsync.pyz``
when it is missing). Goal (CLI issue): warm ``--help`` ≤ 0.3 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.3


def timed(args: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main() -> int:
    pyz = ROOT / "dist" / "omsync.pyz"
    if not pyz.exists():
        sys.path.insert(0, str(ROOT / "zipapp"))
        from build import build

        build(pyz)
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    with tempfile.TemporaryDirectory() as home:
        env = {"HOME": home, "PATH": "/usr/bin:/bin"}
        cold = timed([python, str(pyz), "--help"], env)
        warm = statistics.median(timed([python, str(pyz), "--help"], env) for _ in range(7))
        version = statistics.median(timed([python, str(pyz), "version"], env) for _ in range(7))
        collector = statistics.median(timed([python, str(pyz), "collector", "--help"], env) for _ in range(5))
    venv = statistics.median(
        timed([sys.executable, "-m", "omsync_tui.cli.main", "--help"], {"PATH": "/usr/bin:/bin"})
        for _ in range(5)
    )
    print(f"omsync.pyz {pyz.stat().st_size / 1e6:.0f} MB")
    print(f"cold --help (unpacks)   : {cold:6.2f} s")
    verdict = "meets" if warm <= GOAL else "MISSES"
    print(f"warm --help             : {warm:6.2f} s  ({verdict} the {GOAL} s goal)")
    print(f"warm version            : {version:6.2f} s")
    print(f"warm collector --help   : {collector:6.2f} s")
    print(f"virtualenv --help       : {venv:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
