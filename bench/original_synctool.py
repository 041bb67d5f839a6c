"""OpenMLDB's original SyncTool as a process the benchmarks drive: where it is, its config, its
HTTP face (our own client of the calls ``synctool_helper.py`` makes), kill -9 and restart.

OpenMLDB does not publish its SyncTool on Maven Central (``docs/openmldb-peer.md`` §1): it ships
only in the release tarball, as ``synctool/lib/*.jar`` (the SyncTool jar and its dependencies,
appassembler's flat layout). Point ``OMSYNC_ORIGINAL_SYNCTOOL`` at such a directory (the one that
holds ``lib/``); nothing of OpenMLDB's is in this repository. On Java 17 the JVM needs
``--add-opens java.base/java.lang=ALL-UNNAMED`` (brpc-java's cglib proxies, used for every
``AddSyncTask``) and a ZooKeeper client ≥ 3.5.8 on the classpath (OpenMLDB's 3.4.14 does not
connect on Java ≥ 14, ZOOKEEPER-3779): ``ORIGINAL_ZK_CLIENT`` jars, from Maven's local repository
(``make setup`` resolves them for the SDK probe), go first on the classpath.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

ENV = "OMSYNC_ORIGINAL_SYNCTOOL"
MAIN = "com._4paradigm.openmldb.synctool.SyncTool"
SERVICE = "openmldb.datasync.SyncTool"
ZK_CLIENT = ("org/apache/zookeeper/zookeeper/3.5.10", "org/apache/zookeeper/zookeeper-jute/3.5.10")


class Unavailable(Exception):
    """The original SyncTool cannot be run here; the message says why and what to do."""


def locate() -> Path:
    configured = os.environ.get(ENV)
    if not configured:
        raise Unavailable(
            f"{ENV} is not set. OpenMLDB publishes no openmldb-synctool on Maven Central (404; "
            "docs/openmldb-peer.md §1): set it to the synctool/ directory of an OpenMLDB release "
            "tarball (the one holding lib/openmldb-synctool-*.jar)"
        )
    home = Path(configured).expanduser().resolve()
    if not any(home.glob("lib/openmldb-synctool-*.jar")):
        raise Unavailable(f"{ENV}={home} holds no lib/openmldb-synctool-*.jar (an OpenMLDB synctool/ dir?)")
    return home


def zk_client_jars() -> list[Path]:
    repo = Path.home() / ".m2" / "repository"
    jars = [next((repo / d).glob("*.jar"), None) for d in ZK_CLIENT]
    if any(j is None for j in jars):
        raise Unavailable(
            "ZooKeeper 3.5.10 client jars are not in ~/.m2 (run: make setup, which resolves them "
            "for OpenMLDB's SDK probe)"
        )
    return [j for j in jars if j is not None]


class OriginalSyncTool:
    """One original SyncTool process: its ``synctool.properties`` and a Hadoop conf dir of ours."""

    def __init__(
        self,
        home: Path,
        work: Path,
        *,
        port: int,
        zk_hosts: str,
        zk_root: str,
        hdfs_url: str,
        check_period: int,
    ) -> None:
        self.home = home
        self.work = work
        self.port = port
        self.endpoint = f"127.0.0.1:{port}"
        self.progress = work / "progress"
        conf, hadoop = work / "conf", work / "hadoop"
        conf.mkdir(parents=True, exist_ok=True)
        hadoop.mkdir(exist_ok=True)
        (hadoop / "core-site.xml").write_text(
            '<?xml version="1.0"?>\n<configuration><property><name>fs.defaultFS</name>'
            f"<value>{hdfs_url}</value></property></configuration>\n"
        )
        (conf / "synctool.properties").write_text(
            f"server.host=127.0.0.1\nserver.port={port}\nzookeeper.cluster={zk_hosts}\n"
            f"zookeeper.root_path={zk_root}\nsync_task.progress_path={self.progress}\n"
            f"hadoop.conf.dir={hadoop}\nsync_task.check_period={check_period}\n"
        )
        (conf / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, file\nlog4j.appender.file=org.apache.log4j.FileAppender\n"
            f"log4j.appender.file.file={work / 'synctool.log'}\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=%d %p [%c] - %m%n\n"
            "log4j.logger.com._4paradigm.openmldb.synctool=INFO\n"
        )
        self.classpath = os.pathsep.join([str(conf), *map(str, zk_client_jars()), str(home / "lib" / "*")])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        out = open(self.work / "stdout.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            ["java", "--add-opens", "java.base/java.lang=ALL-UNNAMED", "-cp", self.classpath, MAIN],
            cwd=self.work,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise SystemExit(f"the original SyncTool exited with {code}: {self.log_tail()}")
            try:
                self.status()
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the original SyncTool did not answer in 120 s: {self.log_tail()}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log_tail(self, lines: int = 20) -> str:
        text = ""
        for name in ("stdout.log", "synctool.log"):
            path = self.work / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    # -- synctool_helper's calls ---------------------------------------------------------------

    def _call(self, method: str, rpc: str, body: dict[str, object]) -> dict[str, object]:
        request = urllib.request.Request(
            f"http://{self.endpoint}/{SERVICE}/{rpc}",
            data=json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as r:
            answer: dict[str, object] = json.loads(r.read())
            return answer

    def create(self, db: str, table: str, mode: int, dest: str, start_ts: int = 0) -> dict[str, object]:
        body: dict[str, object] = {"db": db, "name": table, "mode": mode, "start_ts": start_ts, "dest": dest}
        return self._call("POST", "CreateSyncTask", body)

    def delete(self, db: str, table: str) -> dict[str, object]:
        return self._call("POST", "DeleteSyncTask", {"db": db, "name": table})

    def status(self) -> dict[str, object]:
        return self._call("GET", "TaskStatus", {})

    def tasks(self) -> list[dict[str, object]]:
        listed = self.status().get("task", [])
        assert isinstance(listed, list)
        return listed

    def finished_ms(self, tid: int, since_ms: int) -> list[int]:
        """When partitions of ``tid`` finished since ``since_ms``: the ``<pid>.progress.finished.<ms>``
        files (under ``<tid>/``, or ``<tid>.deleted.<ms>/`` once the whole table is done)."""
        stamps = (int(p.name.rsplit(".", 1)[1]) for p in self.progress.glob(f"{tid}*/*.progress.finished.*"))
        return [ms for ms in stamps if ms >= since_ms]
