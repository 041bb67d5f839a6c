"""TableInfo messages as OpenMLDB's nameserver stores them under ``table/db_table_data``."""

from __future__ import annotations

from omsync_tui.openmldb.proto import name_server_pb2, type_pb2


def table_info(db: str, name: str, tid: int, leaders: list[str]) -> name_server_pb2.TableInfo:
    """A table with one partition per entry of ``leaders`` (its alive leader) and one follower each."""
    info = name_server_pb2.TableInfo(name=name, db=db, tid=tid, partition_num=len(leaders), replica_num=2)
    info.column_desc.add(name="card", data_type=type_pb2.kString)
    for pid, leader in enumerate(leaders):
        part = info.table_partition.add(pid=pid)
        part.partition_meta.add(endpoint=leader, is_leader=True)
        part.partition_meta.add(endpoint="127.0.0.1:9999", is_leader=False)
    return info
