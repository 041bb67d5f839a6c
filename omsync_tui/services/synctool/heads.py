"""Where the tablets stand now: each partition's newest binlog offset, from its leader tablet.

``omsync task wait`` on a continuous task waits until every row written before the call is in
committed files. What a collector reports (``binlog_latest`` in its SendData) is what it has read
so far, a moment behind the tablet; the tablet itself knows: ``GetTableStatus{tid, pid}`` answers
the partition's replicator offset, the last log index it wrote (the call OpenMLDB's own
DataCollector makes, so every tablet serves it). A tablet that cannot be asked is reported for
its partition (``TabletHead.error``), not raised: the caller decides what to do without it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from omsync_tui.core.errors import OmsyncError
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.zkpaths import ZkPaths, partition_leaders
from omsync_tui.rpc.client import BaiduStdClient
from omsync_tui.services.synctool.wire import TabletHead
from omsync_tui.services.zk.reads import table_by_tid

TABLET_SERVER = "openmldb.api.TabletServer"


def tablet_heads(zk: Any, paths: ZkPaths, tid: int, *, timeout: float) -> list[TabletHead]:
    """Every partition of table ``tid``: its leader tablet and that tablet's offset, asked now.

    Raises only when the table's metadata cannot be read (NotFoundError, ClusterError)."""
    leaders = partition_leaders(table_by_tid(zk, paths, tid))

    def ask(pid: int) -> TabletHead:
        tablet = leaders[pid]
        try:
            with BaiduStdClient(tablet, timeout=timeout) as client:
                resp, _ = client.call(
                    TABLET_SERVER,
                    "GetTableStatus",
                    tablet_pb2.GetTableStatusRequest(tid=tid, pid=pid),
                    tablet_pb2.GetTableStatusResponse,
                )
        except OmsyncError as exc:
            return TabletHead(pid, tablet, None, f"GetTableStatus on {tablet}: {exc.message}")
        if resp.code != 0:
            return TabletHead(pid, tablet, None, f"tablet {tablet} answered {resp.code}: {resp.msg}")
        for status in resp.all_table_status:
            if status.tid == tid and status.pid == pid:
                rows = int(status.record_cnt) if status.HasField("record_cnt") else None
                return TabletHead(pid, tablet, int(status.offset), rows=rows)
        return TabletHead(pid, tablet, None, f"tablet {tablet} does not hold tid {tid} pid {pid} (moved?)")

    with ThreadPoolExecutor(
        max_workers=max(1, min(8, len(leaders))), thread_name_prefix="omsync-heads"
    ) as pool:
        return list(pool.map(ask, sorted(leaders)))
