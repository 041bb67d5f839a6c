"""``GET /api/v1/destination?uri=<dest>``: what a destination already holds, per partition.

The CLI and the TUI ask this before creating a task, to say which ranges a new task would write
a second time and to offer ``resume_from_dest`` instead. It runs on the synctool because the
synctool is what holds the destination's credentials.
"""

from __future__ import annotations

import json
import urllib.parse

from omsync_tui.core import desturi
from omsync_tui.core.errors import OmsyncError, UsageError
from omsync_tui.core.synctool_config import HdfsSection
from omsync_tui.rpc.service import HttpRequest, RouteResult, Routes
from omsync_tui.services.sinks import destination, readback
from omsync_tui.services.synctool.newtask import TABLE_JSON
from omsync_tui.services.synctool.wire import DestinationInfo, ErrorReply, HeldRange


def describe_destination(uri: str, hdfs_settings: HdfsSection | None = None) -> DestinationInfo:
    desturi.refuse_relative(uri)
    resolved = destination.resolve_destination(uri, hdfs_settings)
    dest = destination.open_destination(resolved.uri, hdfs_settings)
    parts = []
    for pid in readback.list_pids(dest):
        files = readback.list_files(dest, pid)
        if not files:
            continue
        first, last = files[0].first, files[-1].next
        parts.append(
            HeldRange(pid, len(files), sum(f.rows for f in files), str(first), str(last), first, last)
        )
    table = destination.read_json(dest, TABLE_JSON)
    return DestinationInfo(
        uri=uri,
        resolved=resolved.uri,
        note=resolved.note,
        table_json=table if isinstance(table, dict) else None,
        partitions=tuple(parts),
    )


def add_destination_route(routes: Routes, hdfs_settings: HdfsSection | None = None) -> Routes:
    def handle(r: HttpRequest) -> RouteResult:
        q = urllib.parse.parse_qs(r.query)
        try:
            if "uri" not in q:
                raise UsageError("give the destination as ?uri=...")
            body = describe_destination(q["uri"][0], hdfs_settings).to_json()
            status = 200
        except OmsyncError as exc:
            reply = ErrorReply.of(exc)
            status, body = reply.http_status, reply.to_json()
        body["schema_version"] = 1
        return status, "application/json", json.dumps(body).encode()

    return routes.add("/api/v1/destination", handle)
