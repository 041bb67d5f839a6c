"""Running the ``omsync`` command as a user would: a subprocess, no TTY, output captured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def omsync(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``omsync ARGS...`` with ``stdin`` as its input (else none: guarded actions need ``--yes``),
    run in ``cwd`` (default: the test run's)."""
    return subprocess.run(
        [sys.executable, "-m", "omsync_tui.cli.main", *args],
        capture_output=True,
        text=True,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        env=env,
        timeout=timeout,
        cwd=cwd,
    )
