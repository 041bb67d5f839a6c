"""The sandbox's own records and the metadata it publishes for a table.

``SandboxConfig`` (``<base>/sandbox/sandbox.json``) and ``TableState``
(``<base>/sandbox/tables/<tid>.json``) let separate processes share one sandbox; ``table_info``
and ``table_meta`` build what the nameserver stores in ZooKeeper and what a tablet keeps in
``table_meta.txt`` (reference §2.2, §2.5).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omsync_tui.core.errors import NotFoundError
from omsync_tui.openmldb.proto import common_pb2, name_server_pb2, tablet_pb2, type_pb2
from omsync_tui.openmldb.schema import Column, ColumnType, TableSchema
from omsync_tui.sandbox.datagen import IndexSpec, TableSpec

DEFAULT_TABLETS = ("127.0.0.1:10921", "127.0.0.2:10921")
STORAGE_MODE = {"memory": common_pb2.kMemory, "ssd": common_pb2.kSSD, "hdd": common_pb2.kHDD}


@dataclass
class SandboxConfig:
    """``<base>/sandbox/sandbox.json``: how to find the cluster again from another process."""

    zk_hosts: str
    zk_root: str = "/openmldb"
    tablets: tuple[str, ...] = DEFAULT_TABLETS
    binlog_max_bytes: int = 256 * 1024
    seed: int = 0
    snapshot_compression: str | None = None  # memory tables: None | zlib | snappy
    hdfs_url: str | None = None  # ``hdfs://127.0.0.1:<port>`` while ``serve`` runs a MiniDFSCluster

    def save(self, base: Path) -> None:
        path = base / "sandbox" / "sandbox.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = dict(self.__dict__, tablets=list(self.tablets))
        path.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, base: Path) -> SandboxConfig:
        path = base / "sandbox" / "sandbox.json"
        if not path.exists():
            raise NotFoundError(f"no sandbox at {base}", hint="create one with: omsync sandbox up --dir DIR")
        data = json.loads(path.read_text())
        data["tablets"] = tuple(data["tablets"])
        return cls(**data)


@dataclass
class TableState:
    """The sandbox's own record of one table (spec, schema growth, row counter)."""

    tid: int
    spec: TableSpec
    added: list[Column] = field(default_factory=list)
    versions: dict[int, int] = field(default_factory=dict)
    next_row: int = 0
    seed: int = 0

    def leader(self, pid: int, tablets: Sequence[str]) -> str:
        """Leaders spread round-robin over the tablets, deterministically."""
        return tablets[(self.tid + pid) % len(tablets)]

    @property
    def schema(self) -> TableSchema:
        return TableSchema(self.spec.columns, tuple(self.added), dict(self.versions))

    def to_json(self) -> dict[str, Any]:
        col = _column_json
        s = self.spec
        return {
            "tid": self.tid,
            "next_row": self.next_row,
            "seed": self.seed,
            "versions": {str(k): v for k, v in self.versions.items()},
            "added": [col(c) for c in self.added],
            "spec": {
                "db": s.db,
                "name": s.name,
                "columns": [col(c) for c in s.columns],
                "indexes": [
                    {"name": i.name, "columns": list(i.columns), "ts": i.ts_column} for i in s.indexes
                ],
                "partition_num": s.partition_num,
                "storage": s.storage,
                "snappy": s.snappy,
                "abs_ttl_minutes": s.abs_ttl_minutes,
                "lat_ttl": s.lat_ttl,
            },
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TableState:
        col = _column_from_json
        s = d["spec"]
        spec = TableSpec(
            s["db"],
            s["name"],
            tuple(col(c) for c in s["columns"]),
            tuple(IndexSpec(i["name"], tuple(i["columns"]), i["ts"]) for i in s["indexes"]),
            partition_num=s["partition_num"],
            storage=s["storage"],
            snappy=s["snappy"],
            abs_ttl_minutes=s["abs_ttl_minutes"],
            lat_ttl=s["lat_ttl"],
        )
        return cls(
            d["tid"],
            spec,
            [col(c) for c in d["added"]],
            {int(k): v for k, v in d["versions"].items()},
            d["next_row"],
            d["seed"],
        )


def _column_json(c: Column) -> dict[str, Any]:
    return {"name": c.name, "type": int(c.type), "not_null": c.not_null}


def _column_from_json(c: dict[str, Any]) -> Column:
    return Column(c["name"], ColumnType(c["type"]), c["not_null"])


def table_info(st: TableState, tablets: Sequence[str]) -> name_server_pb2.TableInfo:
    """The nameserver's TableInfo of a sandbox table, as stored in ZooKeeper."""
    s = st.spec
    info = name_server_pb2.TableInfo(
        name=s.name,
        db=s.db,
        tid=st.tid,
        seg_cnt=8,
        partition_num=s.partition_num,
        replica_num=1,
        compress_type=type_pb2.kSnappy if s.snappy else type_pb2.kNoCompress,
        format_version=1,
        storage_mode=STORAGE_MODE[s.storage],
        key_entry_max_height=4,
    )
    _fill_schema(info, st)
    for pid in range(s.partition_num):
        tp = info.table_partition.add(pid=pid)
        tp.partition_meta.add(endpoint=st.leader(pid, tablets), is_leader=True, is_alive=True)
        tp.term_offset.add(term=1, offset=0)
    return info


def table_meta(st: TableState, pid: int, tablets: Sequence[str]) -> tablet_pb2.TableMeta:
    """The TableMeta a leader tablet keeps in table_meta.txt for partition ``pid``."""
    s = st.spec
    meta = tablet_pb2.TableMeta(
        tid=st.tid,
        name=s.name,
        pid=pid,
        seg_cnt=8,
        mode=tablet_pb2.kTableLeader,
        term=1,
        compress_type=type_pb2.kSnappy if s.snappy else type_pb2.kNoCompress,
        key_entry_max_height=4,
        format_version=1,
        db=s.db,
        storage_mode=STORAGE_MODE[s.storage],
    )
    _fill_schema(meta, st)
    for p in range(s.partition_num):
        tp = meta.table_partition.add(pid=p)
        tp.partition_meta.add(endpoint=st.leader(p, tablets), is_leader=True, is_alive=True)
    return meta


def _fill_schema(msg: Any, st: TableState) -> None:
    s = st.spec
    for c in s.columns:
        msg.column_desc.add(name=c.name, data_type=int(c.type), not_null=c.not_null)
    for c in st.added:
        msg.added_column_desc.add(name=c.name, data_type=int(c.type), not_null=c.not_null)
    for vid, count in sorted(st.versions.items()):
        msg.schema_versions.add(id=vid, field_count=count)
    for ix in s.indexes:
        ck = msg.column_key.add(index_name=ix.name, col_name=list(ix.columns))
        if ix.ts_column:
            ck.ts_name = ix.ts_column
        if s.abs_ttl_minutes and s.lat_ttl:
            ck.ttl.ttl_type = type_pb2.kAbsOrLat
        elif s.lat_ttl:
            ck.ttl.ttl_type = type_pb2.kLatestTime
        else:
            ck.ttl.ttl_type = type_pb2.kAbsoluteTime
        ck.ttl.abs_ttl = s.abs_ttl_minutes
        ck.ttl.lat_ttl = s.lat_ttl
