"""The HDFS destination (hdfs-native, no JVM) against a real HDFS: a MiniDFSCluster on loopback.

Files are written under a temporary name and committed by one NameNode rename; a replayed range
replaces its file; every failure is a ``DestinationError`` naming the URI and the cause, with the
fix in its hint, within seconds (never the client's 3-minute default).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.core.synctool_config import HdfsSection
from omsync_tui.sandbox.jvm.zkserver import free_port
from omsync_tui.services.sinks import readback
from omsync_tui.services.sinks.destination import (
    DestinationError,
    open_destination,
    probe_writable,
    read_json,
    resolve_destination,
    write_json,
)
from omsync_tui.services.sinks.writer import Format, PartitionWriter

pytestmark = pytest.mark.hdfs

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string())])


def batch(start: int, n: int) -> pa.RecordBatch:
    ids = list(range(start, start + n))
    return pa.record_batch([pa.array(ids, pa.int64()), pa.array([f"row {i}" for i in ids])], SCHEMA)


def write_range(dest: Any, pid: int, first: int, nxt: int, fmt: Format = Format.PARQUET) -> Any:
    w = PartitionWriter(dest, pid, fmt, SCHEMA)
    w.append(batch(first, nxt - first), SyncPoint.binlog(first), SyncPoint.binlog(nxt))
    return w


def test_files_are_committed_by_rename_and_read_back(hdfs_url: str) -> None:
    dest = open_destination(hdfs_url)
    assert dest.scheme == "hdfs" and dest.root.startswith("/t-")
    probe_writable(dest)
    write_json(dest, "_omsync/table.json", {"table": "db.t"})
    assert read_json(dest, "_omsync/table.json") == {"table": "db.t"}
    assert read_json(dest, "_omsync/none.json") is None

    w = write_range(dest, 0, 1, 101)
    names = [i.base_name for i in dest.fs.get_file_info(readback_selector(dest, 0))]
    assert len(names) == 1 and names[0].startswith("_tmp-"), names  # invisible until committed
    committed = w.commit()
    assert committed is not None and committed.rows == 100
    files = readback.list_files(dest, 0)
    assert [(f.first, f.next, f.rows) for f in files] == [(SyncPoint.binlog(1), SyncPoint.binlog(101), 100)]
    with dest.fs.open_input_file(files[0].path) as f:
        table = pq.read_table(f)
    assert table.column("id").to_pylist() == list(range(1, 101))


def readback_selector(dest: Any, pid: int) -> Any:
    import pyarrow.fs as pafs

    return pafs.FileSelector(dest.path(f"pid={pid}"), allow_not_found=True)


def test_a_replayed_range_replaces_its_file(hdfs_url: str) -> None:
    dest = open_destination(hdfs_url)
    first = write_range(dest, 1, 1, 51).commit()
    again = write_range(dest, 1, 1, 51).commit()  # a synctool that died before storing its point
    assert first is not None and again is not None and first.path == again.path
    files = readback.list_files(dest, 1)
    assert len(files) == 1 and files[0].rows == 50


def test_an_aborted_file_leaves_nothing_and_leftover_temporaries_are_removed(hdfs_url: str) -> None:
    dest = open_destination(hdfs_url)
    write_range(dest, 0, 1, 11).abort()
    leftover = write_range(dest, 0, 11, 21, Format.CSV)  # a crash: never committed nor aborted
    assert leftover is not None
    assert readback.list_files(dest, 0) == []
    readback.remove_temporaries(dest, 0)
    assert list(dest.fs.get_file_info(readback_selector(dest, 0))) == []


def test_namenode_unreachable_is_a_clear_error_within_seconds() -> None:
    uri = f"hdfs://127.0.0.1:{free_port()}/warehouse/t"
    began = time.monotonic()
    with pytest.raises(DestinationError) as e:
        probe_writable(open_destination(uri))
    took = time.monotonic() - began
    assert took < 30, f"{took:.1f} s: bounded by [hdfs] attempts and sleeps"
    err = e.value
    assert uri in err.message and "\n" not in err.message and "Traceback" not in err.message
    assert err.hint is not None and "no NameNode answered" in err.hint and "fs.defaultFS" in err.hint


def test_permission_denied_names_the_user_and_the_path(
    hdfs_server: Any, hdfs_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = hdfs_url.split("/", 3)[3]
    hdfs_server.mkdir(f"/{base}/locked", "root", 0o755)
    monkeypatch.setenv("HADOOP_USER_NAME", "alice")
    dest = open_destination(f"{hdfs_url}/locked/t")
    with pytest.raises(DestinationError) as e:
        probe_writable(dest)
    err = e.value
    assert "permission denied" in err.message and "user=alice" in err.message, err.message
    assert f"/{base}/locked" in err.message
    assert err.hint is not None and "'alice'" in err.hint and "chown" in err.hint


def test_safe_mode_is_named_with_what_to_do(hdfs_server: Any, hdfs_url: str) -> None:
    dest = open_destination(hdfs_url)
    hdfs_server.safemode("enter")
    try:
        with pytest.raises(DestinationError) as e:
            probe_writable(dest)
    finally:
        hdfs_server.safemode("leave")
    assert "safe mode" in e.value.message.lower()
    assert e.value.hint is not None and "safe mode" in e.value.hint
    probe_writable(dest)


def test_quota_exceeded_is_named_with_what_to_do(hdfs_server: Any, hdfs_url: str) -> None:
    base = hdfs_url.split("/", 3)[3]
    hdfs_server.mkdir(f"/{base}/small", "root", 0o777)
    hdfs_server.quota(f"/{base}/small", space=1024)  # less than one block
    dest = open_destination(f"{hdfs_url}/small")
    with pytest.raises(DestinationError) as e:
        w = write_range(dest, 0, 1, 1001)
        w.commit()
    assert "quota" in e.value.message.lower(), e.value.message
    assert e.value.hint is not None and "setSpaceQuota" in e.value.hint


def test_a_datanode_dying_mid_file_fails_the_file_and_keeps_no_half(hdfs_server: Any, hdfs_url: str) -> None:
    dest = open_destination(hdfs_url, HdfsSection(socket_timeout_ms=3000))
    w = write_range(dest, 0, 1, 2)
    big = pa.record_batch(
        [pa.array(range(200_000), pa.int64()), pa.array([f"{'x' * 100}{i}" for i in range(200_000)])], SCHEMA
    )
    hdfs_server.stop_datanode(0)
    try:
        with pytest.raises(DestinationError) as e:
            for i in range(20):  # ~20 MB, past the first packets already acknowledged
                w.append(big, SyncPoint.binlog(2 + i), SyncPoint.binlog(3 + i))
            w.commit()
        w.abort()  # at once: a broken file is dropped, not completed
    finally:
        hdfs_server.restart_datanode(0)
    assert e.value.hint is not None and "DataNode" in e.value.hint, e.value.hint
    assert readback.list_files(dest, 0) == []
    readback.remove_temporaries(dest, 0)
    committed = write_range(dest, 0, 1, 101).commit()  # the retry writes the file whole
    assert committed is not None and readback.list_files(dest, 0)[0].rows == 100


# -- Hadoop's config: fs.defaultFS, an HA nameservice, viewfs ------------------------------------------


def write_conf(directory: Path, core: dict[str, str], hdfs: dict[str, str] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, props in (("core-site.xml", core), ("hdfs-site.xml", hdfs or {})):
        body = "".join(f"<property><name>{k}</name><value>{v}</value></property>" for k, v in props.items())
        (directory / name).write_text(f'<?xml version="1.0"?>\n<configuration>{body}</configuration>\n')
    return directory


def test_a_bare_path_goes_to_fs_default_fs(hdfs_server: Any, hdfs_url: str, tmp_path: Path) -> None:
    conf = write_conf(tmp_path / "conf", {"fs.defaultFS": hdfs_server.url})
    settings = HdfsSection(hadoop_conf_dir=conf)
    path = "/" + hdfs_url.split("/", 3)[3] + "/bare"
    resolved = resolve_destination(path, settings)
    assert resolved.uri == f"{hdfs_server.url}{path}"
    assert "fs.defaultFS" in resolved.note and str(conf / "core-site.xml") in resolved.note
    dest = open_destination(path, settings)
    assert dest.scheme == "hdfs"
    probe_writable(dest)
    # without an HDFS fs.defaultFS the same path is the local disk, and the note says so
    local = resolve_destination(str(tmp_path / "x"), HdfsSection(hadoop_conf_dir=tmp_path / "none"))
    assert local.uri == str(tmp_path / "x") and "local disk" in local.note


def test_an_ha_nameservice_fails_over_to_the_live_namenode(
    hdfs_server: Any, hdfs_url: str, tmp_path: Path
) -> None:
    live = hdfs_server.url.split("://", 1)[1]
    conf = write_conf(
        tmp_path / "conf",
        {"fs.defaultFS": "hdfs://ns1"},
        {
            "dfs.nameservices": "ns1",
            "dfs.ha.namenodes.ns1": "nn1,nn2",
            "dfs.namenode.rpc-address.ns1.nn1": f"127.0.0.1:{free_port()}",  # down
            "dfs.namenode.rpc-address.ns1.nn2": live,
        },
    )
    path = hdfs_url.split("/", 3)[3]
    dest = open_destination(f"hdfs://ns1/{path}/ha", HdfsSection(hadoop_conf_dir=conf))
    probe_writable(dest)
    committed = write_range(dest, 0, 1, 11).commit()
    assert committed is not None and readback.list_files(dest, 0)[0].rows == 10


def test_viewfs_mount_table(hdfs_server: Any, hdfs_url: str, tmp_path: Path) -> None:
    link = {"fs.viewfs.mounttable.cluster.link./offline": hdfs_url}
    # hdfs-native needs a fallback link; without one the error says which key to add
    bare = HdfsSection(hadoop_conf_dir=write_conf(tmp_path / "bare", link))
    with pytest.raises(DestinationError) as e:
        open_destination("viewfs://cluster/offline/t", bare)
    assert e.value.hint is not None and "fs.viewfs.mounttable.cluster.linkFallback" in e.value.hint
    conf = write_conf(
        tmp_path / "conf", {**link, "fs.viewfs.mounttable.cluster.linkFallback": hdfs_server.url}
    )
    dest = open_destination("viewfs://cluster/offline/t", HdfsSection(hadoop_conf_dir=conf))
    assert dest.scheme == "viewfs"
    committed = write_range(dest, 2, 1, 21).commit()
    assert committed is not None
    plain = open_destination(f"{hdfs_url}/t")  # the same files through the NameNode's own URI
    assert [f.rows for f in readback.list_files(plain, 2)] == [20]
