"""``GET /api/v1/destination?uri=<dest>``: what a destination already holds, per partition.

The CLI and the TUI ask this before creating a task, to say which ranges a new task would write
a second time and to offer ``resume_from_dest`` instead. It runs on the synctool because the
synctool is what holds the destination's credentials.
"""

from __future__ import annotations

import json
import urllib.parse

from omsync_tui.core.errors import OmsyncError, UsageError
from omsync_tui.core.synctool_config import HdfsSection
from omsync_tui.rpc.service import HttpRequest, RouteResult, Routes
from omsync_tui.services.sinks import destination, readback


def describe_destination(uri: str, hdfs_settings: HdfsSection | None = None) -> dict[str, object]:
    resolved = destination.resolve_destination(uri, hdfs_settings)
    dest = destination.open_destination(resolved.uri, hdfs_settings)
    parts = []
    for pid in readback.list_pids(dest):
        files = readback.list_files(dest, pid)
        if not files:
            continue
        parts.append(
            {
                "pid": pid,
                "files": len(files),
                "rows": sum(f.rows for f in files),
                "first": str(files[0].first),
                "next": str(files[-1].next),
                "first_point": files[0].first.to_dict(),
                "next_point": files[-1].next.to_dict(),
            }
        )
    table = destination.read_json(dest, "_omsync/table.json")
    return {
        "uri": uri,
        "resolved": resolved.uri,
        "note": resolved.note,
        "table": table,
        "partitions": parts,
        "empty": not parts,
    }


def add_destination_route(routes: Routes, hdfs_settings: HdfsSection | None = None) -> Routes:
    def handle(r: HttpRequest) -> RouteResult:
        q = urllib.parse.parse_qs(r.query)
        try:
            if "uri" not in q:
                raise UsageError("give the destination as ?uri=...")
            body: dict[str, object] = describe_destination(q["uri"][0], hdfs_settings)
            status = 200
        except OmsyncError as exc:
            status = 400 if isinstance(exc, UsageError) else 500
            body = {"error": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}
        body["schema_version"] = 1
        return status, "application/json", json.dumps(body).encode()

    return routes.add("/api/v1/destination", handle)
