"""The ZooKeeper test fixtures and helpers do what other tests rely on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.waiting import wait_until
from helpers.zk import drop_connection, expire_session, recording
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import NodeExistsError

from omsync_tui.core.errors import ClusterError
from omsync_tui.sandbox.jvm.zkserver import ZkServer, four_letter_word

_chroots_seen: dict[str, str] = {}


@pytest.mark.parametrize("run", ["first", "second"])
def test_each_test_gets_an_empty_private_chroot(
    zk: KazooClient, zk_hosts: str, zk_server: ZkServer, run: str
) -> None:
    server, _, chroot = zk_hosts.partition("/")
    assert server == zk_server.hosts == f"127.0.0.1:{zk_server.port}"
    assert zk.get_children("/") == []
    zk.create("/marker", run.encode())

    outside = KazooClient(hosts=zk_server.hosts)
    outside.start(timeout=15)
    try:
        assert outside.get(f"/{chroot}/marker")[0] == run.encode()
        for other_run, other_chroot in _chroots_seen.items():
            assert other_chroot != chroot
            assert outside.get(f"/{other_chroot}/marker")[0] == other_run.encode()
    finally:
        outside.stop()
        outside.close()
    _chroots_seen[run] = chroot


def test_drop_connection_keeps_the_session_and_its_ephemeral_nodes(zk: KazooClient) -> None:
    zk.create("/alive", b"x", ephemeral=True)
    session_id = zk.client_id[0]
    with recording(zk) as states:
        drop_connection(zk)
    assert states.states[:2] == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert zk.client_id[0] == session_id
    assert zk.get("/alive")[0] == b"x"
    assert zk.get("/alive")[1].ephemeralOwner == session_id


def test_expire_session_removes_ephemeral_nodes_and_reports_lost(zk: KazooClient, zk_hosts: str) -> None:
    zk.create("/alive", b"x", ephemeral=True)
    zk.create("/kept", b"y")
    old_session = zk.client_id[0]
    with recording(zk) as states:
        expire_session(zk, zk_hosts)
        assert KazooState.LOST in states.states
        # kazoo starts a new session by itself after LOST.
        states.wait_for(KazooState.LOST, KazooState.CONNECTED)
    assert zk.client_id[0] != old_session
    assert zk.exists("/alive") is None
    assert zk.get("/kept")[0] == b"y"

    observer = KazooClient(hosts=zk_hosts)
    observer.start(timeout=15)
    try:
        assert observer.exists("/alive") is None
    finally:
        observer.stop()
        observer.close()


def test_ephemeral_node_can_be_recreated_after_expiry(zk: KazooClient, zk_hosts: str) -> None:
    zk.create("/owner", b"1", ephemeral=True)
    expire_session(zk, zk_hosts)
    wait_until(lambda: zk.connected, what="kazoo to reconnect")
    zk.create("/owner", b"2", ephemeral=True)
    with pytest.raises(NodeExistsError):
        zk.create("/owner", b"3", ephemeral=True)


def test_restart_keeps_port_and_data(tmp_path: Path) -> None:
    with ZkServer(tmp_path / "zk") as server:
        port = server.port
        assert four_letter_word(port, "ruok") == "imok"
        client = KazooClient(hosts=server.hosts)
        client.start(timeout=15)
        try:
            client.create("/persisted", b"v1")
            server.restart()
            assert server.port == port
            assert server.is_serving()
            # kazoo reconnects to the same port on its own, with the same session.
            wait_until(lambda: client.connected, what="kazoo to reconnect")
            assert client.get("/persisted")[0] == b"v1"
        finally:
            client.stop()
            client.close()
        assert server.log_path.read_text().count("--- omsync: starting ZooKeeper") == 2
    assert not server.running
    assert not server.pid_path.exists()
    assert not server.is_serving()


def test_missing_jars_are_a_cluster_error_with_install_hint(tmp_path: Path) -> None:
    server = ZkServer(tmp_path / "zk", jar_dir=tmp_path / "no-jars")
    with pytest.raises(ClusterError) as err:
        server.start()
    assert "zookeeper.jar" in str(err.value)
    assert err.value.hint is not None and "apt-get install -y zookeeper" in err.value.hint
    assert not server.running


def test_missing_java_is_a_cluster_error_with_install_hint(tmp_path: Path) -> None:
    server = ZkServer(tmp_path / "zk", java=str(tmp_path / "no-java"))
    with pytest.raises(ClusterError) as err:
        server.start()
    assert "java" in str(err.value)
    assert err.value.hint is not None and "apt-get install -y zookeeper" in err.value.hint


def test_failed_test_report_carries_the_zookeeper_log(tmp_path: Path) -> None:
    conftest = Path(__file__).resolve().parents[1] / "conftest.py"
    (tmp_path / "conftest.py").write_text(conftest.read_text())
    (tmp_path / "test_inner.py").write_text(
        "def test_fails(zk):\n"
        "    zk.create('/x')\n"
        "    assert False, 'deliberate'\n"
        "def test_passes_without_zookeeper():\n"
        "    assert True\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    assert "zookeeper log" in result.stdout
    assert "INFO org.apache.zookeeper" in result.stdout
    # The section is attached to the failing test only.
    assert result.stdout.count("zookeeper log") == 1


def test_stop_detached_stops_only_our_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "zk"
    assert ZkServer.stop_detached(data_dir) is False  # nothing started yet
    server = ZkServer(data_dir)
    server.start()
    try:
        assert server.pid_path.read_text().strip() == str(server.pid)
        # As `omsync sandbox down` would, from another ZkServer object that never started it.
        assert ZkServer.stop_detached(data_dir) is True
        assert not server.is_serving()
        # the JVM's main thread is a zombie before its other threads end: waitpid may lag
        wait_until(lambda: not server.running, timeout=10)
        assert not server.pid_path.exists()
    finally:
        server.stop()
    # A pid file naming a process that is not this directory's ZooKeeper is left alone.
    server.pid_path.write_text(f"{os.getpid()}\n")
    assert ZkServer.stop_detached(data_dir) is False
    assert not server.pid_path.exists()
