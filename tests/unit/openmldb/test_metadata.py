"""MANIFEST / table_meta.txt text files and binary TableInfo parsing."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omsync_tui.core.errors import FormatError, NotFoundError
from omsync_tui.openmldb.metadata import (
    parse_table_info,
    read_manifest,
    read_table_info_file,
    read_table_meta,
    write_manifest,
    write_table_meta,
)
from omsync_tui.openmldb.proto import common_pb2, name_server_pb2, tablet_pb2, type_pb2

EXAMPLE_MANIFEST = 'offset: 123456\nname: "202405172300"\ncount: 98765\nterm: 3\n'


def _table_meta() -> tablet_pb2.TableMeta:
    meta = tablet_pb2.TableMeta(tid=7, pid=1, name="t1", db="demo", seg_cnt=8, term=2)
    meta.mode = tablet_pb2.kTableLeader
    meta.storage_mode = common_pb2.kSSD
    meta.replicas.extend(["127.0.0.1:9527"])
    meta.column_desc.add(name="card", data_type=type_pb2.kString)
    meta.column_desc.add(name="ts", data_type=type_pb2.kTimestamp, not_null=True)
    key = meta.column_key.add(index_name="idx0", ts_name="ts")
    key.col_name.append("card")
    key.ttl.ttl_type = type_pb2.kAbsoluteTime
    meta.schema_versions.add(id=1, field_count=2)
    return meta


def _table_info() -> name_server_pb2.TableInfo:
    info = name_server_pb2.TableInfo(name="t1", db="demo", tid=7, partition_num=2, replica_num=1)
    info.column_desc.add(name="card", data_type=type_pb2.kString)
    for pid in range(2):
        part = info.table_partition.add(pid=pid)
        part.partition_meta.add(endpoint=f"127.0.0.1:{9527 + pid}", is_leader=True)
    return info


def test_manifest_is_written_exactly_like_the_tablet(tmp_path: Path) -> None:
    path = tmp_path / "MANIFEST"
    manifest = tablet_pb2.Manifest(offset=123456, name="202405172300", count=98765, term=3)
    write_manifest(path, manifest)
    assert path.read_text() == EXAMPLE_MANIFEST
    assert not (tmp_path / "MANIFEST.tmp").exists()
    assert read_manifest(path) == manifest


def test_manifest_rewrite_leaves_a_hard_link_to_the_old_content(tmp_path: Path) -> None:
    # The collector reads MANIFEST through a hard link: a rename must not change what it sees.
    path = tmp_path / "MANIFEST"
    write_manifest(path, tablet_pb2.Manifest(offset=1, name="202401010000", count=1, term=1))
    os.link(path, tmp_path / "linked")
    write_manifest(path, tablet_pb2.Manifest(offset=2, name="202401020000", count=2, term=1))
    assert read_manifest(tmp_path / "linked").offset == 1
    assert read_manifest(path).offset == 2


def test_reads_the_reference_example(tmp_path: Path) -> None:
    path = tmp_path / "MANIFEST"
    path.write_text(EXAMPLE_MANIFEST)
    manifest = read_manifest(path)
    assert (manifest.offset, manifest.name, manifest.count, manifest.term) == (
        123456,
        "202405172300",
        98765,
        3,
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('offset: 1\nname: "x"\nbogus: 2\n', 3),
        ("offset: -5\n", 1),
        ('offset: 1\nname: "unterminated\n', 2),
        ("offset: 1\noffset: 2\n", 2),
        ("{{{\n", 1),
    ],
)
def test_bad_manifest_text_names_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "MANIFEST"
    path.write_text(text)
    with pytest.raises(FormatError) as err:
        read_manifest(path)
    assert err.value.path == str(path)
    assert str(path) in str(err.value)
    assert f"line {line}," in str(err.value)


def test_non_utf8_manifest_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "MANIFEST"
    path.write_bytes(b"offset: 1\nname: \xff\n")
    with pytest.raises(FormatError, match="line 2"):
        read_manifest(path)


def test_missing_manifest_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        read_manifest(tmp_path / "MANIFEST")


def test_table_meta_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "table_meta.txt"
    meta = _table_meta()
    write_table_meta(path, meta)
    text = path.read_text()
    # C++ TextFormat layout: enums by name, nested messages as indented blocks.
    assert "mode: kTableLeader\n" in text
    assert 'column_desc {\n  name: "card"\n  data_type: kString\n}\n' in text
    assert "storage_mode: kSSD\n" in text
    assert read_table_meta(path) == meta


def test_table_meta_with_unknown_field_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "table_meta.txt"
    path.write_text('tid: 1\ncolumn_desc {\n  name: "a"\n  colour: 3\n}\n')
    with pytest.raises(FormatError, match=r"line 4, column 3") as err:
        read_table_meta(path)
    assert err.value.path == str(path)


def test_table_meta_missing_required_column_name(tmp_path: Path) -> None:
    path = tmp_path / "table_meta.txt"
    path.write_text("tid: 1\ncolumn_desc {\n  data_type: kInt\n}\n")
    with pytest.raises(FormatError, match=r"column_desc\[0\]\.name"):
        read_table_meta(path)


@given(
    st.integers(min_value=0, max_value=2**64 - 1),
    st.text(max_size=20),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=0, max_value=2**64 - 1),
)
def test_manifest_round_trips_any_values(offset: int, name: str, count: int, term: int) -> None:
    manifest = tablet_pb2.Manifest(offset=offset, name=name, count=count, term=term)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d, "MANIFEST")
        write_manifest(path, manifest)
        assert read_manifest(path) == manifest


def test_parse_table_info_round_trip() -> None:
    info = _table_info()
    parsed = parse_table_info(info.SerializeToString(), source="znode /openmldb/table/db_table_data/7")
    assert parsed == info
    assert parsed.table_partition[1].partition_meta[0].is_alive  # default [true]


def test_table_info_garbage_is_a_format_error_naming_the_source() -> None:
    with pytest.raises(FormatError) as err:
        parse_table_info(b"\xff\xff\xff", source="znode /r/table/db_table_data/9")
    assert "znode /r/table/db_table_data/9" in str(err.value)


def test_table_info_missing_required_field_is_a_format_error() -> None:
    info = _table_info()
    info.table_partition[0].partition_meta.add(endpoint="127.0.0.1:1")  # is_leader (required) unset
    data = info.SerializePartialToString()
    with pytest.raises(FormatError, match=r"table_partition\[0\]\.partition_meta\[1\]\.is_leader") as err:
        parse_table_info(data, source="somewhere")
    assert err.value.path == "somewhere"


def test_read_table_info_file(tmp_path: Path) -> None:
    path = tmp_path / "7.pb"
    path.write_bytes(_table_info().SerializeToString())
    assert read_table_info_file(path).name == "t1"
    path.write_bytes(b"\x0a\x05ab")  # a length-delimited field cut short
    with pytest.raises(FormatError, match=str(path)):
        read_table_info_file(path)
    with pytest.raises(NotFoundError):
        read_table_info_file(tmp_path / "missing.pb")
