"""``DaemonProcess``: an ``omsync collector`` or ``omsync synctool`` run as a real subprocess in
tests — start it on its TOML config, probe its HTTP face, signal, kill, read its output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from helpers.waiting import wait_until
from omsync_tui.sandbox.jvm.zkserver import free_port  # one free loopback port, for everyone


class DaemonProcess:
    """A subclass sets ``kind`` and writes ``self.config`` in its ``__init__`` after ``_setup``."""

    kind = ""
    log_lines = 40  # how much of its output a failure shows
    term_timeout = 15.0

    def _setup(self, base: Path, host: str, port: int | None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port(host)
        self.endpoint = f"{host}:{self.port}"
        self.dir = base / f"{self.kind}-{host}-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / f"{self.kind}.toml"
        self.env = dict(env or {})  # extra environment (AWS_* for an S3 destination)
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = self.dir / "stderr.txt"

    def __repr__(self) -> str:
        return f"{self.kind} {self.endpoint}"

    def start(self) -> Self:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "omsync_tui.cli.main", self.kind, "--config", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
        wait_until(self._listening, 20, f"{self} listening\n{self.log_tail()}")
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://{self.endpoint}{path}", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def ready(self) -> bool:
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def kill(self) -> None:
        """``kill -9``: no clean-up of any kind."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the process is alive but answers nothing (its sockets still accept)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def terminate(self, timeout: float | None = None) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took)."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(self.term_timeout if timeout is None else timeout)
        return code, time.monotonic() - t0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int | None = None) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no output)"
        return "\n".join(text.splitlines()[-(lines or self.log_lines) :])
