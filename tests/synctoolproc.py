"""Running ``omsync synctool`` as a real subprocess in tests: config, start, probe, kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from collectorproc import free_port
from zkhelpers import wait_until


class SynctoolProcess:
    """One ``omsync synctool`` process with its own TOML config and log file."""

    def __init__(
        self,
        base: Path,
        *,
        zk_hosts: str,
        host: str = "127.0.0.1",
        port: int | None = None,
        session_timeout_ms: int = 4000,
        extra_synctool: str = "",
        extra_sink: str = "",
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port(host)
        self.endpoint = f"{host}:{self.port}"
        self.dir = base / f"synctool-{host}-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "synctool.toml"
        self.config.write_text(
            f'[synctool]\nendpoint = "{self.endpoint}"\ndatadir = "{self.dir / "data"}"\n'
            "check_period_s = 1\ncollector_timeout_s = 6\ninit_timeout_s = 8\nretry_backoff_s = 0.5\n"
            f"{extra_synctool}\n"
            f"[sink]\nroll_seconds = 1\n{extra_sink}\n"
            f'[zookeeper]\nhosts = "{zk_hosts}"\nsession_timeout_ms = {session_timeout_ms}\n'
            f'[log]\ndir = "{self.dir / "log"}"\nlevel = "debug"\n'
        )
        self.env = dict(env or {})  # extra environment (AWS_* for an S3 destination)
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = self.dir / "stderr.txt"

    def __repr__(self) -> str:
        return f"synctool {self.endpoint}"

    def start(self) -> SynctoolProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "omsync_tui.cli.main", "synctool", "--config", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
            )
        wait_until(self._listening, 20, f"synctool {self.endpoint} listening\n{self.log_tail()}")
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"synctool exited with {self.proc.returncode}:\n{self.log_tail()}")
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

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://{self.endpoint}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def leading(self) -> bool:
        try:
            return self.api("GET", "/api/v1/status")[1].get("role") == "leader"
        except OSError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self, timeout: float = 20.0) -> tuple[int, float]:
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - t0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:])
