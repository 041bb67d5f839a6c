"""The committed *_pb2 modules are what the .proto files produce (see README, "Protobuf modules")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from omsync_tui.openmldb.proto import data_sync_pb2, name_server_pb2, tablet_pb2

ROOT = Path(__file__).resolve().parents[2]


def test_generated_modules_match_the_proto_files() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_protos.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def test_field_numbers_the_wire_depends_on() -> None:
    """A few numbers from reference §2 that a transcription slip would break silently."""
    entry = tablet_pb2.LogEntry.DESCRIPTOR.fields_by_name
    assert (
        entry["log_index"].number,
        entry["value"].number,
        entry["dimensions"].number,
        entry["method_type"].number,
    ) == (2, 4, 6, 7)
    info = name_server_pb2.TableInfo.DESCRIPTOR.fields_by_name
    assert (
        info["table_partition"].number,
        info["column_desc"].number,
        info["schema_versions"].number,
        info["storage_mode"].number,
    ) == (3, 9, 15, 17)
    meta = tablet_pb2.TableMeta.DESCRIPTOR.fields_by_name
    assert (meta["tid"].type, meta["column_key"].number, meta["storage_mode"].number) == (
        meta["tid"].TYPE_INT32,
        11,
        17,
    )
    send = data_sync_pb2.SendDataRequest.DESCRIPTOR.fields_by_name
    assert (send["next_point"].number, send["finished"].number) == (7, 6)
    assert data_sync_pb2.SyncPoint.DESCRIPTOR.fields_by_name["type"].is_required
    assert data_sync_pb2.SendDataResponse.DESCRIPTOR.fields_by_name["response"].is_required
