"""A real HDFS on loopback (MiniDFSCluster) for the tests, the sandbox and the demo.

``minihdfs/MiniHdfs.java`` is a small Java main of our own that runs Hadoop's MiniDFSCluster (one
NameNode, N DataNodes, replication 1, permissions on) on 127.0.0.1 and takes fault-injection
commands on stdin, one line each, answering ``OK ...`` or ``ERR <message>`` on stdout.

``prepare()`` (from ``hdfsbuild``) compiles it once per version into the user's cache dir;
``HdfsServer`` then starts it with plain ``java`` (never ``mvn exec``: Maven would add seconds
and its own output to every start), reads the ``READY`` line from a pipe and sends the rest of
the JVM's output to its log.

Everything a server owns lives in one directory: ``cluster/`` (NameNode metadata, DataNode
blocks; a later start on the same directory keeps the files), ``minihdfs.log`` (the JVM's
stderr: Hadoop's log) and ``minihdfs.pid``. The JVM runs as the calling OS user, who is therefore
the HDFS superuser; clients that say ``HADOOP_USER_NAME=<other>`` are ordinary users (simple
auth). ``python -m omsync_tui.sandbox.jvm.hdfs prepare`` builds ahead of time (``make setup``).
This module must not import pytest or pyarrow: ``omsync sandbox up --hdfs`` uses it too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from omsync_tui.core.errors import ClusterError
from omsync_tui.sandbox.jvm.hdfsbuild import INSTALL_HINT, MAIN_CLASS, MiniHdfsBuild, jdk_tool, prepare
from omsync_tui.sandbox.jvm.jvmserver import JvmServer

__all__ = ["HdfsServer", "MiniHdfsBuild", "prepare"]

# A client process given one of these would make the JVM act as that user; the JVM must run as
# the OS user so that user is the HDFS superuser.
_USER_ENV = ("HADOOP_USER_NAME", "HADOOP_PROXY_USER")


# -- running ----------------------------------------------------------------------------------


class HdfsServer(JvmServer):
    """One MiniDFSCluster JVM serving ``hdfs://127.0.0.1:<port>`` from ``data_dir``.

    ``port=None`` lets the NameNode bind a free port on the first start; the port then stays
    fixed for later starts (and ``restart_namenode`` keeps it anyway). The fault-injection
    methods wrap ``command``; each raises ClusterError when the JVM answers ``ERR``.
    """

    what = "the HDFS server"
    file_stem = "minihdfs"

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        datanodes: int = 1,
        replication: int = 1,
        settings: dict[str, str] | None = None,
        java: str | None = None,
        heap_mb: int = 512,
    ) -> None:
        if datanodes < 1 or replication < 1:
            raise ValueError("a MiniDFSCluster needs at least one DataNode and a replication of 1 or more")
        super().__init__(data_dir, port)
        self.datanodes = datanodes
        self.replication = replication  # dfs.replication
        self.settings = dict(settings or {})  # more hdfs-site keys for the NameNode and DataNodes
        self._java = java
        self.heap_mb = heap_mb
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- what callers connect to -------------------------------------------------------------

    @property
    def url(self) -> str:
        """``hdfs://127.0.0.1:<port>``: the NameNode, as hdfs-native and Hadoop clients want it."""
        return f"hdfs://127.0.0.1:{self.port}"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "cluster"

    @property
    def command_mark(self) -> Path:
        return self.storage_dir

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        """Build if needed (not counted in ``timeout``), start the JVM and return once it serves."""
        if self.running:
            return
        build = prepare()
        java = self._java or jdk_tool("java")
        if java is None or not Path(java).is_file():
            raise ClusterError(
                "cannot start HDFS: no java executable found (PATH, JAVA_HOME)", hint=INSTALL_HINT
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "tmp").mkdir(exist_ok=True)
        self._spawn(java, build)
        try:
            ready = self._next_answer(timeout, starting=True)
        except ClusterError:
            self._kill()
            raise
        match = re.fullmatch(r"READY hdfs://127\.0\.0\.1:(\d+)", ready)
        if match is None:
            self._kill()
            raise ClusterError(f"MiniHdfs said {ready!r} instead of READY; log {self.log_path}")
        self.listen_port = int(match.group(1))

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the cluster down (EOF on its stdin; SIGTERM, then SIGKILL if it lingers); idempotent."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout)
        self._finish()

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", datanodes={self.datanodes})"

    # -- the control channel -----------------------------------------------------------------

    def command(self, line: str, timeout: float = 120.0) -> str:
        """Send one command line; return what follows ``OK`` (stripped). ClusterError on ``ERR``.

        A command that gets no answer within ``timeout`` stops the server: a late answer could
        no longer be told apart from the next command's.
        """
        if "\n" in line or not line.strip():
            raise ValueError(f"one non-empty command line expected, got {line!r}")
        with self._lock:
            proc = self.proc
            if proc is None or proc.poll() is not None or proc.stdin is None:
                raise ClusterError(f"the HDFS server is not running; cannot send {line!r}")
            try:
                proc.stdin.write(line.encode() + b"\n")
                proc.stdin.flush()
            except OSError as exc:
                raise ClusterError(f"the HDFS server stopped reading commands: {exc}") from None
            try:
                answer = self._next_answer(timeout)
            except ClusterError:
                self._kill()
                raise
        if answer.startswith("ERR"):
            raise ClusterError(f"HDFS {line!r}: {answer[3:].strip()}", hint=f"see {self.log_path}")
        if answer != "OK" and not answer.startswith("OK "):
            raise ClusterError(f"HDFS {line!r}: unexpected answer {answer!r}")
        return answer[2:].strip()

    def ping(self) -> None:
        self.command("ping")

    def stop_namenode(self) -> None:
        """Stop the NameNode; clients get connection refused until ``restart_namenode``."""
        self.command("stop-namenode")

    def restart_namenode(self, *, wait: bool = True) -> None:
        """(Re)start the NameNode on the same port with the same metadata; with ``wait``, return
        once the running DataNodes have reported and safe mode is off."""
        self.command("restart-namenode" if wait else "restart-namenode nowait")

    def stop_datanode(self, index: int = 0) -> str:
        """Stop DataNode ``index``; returns its transfer address ``127.0.0.1:<port>``. The NameNode
        notices only by missed heartbeats (~12 s), as with a killed DataNode."""
        return self.command(f"stop-datanode {int(index)}")

    def restart_datanode(self, index: int = 0) -> str:
        """Start DataNode ``index`` again on the same ports (restart it if it runs); returns once
        the NameNode has its block report (when the NameNode is up)."""
        return self.command(f"restart-datanode {int(index)}")

    def safemode(self, action: str = "get") -> bool:
        """``enter``, ``leave`` or ``get``; returns whether the NameNode is in safe mode now."""
        if action not in ("enter", "leave", "get"):
            raise ValueError(f"safemode action {action!r}: use enter, leave or get")
        return self.command(f"safemode {action}") == "ON"

    def mkdir(self, path: str, owner: str, perm: int = 0o755) -> None:
        """``mkdir -p`` as the superuser, then give ``path`` (not its parents) ``owner`` and ``perm``."""
        self.command(f"mkdir {_word(path)} {_word(owner)} {perm:o}")

    def chmod(self, path: str, perm: int) -> None:
        self.command(f"chmod {_word(path)} {perm:o}")

    def chown(self, path: str, owner: str, group: str | None = None) -> None:
        self.command(f"chown {_word(path)} {_word(owner)}" + (f" {_word(group)}" if group else ""))

    def quota(self, path: str, *, namespace: int | None = None, space: int | None = None) -> None:
        """Set a directory's name quota (files + dirs) and/or space quota (bytes, counting
        replication); ``None`` leaves one as it is, ``-1`` clears it."""
        ns = "-" if namespace is None else str(int(namespace))
        sp = "-" if space is None else str(int(space))
        self.command(f"quota {_word(path)} {ns} {sp}")

    # -- internals ---------------------------------------------------------------------------

    def _spawn(self, java: str, build: MiniHdfsBuild) -> None:
        command = [
            java,
            f"-Xmx{self.heap_mb}m",
            "-XX:+UseSerialGC",
            # A test server lives for minutes: C1 only starts noticeably faster.
            "-XX:TieredStopAtLevel=1",
            "-Djava.net.preferIPv4Stack=true",
            f"-Djava.io.tmpdir={self.data_dir / 'tmp'}",
            # MiniHdfs configures log4j itself (to stderr); no log4j.properties is looked for.
            "-Dlog4j.defaultInitOverride=true",
            "-cp",
            build.classpath,
            MAIN_CLASS,
            "--dir",
            str(self.storage_dir),
            "--port",
            str(self.listen_port or 0),
            "--datanodes",
            str(self.datanodes),
            "--replication",
            str(self.replication),
            *(arg for k, v in self.settings.items() for arg in ("--set", f"{k}={v}")),
        ]
        env = {k: v for k, v in os.environ.items() if k not in _USER_ENV}
        self._answers = queue.Queue()
        # If this process dies, the JVM reads EOF on stdin and shuts the cluster down.
        proc = self.spawn_jvm(
            command,
            f"starting MiniHdfs in {self.storage_dir}",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._reader = threading.Thread(
            target=self._read_answers, args=(proc, self._answers), name="minihdfs-stdout", daemon=True
        )
        self._reader.start()

    @staticmethod
    def _read_answers(proc: subprocess.Popen[bytes], answers: queue.Queue[str | None]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            answers.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        answers.put(None)  # EOF: the JVM is gone

    def _next_answer(self, timeout: float, *, starting: bool = False) -> str:
        what = "become ready" if starting else "answer"
        try:
            answer = self._answers.get(timeout=timeout)
        except queue.Empty:
            raise ClusterError(
                f"MiniHdfs did not {what} within {timeout:g} s; log {self.log_path}:\n{self.log_tail(20)}",
                hint="a slow machine may need a longer timeout",
            ) from None
        if answer is None:
            proc = self.proc
            code = proc.wait() if proc is not None else None
            raise ClusterError(
                f"MiniHdfs exited with code {code}; log {self.log_path}:\n{self.log_tail(20)}",
                hint="see the log above; a port in use or an unwritable data dir are the usual causes",
            )
        return answer

    def _kill(self) -> None:
        self.kill_now()
        self._finish()

    def _finish(self) -> None:
        # The process has exited: the reader thread reaches EOF on its own.
        if self._reader is not None:
            self._reader.join(timeout=5)
        proc = self.proc
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self._reader = None
        self.forget()


def _word(value: str) -> str:
    """One argument of a command line: the protocol splits on whitespace."""
    if not value or any(ch.isspace() for ch in value):
        raise ValueError(f"{value!r}: HDFS control arguments cannot be empty or contain whitespace")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m omsync_tui.sandbox.jvm.hdfs",
        description="A real HDFS on loopback (MiniDFSCluster) for the tests, the sandbox and the demo.",
    )
    parser.add_argument("action", choices=["prepare"], help="build MiniHdfs now (make setup does)")
    parser.parse_args(argv)
    t0 = time.monotonic()
    try:
        build = prepare()
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    print(f"MiniHdfs ready in {build.directory} ({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
