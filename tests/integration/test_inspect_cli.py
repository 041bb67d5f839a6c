"""``omsync inspect`` as a person runs it: a subprocess over files the sandbox tablet wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import omsync
from helpers.golden import EXAMPLE_HEX, example_schema_json

from omsync_tui.openmldb.binlog.files import list_binlogs
from omsync_tui.openmldb.log.format import ReadStatus
from omsync_tui.openmldb.log.reader import LogFileReader
from omsync_tui.openmldb.metadata import read_manifest
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.state import SandboxConfig
from omsync_tui.services.inspect import json_values

ROW_46 = EXAMPLE_HEX.replace(" ", "")


@pytest.fixture
def sandbox(tmp_path: Path, zk: Any, zk_hosts: str) -> SandboxCluster:
    cluster = SandboxCluster.create(
        tmp_path / "sb",
        zk,
        SandboxConfig(zk_hosts, binlog_max_bytes=16 * 1024, snapshot_compression="snappy"),
    )
    cluster.create_table(preset_spec("mixed", "db", "mem", partition_num=1, snappy=True))
    cluster.create_table(preset_spec("mixed", "db", "disk", partition_num=1, storage="ssd"))
    for name in ("db.mem", "db.disk"):
        cluster.write(name, 300)
        cluster.snapshot(name, purge_binlogs=False)
        cluster.write(name, 120)
    return cluster


def part(cluster: SandboxCluster, name: str) -> Path:
    return cluster.partition_dir(cluster.table(name), 0)


def jsonl(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_binlog_jsonl_is_every_entry_decoded(sandbox: SandboxCluster) -> None:
    proc = omsync("inspect", "binlog", str(part(sandbox, "db.mem") / "binlog"), "-o", "jsonl")
    assert proc.returncode == 0, proc.stderr
    records = jsonl(proc.stdout)
    assert [r["log_index"] for r in records] == list(range(1, 421))
    truth = [json_values(r.values) for r in sandbox.expected_full_sync("db.mem")[0]][-120:]
    assert [r["values"] for r in records][-120:] == truth
    first = records[0]
    assert first["method"] == "put" and first["term"] == 1 and first["dimensions"][0][0] == 0
    assert set(first) == {"log_index", "term", "ts", "method", "dimensions", "values"}


def test_binlog_from_offset_and_single_file(sandbox: SandboxCluster) -> None:
    binlog = part(sandbox, "db.mem") / "binlog"
    proc = omsync("inspect", "binlog", str(binlog), "-o", "jsonl", "--from", "377")
    assert [r["log_index"] for r in jsonl(proc.stdout)] == list(range(377, 421))
    files = list_binlogs(binlog)
    one = omsync("inspect", "binlog", str(files[1][1]), "-o", "jsonl")
    assert one.returncode == 0, one.stderr
    indexes = [r["log_index"] for r in jsonl(one.stdout)]
    assert indexes == list(range(indexes[0], indexes[0] + len(indexes))) and indexes[0] > 1


def test_text_output_ends_with_the_open_file(sandbox: SandboxCluster) -> None:
    binlog = part(sandbox, "db.mem") / "binlog"
    newest = list_binlogs(binlog)[-1][1]
    proc = omsync("inspect", "binlog", str(binlog))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("open file: 0 bytes after offset")
    with open(newest, "ab") as f:
        f.write(b"\x01\x02\x03\x04\xf0\x00\x01half a record")
    torn = omsync("inspect", "binlog", str(binlog))
    assert torn.returncode == 0, torn.stderr
    size = newest.stat().st_size
    last = torn.stdout.splitlines()[-1]
    assert last.startswith(f"open file: 20 bytes after offset {size - 20} not yet complete"), last


def corrupt_record(path: Path, nth: int) -> tuple[int, int]:
    """Flip a payload byte of the nth record; return (its byte offset, the log_index before it)."""
    with LogFileReader(path) as reader:
        for _ in range(nth):
            rec = reader.read()
        assert rec.status is ReadStatus.RECORD
    data = bytearray(path.read_bytes())
    data[rec.offset + 7 + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    return rec.offset, nth - 1


def test_crc_mismatch_names_file_offset_and_log_index(sandbox: SandboxCluster) -> None:
    binlog = part(sandbox, "db.mem") / "binlog"
    first = list_binlogs(binlog)[0][1]
    offset, _ = corrupt_record(first, 5)
    proc = omsync("inspect", "binlog", str(binlog), "-o", "jsonl")
    assert proc.returncode == 3
    assert str(first) in proc.stderr and f"byte offset {offset}" in proc.stderr
    assert "log_index" in proc.stderr and "crc" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr

    skipped = omsync("inspect", "binlog", str(binlog), "-o", "jsonl", "--skip-bad")
    assert skipped.returncode == 3
    assert "skipped 1 bad record" in skipped.stderr
    indexes = [r["log_index"] for r in jsonl(skipped.stdout)]
    assert 5 not in indexes and len(indexes) == 419


def test_wrong_schema_is_a_located_row_error(sandbox: SandboxCluster, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps([{"name": "a", "type": "bigint"}, {"name": "b", "type": "string"}]))
    binlog = part(sandbox, "db.disk") / "binlog"
    proc = omsync("inspect", "binlog", str(binlog), "--schema", str(schema))
    assert proc.returncode == 3
    assert "log_index 1" in proc.stderr and "byte offset 0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_snapshots_memory_and_disk(sandbox: SandboxCluster) -> None:
    mem = part(sandbox, "db.mem") / "snapshot"
    manifest = read_manifest(mem / "MANIFEST")
    assert manifest.name.endswith(".sdb.snappy.snappy")
    proc = omsync("inspect", "snapshot", str(mem / manifest.name), "-o", "jsonl")
    assert proc.returncode == 0, proc.stderr
    assert len(jsonl(proc.stdout)) == manifest.count == 300

    disk = part(sandbox, "db.disk") / "snapshot"
    proc = omsync("inspect", "snapshot", str(disk), "-o", "jsonl")
    assert proc.returncode == 0, proc.stderr
    rows = jsonl(proc.stdout)
    truth = sandbox.expected_full_sync("db.disk")[0][: read_manifest(disk / "MANIFEST").count]
    assert [(r["pk"], r["ts"], r["values"]) for r in rows] == [
        (t.pk, t.ts, json_values(t.values)) for t in truth
    ]
    text = omsync("inspect", "snapshot", str(disk))
    assert text.returncode == 0 and text.stdout.startswith("# ")


def test_row_decodes_hex_arguments_and_stdin(tmp_path: Path) -> None:
    schema = tmp_path / "s.json"
    schema.write_text(example_schema_json(c2="kInt", c4="varchar"))
    expected = ["ab", 7, 1700000000000, None, "2024-03-05"]
    proc = omsync("inspect", "row", "--schema", str(schema), ROW_46)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected
    piped = omsync("inspect", "row", "--schema", str(schema), "-", stdin=f"{ROW_46}\n\n{ROW_46}\n")
    assert [json.loads(line) for line in piped.stdout.splitlines()] == [expected, expected]
    bad = omsync("inspect", "row", "--schema", str(schema), ROW_46[:-6])
    assert bad.returncode == 3 and "row #1" in bad.stderr and "Traceback" not in bad.stderr


def test_row_with_a_flat_schema_ignores_the_version_byte_and_says_so_once(tmp_path: Path) -> None:
    schema = tmp_path / "s.json"
    schema.write_text(example_schema_json(c2="kInt", c4="varchar"))
    expected = ["ab", 7, 1700000000000, None, "2024-03-05"]
    v3 = ROW_46[:2] + "03" + ROW_46[4:]  # byte 1, the schema version: 3
    proc = omsync("inspect", "row", "--schema", str(schema), "-", stdin=f"{v3}\n{v3}\n{ROW_46}\n")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line) for line in proc.stdout.splitlines()] == [expected] * 3
    assert proc.stderr.count("note: rows carry schema version 3") == 1, proc.stderr
    assert "as OpenMLDB's RowView does" in proc.stderr and "--table-info" in proc.stderr
    plain = omsync("inspect", "row", "--schema", str(schema), ROW_46)
    assert plain.returncode == 0 and plain.stderr == ""


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["inspect", "binlog", "/nonexistent/binlog"], 4, "does not exist"),
        (["inspect", "row", "--schema", "{schema}", "zz"], 2, "not hex"),
        (["inspect", "row", "--schema", "{badschema}", "00"], 2, "unknown column type"),
        (["inspect", "row", "00"], 2, "needs --schema"),
        (["inspect", "snapshot", "{schema}"], 2, "neither a .sdb file"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, args: list[str], code: int, words: str) -> None:
    (tmp_path / "s.json").write_text('[{"name": "a", "type": "int"}]')
    (tmp_path / "bad.json").write_text('[{"name": "a", "type": "decimal"}]')
    args = [a.format(schema=tmp_path / "s.json", badschema=tmp_path / "bad.json") for a in args]
    proc = omsync(*args)
    assert proc.returncode == code, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr


def test_schema_from_table_info_and_table_meta(sandbox: SandboxCluster, zk: Any, tmp_path: Path) -> None:
    st = sandbox.table("db.mem")
    info = tmp_path / "table_info.bin"
    info.write_bytes(zk.get(f"/openmldb/table/db_table_data/{st.tid}")[0])  # as the nameserver stored it
    binlog = part(sandbox, "db.mem") / "binlog"
    default = omsync("inspect", "binlog", str(binlog), "-o", "jsonl").stdout
    via_info = omsync("inspect", "binlog", str(binlog), "-o", "jsonl", "--table-info", str(info))
    assert via_info.returncode == 0, via_info.stderr
    meta = part(sandbox, "db.mem") / "table_meta.txt"
    via_meta = omsync("inspect", "binlog", str(binlog), "-o", "jsonl", "--table-meta", str(meta))
    assert via_info.stdout == via_meta.stdout == default and len(default.splitlines()) == 420

    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x0a\xff\xff")
    bad = omsync("inspect", "binlog", str(binlog), "--table-info", str(garbage))
    assert bad.returncode == 3 and str(garbage) in bad.stderr and "Traceback" not in bad.stderr
    both = omsync("inspect", "binlog", str(binlog), "--table-info", str(info), "--table-meta", str(meta))
    assert both.returncode == 2 and "only one of" in both.stderr


def test_zero_type_record_is_located(tmp_path: Path) -> None:
    from omsync_tui.openmldb.log.format import encode_records
    from omsync_tui.openmldb.proto import tablet_pb2

    entries = [
        tablet_pb2.LogEntry(term=1, log_index=i, pk="", value=bytes.fromhex(ROW_46), ts=1).SerializeToString()
        for i in (1, 2, 3)
    ]
    data = bytearray(encode_records(entries))
    second = len(entries[0]) + 7
    data[second + 6] = 0  # record type byte of entry 2 → kZeroType
    path = tmp_path / "00000000.log"
    path.write_bytes(bytes(data))
    schema = tmp_path / "s.json"
    schema.write_text(example_schema_json())
    proc = omsync("inspect", "binlog", str(path), "--schema", str(schema), "-o", "jsonl")
    assert proc.returncode == 3
    assert f"byte offset {second}" in proc.stderr and "after log_index 1" in proc.stderr
    assert str(path) in proc.stderr and "Traceback" not in proc.stderr
    skipped = omsync("inspect", "binlog", str(path), "--schema", str(schema), "-o", "jsonl", "--skip-bad")
    assert [json.loads(line)["log_index"] for line in skipped.stdout.splitlines()] == [1, 3]
    assert skipped.returncode == 3 and "skipped 1 bad record(s) of 3" in skipped.stderr


def test_disk_snapshot_with_table_info_and_refused_with_schema_only(
    sandbox: SandboxCluster, zk: Any, tmp_path: Path
) -> None:
    st = sandbox.table("db.disk")
    info = tmp_path / "table_info.bin"
    info.write_bytes(zk.get(f"/openmldb/table/db_table_data/{st.tid}")[0])
    snap = part(sandbox, "db.disk") / "snapshot"
    via_meta = omsync("inspect", "snapshot", str(snap), "-o", "jsonl")
    via_info = omsync("inspect", "snapshot", str(snap), "-o", "jsonl", "--table-info", str(info))
    assert via_info.returncode == 0, via_info.stderr
    assert via_info.stdout == via_meta.stdout and len(via_info.stdout.splitlines()) == 300
    schema = tmp_path / "s.json"
    schema.write_text(st.schema.to_json())
    refused = omsync("inspect", "snapshot", str(snap), "--schema", str(schema))
    assert refused.returncode == 2 and "index layout" in refused.stderr and "--table-meta" in refused.stderr
