"""A throwaway standalone ZooKeeper on a loopback port, for the tests and the sandbox cluster.

It runs Debian's ``zookeeper`` package (``/usr/share/java``) directly with
``ZooKeeperServerMain``: no init scripts, no ``/etc/zookeeper``, nothing bound outside 127.0.0.1.
Everything it owns lives in one directory: ``zoo.cfg``, ``data/`` (snapshots and transaction
log), ``zookeeper.log`` (the JVM's stdout and stderr) and ``zookeeper.pid``. ``restart()`` keeps
the port and the data, so clients can reconnect to the same session.

The tick is short (500 ms, sessions from 1 s) so tests that wait for a session to expire are
quick; writes are not fsynced because nothing here outlives a machine crash on purpose.
This module must not import pytest: ``omsync sandbox up`` and ``make demo`` use it too.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from omsync_tui.core.errors import ClusterError
from omsync_tui.sandbox.jvm.jvmserver import POLL_INTERVAL, JvmServer

JAR_DIR = Path("/usr/share/java")
# zookeeper.jar's manifest names its own dependencies (jute, slf4j-api, netty, ...) by absolute
# path; the jars below are listed anyway so a missing one is reported by name instead of as a
# NoClassDefFoundError in the log. slf4j-simple is the log binding: without it the log is empty.
REQUIRED_JARS = ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar")
INSTALL_HINT = "apt-get install -y zookeeper  (Debian's package provides the jars in /usr/share/java)"
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's choice for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def four_letter_word(port: int, word: str, *, host: str = "127.0.0.1", timeout: float = 2.0) -> str:
    """Send a ZooKeeper four-letter command and return the whole answer ("" if refused)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(word.encode("ascii"))
        chunks: list[bytes] = []
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


class ZkServer(JvmServer):
    """One standalone ZooKeeper process serving ``127.0.0.1:<port>`` from ``data_dir``.

    ``port=None`` picks a free port on the first start (and retries with another one if the
    chosen port was taken in the meantime); the port then stays fixed for ``restart()``.
    """

    what = "the ZooKeeper server"
    file_stem = "zookeeper"

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        tick_time_ms: int = 500,
        min_session_timeout_ms: int = 1000,
        max_session_timeout_ms: int = 30000,
        java: str | None = None,
        jar_dir: str | os.PathLike[str] = JAR_DIR,
        heap_mb: int = 256,
    ) -> None:
        super().__init__(data_dir, port)
        self._port_fixed = port is not None
        self.tick_time_ms = tick_time_ms
        self.min_session_timeout_ms = min_session_timeout_ms
        self.max_session_timeout_ms = max_session_timeout_ms
        self._java = java
        self.jar_dir = Path(jar_dir)
        self.heap_mb = heap_mb

    # -- what callers connect to -------------------------------------------------------------

    @property
    def hosts(self) -> str:
        """Connection string for kazoo / OpenMLDB's ``zk_cluster``."""
        return f"127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "zoo.cfg"

    @property
    def command_mark(self) -> Path:
        return self.config_path

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and return once it serves requests; ClusterError if it does not."""
        if self.running:
            return
        java, classpath = self._locate_java_and_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._port_fixed else 3
        for attempt in range(attempts):
            if self.listen_port is None or (attempt > 0 and not self._port_fixed):
                self.listen_port = free_port()
            self._write_config()
            self._spawn(java, classpath)
            try:
                self._wait_ready(timeout)
                return
            except ClusterError:
                port_taken = "Address already in use" in self.log_tail(200)
                self._kill()
                # Another process may grab the port between free_port() and the JVM's bind.
                if port_taken and attempt + 1 < attempts:
                    continue
                raise

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the server (SIGTERM), kill it if it lingers; idempotent."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self.forget()

    def restart(self, timeout: float = 20.0) -> None:
        """Stop and start again on the same port with the same data (sessions survive if quick)."""
        port = self.listen_port
        self.stop()
        if port is not None:
            self.listen_port = port
            self._port_fixed = True
        self.start(timeout)

    def is_serving(self) -> bool:
        """True when the server answers ``ruok`` with ``imok`` and reports a mode via ``srvr``."""
        if self.listen_port is None:
            return False
        try:
            if four_letter_word(self.listen_port, "ruok", timeout=1.0) != "imok":
                return False
            # ruok answers as soon as the socket listens, before the database is loaded; srvr
            # only reports a Mode once requests are served.
            return "Mode:" in four_letter_word(self.listen_port, "srvr", timeout=1.0)
        except OSError:
            return False

    # -- internals ---------------------------------------------------------------------------

    def _locate_java_and_jars(self) -> tuple[str, str]:
        java = self._java
        if java is None:
            java_home = os.environ.get("JAVA_HOME")
            candidate = Path(java_home, "bin", "java") if java_home else None
            java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
        if java is None or not Path(java).is_file():
            raise ClusterError(
                "cannot start ZooKeeper: no java executable found (PATH, JAVA_HOME)",
                hint=INSTALL_HINT + " (it pulls in a Java runtime)",
            )
        missing = [name for name in REQUIRED_JARS if not (self.jar_dir / name).is_file()]
        if missing:
            raise ClusterError(
                f"cannot start ZooKeeper: missing {', '.join(missing)} in {self.jar_dir}",
                hint=INSTALL_HINT,
            )
        classpath = os.pathsep.join(str(self.jar_dir / name) for name in REQUIRED_JARS)
        return java, classpath

    def _write_config(self) -> None:
        data = self.data_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        settings = {
            "tickTime": self.tick_time_ms,
            "minSessionTimeout": self.min_session_timeout_ms,
            "maxSessionTimeout": self.max_session_timeout_ms,
            "dataDir": data,
            "clientPort": self.listen_port,
            "clientPortAddress": "127.0.0.1",
            # Many test clients share 127.0.0.1; the default cap of 60 per address is too low.
            "maxClientCnxns": 0,
            "admin.enableServer": "false",
            # kazoo's server_version() and our readiness probe use four-letter words.
            "4lw.commands.whitelist": "*",
            # Throwaway data: skipping fsync makes every write much faster, and a killed JVM
            # still leaves its writes in the page cache for restart().
            "forceSync": "no",
            "preAllocSize": 4096,
            "autopurge.snapRetainCount": 3,
            "autopurge.purgeInterval": 0,
        }
        text = "".join(f"{key}={value}\n" for key, value in settings.items())
        self.config_path.write_text(text, encoding="utf-8")

    def _spawn(self, java: str, classpath: str) -> None:
        command = [
            java,
            f"-Xmx{self.heap_mb}m",
            "-XX:+UseSerialGC",
            # A short-lived server: C1 only starts noticeably faster.
            "-XX:TieredStopAtLevel=1",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss.SSS",
            "-Dzookeeper.jmx.log4j.disable=true",
            "-cp",
            classpath,
            MAIN_CLASS,
            str(self.config_path),
        ]
        self.spawn_jvm(command, f"starting ZooKeeper on 127.0.0.1:{self.listen_port}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            proc = self.proc
            if proc is None or proc.poll() is not None:
                code = proc.returncode if proc is not None else None
                raise ClusterError(
                    f"ZooKeeper exited with code {code} while starting on {self.hosts}; "
                    f"log {self.log_path}:\n{self.log_tail(20)}",
                    hint="see the log above; a port in use or an unwritable data dir are the usual causes",
                )
            if self.is_serving():
                return
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"ZooKeeper did not answer on {self.hosts} within {timeout:g} s; "
                    f"log {self.log_path}:\n{self.log_tail(20)}",
                    hint="a slow machine may need a longer timeout",
                )
            time.sleep(POLL_INTERVAL)

    def _kill(self) -> None:
        self.kill_now()
        self.forget()
