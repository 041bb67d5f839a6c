"""Running ``omsync collector`` as a real subprocess in tests: its config; the rest is ``DaemonProcess``."""

from __future__ import annotations

from pathlib import Path

from helpers.daemonproc import DaemonProcess, free_port

__all__ = ["CollectorProcess", "free_port"]


class CollectorProcess(DaemonProcess):
    """One ``omsync collector`` process with its own TOML config and log file."""

    kind = "collector"

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
        self._setup(base, host, port)
        root_list = ", ".join(f'"{r}"' for r in roots)
        self.config.write_text(
            f'[collector]\nendpoint = "{self.endpoint}"\ndatadir = "{datadir}"\n'
            "sync_task_long_interval_ms = 500\nrequest_timeout_ms = 5000\n"
            f'{extra}\n[zookeeper]\nhosts = "{zk_hosts}"\nsession_timeout_ms = {session_timeout_ms}\n'
            f'[tablet]\nroot_paths = [{root_list}]\n[log]\ndir = "{self.dir / "log"}"\nlevel = "debug"\n'
        )
