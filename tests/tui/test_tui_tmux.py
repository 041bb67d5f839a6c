"""``omsync tui`` in a real terminal: the installed entry point runs inside a detached tmux session
(its own tmux server socket, so a user's tmux is never touched), draws the unreachable banner
for a synctool port nobody listens on, and quits on ``q``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.daemonproc import free_port
from helpers.waiting import wait_until

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (make setup installs it)")


def omsync_exe() -> str:
    beside = Path(sys.executable).parent / "omsync"
    return str(beside) if beside.exists() else shutil.which("omsync") or "omsync"


@pytest.fixture
def tmux() -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    assert TMUX is not None
    sock = f"omsync-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TMUX, "-L", sock, *args], capture_output=True, text=True, timeout=10)

    yield run
    run("kill-server")  # this test's own server only (its private -L socket)


def test_tui_shows_unreachable_banner_and_quits(
    tmux: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    command = f"{omsync_exe()} tui --synctool {endpoint} --refresh 0.5"
    started = tmux("new-session", "-d", "-x", "120", "-y", "30", "-s", "tui", command)
    assert started.returncode == 0, started.stderr

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "tui").stdout

    wait_until(
        lambda: "unreachable" in screen(),
        20,
        lambda: f"the unreachable banner; screen:\n{screen()}",
        every=0.1,
    )
    assert endpoint in screen()

    tmux("send-keys", "-t", "tui", "q")
    wait_until(
        lambda: tmux("has-session", "-t", "tui").returncode != 0,
        10,
        lambda: f"the session to end after q; screen:\n{screen()}",
        every=0.1,
    )
