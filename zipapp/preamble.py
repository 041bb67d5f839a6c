"""Runs inside ``omsync.pyz`` after shiv unpacked it: remove older unpacked versions.

shiv keeps one directory per build under its root (``~/.cache/omsync/pyz``, platformdirs' cache
dir on Linux). Every new build would leave another ~250 MB behind; this removes the other builds'
directories once they have not been used for a day (a process started from an older build a
moment ago keeps its files).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

_DAY = 24 * 3600


def _clean() -> None:
    here = next((Path(p) for p in sys.path if "/omsync.pyz_" in p and p.endswith("site-packages")), None)
    if here is None:
        return
    current = here.parent
    root = current.parent
    now = time.time()
    for entry in root.iterdir():
        if entry == current or not entry.name.startswith(("omsync.pyz_", ".omsync.pyz_")):
            continue
        try:
            if now - entry.stat().st_mtime > _DAY:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        except OSError:
            pass


_clean()
