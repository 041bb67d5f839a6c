"""Memory-table snapshot files: names, round trips in all three framings, incomplete and damaged files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from helpers.logs import read_many
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omsync_tui.core.errors import BadRecordError, FormatError, UsageError
from omsync_tui.openmldb.log.compressed import BLOCK_HEADER_SIZE
from omsync_tui.openmldb.log.format import EOF_RECORD, ReadStatus
from omsync_tui.openmldb.log.reader import LogFileReader
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.snapshot.memory import iter_sdb, iter_sdb_columns, snapshot_compression, write_sdb

NAMES = {
    None: "202405172300.sdb",
    "zlib": "202405172300.sdb.zlib.zlib",
    "snappy": "202405172300.sdb.snappy.snappy",
}


def entries(n: int, seed: int = 0, max_size: int = 3000) -> list[tablet_pb2.LogEntry]:
    rng = random.Random(seed)
    out = []
    for i in range(1, n + 1):
        e = tablet_pb2.LogEntry(log_index=i, value=rng.randbytes(rng.randint(0, max_size)), ts=i)
        d = e.dimensions.add()
        d.key = f"key{i}"
        d.idx = 0
        out.append(e)
    return out


def test_snapshot_compression_by_substring() -> None:
    assert snapshot_compression("202405172300.sdb") is None
    assert snapshot_compression("202405172300.sdb.zlib") == "zlib"
    assert snapshot_compression("202405172300.sdb.zlib.zlib") == "zlib"
    assert snapshot_compression("202405172300.sdb.snappy") == "snappy"
    assert snapshot_compression("202405172300.sdb.snappy.snappy") == "snappy"


@pytest.mark.parametrize("compression", [None, "zlib", "snappy"])
def test_round_trip(tmp_path: Path, compression: str | None) -> None:
    ents = entries(800)
    path = tmp_path / NAMES[compression]
    assert write_sdb(path, ents, compression) == 800
    got = list(iter_sdb(path))
    assert [e for _, e in got] == ents
    offsets = [o for o, _ in got]
    assert offsets == sorted(offsets)
    assert not list(tmp_path.glob("*.tmp"))


def test_uncompressed_offsets_are_record_offsets_and_file_ends_with_eof(tmp_path: Path) -> None:
    path = tmp_path / NAMES[None]
    write_sdb(path, [e.SerializeToString() for e in entries(50)], None)
    assert path.read_bytes().endswith(EOF_RECORD)
    with LogFileReader(path) as r:
        expected = [res.offset for res in read_many(r, 100) if res.status is ReadStatus.RECORD]
    assert [o for o, _ in iter_sdb(path)] == expected


def test_off_means_uncompressed(tmp_path: Path) -> None:
    path = tmp_path / NAMES[None]
    write_sdb(path, entries(3), "off")
    assert [e.log_index for _, e in iter_sdb(path)] == [1, 2, 3]


def test_name_and_compression_must_agree(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        write_sdb(tmp_path / "x.sdb", entries(1), "zlib")
    with pytest.raises(UsageError):
        write_sdb(tmp_path / "x.sdb.snappy", entries(1), None)
    with pytest.raises(UsageError):
        write_sdb(tmp_path / "x.sdb.lz4", entries(1), "lz4")


def test_empty_snapshot(tmp_path: Path) -> None:
    for compression, name in NAMES.items():
        path = tmp_path / name
        assert write_sdb(path, [], compression) == 0
        assert list(iter_sdb(path)) == []


@pytest.mark.parametrize("compression", [None, "zlib", "snappy"])
def test_missing_eof_is_a_format_error(tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / NAMES[compression]
    write_sdb(path, entries(1500), compression)
    data = path.read_bytes()
    if compression is None:
        path.write_bytes(data[: len(data) - len(EOF_RECORD) - 10])
    else:
        # Drop the last stored block (it holds the EOF record), as an unclosed writer would.
        path.write_bytes(data[: len(data) - 200_000])
    with pytest.raises(FormatError, match="without an EOF record"):
        list(iter_sdb(path))


def test_damaged_record_raises_or_is_skipped(tmp_path: Path) -> None:
    ents = entries(20, max_size=100)
    path = tmp_path / NAMES[None]
    write_sdb(path, ents, None)
    offsets = [o for o, _ in iter_sdb(path)]
    data = bytearray(path.read_bytes())
    data[offsets[5] + 10] ^= 0x55
    path.write_bytes(bytes(data))
    with pytest.raises(BadRecordError) as info:
        list(iter_sdb(path))
    assert (info.value.offset, info.value.path) == (offsets[5], str(path))
    assert [e for _, e in iter_sdb(path, skip_bad=True)] == ents[:5] + ents[6:]
    assert len(list(iter_sdb(path, verify_crc=False, skip_bad=True))) >= 19


def test_payload_that_is_not_a_log_entry(tmp_path: Path) -> None:
    path = tmp_path / NAMES["snappy"]
    write_sdb(path, [entries(1)[0], b"\xff\xfe not protobuf", entries(2)[1]], "snappy")
    with pytest.raises(BadRecordError, match="not a LogEntry") as info:
        list(iter_sdb(path))
    assert info.value.offset == 0  # the compressed block holding it
    assert [e.log_index for _, e in iter_sdb(path, skip_bad=True)] == [1, 2]


def test_damaged_compressed_block(tmp_path: Path) -> None:
    path = tmp_path / NAMES["zlib"]
    write_sdb(path, entries(10, max_size=50), "zlib")
    data = bytearray(path.read_bytes())
    data[BLOCK_HEADER_SIZE + 20 : BLOCK_HEADER_SIZE + 40] = bytes(20)
    path.write_bytes(bytes(data))
    with pytest.raises(BadRecordError, match="decompress"):
        list(iter_sdb(path))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=20_000), max_size=40),
    compression=st.sampled_from([None, "zlib", "snappy"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip_property(tmp_path: Path, sizes: list[int], compression: str | None, seed: int) -> None:
    rng = random.Random(seed)
    ents = [tablet_pb2.LogEntry(log_index=i, value=rng.randbytes(n)) for i, n in enumerate(sizes, 1)]
    path = tmp_path / f"{seed}-{NAMES[compression]}"
    assert write_sdb(path, ents, compression) == len(ents)
    assert [e for _, e in iter_sdb(path)] == ents


@pytest.mark.parametrize("compression", [None, "zlib", "snappy"])
def test_column_batches_equal_the_record_by_record_read(tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / NAMES[compression]
    ents = entries(2500, seed=3)
    write_sdb(path, ents, compression)
    batches = list(iter_sdb_columns(path, batch=700))
    assert [len(b) for b in batches][:3] == [700, 700, 700]
    flat = [tablet_pb2.LogEntry.FromString(b.payload(i)) for b in batches for i in range(len(b))]
    assert flat == [e for _, e in iter_sdb(path)] == ents


@pytest.mark.parametrize("compression", [None, "snappy"])
def test_column_batches_raise_on_damage_and_on_a_missing_eof(tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / NAMES[compression]
    write_sdb(path, [entries(1)[0], b"\xff\xfe not protobuf", entries(2)[1]], compression)
    with pytest.raises(BadRecordError, match="not a LogEntry") as info:
        list(iter_sdb_columns(path))
    assert info.value.path == str(path)
    cut = tmp_path / NAMES[None].replace(".sdb", "1.sdb")
    write_sdb(cut, entries(30, max_size=50), None)
    cut.write_bytes(cut.read_bytes()[: -len(EOF_RECORD) - 3])
    with pytest.raises(FormatError, match="without an EOF record"):
        list(iter_sdb_columns(cut))
