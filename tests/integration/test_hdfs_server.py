"""The test HDFS itself: a MiniDFSCluster on loopback, its fault commands, and ``sandbox up --hdfs``.

Clients are hdfs-native's (as omsync's synctool uses), with short failover retries so a stopped
NameNode is an error in about a second instead of minutes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hdfs_native import Client
from helpers.cli import omsync
from helpers.waiting import wait_until

from omsync_tui.core.errors import ClusterError
from omsync_tui.sandbox.jvm.hdfs import HdfsServer, prepare
from omsync_tui.sandbox.jvm.hdfsbuild import INSTALL_HINT

pytestmark = pytest.mark.hdfs

QUICK = {
    "dfs.client.failover.max.attempts": "2",
    "dfs.client.failover.sleep.base.millis": "100",
    "dfs.client.failover.sleep.max.millis": "300",
}
HDFS_LINE = re.compile(r"hdfs  (hdfs://127\.0\.0\.1:(\d+))")


def split(url: str) -> tuple[str, str]:
    """``hdfs://host:port/a/b`` → (``hdfs://host:port``, ``/a/b``)."""
    scheme, rest = url.split("://", 1)
    authority, _, path = rest.partition("/")
    return f"{scheme}://{authority}", "/" + path


def client(url: str) -> Client:
    return Client(split(url)[0], QUICK)


def put(c: Client, path: str, data: bytes) -> None:
    with c.create(path) as w:
        w.write(data)


def get(c: Client, path: str) -> bytes:
    with c.read(path) as r:
        data: bytes = r.read()
    return data


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False


# -- the server and its control channel ----------------------------------------------------------


def test_a_client_writes_and_reads_a_file(hdfs_server: HdfsServer, hdfs_url: str) -> None:
    namenode, base = split(hdfs_url)
    assert namenode == hdfs_server.url == f"hdfs://127.0.0.1:{hdfs_server.port}"
    c = client(hdfs_url)
    put(c, f"{base}/a.txt", b"hello hdfs")
    assert get(c, f"{base}/a.txt") == b"hello hdfs"
    info = c.get_file_info(base)
    assert info.isdir and info.permission == 0o777
    assert [s.path for s in c.list_status(base)] == [f"{base}/a.txt"]


def test_each_test_gets_a_directory_of_its_own(hdfs_server: HdfsServer, hdfs_url: str) -> None:
    _, base = split(hdfs_url)
    assert base.startswith("/t-test_each_test_gets_a_directory_of_its_own-")
    assert list(client(hdfs_url).list_status(base)) == []


def test_restarting_the_namenode_keeps_files_and_port(hdfs_server: HdfsServer, hdfs_url: str) -> None:
    _, base = split(hdfs_url)
    put(client(hdfs_url), f"{base}/kept", b"x" * 5000)
    port = hdfs_server.port
    hdfs_server.restart_namenode()
    assert hdfs_server.port == port
    c = client(hdfs_url)  # out of safe mode and the DataNode reported: reads and writes work at once
    assert get(c, f"{base}/kept") == b"x" * 5000
    put(c, f"{base}/after", b"y")


def test_a_stopped_namenode_refuses_clients_until_restarted(hdfs_server: HdfsServer, hdfs_url: str) -> None:
    _, base = split(hdfs_url)
    c = client(hdfs_url)
    put(c, f"{base}/f", b"1")
    hdfs_server.stop_namenode()
    try:
        assert refused(hdfs_server.port)
        with pytest.raises(OSError):
            c.get_file_info(f"{base}/f")
        with pytest.raises(ClusterError):  # the control channel says so too, and keeps answering
            hdfs_server.chmod(base, 0o755)
        hdfs_server.ping()
    finally:
        hdfs_server.restart_namenode()
    assert get(client(hdfs_url), f"{base}/f") == b"1"


def test_safe_mode_blocks_creates_until_left(hdfs_server: HdfsServer, hdfs_url: str) -> None:
    _, base = split(hdfs_url)
    c = client(hdfs_url)
    assert hdfs_server.safemode("get") is False
    assert hdfs_server.safemode("enter") is True
    try:
        with pytest.raises(Exception, match="safe mode"):
            put(c, f"{base}/blocked", b"no")
        assert list(c.list_status(base)) == []  # reads still work
    finally:
        assert hdfs_server.safemode("leave") is False
    put(c, f"{base}/allowed", b"yes")


def test_an_ordinary_user_is_denied_a_755_root_directory(hdfs_server: HdfsServer, hdfs_url: str) -> None:
    _, base = split(hdfs_url)
    hdfs_server.mkdir(f"{base}/locked", "root", 0o755)
    hdfs_server.mkdir(f"{base}/open", "root", 0o777)
    # hdfs-native takes the user from HADOOP_USER_NAME (simple auth) when it connects.
    script = textwrap.dedent(
        f"""
        import sys
        from hdfs_native import Client
        c = Client({hdfs_server.url!r}, {QUICK!r})
        with c.create({base + "/open/mine"!r}) as w:
            w.write(b"ok")
        print(c.get_file_info({base + "/open/mine"!r}).owner)
        try:
            with c.create({base + "/locked/theirs"!r}) as w:
                w.write(b"no")
        except Exception as e:
            print(type(e).__name__, e)
            sys.exit(3)
        """
    )
    env = dict(os.environ, HADOOP_USER_NAME="alice")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    owner, denial = proc.stdout.splitlines()[:2]
    assert owner == "alice"
    assert "Permission denied" in denial and "user=alice" in denial, denial
    assert f"{base}/locked" in denial
    # the superuser (this process's user) is not subject to permissions
    put(client(hdfs_url), f"{base}/locked/root-may", b"ok")


def test_chmod_and_chown(hdfs_server: HdfsServer, hdfs_url: str) -> None:
    _, base = split(hdfs_url)
    c = client(hdfs_url)
    put(c, f"{base}/f", b"1")
    hdfs_server.chmod(f"{base}/f", 0o640)
    hdfs_server.chown(f"{base}/f", "bob", "staff")
    info = c.get_file_info(f"{base}/f")
    assert (info.permission, info.owner, info.group) == (0o640, "bob", "staff")
    hdfs_server.chown(f"{base}/f", "carol")
    info = c.get_file_info(f"{base}/f")
    assert (info.owner, info.group) == ("carol", "staff")


def test_space_and_name_quotas(hdfs_server: HdfsServer, hdfs_url: str) -> None:
    _, base = split(hdfs_url)
    c = client(hdfs_url)
    hdfs_server.mkdir(f"{base}/small", "root", 0o777)
    hdfs_server.quota(f"{base}/small", space=1024)  # less than the block a new file reserves
    with pytest.raises(Exception, match=r"(?i)quota"):
        put(c, f"{base}/small/f", b"x" * 10)
    hdfs_server.quota(f"{base}/small", space=-1)
    put(c, f"{base}/small/g", b"x" * 10)  # (f exists: the create passed, its first block did not)

    hdfs_server.mkdir(f"{base}/few", "root", 0o777)
    hdfs_server.quota(f"{base}/few", namespace=2)  # the directory itself and one file
    put(c, f"{base}/few/one", b"1")
    with pytest.raises(Exception, match=r"(?i)quota"):
        put(c, f"{base}/few/two", b"2")
    hdfs_server.quota(f"{base}/few", namespace=-1)
    put(c, f"{base}/few/two", b"2")


def test_a_stopped_datanode_fails_reads_until_restarted(hdfs_server: HdfsServer, hdfs_url: str) -> None:
    _, base = split(hdfs_url)
    c = client(hdfs_url)
    put(c, f"{base}/f", b"block data")
    address = hdfs_server.stop_datanode(0)
    try:
        host, port = address.split(":")
        assert host == "127.0.0.1" and refused(int(port))
        with pytest.raises(Exception, match="DataNode"):
            get(c, f"{base}/f")
    finally:
        assert hdfs_server.restart_datanode(0) == address
    assert get(c, f"{base}/f") == b"block data"
    put(c, f"{base}/g", b"new block")
    assert hdfs_server.restart_datanode(0) == address  # a running one is restarted
    assert get(c, f"{base}/g") == b"new block"


def test_errors_come_back_as_cluster_errors(hdfs_server: HdfsServer) -> None:
    with pytest.raises(ClusterError, match="does not exist"):
        hdfs_server.chmod("/no/such/path", 0o755)
    with pytest.raises(ClusterError, match="unknown command"):
        hdfs_server.command("frobnicate")
    with pytest.raises(ClusterError, match="no datanode 7"):
        hdfs_server.stop_datanode(7)
    with pytest.raises(ValueError):
        hdfs_server.mkdir("/a path", "root")
    hdfs_server.ping()


# -- a server of its own: data kept across JVMs, orphans, the build -----------------------------


def test_a_new_jvm_on_the_same_directory_keeps_the_files(tmp_path: Path) -> None:
    # two DataNodes, replication 2 and an hdfs-site key given through --set
    limit = {"dfs.namenode.fs-limits.max-component-length": "8"}
    server = HdfsServer(tmp_path / "hdfs", datanodes=2, replication=2, settings=limit)
    with server:
        put(client(server.url), "/kept", b"across restarts")
        assert client(server.url).get_file_info("/kept").replication == 2
        with pytest.raises(RuntimeError, match="PathComponentTooLongException"):
            put(client(server.url), "/name-longer-than-8", b"x")
        port = server.port
        assert server.pid_path.read_text().strip() == str(server.pid)
    assert not server.pid_path.exists() and refused(port)
    with server:
        assert server.port == port
        assert get(client(server.url), "/kept") == b"across restarts"
        # stop_detached is how `sandbox down` ends a server whose owner died
        assert HdfsServer.stop_detached(tmp_path / "hdfs")
        wait_until(lambda: not server.running, timeout=30, what="the JVM to exit")
    assert not HdfsServer.stop_detached(tmp_path / "hdfs")
    assert "SIGTERM, shutting down" in server.log_path.read_text()


def test_prepare_is_cached_and_names_missing_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = prepare()
    assert prepare() == build and build.is_complete()
    assert (build.classes_dir / "MiniHdfs.class").is_file()
    assert any(jar.name.startswith("hadoop-client-minicluster-") for jar in build.jars)

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ClusterError) as e:
        prepare(cache=tmp_path / "cache")
    assert "java" in e.value.message and "mvn" in e.value.message
    assert e.value.hint == INSTALL_HINT


def test_prepare_says_when_maven_is_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text("<settings><offline>true</offline></settings>\n")
    # an empty Maven home: nothing cached, and Maven may not go online
    monkeypatch.setenv("MAVEN_OPTS", f"-Duser.home={home}")
    with pytest.raises(ClusterError) as e:
        prepare(cache=tmp_path / "cache")
    assert "offline" in e.value.message and "Maven" in e.value.message
    assert e.value.hint is not None and "prepare" in e.value.hint


def test_the_module_loads_nothing_heavy() -> None:
    """``sandbox up --hdfs`` and ``make demo`` import it: no pytest, no pyarrow, no UI."""
    code = "import sys, omsync_tui.sandbox.jvm.hdfs; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = {name.split(".")[0] for name in out.split()}
    assert loaded.isdisjoint({"pytest", "pyarrow", "textual", "typer", "kazoo", "hdfs_native"})


# -- omsync sandbox up --hdfs ---------------------------------------------------------------------


def ok(*args: str) -> str:
    proc = omsync(*args, timeout=240)
    assert proc.returncode == 0, f"omsync {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def hdfs_line(output: str) -> re.Match[str]:
    matches = [m for m in map(HDFS_LINE.fullmatch, output.splitlines()) if m]
    assert len(matches) == 1, output
    return matches[0]


def test_sandbox_up_hdfs_prints_it_status_shows_it_down_stops_it(tmp_path: Path) -> None:
    d = ["--dir", str(tmp_path / "sb")]
    url = hdfs_line(ok("sandbox", "up", *d, "--hdfs")).group(1)
    try:
        assert hdfs_line(ok("sandbox", "status", *d)).group(1) == url
        c = Client(url, QUICK)
        put(c, "/from-the-sandbox", b"ok")
        assert get(c, "/from-the-sandbox") == b"ok"
    finally:
        assert "stopped" in ok("sandbox", "down", *d)
    wait_until(lambda: refused(int(url.rsplit(":", 1)[1])), timeout=30)
    assert not (tmp_path / "sb" / "sandbox" / "hdfs" / "minihdfs.pid").exists()


def test_sandbox_down_stops_the_hdfs_of_a_killed_serve(tmp_path: Path) -> None:
    base = tmp_path / "sb"
    url = hdfs_line(ok("sandbox", "up", "--dir", str(base), "--hdfs")).group(1)
    serve_pid = json.loads((base / "sandbox" / "serve.json").read_text())["pid"]
    os.kill(serve_pid, signal.SIGKILL)  # its ZooKeeper and HDFS live on in sessions of their own
    assert "stopped" in ok("sandbox", "down", "--dir", str(base))
    wait_until(lambda: refused(int(url.rsplit(":", 1)[1])), timeout=30)
    assert json.loads((base / "sandbox" / "sandbox.json").read_text())["hdfs_url"] is None
