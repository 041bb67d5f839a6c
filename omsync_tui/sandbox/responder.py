"""The sandbox's nameserver and tablets as OpenMLDB's own SDK meets them: RPC answers and nodes.

OpenMLDB's C++ SDK (``SqlClusterExecutor`` in Java, through JNI) reads a cluster's tables from
ZooKeeper, but it also calls the nameserver (found through ``<root>/leader``) and the tablets
(``<root>/nodes``). ``ClusterResponder`` answers those calls on omsync's rpc layer with what a
real nameserver and tablet answer for the sandbox's tables, and writes the znodes a nameserver
writes when it starts. The list of calls was found by running the SDK against the sandbox
(``docs/openmldb-peer.md`` §4); a call not listed there is answered ENOSERVICE/ENOMETHOD, as a
brpc server answers an unknown service or method.

- nameserver (``openmldb.nameserver.NameServer``, one port on the responder's host):
  ``ShowFunction`` (no functions), ``ShowDatabase`` and ``UseDatabase`` (``<root>/db``),
  ``ShowTable`` (the TableInfos of ``<root>/table/db_table_data`` with each partition's record
  count, offset and disk use), ``ShowTablet`` (``<root>/nodes``, all healthy);
- every tablet endpoint of the sandbox (``openmldb.api.TabletServer``): ``GetTableStatus`` of the
  partitions it leads (offset, record count, mode, state, storage, absolute snapshot and binlog
  paths), ``GetTableSchema`` (the partition's ``TableMeta``), ``GetTableFollower`` (one replica:
  "has no follower", which the SDK accepts for replica number 1).

Counts and offsets come from the sandbox's per-partition journal, read incrementally: the offset
is the last log index written, the record count the number of puts (deletes are not subtracted).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omsync_tui.core.errors import OmsyncError
from omsync_tui.openmldb.proto import name_server_pb2, nameserver_rpc_pb2, tablet_pb2, tablet_rpc_pb2
from omsync_tui.rpc.server import RpcServer
from omsync_tui.rpc.service import CallContext, Service
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.state import TableState
from omsync_tui.services.zk.reads import list_tables

NAMESERVER = "openmldb.nameserver.NameServer"
TABLET = "openmldb.api.TabletServer"
_LAST_INDEX = re.compile(rb'"i":(\d+)')
_PUT = b'{"op":"put"'
_CHUNK = 16 << 20  # journals of large tables are read this much at a time
# OpenMLDB's ReturnCode values the answers use.
KTABLE_IS_NOT_EXIST = 100
KNO_FOLLOWER = 134
KDATABASE_NOT_FOUND = 802
log = logging.getLogger("omsync.sandbox.responder")

# What a nameserver creates at start-up besides the table nodes the sandbox already writes
# (OpenMLDB's NameServerImpl::Init): path → initial value, created only when missing.
NAMESERVER_NODES = {
    "data/function": b"",
    "notify/global_variable": b"1",
    "op/op_index": b"0",
    "config/auto_failover": b"false",
    "store_procedure/db_sp_data": b"",
}


@dataclass
class _JournalCount:
    """How far one partition's journal was read, and what it held up to there."""

    read_bytes: int = 0
    puts: int = 0
    last_index: int = 0


@dataclass(frozen=True)
class ResponderStatus:
    """What ``ClusterResponder.start`` managed to serve."""

    nameserver: str
    """``host:port`` of the nameserver (the data of ``<root>/leader/lock_request<seq>``)."""
    tablets: tuple[str, ...]
    """Tablet endpoints that answer."""
    refused: dict[str, str] = field(default_factory=dict)
    """Tablet endpoints that could not be served → why (a port another process holds)."""


class ClusterResponder:
    """Answer the nameserver's and tablets' RPCs of ``cluster``; ``start()`` then ``stop()``."""

    def __init__(self, cluster: SandboxCluster, *, nameserver_host: str = "127.0.0.1") -> None:
        self.cluster = cluster
        self.nameserver_host = nameserver_host
        self._servers: list[RpcServer] = []
        self._leader_node: str | None = None
        self._counts: dict[tuple[int, int], _JournalCount] = {}
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> ResponderStatus:
        """Serve the nameserver and every tablet endpoint; register the nameserver as leader.

        A tablet endpoint whose port is taken is reported in ``refused`` (the SDK then sees that
        tablet as down); the nameserver itself takes a free port.
        """
        ns = RpcServer(self.nameserver_host, 0, [self._nameserver_service()], workers=4)
        ns.start()
        self._servers.append(ns)
        serving: list[str] = []
        refused: dict[str, str] = {}
        for endpoint in self.cluster.config.tablets:
            host, _, port = endpoint.rpartition(":")
            server = RpcServer(host, int(port), [self._tablet_service(endpoint)], workers=4)
            try:
                server.start()
            except OmsyncError as exc:
                refused[endpoint] = exc.message
                log.warning("tablet %s does not answer RPCs: %s", endpoint, exc.message)
                continue
            self._servers.append(server)
            serving.append(endpoint)
        self._write_nameserver_nodes(ns.endpoint)
        return ResponderStatus(ns.endpoint, tuple(serving), refused)

    def stop(self) -> None:
        if self._leader_node is not None:
            try:
                self.cluster.zk.delete(self._leader_node)
            except Exception as exc:  # the session may be gone already; the node goes with it
                log.info("leader node %s not deleted: %s", self._leader_node, exc)
            self._leader_node = None
        for server in self._servers:
            server.stop(timeout=2.0)
        self._servers.clear()

    def __enter__(self) -> ClusterResponder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_nameserver_nodes(self, endpoint: str) -> None:
        zk = self.cluster.zk
        root = self.cluster.config.zk_root.rstrip("/")
        for rel, value in NAMESERVER_NODES.items():
            path = f"{root}/{rel}"
            if not zk.exists(path):
                zk.create(path, value, makepath=True)
        # A nameserver's DistLock: an ephemeral sequential node; the lowest sequence leads.
        self._leader_node = zk.create(
            f"{self.cluster.paths.leader}/lock_request",
            endpoint.encode(),
            ephemeral=True,
            sequence=True,
            makepath=True,
        )

    # -- the nameserver -----------------------------------------------------------------------

    def _nameserver_service(self) -> Service:
        ns = nameserver_rpc_pb2
        return (
            Service(NAMESERVER)
            .add("ShowFunction", ns.ShowFunctionRequest, ns.ShowFunctionResponse, self._show_function)
            .add("ShowDatabase", ns.GeneralRequest, ns.ShowDatabaseResponse, self._show_database)
            .add("ShowTable", ns.ShowTableRequest, ns.ShowTableResponse, self._show_table)
            .add("UseDatabase", ns.UseDatabaseRequest, ns.GeneralResponse, self._use_database)
            .add("ShowTablet", ns.ShowTabletRequest, ns.ShowTabletResponse, self._show_tablet)
        )

    def _show_function(self, request: Any, _att: bytes, _ctx: CallContext) -> tuple[Any, bytes]:
        # The sandbox has no user-defined functions: a nameserver without any answers ok, empty.
        return nameserver_rpc_pb2.ShowFunctionResponse(code=0, msg="ok"), b""

    def _show_database(self, request: Any, _att: bytes, _ctx: CallContext) -> tuple[Any, bytes]:
        dbs = sorted(self.cluster.zk.get_children(f"{self.cluster.config.zk_root.rstrip('/')}/db"))
        return nameserver_rpc_pb2.ShowDatabaseResponse(code=0, msg="ok", db=dbs), b""

    def _show_tablet(self, request: Any, _att: bytes, _ctx: CallContext) -> tuple[Any, bytes]:
        """The tablets registered under ``<root>/nodes``: healthy, aged since they registered."""
        response = nameserver_rpc_pb2.ShowTabletResponse(code=0, msg="ok")
        now_ms = int(time.time() * 1000)
        for endpoint, created_ms in sorted(self._registered_tablets().items()):
            response.tablets.add(endpoint=endpoint, state="kHealthy", age=max(0, now_ms - created_ms))
        return response, b""

    def _registered_tablets(self) -> dict[str, int]:
        zk, nodes = self.cluster.zk, self.cluster.paths.nodes
        out = {}
        for child in zk.get_children(nodes):
            stat = zk.exists(f"{nodes}/{child}")
            if stat is not None:
                out[child] = int(stat.ctime)
        return out

    def _use_database(self, request: Any, _att: bytes, _ctx: CallContext) -> tuple[Any, bytes]:
        if self.cluster.zk.exists(f"{self.cluster.config.zk_root.rstrip('/')}/db/{request.db}"):
            return nameserver_rpc_pb2.GeneralResponse(code=0, msg="ok"), b""
        return nameserver_rpc_pb2.GeneralResponse(code=KDATABASE_NOT_FOUND, msg="database not found"), b""

    def _show_table(self, request: Any, _att: bytes, _ctx: CallContext) -> tuple[Any, bytes]:
        response = nameserver_rpc_pb2.ShowTableResponse(code=0, msg="ok")
        states = {st.tid: st for st in self.cluster.tables()}
        for info in list_tables(self.cluster.zk, self.cluster.paths):
            if request.name and info.name != request.name:
                continue
            if not request.show_all and info.db != request.db:
                continue
            shown = response.table_info.add()
            shown.CopyFrom(info)
            st = states.get(info.tid)
            if st is not None:
                self._fill_partition_counts(shown, st)
        return response, b""

    def _fill_partition_counts(self, info: name_server_pb2.TableInfo, st: TableState) -> None:
        """What a nameserver learns from its tablets' status: rows and offset per partition."""
        for partition in info.table_partition:
            count = self._count(st, partition.pid)
            used = _disk_used(self.cluster.partition_dir(st, partition.pid))
            partition.record_cnt = count.puts
            partition.diskused = used
            for meta in partition.partition_meta:
                meta.offset = count.last_index
                meta.record_cnt = count.puts
                meta.diskused = used

    # -- the tablets --------------------------------------------------------------------------

    def _tablet_service(self, endpoint: str) -> Service:
        def get_table_status(request: Any, _att: bytes, _ctx: CallContext) -> tuple[Any, bytes]:
            return self._table_status(endpoint, request), b""

        def get_table_schema(request: Any, _att: bytes, _ctx: CallContext) -> tuple[Any, bytes]:
            return self._table_schema(endpoint, request), b""

        def get_table_follower(request: Any, _att: bytes, _ctx: CallContext) -> tuple[Any, bytes]:
            return self._table_follower(endpoint, request), b""

        return (
            Service(TABLET)
            .add(
                "GetTableStatus",
                tablet_pb2.GetTableStatusRequest,
                tablet_pb2.GetTableStatusResponse,
                get_table_status,
            )
            .add(
                "GetTableSchema",
                tablet_pb2.GetTableSchemaRequest,
                tablet_pb2.GetTableSchemaResponse,
                get_table_schema,
            )
            .add(
                "GetTableFollower",
                tablet_rpc_pb2.GetTableFollowerRequest,
                tablet_rpc_pb2.GetTableFollowerResponse,
                get_table_follower,
            )
        )

    def _led_partitions(self, endpoint: str) -> list[tuple[TableState, int]]:
        led = []
        for st in self.cluster.tables():
            for pid in range(st.spec.partition_num):
                if self.cluster.leader(st, pid) == endpoint:
                    led.append((st, pid))
        return led

    def _table_status(self, endpoint: str, request: Any) -> tablet_pb2.GetTableStatusResponse:
        """All partitions this tablet holds, or the one asked for (``tid``/``pid`` set)."""
        response = tablet_pb2.GetTableStatusResponse(code=0, msg="ok")
        for st, pid in self._led_partitions(endpoint):
            if request.HasField("tid") and (st.tid != request.tid or pid != request.pid):
                continue
            part = self.cluster.partition_dir(st, pid)
            count = self._count(st, pid)
            meta = self.cluster.table_meta(st, pid)
            response.all_table_status.add(
                tid=st.tid,
                pid=pid,
                offset=count.last_index,
                mode=tablet_pb2.kTableLeader,
                state=tablet_pb2.kTableNormal,
                is_expire=False,
                time_offset=0,
                record_cnt=count.puts,
                idx_cnt=count.puts * len(st.spec.indexes),
                name=st.spec.name,
                compress_type=meta.compress_type,
                skiplist_height=meta.key_entry_max_height,
                diskused=_disk_used(part),
                storage_mode=meta.storage_mode,
                snapshot_path=f"{part / 'snapshot'}/",
                binlog_path=f"{part / 'binlog'}/",
            )
        return response

    def _table_schema(self, endpoint: str, request: Any) -> tablet_pb2.GetTableSchemaResponse:
        for st, pid in self._led_partitions(endpoint):
            if st.tid == request.tid and pid == request.pid:
                return tablet_pb2.GetTableSchemaResponse(
                    code=0, msg="ok", table_meta=self.cluster.table_meta(st, pid)
                )
        return tablet_pb2.GetTableSchemaResponse(code=KTABLE_IS_NOT_EXIST, msg="table is not exist")

    def _table_follower(self, endpoint: str, request: Any) -> tablet_rpc_pb2.GetTableFollowerResponse:
        for st, pid in self._led_partitions(endpoint):
            if st.tid == request.tid and pid == request.pid:
                # The sandbox's partitions have one replica: a leader without followers.
                return tablet_rpc_pb2.GetTableFollowerResponse(
                    code=KNO_FOLLOWER, msg="has no follower", offset=self._count(st, pid).last_index
                )
        return tablet_rpc_pb2.GetTableFollowerResponse(code=KTABLE_IS_NOT_EXIST, msg="table does not exist")

    # -- journal counts -----------------------------------------------------------------------

    def _count(self, st: TableState, pid: int) -> _JournalCount:
        """Puts and the last log index of one partition, reading only what was appended since."""
        with self._lock:
            count = self._counts.setdefault((st.tid, pid), _JournalCount())
            try:
                with open(self.cluster.journal_path(st, pid), "rb") as f:
                    f.seek(count.read_bytes)
                    carry = b""
                    while chunk := f.read(_CHUNK):
                        data = carry + chunk
                        end = data.rfind(b"\n") + 1  # a line still being written is read next time
                        carry = data[end:]
                        if end:
                            _add_lines(count, data[:end])
            except FileNotFoundError:
                return _JournalCount()
            return _JournalCount(count.read_bytes, count.puts, count.last_index)


def _add_lines(count: _JournalCount, lines: bytes) -> None:
    """Fold whole journal lines (ending with a newline) into ``count``."""
    count.puts += lines.count(b"\n" + _PUT) + (1 if lines.startswith(_PUT) else 0)
    last_line = lines[lines.rfind(b"\n", 0, len(lines) - 1) + 1 :]
    match = _LAST_INDEX.search(last_line)
    if match:
        count.last_index = int(match.group(1))
    count.read_bytes += len(lines)


def _disk_used(part: Path) -> int:
    """Bytes of the partition's binlogs and snapshots (what a tablet reports as ``diskused``)."""
    total = 0
    for sub in ("binlog", "snapshot", "data"):
        root = part / sub
        if root.is_dir():
            total += sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return total
