"""What the sandbox's JVM servers share: one process on 127.0.0.1, owned by one directory.

``JvmServer`` is the base of ``zkserver.ZkServer`` (a standalone ZooKeeper) and
``hdfs.HdfsServer`` (a MiniDFSCluster). It owns the directory's ``<name>.log`` (the JVM's output)
and ``<name>.pid``, the process handle, ``stop_detached`` (how ``omsync sandbox down`` ends a
server whose owner is gone: by the pid file, checked against the command line because pids get
reused), ``log_tail`` and the context manager. Each subclass says how it starts, stops and knows
it is ready, through the public ``spawn_jvm`` / ``kill_now`` / ``forget``, ``proc`` and
``listen_port``. This module must not import pytest: ``omsync sandbox up`` uses it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self

from omsync_tui.core.errors import ClusterError

POLL_INTERVAL = 0.05


def process_exists(pid: int) -> bool:
    try:
        # A zombie still "exists" for kill(0); its /proc status says so.
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return "\nState:\tZ" not in status


class JvmServer:
    """One JVM serving ``127.0.0.1:<port>`` from ``data_dir`` (see the module's docstring)."""

    what: ClassVar[str]  # "the ZooKeeper server": how messages name it
    file_stem: ClassVar[str]  # <data_dir>/<file_stem>.log and .pid

    def __init__(self, data_dir: str | os.PathLike[str], port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.listen_port = port  # None until chosen: a subclass picks or learns it at start
        self._proc: subprocess.Popen[bytes] | None = None

    # -- what subclasses say -----------------------------------------------------------------

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def command_mark(self) -> Path:
        """A path on the JVM's command line that only this directory's server has."""
        raise NotImplementedError

    # -- what callers connect to -------------------------------------------------------------

    @property
    def port(self) -> int:
        if self.listen_port is None:
            raise ClusterError(f"{self.what} has not been started yet, so it has no port")
        return self.listen_port

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.file_stem}.log"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / f"{self.file_stem}.pid"

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The JVM's process while this object started it (``spawn_jvm`` to ``forget``)."""
        return self._proc

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def stop_detached(cls, data_dir: str | os.PathLike[str], timeout: float = 30.0) -> bool:
        """Stop a server another process started in ``data_dir`` (``omsync sandbox down``):
        SIGTERM, SIGKILL if it lingers. Returns whether a server was stopped."""
        server = cls(data_dir)
        try:
            pid = int(server.pid_path.read_text(encoding="ascii").strip())
        except (FileNotFoundError, ValueError):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            cmdline = []
        if os.fsencode(server.command_mark) not in cmdline:
            server.pid_path.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_exists(pid):
            if time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + timeout
            time.sleep(POLL_INTERVAL)
        server.pid_path.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 50) -> str:
        """The last ``lines`` lines of the server's log ("" if there is none yet), Java stack
        frames (``\\tat …``) left out."""
        try:
            with self.log_path.open("r", encoding="utf-8", errors="replace") as f:
                return "".join(deque((ln for ln in f if not ln.startswith("\tat ")), maxlen=lines))
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"{type(self).__name__}({str(self.data_dir)!r}, port={self.listen_port}, {state})"

    # -- what subclasses start and stop with -----------------------------------------------------

    def spawn_jvm(
        self,
        command: list[str],
        banner: str,
        *,
        stdin: int | IO[bytes] | None = subprocess.DEVNULL,
        stdout: int | IO[bytes] | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start the JVM in a session of its own (a Ctrl-C meant for ``omsync sandbox up`` must
        not kill it), its stderr (and stdout unless given) appended to the log; the pid file."""
        with self.log_path.open("ab") as log:
            log.write(f"--- omsync: {banner}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                command,
                stdin=stdin,
                stdout=log if stdout is None else stdout,
                stderr=log,
                cwd=self.data_dir,
                env=env,
                start_new_session=True,
            )
        self._proc = proc
        self.pid_path.write_text(f"{proc.pid}\n", encoding="ascii")
        return proc

    def kill_now(self) -> None:
        """SIGKILL the JVM (if it runs) and wait for it."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def forget(self) -> None:
        """The JVM has exited: no process, no pid file."""
        self._proc = None
        with contextlib.suppress(FileNotFoundError):
            self.pid_path.unlink()
