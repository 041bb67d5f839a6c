"""The ZooKeeper layout of an OpenMLDB cluster: znode paths and what a TableInfo says."""

from __future__ import annotations

import pytest
from helpers.tableinfo import table_info

from omsync_tui.core.errors import ClusterError, UsageError
from omsync_tui.openmldb.zkpaths import ZkPaths, partition_leaders, qualified_name, split_table_name


def test_paths_follow_the_reference_layout() -> None:
    p = ZkPaths("/openmldb/")
    assert p.root == "/openmldb"
    assert p.db_table_data == "/openmldb/table/db_table_data"
    assert p.table(12) == "/openmldb/table/db_table_data/12"
    assert p.table_index == "/openmldb/table/table_index"
    assert p.notify == "/openmldb/table/notify"
    assert p.nodes == "/openmldb/nodes"
    assert p.tablet("10.0.0.1:9527") == "/openmldb/nodes/10.0.0.1:9527"
    assert p.collectors == "/openmldb/sync_tool/collector"
    assert p.collector("10.0.0.1:8888") == "/openmldb/sync_tool/collector/10.0.0.1:8888"
    assert p.db("demo") == "/openmldb/db/demo"
    assert ZkPaths("/").table(1) == "/table/db_table_data/1"
    assert ZkPaths("/a/b").nodes == "/a/b/nodes"
    with pytest.raises(UsageError):
        ZkPaths("openmldb")
    with pytest.raises(UsageError):
        p.collector("a/b")


@pytest.mark.parametrize("bad", ["orders", "a.b.c", ".t", "db.", ""])
def test_table_name_must_be_db_dot_table(bad: str) -> None:
    with pytest.raises(UsageError):
        split_table_name(bad)


def test_partition_leaders() -> None:
    info = table_info("d", "t", 1, ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1"])
    assert partition_leaders(info) == {0: "127.0.0.1:1", 1: "127.0.0.1:2", 2: "127.0.0.1:1"}


def test_partition_without_leader_is_a_cluster_error() -> None:
    info = table_info("d", "t", 6, ["127.0.0.1:1"])
    info.table_partition[0].partition_meta[0].is_alive = False
    with pytest.raises(ClusterError, match=r"tid 6.*pid 0 has no alive leader"):
        partition_leaders(info)


def test_missing_partition_entry_is_a_cluster_error() -> None:
    info = table_info("d", "t", 6, ["127.0.0.1:1", "127.0.0.1:2"])
    info.partition_num = 3
    with pytest.raises(ClusterError, match="pid 2"):
        partition_leaders(info)


def test_qualified_name_is_db_dot_table() -> None:
    assert qualified_name(table_info("shop", "orders", 3, ["127.0.0.1:1"])) == "shop.orders"
