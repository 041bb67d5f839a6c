"""Binlog directories: names, start-file selection, rolling, end reporting, damage, gaps, resuming."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.logs import read_many

from omsync_tui.core.errors import BadRecordError, NotFoundError
from omsync_tui.openmldb.binlog.files import (
    BinlogGapError,
    BinlogStartError,
    binlog_name,
    find_offset,
    first_log_index,
    list_binlogs,
    parse_binlog_name,
)
from omsync_tui.openmldb.binlog.reader import BinlogReader
from omsync_tui.openmldb.log.format import LogWriter, encode_records
from omsync_tui.openmldb.log.reader import LogFileReader
from omsync_tui.openmldb.proto import tablet_pb2


def entry(log_index: int, size: int = 60) -> tablet_pb2.LogEntry:
    e = tablet_pb2.LogEntry(
        term=1,
        log_index=log_index,
        pk="",
        value=bytes([log_index % 251]) * size,
        ts=1_700_000_000_000 + log_index,
    )
    dim = e.dimensions.add()
    dim.key = f"k{log_index % 7}"
    dim.idx = 0
    return e


def write_binlog(
    directory: Path, index: int, log_indexes: range, *, eof: bool = True, size: int = 60, tail: bytes = b""
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / binlog_name(index)
    with open(path, "wb") as f:
        w = LogWriter(f)
        for i in log_indexes:
            w.add_record(entry(i, size).SerializeToString())
        if eof:
            w.add_eof()
        f.write(tail)
    return path


def read_indexes(reader: BinlogReader, max_entries: int = 1000) -> list[int]:
    out: list[int] = []
    while True:
        batch = reader.read_batch(max_entries)
        if not batch:
            return out
        assert len(batch) <= max_entries
        out += [e.log_index for e in batch.entries]


@pytest.fixture
def three_files(tmp_path: Path) -> Path:
    d = tmp_path / "binlog"
    write_binlog(d, 0, range(1, 101))
    write_binlog(d, 1, range(101, 201))
    write_binlog(d, 2, range(201, 251), eof=False)  # the file being written
    return d


# -- names ----------------------------------------------------------------------------------------


def test_binlog_names() -> None:
    assert binlog_name(7) == "00000007.log"
    assert binlog_name(0) == "00000000.log"
    assert binlog_name(7, width=3) == "007.log"
    assert binlog_name(123_456_789) == "23456789.log"  # higher digits are dropped, as OpenMLDB does
    assert parse_binlog_name("00000007.log") == 7
    assert parse_binlog_name("00000000.log") == 0
    assert parse_binlog_name("123456789.log") == 123_456_789
    for name in ("x.log", ".log", "7.txt", "00000007.log.tmp", "-1.log", "٣.log"):
        assert parse_binlog_name(name) is None


def test_list_binlogs_numeric_order(tmp_path: Path) -> None:
    for name in ("00000010.log", "9.log", "00000002.log", "MANIFEST", "x.log", "00000003.log.tmp"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "00000004.log").mkdir()
    assert [(i, p.name) for i, p in list_binlogs(tmp_path)] == [
        (2, "00000002.log"),
        (9, "9.log"),
        (10, "00000010.log"),
    ]
    with pytest.raises(NotFoundError):
        list_binlogs(tmp_path / "missing")


def test_first_log_index(tmp_path: Path) -> None:
    assert first_log_index(write_binlog(tmp_path, 3, range(42, 50))) == 42
    assert first_log_index(write_binlog(tmp_path, 4, range(0))) is None  # only an EOF
    (tmp_path / "00000005.log").write_bytes(b"")
    assert first_log_index(tmp_path / "00000005.log") is None
    assert first_log_index(tmp_path / "00000099.log") is None


# -- start-file selection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "file_index"),
    [(1, 0), (50, 0), (100, 0), (101, 1), (200, 1), (201, 2), (250, 2), (251, 2), (9999, 2)],
)
def test_selects_newest_file_whose_first_index_is_at_most_start(
    three_files: Path, start: int, file_index: int
) -> None:
    with BinlogReader(three_files, start=start) as r:
        assert r.position is not None and r.position[0] == file_index
        assert read_indexes(r) == list(range(start, 251))


def test_find_offset_bisects_blocks(tmp_path: Path) -> None:
    path = write_binlog(tmp_path, 0, range(1, 5001), eof=False, size=90)
    with LogFileReader(path) as f:
        offsets = [r.offset for r in read_many(f, 6000)[:-1]]
    for target in (1, 2, 37, 38, 39, 1000, 2500, 4999, 5000, 6000):
        offset = find_offset(path, target)
        assert offset in offsets
        first = offsets.index(offset) + 1  # log_index of the entry at that offset
        assert first <= target
        assert min(target, 5000) - first < 2 * 4096 // 90  # within the probed block and its neighbour


def test_find_offset_with_damage_never_overshoots(tmp_path: Path) -> None:
    path = write_binlog(tmp_path, 0, range(1, 3001), eof=False, size=90)
    with LogFileReader(path) as f:
        ends = {r.offset: r.end for r in read_many(f, 4000)[:-1]}
    # Entries whose records touch block 40 are lost when it is overwritten with garbage.
    lost = [i + 1 for i, (o, e) in enumerate(ends.items()) if o < 41 * 4096 and e > 40 * 4096]
    data = bytearray(path.read_bytes())
    data[40 * 4096 : 41 * 4096] = bytes(range(256)) * 16
    path.write_bytes(bytes(data))
    for target in (1, 100, lost[0] - 1, lost[-1] + 1, 1700, 2999):
        with BinlogReader(tmp_path, start=target, skip_bad=True) as r:
            assert read_indexes(r) == [i for i in range(target, 3001) if i not in lost]
    with BinlogReader(tmp_path, start=lost[1], skip_bad=True, allow_gaps=True) as r:
        assert read_indexes(r)[0] == lost[-1] + 1
        assert [g.missing_log_indexes for g in r.gaps] == [(lost[1], lost[-1])]


def test_start_equal_to_last_entry_of_a_file_is_not_lost(three_files: Path) -> None:
    # OpenMLDB's reader picks 00000001.log for start=100 and never sends entry 100 (§3.6).
    with BinlogReader(three_files, start=100) as r:
        assert read_indexes(r)[:2] == [100, 101]


def test_start_below_the_oldest_file(three_files: Path) -> None:
    (three_files / binlog_name(0)).unlink()
    with pytest.raises(BinlogStartError) as info:
        BinlogReader(three_files, start=50)
    assert isinstance(info.value, NotFoundError)
    assert (
        "log_index 50" in str(info.value) and "00000001.log" in str(info.value) and "101" in str(info.value)
    )


def test_empty_directory_then_files_appear(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    d.mkdir()
    with BinlogReader(d) as r:
        assert len(r.read_batch()) == 0
        assert r.end is not None and r.end.file_index == -1 and "no binlog files" in str(r.end)
        write_binlog(d, 0, range(1, 11), eof=False)
        assert read_indexes(r) == list(range(1, 11))


# -- rolling and the end ---------------------------------------------------------------------------


def test_reads_across_files_and_reports_the_end(three_files: Path) -> None:
    with BinlogReader(three_files) as r:
        batches = []
        while batch := r.read_batch(64):
            batches.append(batch)
        assert [e.log_index for b in batches for e in b.entries] == list(range(1, 251))
        assert all(len({b.file_index}) == 1 for b in batches)
        assert {b.file_index for b in batches} == {0, 1, 2}
        assert r.end is not None
        size = (three_files / binlog_name(2)).stat().st_size
        assert (r.end.file_index, r.end.offset, r.end.unread, r.end.closed) == (2, size, 0, False)
        assert "0 unread bytes" in str(r.end)


def test_torn_tail_is_reported_and_read_once_complete(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    full = encode_records([entry(i).SerializeToString() for i in range(1, 6)])
    d.mkdir()
    path = d / binlog_name(0)
    cut = len(full) - 20
    path.write_bytes(full[:cut])
    with BinlogReader(d) as r:
        assert read_indexes(r) == [1, 2, 3, 4]
        assert r.end is not None
        resume = r.end.offset
        assert r.end.unread == cut - resume > 0
        assert f"{r.end.unread} unread bytes after byte offset {resume}" in str(r.end)
        with open(path, "ab") as f:
            f.write(full[cut:])
        assert read_indexes(r) == [5]


def test_live_appends_are_picked_up(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    path = write_binlog(d, 0, range(1, 4), eof=False)
    with BinlogReader(d) as r, open(path, "ab") as f:
        assert read_indexes(r) == [1, 2, 3]
        w = LogWriter(f)
        for i in range(4, 2000):
            w.add_record(entry(i).SerializeToString())
        w.flush()
        assert read_indexes(r) == list(range(4, 2000))


def test_closed_newest_file_then_rotation(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    write_binlog(d, 0, range(1, 11))
    with BinlogReader(d) as r:
        assert read_indexes(r) == list(range(1, 11))
        assert r.end is not None and r.end.closed
        write_binlog(d, 1, range(11, 21), eof=False)
        assert read_indexes(r) == list(range(11, 21))


def test_wait_with_a_newer_file_moves_on(tmp_path: Path) -> None:
    # A file left without EOF (and with a torn tail) followed by a newer one: roll over, as OpenMLDB.
    d = tmp_path / "binlog"
    torn = encode_records([entry(99).SerializeToString()])[:30]
    write_binlog(d, 0, range(1, 11), eof=False, tail=torn)
    write_binlog(d, 1, range(11, 21), eof=False)
    with BinlogReader(d) as r:
        assert read_indexes(r) == list(range(1, 21))
        assert [(t.file_index, t.unread) for t in r.abandoned_tails] == [(0, 30)]


def test_repair_eof_with_torn_bytes_after_it(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    torn = encode_records([entry(11).SerializeToString()])[:40]
    write_binlog(d, 0, range(1, 11), tail=torn)  # EOF then torn bytes (correction 10)
    write_binlog(d, 1, range(11, 16), eof=False)
    with BinlogReader(d) as r:
        assert read_indexes(r) == list(range(1, 16))
        assert r.abandoned_tails == []


# -- damage -----------------------------------------------------------------------------------------


def _corrupt_record(path: Path, k: int, at: int = 12) -> int:
    """Flip a payload byte of record k; returns the record's offset."""
    with LogFileReader(path) as r:
        offset = [r.read() for _ in range(k + 1)][-1].offset
    data = bytearray(path.read_bytes())
    data[offset + at] ^= 0xFF
    path.write_bytes(bytes(data))
    return offset


def test_bad_record_raises_with_path_and_offset_then_continues(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    path = write_binlog(d, 0, range(1, 21), eof=False)
    offset = _corrupt_record(path, 7)
    with BinlogReader(d) as r:
        first = r.read_batch()
        assert [e.log_index for e in first.entries] == list(range(1, 8))
        with pytest.raises(BadRecordError) as info:
            r.read_batch()
        assert (info.value.path, info.value.offset) == (str(path), offset)
        assert "CRC mismatch" in str(info.value) and "log_index 7" in str(info.value)
        assert read_indexes(r) == list(range(9, 21))


def test_skip_bad_counts_and_skips(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    path = write_binlog(d, 0, range(1, 21), eof=False)
    _corrupt_record(path, 3)
    _corrupt_record(path, 15)
    with BinlogReader(d, skip_bad=True) as r:
        assert read_indexes(r) == [i for i in range(1, 21) if i not in (4, 16)]
        assert r.skipped == 2


def test_payload_that_is_not_a_log_entry_is_a_bad_record(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    d.mkdir()
    payloads = [entry(i).SerializeToString() for i in range(1, 6)]
    payloads.insert(3, b"\xff\xff\xff garbage")  # framed correctly, not protobuf
    path = d / binlog_name(0)
    path.write_bytes(encode_records(payloads))
    with BinlogReader(d) as r:
        assert [e.log_index for e in r.read_batch().entries] == [1, 2, 3]
        with pytest.raises(BadRecordError) as info:
            r.read_batch()
        assert "not a LogEntry" in str(info.value) and info.value.path == str(path)
        assert read_indexes(r) == [4, 5]


# -- gaps -------------------------------------------------------------------------------------------


def test_missing_file_is_a_gap(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    write_binlog(d, 0, range(1, 11))
    write_binlog(d, 2, range(21, 31), eof=False)
    with BinlogReader(d) as r:
        assert [e.log_index for e in r.read_batch().entries] == list(range(1, 11))
        with pytest.raises(BinlogGapError) as info:
            r.read_batch()
        gap = info.value.gap
        assert (gap.missing_files, gap.missing_log_indexes) == ((1, 1), (11, 20))
        assert "00000001.log" in str(info.value) and "11..20" in str(info.value)
        assert read_indexes(r) == list(range(21, 31))
    with BinlogReader(d, allow_gaps=True) as r:
        assert read_indexes(r) == list(range(1, 11)) + list(range(21, 31))
        assert len(r.gaps) == 1


def test_log_index_discontinuity_between_files_is_a_gap(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    write_binlog(d, 0, range(1, 11))
    write_binlog(d, 1, range(15, 21), eof=False)
    with BinlogReader(d) as r:
        assert [e.log_index for e in r.read_batch().entries] == list(range(1, 11))
        with pytest.raises(BinlogGapError) as info:
            r.read_batch()
        assert info.value.gap.missing_log_indexes == (11, 14) and info.value.gap.missing_files is None
        # The batch behind the gap is not lost.
        assert read_indexes(r) == list(range(15, 21))


def test_missing_start_entry_is_a_gap(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    d.mkdir()
    path = d / binlog_name(0)
    path.write_bytes(encode_records([entry(i).SerializeToString() for i in (1, 2, 3, 7, 8)]))
    with BinlogReader(d, start=5) as r:
        with pytest.raises(BinlogGapError) as info:
            r.read_batch()
        assert info.value.gap.missing_log_indexes == (5, 6)
        assert read_indexes(r) == [7, 8]


# -- batches and resuming ---------------------------------------------------------------------------


def test_batches_respect_max_and_stay_in_one_file(three_files: Path) -> None:
    with BinlogReader(three_files, start=90) as r:
        sizes = []
        while batch := r.read_batch(7):
            sizes.append((batch.file_index, len(batch)))
        assert all(n <= 7 for _, n in sizes)
        assert sum(n for _, n in sizes) == 161


def test_resume_from_a_position(three_files: Path) -> None:
    with BinlogReader(three_files, start=1) as r:
        r.read_batch(60)
        batch = r.read_batch(60)
        assert batch.file_index == 0 and len(batch) == 40
        k = 17
        resume = (batch.file_index, batch.resume_after(k))
        next_index = batch.entries[k].log_index + 1
        rest = read_indexes(r)
    with BinlogReader(three_files, start=next_index, position=resume) as r2:
        assert r2.position == resume
        got = read_indexes(r2)
    assert got == list(range(next_index, 251))
    assert rest == list(range(101, 251))


def test_iteration_yields_entries_with_positions(three_files: Path) -> None:
    with BinlogReader(three_files, start=195) as r:
        items = list(r)
    assert [x.entry.log_index for x in items] == list(range(195, 251))
    assert items[0].file_index == 1 and items[0].path.name == "00000001.log"
    with LogFileReader(items[0].path, offset=items[0].offset) as f:
        rec = f.read()
        assert rec.payload is not None
        assert tablet_pb2.LogEntry.FromString(rec.payload).log_index == 195


def test_batch_parse_of_large_fragmented_entries(tmp_path: Path) -> None:
    d = tmp_path / "binlog"
    write_binlog(d, 0, range(1, 30), size=12_000, eof=False)
    with BinlogReader(d) as r:
        batch = r.read_batch()
    assert [e.log_index for e in batch.entries] == list(range(1, 30))
    assert all(e == entry(e.log_index, 12_000) for e in batch.entries)
