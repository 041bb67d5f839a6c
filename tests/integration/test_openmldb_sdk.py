"""OpenMLDB's released Java SDK (Maven Central, the C++ SDK through JNI) against the sandbox.

The strongest evidence the sandbox is a real cluster's twin: the client OpenMLDB's own SyncTool
builds connects through ZooKeeper, calls the sandbox's nameserver and tablets, and lists every
database, table and schema the sandbox made; ``show table status`` (which cross-checks the
nameserver's TableInfo against each tablet's GetTableStatus and GetTableFollower) reports no
warning. The first run builds the probe (Maven downloads ~210 MB; see README).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.daemonproc import free_port

from omsync_tui.openmldb.schema import Column, ColumnType
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.jvm.openmldbsdk import list_cluster
from omsync_tui.sandbox.partition import read_journal
from omsync_tui.sandbox.responder import ClusterResponder
from omsync_tui.sandbox.state import SandboxConfig

pytestmark = pytest.mark.peer

# java.sql.Types of each OpenMLDB column type, as the SDK's Schema reports them
SQL_TYPES = {
    ColumnType.BOOL: 16,
    ColumnType.SMALLINT: 5,
    ColumnType.INT: 4,
    ColumnType.BIGINT: -5,
    ColumnType.FLOAT: 6,
    ColumnType.DOUBLE: 8,
    ColumnType.DATE: 91,
    ColumnType.TIMESTAMP: 93,
    ColumnType.VARCHAR: 12,
    ColumnType.STRING: 12,
}
STORAGE = {"memory": "kMemory", "ssd": "kSSD", "hdd": "kHDD"}


def tablet_endpoints() -> tuple[str, str]:
    # free ports, so a sandbox the developer runs on the default 10921 does not collide
    return f"127.0.0.1:{free_port()}", f"127.0.0.2:{free_port('127.0.0.2')}"


def puts(cluster: SandboxCluster, name: str) -> int:
    st = cluster.table(name)
    return sum(
        1
        for pid in range(st.spec.partition_num)
        for op in read_journal(cluster.journal_path(st, pid))
        if op["op"] == "put"
    )


def test_the_sdk_lists_every_database_table_and_schema(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    cluster = SandboxCluster.create(tmp_path / "sb", zk, SandboxConfig(zk_hosts, tablets=tablet_endpoints()))
    cluster.register_tablets(ephemeral=True)
    cluster.create_table(preset_spec("mixed", "shop", "orders", storage="hdd", partition_num=3))
    cluster.write("shop.orders", 700)
    cluster.snapshot("shop.orders")
    cluster.write("shop.orders", 300)
    cluster.create_table(preset_spec("multiindex", "shop", "events", snappy=True))
    cluster.write("shop.events", 200)
    cluster.add_column("shop.events", Column("city", ColumnType.VARCHAR))
    cluster.write("shop.events", 20)
    cluster.create_table(preset_spec("sharedkey", "audit", "log", storage="ssd", partition_num=1))

    with ClusterResponder(cluster):
        view = list_cluster(zk_hosts, cluster.config.zk_root)

    assert view.databases == ["audit", "shop"]
    seen = {f"{t['db']}.{t['name']}": t for t in view.tables}
    assert sorted(seen) == ["audit.log", "shop.events", "shop.orders"]
    for name, table in seen.items():
        st = cluster.table(name)
        assert table["tid"] == st.tid
        assert table["storage_mode"] == STORAGE[st.spec.storage]
        assert table["partition_num"] == st.spec.partition_num
        columns = [(c["name"], c["sql_type"], c["not_null"]) for c in table["columns"]]
        # getTableSchema is column_desc; the TableInfo carries ALTER TABLE ADD COLUMN's apart
        assert columns == [(c.name, SQL_TYPES[c.type], c.not_null) for c in st.spec.columns], name
        assert table["added_columns"] == [c.name for c in st.added], name
    assert seen["shop.events"]["added_columns"] == ["city"]

    status = {f"{r['Database_name']}.{r['Table_name']}": r for r in view.table_status}
    assert sorted(status) == sorted(seen)
    # the SDK checks every partition's leader against the tablet's own status: no warning
    assert {name: r["Warnings"] for name, r in status.items()} == dict.fromkeys(seen, "")
    assert status["shop.orders"]["Rows"] == "1000" == str(puts(cluster, "shop.orders"))
    assert status["shop.events"]["Rows"] == str(puts(cluster, "shop.events"))
    assert status["audit.log"]["Rows"] == "0"
    assert status["shop.orders"]["Storage_type"] == "hdd" and status["audit.log"]["Storage_type"] == "ssd"
    assert int(status["shop.orders"]["Disk_data_size"]) > 0
    assert {r["Table_id"] for r in status.values()} == {str(t["tid"]) for t in seen.values()}

    roles = sorted((c["Role"], c["Endpoint"], c["Status"]) for c in view.components)
    assert roles == sorted(
        [("nameserver", roles[0][1], "online")] + [("tablet", t, "online") for t in cluster.config.tablets]
    )


def test_sandbox_up_answers_the_sdk_and_says_which_tablet_cannot(
    tmp_path: Path, zk: Any, zk_hosts: str
) -> None:
    """``omsync sandbox up`` starts the responder; a tablet port another process holds is named,
    and the SDK's own check reports that tablet's partitions, as for a tablet that is down."""
    up, taken = tablet_endpoints()
    holder = socket.socket()
    holder.bind(("127.0.0.2", int(taken.rsplit(":", 1)[1])))  # bound, not listening: refused
    base = tmp_path / "sb"
    cli = [sys.executable, "-m", "omsync_tui", "sandbox"]
    d = ["--dir", str(base)]
    try:
        run = subprocess.run(
            [*cli, "up", *d, "--zk", zk_hosts, "--tablets", f"{up},{taken}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        try:
            create = [*cli, "create-table", *d, "db.t", "--storage", "hdd", "--partitions", "2"]
            subprocess.run(create, check=True, capture_output=True, timeout=60)
            write = [*cli, "write", *d, "db.t", "--rows", "50"]
            subprocess.run(write, check=True, capture_output=True, timeout=60)
            log = (base / "sandbox" / "serve.log").read_text()
            assert f"tablet {taken} does not answer RPCs: cannot listen on 127.0.0.2" in log
            view = list_cluster(zk_hosts, "/openmldb")
        finally:
            subprocess.run([*cli, "down", *d], capture_output=True, timeout=60)
    finally:
        holder.close()
    assert view.databases == ["db"]
    assert [(t["name"], len(t["columns"])) for t in view.tables] == [("t", 10)]
    [row] = view.table_status
    warnings = row["Warnings"].splitlines()
    # one partition is led by each tablet (tid 1: pid 0 by the second): only pid 0 is reported
    assert warnings and all(w.startswith("[pid=0]") for w in warnings), warnings
    assert "real replica number 0 does not match the configured replicanum 1" in warnings[0]
    assert any(f"Not connected to {taken}" in w for w in warnings), warnings
    tablets = {c["Endpoint"] for c in view.components if c["Role"] == "tablet"}
    assert tablets == {up, taken}  # registered in ZooKeeper all the same, as a hung tablet is
