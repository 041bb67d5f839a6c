"""Shared fixtures: one real ZooKeeper per test session, a fresh chroot per test.

``zk_server``  the session's ``ZkServer`` (started lazily by the first test that needs it)
``zk_hosts``   ``127.0.0.1:<port>/t-<test>-<uuid>``: a chroot created for this test only
``zk``         a started ``KazooClient`` on that chroot, stopped and closed afterwards
``procs``      a list a test appends its daemon processes to (``CollectorProcess``, ``SynctoolProcess``);
               each is stopped afterwards
``hdfs_server`` the session's ``HdfsServer``: a MiniDFSCluster on 127.0.0.1 (one DataNode), started
               lazily by the first test that needs it; tests may stop/restart its nodes, enter safe
               mode, set quotas through it, and must leave it serving
``hdfs_url``   ``hdfs://127.0.0.1:<port>/t-<test>-<uuid>``: a directory for this test only, owned by
               the superuser (the OS user running the tests, root here) with mode 777, so a daemon
               the test runs as another ``HADOOP_USER_NAME`` can write there too; a test that needs
               "permission denied" makes its own 755 directory with ``hdfs_server.mkdir``

When a test that used a server fails, the tail of the server's log is attached to the report
as a "zookeeper log" / "hdfs log" section, and the tail of each of its daemons' logs as a section
of its own. Tests that use the HDFS get the ``hdfs`` marker (``-m 'not hdfs'`` leaves them out).
Helpers live in the ``helpers`` package (``helpers.zk`` drops or expires sessions, ``helpers.waiting``
has the one ``wait_until``). Every test runs without ``OMSYNC_*`` and ``XDG_*`` variables of the
environment it was started from (``clean_environ``).
"""

from __future__ import annotations

import os
import pwd
import re
import sys
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

# Tests import the ``helpers`` package by its top-level name whatever the import mode.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from hypothesis import HealthCheck, settings  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402

from omsync_tui.sandbox.jvm.hdfs import HdfsServer  # noqa: E402
from omsync_tui.sandbox.jvm.zkserver import ZkServer  # noqa: E402

# Property tests run on loaded 2-core machines: no per-example deadline; under CI the examples
# are derived from the test (derandomize), so a red build is reproducible, never a dice roll.
settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci", deadline=None, derandomize=True, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

_LOG_TAIL_LINES = 25
_ZK_SERVER_KEY = pytest.StashKey[ZkServer]()
_HDFS_SERVER_KEY = pytest.StashKey[HdfsServer]()
_PROCS_KEY = pytest.StashKey[list[Any]]()


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's ``OMSYNC_*`` or ``XDG_*`` settings must not change what a test sees."""
    for name in list(os.environ):
        if name.startswith(("OMSYNC_", "XDG_")):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZkServer]:
    server = ZkServer(tmp_path_factory.mktemp("zookeeper"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def hdfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HdfsServer]:
    server = HdfsServer(tmp_path_factory.mktemp("hdfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _remember_zk_server(request: pytest.FixtureRequest) -> None:
    # Only tests that use a server get its log on failure; this records which ones do without
    # starting it for the others.
    if "zk_server" in request.fixturenames:
        request.node.stash[_ZK_SERVER_KEY] = request.getfixturevalue("zk_server")
    if "hdfs_server" in request.fixturenames:
        request.node.stash[_HDFS_SERVER_KEY] = request.getfixturevalue("hdfs_server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "hdfs_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.hdfs)


def _chroot_name(nodeid_name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid_name).strip("_.")[:80]
    return f"/t-{safe or 'test'}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def zk_hosts(zk_server: ZkServer, request: pytest.FixtureRequest) -> str:
    """A connection string whose chroot exists and is private to this test."""
    chroot = _chroot_name(request.node.name)
    admin = KazooClient(hosts=zk_server.hosts)
    admin.start(timeout=15)
    try:
        admin.create(chroot)
    finally:
        admin.stop()
        admin.close()
    return zk_server.hosts + chroot


@pytest.fixture
def hdfs_url(hdfs_server: HdfsServer, request: pytest.FixtureRequest) -> str:
    """A directory URL that exists, is writable by any user (777) and is private to this test."""
    path = _chroot_name(request.node.name)
    # The JVM's OS user (by uid, as Hadoop's login does) is the HDFS superuser.
    hdfs_server.mkdir(path, pwd.getpwuid(os.getuid()).pw_name, 0o777)
    return hdfs_server.url + path


@pytest.fixture
def zk(zk_hosts: str) -> Generator[KazooClient, None, None]:
    client = KazooClient(hosts=zk_hosts)
    client.start(timeout=15)
    try:
        yield client
    finally:
        client.stop()
        client.close()


@pytest.fixture
def procs(request: pytest.FixtureRequest) -> Iterator[list[Any]]:
    started: list[Any] = []
    request.node.stash[_PROCS_KEY] = started
    yield started
    for p in started:
        p.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    servers: list[tuple[str, ZkServer | HdfsServer | None]] = [
        ("zookeeper log", item.stash.get(_ZK_SERVER_KEY, None)),
        ("hdfs log", item.stash.get(_HDFS_SERVER_KEY, None)),
    ]
    for title, server in servers if report.failed else []:
        tail = server.log_tail(_LOG_TAIL_LINES) if server is not None else ""
        if server is not None and tail:
            report.sections.append((title, f"{server.log_path} (last {_LOG_TAIL_LINES} lines)\n{tail}"))
    for p in item.stash.get(_PROCS_KEY, []) if report.failed else []:
        tail = p.log_tail(_LOG_TAIL_LINES) if hasattr(p, "log_tail") else ""
        if tail:
            report.sections.append((f"log of {p!r}", tail))
    return report
