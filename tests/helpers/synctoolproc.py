"""Running ``omsync synctool`` as a real subprocess in tests: its config and ``/api/v1`` calls; the
rest is ``DaemonProcess``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from helpers.daemonproc import DaemonProcess


class SynctoolProcess(DaemonProcess):
    """One ``omsync synctool`` process with its own TOML config and log file."""

    kind = "synctool"
    log_lines = 60
    term_timeout = 20.0

    def __init__(
        self,
        base: Path,
        *,
        zk_hosts: str,
        host: str = "127.0.0.1",
        port: int | None = None,
        session_timeout_ms: int = 4000,
        commit_seconds: float = 1,
        extra_synctool: str = "",
        extra_sink: str = "",
        extra: str = "",
        env: dict[str, str] | None = None,
    ) -> None:
        self._setup(base, host, port, env)
        self.config.write_text(
            f'[synctool]\nendpoint = "{self.endpoint}"\ndatadir = "{self.dir / "data"}"\n'
            "check_period_s = 1\ncollector_timeout_s = 6\ninit_timeout_s = 8\nretry_backoff_s = 0.5\n"
            f"{extra_synctool}\n"
            f"[sink]\ncommit_seconds = {commit_seconds}\n{extra_sink}\n"
            f'[zookeeper]\nhosts = "{zk_hosts}"\nsession_timeout_ms = {session_timeout_ms}\n'
            f'[log]\ndir = "{self.dir / "log"}"\nlevel = "debug"\n'
            f"{extra}\n"  # more sections, e.g. [hdfs]
        )

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
