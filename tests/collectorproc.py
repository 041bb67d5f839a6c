"""Running ``omsync collector`` as a real subprocess in tests: config, start, probe, kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from zkhelpers import wait_until


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class CollectorProcess:
    """One ``omsync collector`` process with its own TOML config and log file."""

    def __init__(
        self,
        base: Path,
        *,
        zk_hosts: str,
        roots: tuple[Path, ...],
        datadir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        session_timeout_ms: int = 4000,
        extra: str = "",
    ) -> None:
        self.port = port or free_port(host)
        self.endpoint = f"{host}:{self.port}"
        self.dir = base / f"collector-{host}-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "collector.toml"
        root_list = ", ".join(f'"{r}"' for r in roots)
        self.config.write_text(
            f'[collector]\nendpoint = "{self.endpoint}"\ndatadir = "{datadir}"\n'
            "sync_task_long_interval_ms = 500\nrequest_timeout_ms = 5000\n"
            f'{extra}\n[zookeeper]\nhosts = "{zk_hosts}"\nsession_timeout_ms = {session_timeout_ms}\n'
            f'[tablet]\nroot_paths = [{root_list}]\n[log]\ndir = "{self.dir / "log"}"\nlevel = "debug"\n'
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = self.dir / "stderr.txt"

    def __repr__(self) -> str:
        return f"collector {self.endpoint}"

    def start(self) -> CollectorProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "omsync_tui.cli.main", "collector", "--config", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
        wait_until(self._listening, 20, f"collector {self.endpoint} listening\n{self.log_tail()}")
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"collector exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://{self.endpoint}{path}", timeout=5) as r:
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

    def terminate(self, timeout: float = 15.0) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took)."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - t0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:])
