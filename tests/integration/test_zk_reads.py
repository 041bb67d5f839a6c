"""Reading an OpenMLDB cluster's ZooKeeper (``services/zk/reads``), its nodes written here as the
nameserver, tablets and collectors write them."""

from __future__ import annotations

import pytest
from helpers.tableinfo import table_info
from kazoo.client import KazooClient

from omsync_tui.core.errors import ClusterError, FormatError, NotFoundError
from omsync_tui.openmldb.proto import name_server_pb2
from omsync_tui.openmldb.zkpaths import ZkPaths, partition_leaders
from omsync_tui.services.zk.reads import (
    list_collectors,
    list_tables,
    list_tablets,
    resolve_table,
    table_by_tid,
)

PATHS = ZkPaths("/openmldb")


def _put(zk: KazooClient, info: name_server_pb2.TableInfo) -> None:
    zk.create(PATHS.table(info.tid), info.SerializeToString(), makepath=True)


def test_list_tables_reads_binary_table_info_sorted(zk: KazooClient) -> None:
    _put(zk, table_info("zeta", "t1", 3, ["127.0.0.1:1"]))
    _put(zk, table_info("alpha", "t2", 2, ["127.0.0.1:1", "127.0.0.1:2"]))
    _put(zk, table_info("alpha", "t1", 5, ["127.0.0.1:2"]))
    tables = list_tables(zk, PATHS)
    assert [(t.db, t.name, t.tid) for t in tables] == [
        ("alpha", "t1", 5),
        ("alpha", "t2", 2),
        ("zeta", "t1", 3),
    ]
    assert tables[1].table_partition[1].partition_meta[0].endpoint == "127.0.0.1:2"


def test_empty_cluster_has_no_tables(zk: KazooClient) -> None:
    zk.ensure_path(PATHS.db_table_data)
    assert list_tables(zk, PATHS) == []


def test_wrong_root_is_not_found_with_a_hint(zk: KazooClient) -> None:
    _put(zk, table_info("d", "t", 1, ["127.0.0.1:1"]))
    with pytest.raises(NotFoundError) as err:
        list_tables(zk, ZkPaths("/elsewhere"))
    assert "/elsewhere/table/db_table_data" in str(err.value)
    assert err.value.hint is not None and "zk_root_path" in err.value.hint


def test_malformed_node_is_a_format_error_naming_the_znode(zk: KazooClient) -> None:
    _put(zk, table_info("d", "good", 1, ["127.0.0.1:1"]))
    zk.create(PATHS.table(2), b"\xff\xfe not a protobuf")
    with pytest.raises(FormatError) as err:
        list_tables(zk, PATHS)
    assert "znode /openmldb/table/db_table_data/2" in str(err.value)


def test_node_missing_a_required_field_is_a_format_error(zk: KazooClient) -> None:
    info = table_info("d", "t", 4, ["127.0.0.1:1"])
    info.table_partition[0].partition_meta.add(endpoint="127.0.0.1:3")  # is_leader unset
    zk.create(PATHS.table(4), info.SerializePartialToString(), makepath=True)
    with pytest.raises(FormatError, match="is_leader") as err:
        table_by_tid(zk, PATHS, 4)
    assert "/openmldb/table/db_table_data/4" in str(err.value)


def test_resolve_table_finds_by_db_and_name(zk: KazooClient) -> None:
    _put(zk, table_info("demo", "orders", 10, ["127.0.0.1:1"]))
    _put(zk, table_info("other", "orders", 11, ["127.0.0.1:1"]))
    assert resolve_table(zk, PATHS, "demo.orders").tid == 10
    assert resolve_table(zk, PATHS, "other.orders").tid == 11
    assert table_by_tid(zk, PATHS, 11).db == "other"


def test_missing_table_lists_similar_names(zk: KazooClient) -> None:
    _put(zk, table_info("demo", "orders", 10, ["127.0.0.1:1"]))
    _put(zk, table_info("demo", "users", 12, ["127.0.0.1:1"]))
    with pytest.raises(NotFoundError) as err:
        resolve_table(zk, PATHS, "demo.order")
    assert "demo.order" in str(err.value)
    assert err.value.hint is not None and "demo.orders" in err.value.hint
    assert "demo.users" not in err.value.hint


def test_missing_table_in_an_empty_cluster(zk: KazooClient) -> None:
    zk.ensure_path(PATHS.db_table_data)
    with pytest.raises(NotFoundError) as err:
        resolve_table(zk, PATHS, "demo.orders")
    assert err.value.hint is not None and "no tables" in err.value.hint


def test_table_by_unknown_tid(zk: KazooClient) -> None:
    zk.ensure_path(PATHS.db_table_data)
    with pytest.raises(NotFoundError, match="tid 99"):
        table_by_tid(zk, PATHS, 99)


def test_dead_leader_does_not_count(zk: KazooClient) -> None:
    info = table_info("d", "t", 1, ["127.0.0.1:1", "127.0.0.1:2"])
    info.table_partition[1].partition_meta[0].is_alive = False
    info.table_partition[1].partition_meta.add(endpoint="127.0.0.1:3", is_leader=True)
    _put(zk, info)
    assert partition_leaders(table_by_tid(zk, PATHS, 1)) == {0: "127.0.0.1:1", 1: "127.0.0.1:3"}


def test_partition_with_two_leaders_is_a_cluster_error(zk: KazooClient) -> None:
    info = table_info("d", "t", 6, ["127.0.0.1:1", "127.0.0.1:2"])
    info.table_partition[1].partition_meta[1].is_leader = True
    _put(zk, info)
    with pytest.raises(ClusterError) as err:
        partition_leaders(resolve_table(zk, PATHS, "d.t"))
    message = str(err.value)
    assert "tid 6" in message and "pid 1" in message and "2 alive leaders" in message


def test_list_tablets_and_collectors(zk: KazooClient) -> None:
    zk.create(PATHS.tablet("127.0.0.1:9527"), b"startup_127.0.0.1:9527", ephemeral=True, makepath=True)
    zk.create(PATHS.tablet("127.0.0.1:9528"), b"127.0.0.1:9528", ephemeral=True)
    assert list_tablets(zk, PATHS) == {
        "127.0.0.1:9527": "startup_127.0.0.1:9527",
        "127.0.0.1:9528": "127.0.0.1:9528",
    }
    assert list_collectors(zk, PATHS) == {}
    zk.create(PATHS.collector("127.0.0.1:8888"), b"127.0.0.1:8888", ephemeral=True, makepath=True)
    assert list_collectors(zk, PATHS) == {"127.0.0.1:8888": "127.0.0.1:8888"}


def test_list_tablets_and_collectors_under_a_wrong_root(zk: KazooClient) -> None:
    with pytest.raises(NotFoundError, match="/nowhere/nodes"):
        list_tablets(zk, ZkPaths("/nowhere"))
    with pytest.raises(NotFoundError, match="/nowhere"):
        list_collectors(zk, ZkPaths("/nowhere"))


def test_closed_client_is_a_cluster_error(zk_hosts: str) -> None:
    client = KazooClient(hosts=zk_hosts)
    client.start(timeout=15)
    client.stop()
    try:
        with pytest.raises(ClusterError, match="closed"):
            list_tables(client, PATHS)
    finally:
        client.close()


def test_missing_table_suggests_the_same_name_in_another_db(zk: KazooClient) -> None:
    _put(zk, table_info("prod", "orders", 10, ["127.0.0.1:1"]))
    _put(zk, table_info("demo", "users", 12, ["127.0.0.1:1"]))
    with pytest.raises(NotFoundError) as err:
        resolve_table(zk, PATHS, "demo.orders")
    assert err.value.hint == "did you mean prod.orders?"
