"""Build ``omsync.pyz`` with shiv: ``python zipapp/build.py [OUT]`` (default ``dist/omsync.pyz``).

Every dependency is bundled (pyarrow, aimrocks, textual, ...), byte-compiled (``--compile-pyc``:
this environment sets PYTHONDONTWRITEBYTECODE, so without it every start would be slow), and the
archive is reproducible. It unpacks to ``~/.cache/omsync/pyz`` (platformdirs' cache dir on Linux)
on first use; ``preamble.py`` removes older unpacked builds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    shiv = Path(sys.executable).parent / "shiv"
    args = [
        "--compile-pyc",
        "--reproducible",
        "-c",
        "omsync",
        "-o",
        str(out),
        "--root",
        "~/.cache/omsync/pyz",
    ]
    args += ["--preamble", str(HERE / "preamble.py"), str(HERE.parent)]
    subprocess.run([str(shiv), *args], check=True, stdout=subprocess.DEVNULL)
    return out


if __name__ == "__main__":
    target = build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "dist" / "omsync.pyz")
    print(f"{target}: {target.stat().st_size / 1e6:.0f} MB")
