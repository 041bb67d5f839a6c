"""The vectorised read path equals the protobuf one: entry columns, payload spans, binlog columns, packs.

* ``scan_entries`` (+ ``resolve_irregular``) against ``LogEntry.FromString`` on random raw entries:
  any field order, repeated fields, absent fields, big varints, unknown fields, and damage (which
  must be flagged irregular, never mis-read);
* ``LogFileReader.read_spans`` against ``read()``, with damage, torn tails and growing files, and
  its batches against the blob framer it replaced (``helpers.logoracle``);
* ``BinlogReader.read_columns`` against reading its files record by record (``helpers.logoracle``);
* ``PartitionPacker`` against the protobuf-per-entry packer it replaced (``_ReferencePacker``,
  kept here only), on random partitions: every ``Pack`` field and every error the same.
"""

from __future__ import annotations

import random
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cramjam
import numpy as np
import pytest
from google.protobuf.message import DecodeError
from helpers.logoracle import BlobReader, binlog_outcomes, iter_sdb_batches
from helpers.logs import outcome_tuples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omsync_tui.core.errors import BadRecordError, OmsyncError
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.binlog.files import (
    BinlogBatch,
    BinlogGapError,
    BinlogStartError,
    binlog_name,
    first_log_index,
    list_binlogs,
    parse_binlog_name,
)
from omsync_tui.openmldb.binlog.reader import BinlogReader
from omsync_tui.openmldb.entries.scan import EntryColumns, resolve_irregular, scan_entries
from omsync_tui.openmldb.log.format import BLOCK_SIZE, HEADER_SIZE, LogWriter, ReadStatus, encode_records
from omsync_tui.openmldb.log.reader import LogFileReader
from omsync_tui.openmldb.metadata import write_manifest, write_table_meta
from omsync_tui.openmldb.proto import tablet_pb2, type_pb2
from omsync_tui.openmldb.row.codec import maybe_decompress
from omsync_tui.openmldb.snapshot.memory import iter_sdb_columns, write_sdb
from omsync_tui.openmldb.spans import SPAN_PAD, gather_buffer, padded, spans_of
from omsync_tui.services.collector import packer as packer_mod
from omsync_tui.services.collector.pack import Deletion, Filler, Pack, deletions_of
from omsync_tui.services.collector.packer import MODE_INCREMENTAL, PartitionPacker

U64_MAX = 2**64 - 1
FIXTURE_OK = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- raw protobuf encoding ----------------------------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(number: int, wire: int, value: int | bytes) -> bytes:
    tag = varint(number << 3 | wire)
    if wire == 0:
        assert isinstance(value, int)
        return tag + varint(value)
    if wire == 1:
        assert isinstance(value, int)
        return tag + struct.pack("<Q", value)
    if wire == 5:
        assert isinstance(value, int)
        return tag + struct.pack("<I", value)
    assert isinstance(value, bytes)
    return tag + varint(len(value)) + value


u64 = st.one_of(
    st.integers(0, 127), st.integers(0, 2**21), st.integers(0, U64_MAX), st.sampled_from([0, 2**56, U64_MAX])
)
small_bytes = st.binary(max_size=12)


def unknown_fields() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.builds(field, st.integers(11, 2**29 - 1), st.just(0), u64),
        st.builds(field, st.integers(11, 2**29 - 1), st.just(1), u64),
        st.builds(field, st.integers(11, 2**29 - 1), st.just(5), st.integers(0, 2**32 - 1)),
        st.builds(field, st.integers(11, 2**29 - 1), st.just(2), st.binary(max_size=20)),
    )


@st.composite
def dimension(draw: st.DrawFn) -> bytes:
    parts = []
    if draw(st.booleans()):
        parts.append(field(1, 2, draw(st.text(max_size=8)).encode()))
    for _ in range(draw(st.integers(0, 2))):  # idx absent, once, or repeated (the last counts)
        parts.append(field(2, 0, draw(st.one_of(st.integers(0, 3), st.integers(0, 2**33)))))
    parts += draw(st.lists(unknown_fields(), max_size=1))
    draw(st.randoms()).shuffle(parts)
    return b"".join(parts)


@st.composite
def ts_dimension(draw: st.DrawFn) -> bytes:
    return field(1, 0, draw(u64)) + field(2, 0, draw(st.integers(0, 9)))


@st.composite
def raw_entry(draw: st.DrawFn) -> bytes:
    """A serialized LogEntry with any subset of fields, in any order, some repeated."""
    options: list[st.SearchStrategy[bytes]] = [
        st.builds(field, st.just(1), st.just(0), u64),
        st.builds(field, st.just(2), st.just(0), u64),
        st.builds(field, st.just(3), st.just(2), small_bytes),
        st.builds(field, st.just(4), st.just(2), st.binary(max_size=300)),
        st.builds(field, st.just(5), st.just(0), u64),
        st.builds(field, st.just(6), st.just(2), dimension()),
        st.builds(field, st.just(7), st.just(0), st.sampled_from([1, 2])),
        st.builds(field, st.just(8), st.just(2), ts_dimension()),
        st.builds(field, st.just(9), st.just(0), u64),
        st.builds(field, st.just(10), st.just(2), small_bytes),
        unknown_fields(),
    ]
    return b"".join(draw(st.lists(st.one_of(options), max_size=12)))


@st.composite
def tablet_entry(draw: st.DrawFn) -> bytes:
    """A LogEntry as a tablet writes it (protobuf's own serialization, fields in order)."""
    e = tablet_pb2.LogEntry(term=draw(u64), log_index=draw(u64), value=draw(st.binary(max_size=200)))
    if draw(st.booleans()):
        e.pk = ""
    if draw(st.booleans()):
        e.ts = draw(u64)
    for idx in draw(st.lists(st.integers(0, 5), max_size=4)):
        dim = e.dimensions.add(key=f"k{idx}")
        if draw(st.booleans()):
            dim.idx = idx
    if draw(st.booleans()):
        e.method_type = draw(st.sampled_from([tablet_pb2.kPut, tablet_pb2.kDelete]))
    if draw(st.booleans()):
        e.end_ts = draw(u64)
    return e.SerializeToString()


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """An entry with bytes flipped, cut, or odd things inserted (groups, field 0, bad varints)."""
    data = bytearray(draw(st.one_of(raw_entry(), tablet_entry())))
    for _ in range(draw(st.integers(0, 3))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()) and data:
        del data[draw(st.integers(0, len(data) - 1)) :]
    odd = st.sampled_from(
        [
            b"\x5b\x5c",  # a group (field 11)
            b"\x5c",  # an end group without a start
            b"\x00\x01",  # field 0
            b"\x10" + b"\xff" * 10 + b"\x01",  # an 11-byte varint
            b"\x10" + b"\xff" * 9 + b"\x7f",  # a 10-byte varint with bits past 64
            b"\x38\x03",  # method_type outside the enum
            b"\x38" + b"\xff" * 9 + b"\x01",  # method_type -1
            b"\x12\x01\x00",  # log_index as length-delimited
            b"\x32\x02\x5b\x5c",  # a group inside a dimension
            b"\x32\x03\x10\x80\x80",  # a truncated varint inside a dimension
            b"\x80\x80\x80\x80\x80\x01\x00",  # a tag beyond 32 bits
            b"\x22\x85\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # a length beyond the payload
        ]
    )
    at = draw(st.integers(0, len(data)))
    data[at:at] = draw(odd)
    return bytes(data)


# -- entry columns ------------------------------------------------------------------------------


def expect(payload: bytes) -> tuple[int, int, bool, int, bytes, bool] | None:
    """What protobuf reads: (log_index, ts, has ts, method, value, index-0 dimension), or None."""
    try:
        e = tablet_pb2.LogEntry.FromString(payload)
    except DecodeError:
        return None
    return (
        e.log_index,
        e.ts,
        e.HasField("ts"),
        e.method_type,
        e.value,
        any(d.idx == 0 for d in e.dimensions),
    )


def columns_at(cols: EntryColumns, i: int) -> tuple[int, int, bool, int, bytes, bool]:
    return (
        int(cols.log_index[i]),
        int(cols.ts[i]),
        bool(cols.has_ts[i]),
        int(cols.method[i]),
        cols.value(i),
        bool(cols.index0[i]),
    )


def check_columns(payloads: list[bytes]) -> EntryColumns:
    """The scan agrees with protobuf: regular entries as scanned, the rest once resolved."""
    data, starts, ends = spans_of(payloads)
    cols = scan_entries(data, starts, ends)
    wanted = [expect(p) for p in payloads]
    for i, want in enumerate(wanted):
        if want is None:
            assert cols.irregular[i], payloads[i].hex()  # protobuf refuses it: never a regular entry
        elif not cols.irregular[i]:
            assert columns_at(cols, i) == want, payloads[i].hex()
    resolved, failed, error = resolve_irregular(cols)
    first_bad = next((i for i, w in enumerate(wanted) if w is None), -1)
    assert failed == first_bad
    assert (error is None) == (first_bad < 0)
    kept = len(payloads) if first_bad < 0 else first_bad
    assert len(resolved) == kept and not resolved.irregular.any()
    for i in range(kept):
        assert columns_at(resolved, i) == wanted[i]
        assert resolved.payload(i) == payloads[i]
    return cols


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(raw_entry(), tablet_entry()), min_size=1, max_size=40))
def test_columns_equal_protobuf(payloads: list[bytes]) -> None:
    check_columns(payloads)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(raw_entry(), tablet_entry(), damaged()), min_size=1, max_size=30))
def test_damage_is_flagged_never_misread(payloads: list[bytes]) -> None:
    check_columns(payloads)


@settings(max_examples=50, deadline=None)
@given(st.lists(tablet_entry(), min_size=1, max_size=400))
def test_uniform_batches_take_the_fast_steps_and_stay_exact(payloads: list[bytes]) -> None:
    cols = check_columns(payloads)
    assert not cols.irregular.any()  # everything a tablet writes is read without protobuf


def test_the_cases_by_name() -> None:
    dim0 = field(6, 2, field(1, 2, b"k") + field(2, 0, 0))
    cases = {
        "empty entry": b"",
        "u64 max everywhere": field(2, 0, U64_MAX) + field(5, 0, U64_MAX) + field(1, 0, U64_MAX),
        "idx absent counts as 0": field(6, 2, field(1, 2, b"k")),
        "empty dimension": field(6, 2, b""),
        "idx 2**32 truncates to 0": field(6, 2, field(2, 0, 2**32)),
        "idx 1 only": field(6, 2, field(2, 0, 1)),
        "index 0 second": field(6, 2, field(2, 0, 3)) + dim0,
        "last idx wins": field(6, 2, field(2, 0, 0) + field(2, 0, 1)),
        "last value wins": field(4, 2, b"first") + dim0 + field(4, 2, b"second"),
        "empty value": field(4, 2, b"") + dim0,
        "last method wins": field(7, 0, 2) + field(7, 0, 1),
        "delete": field(7, 0, 2) + dim0 + field(5, 0, 7),
        "unknown fields": field(99, 0, 5)
        + field(12, 1, 7)
        + field(13, 5, 9)
        + field(2**29 - 1, 2, b"x")
        + dim0,
        "overlong varint": b"\x10\x85\x80\x00" + dim0,
        "overlong tag": b"\x90\x00\x05" + dim0,
        "ts dimensions": field(8, 2, field(1, 0, 5) + field(2, 0, 1)) + dim0,
        "10-byte negative method": field(7, 0, U64_MAX),
        "method 2 + 2**32": field(7, 0, 2 + 2**32),
        "group": b"\x5b\x5c" + dim0,
        "truncated": field(4, 2, b"abc")[:-1],
        "wrong wire type": b"\x12\x01\x00",
    }
    cols = check_columns(list(cases.values()))
    regular = {name for name, bad in zip(cases, cols.irregular.tolist(), strict=True) if not bad}
    assert {"empty entry", "u64 max everywhere", "idx absent counts as 0", "last value wins"} <= regular
    assert {"unknown fields", "overlong tag", "ts dimensions", "delete"} <= regular
    irregular = set(cases) - regular
    assert {
        "group",
        "truncated",
        "wrong wire type",
        "10-byte negative method",
        "method 2 + 2**32",
    } <= irregular


@pytest.mark.parametrize("tail", [b"\xff", b"\x10\xff", b"\xff" * 5, b"\x0a\xff\xff"])
def test_bytes_after_a_payload_are_never_read_past_the_padding(tail: bytes) -> None:
    # Spans are views of the read buffer: what follows a payload can be anything, e.g. 0xff bytes
    # that continue a damaged tag or varint well past the payload's end.
    payload = field(2, 0, 5) + tail
    data = np.frombuffer(payload + b"\xff" * SPAN_PAD, dtype=np.uint8).copy()
    one = np.zeros(1, dtype=np.int64)
    cols = scan_entries(data, one, one + len(payload))
    assert cols.irregular[0]


def test_scan_needs_the_padding() -> None:
    data, starts, ends = spans_of([b"\x10\x01"])
    with pytest.raises(ValueError, match="SPAN_PAD"):
        scan_entries(data[: len(data) - SPAN_PAD], starts, ends)


@given(st.lists(st.binary(max_size=200), max_size=60), st.randoms())
def test_gather_concatenates_spans(chunks: list[bytes], rnd: random.Random) -> None:
    data, starts, ends = spans_of(chunks)
    pick = np.array(sorted(rnd.sample(range(len(chunks)), rnd.randint(0, len(chunks)))), dtype=np.int64)
    assert bytes(gather_buffer(data, starts[pick], ends[pick])) == b"".join(chunks[i] for i in pick.tolist())
    rev = pick[::-1].copy()
    assert bytes(gather_buffer(data, starts[rev], ends[rev])) == b"".join(chunks[i] for i in rev.tolist())


@given(
    st.binary(min_size=1, max_size=600),
    st.lists(st.tuples(st.integers(0, 599), st.integers(0, 200)), max_size=80),
)
def test_gather_takes_spans_in_any_order_even_overlapping(buf: bytes, picks: list[tuple[int, int]]) -> None:
    # Word copies end each span with a word that overlaps the one before it; spans of every length
    # around the word sizes (0, 1..3, 4..15, 16..63, 64+) must come out exact, wherever they are.
    data = padded(buf)
    spans = [(s % len(buf), min(len(buf), s % len(buf) + k)) for s, k in picks]
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    ends = np.array([e for _, e in spans], dtype=np.int64)
    assert bytes(gather_buffer(data, starts, ends)) == b"".join(buf[s:e] for s, e in spans)


# -- payload spans ------------------------------------------------------------------------------


SIZES = [0, 1, 7, 60, 125, 4082, 4089, 4090, 5000, 9000, 20_000]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    verify=st.booleans(),
    batch=st.sampled_from([1, 2, 5, 40, 100_000]),
    read_size=st.sampled_from([4096, 3 * 4096, 4 << 20]),
)
def test_spans_agree_with_read_under_damage_and_torn_tails(
    tmp_path: Path, seed: int, verify: bool, batch: int, read_size: int
) -> None:
    rng = random.Random(seed)
    many = rng.random() < 0.5
    sizes = [
        rng.choice([*SIZES, rng.randint(0, 400), rng.randint(0, 30)])
        for _ in range(rng.randint(1, 300 if many else 40))
    ]
    data = bytearray(encode_records([rng.randbytes(n) for n in sizes], eof=rng.random() < 0.7))
    for _ in range(rng.choice([0, 0, 1, 3])):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    if rng.random() < 0.3:
        del data[rng.randrange(len(data) + 1) :]
    path = tmp_path / f"{seed}.log"
    path.write_bytes(bytes(data))
    expected = outcome_tuples(path, spans=False, verify=verify)
    assert outcome_tuples(path, spans=True, verify=verify, batch=batch, read_size=read_size) == expected
    if len(data) < 4 << 20:  # one read chunk: the batches themselves equal the blob framer's
        assert batches(path, spans=True, verify=verify, batch=batch) == batches(
            path, spans=False, verify=verify, batch=batch
        )


def batches(path: Path, *, spans: bool, verify: bool, batch: int) -> list[Any]:
    """(offsets, end, stop) of each bulk read up to the first stop; payloads checked on the way."""
    out: list[Any] = []
    with LogFileReader(path, verify_crc=verify) as r:
        blobs = BlobReader(path, verify_crc=verify)
        for _ in range(100_000):
            if spans:
                got = r.read_spans(batch)
                out.append((got.offsets.tolist(), got.end, got.stop, got.payloads()))
            else:
                blob = blobs.read_blob(batch)
                out.append((blob.offsets, blob.end, blob.stop, blob.payloads()))
            if out[-1][2] is not None and out[-1][2].status in (ReadStatus.EOF, ReadStatus.WAIT):
                return out
    raise AssertionError("reader did not stop")


@pytest.mark.parametrize("batch", [2, 7, 1000])
def test_a_crc_mismatch_in_any_physical_record_is_found(tmp_path: Path, batch: int) -> None:
    # Sizes that put FIRST/MIDDLE/LAST fragments and FULL records in every combination per block.
    rng = random.Random(batch)
    sizes = [rng.choice([3, 60, 125, 700, 4000, 5000, 9000]) for _ in range(60)]
    clean = encode_records([rng.randbytes(n) for n in sizes], eof=True)
    heads = []
    pos = 0
    while pos + HEADER_SIZE <= len(clean):
        if BLOCK_SIZE - pos % BLOCK_SIZE < HEADER_SIZE:
            pos += BLOCK_SIZE - pos % BLOCK_SIZE
            continue
        heads.append(pos)
        pos += HEADER_SIZE + int.from_bytes(clean[pos + 4 : pos + 6], "little")
    for k, head in enumerate(heads[:-1]):  # the last one is the EOF record
        data = bytearray(clean)
        n = int.from_bytes(data[head + 4 : head + 6], "little")
        data[head + 6 + (k * 7919) % (n + 1)] ^= 0x20  # the type byte or a payload byte
        path = tmp_path / f"{batch}-{k}.log"
        path.write_bytes(bytes(data))
        expected = outcome_tuples(path, spans=False, verify=True)
        assert outcome_tuples(path, spans=True, verify=True, batch=batch) == expected, (k, head)


def test_a_run_cut_at_a_damaged_record_resumes_at_it_past_the_trailer(tmp_path: Path) -> None:
    data = bytearray(encode_records([b"a" * 4086, b"b" * 50, b"c" * 50]))  # 3-byte trailer in block 0
    data[BLOCK_SIZE + HEADER_SIZE + 5] ^= 1  # the second record, at the start of block 1
    path = tmp_path / "t.log"
    path.write_bytes(bytes(data))
    assert batches(path, spans=True, verify=True, batch=10) == batches(
        path, spans=False, verify=True, batch=10
    )
    with LogFileReader(path) as r:
        assert r.read_spans(10).end == BLOCK_SIZE == r.offset


def test_spans_resume_from_every_record_boundary(tmp_path: Path) -> None:
    payloads = [bytes([i]) * n for i, n in enumerate([10, 4065, 30, 9000, 0, 5, 3200, 7, 125, 4089] * 3)]
    path = tmp_path / "r.log"
    path.write_bytes(encode_records(payloads, eof=True))
    with LogFileReader(path) as r:
        spans = r.read_spans(1000)
    offsets = spans.offsets.tolist()
    assert spans.payloads() == payloads
    for k, offset in enumerate(offsets):
        with LogFileReader(path, offset=offset) as r:
            got = r.read_spans(1000)
            assert got.payloads() == payloads[k:]
            assert got.offsets.tolist() == offsets[k:]
            assert r.read_spans(10).stop is not None


def test_spans_see_appended_records(tmp_path: Path) -> None:
    data = encode_records([b"one", b"two" * 2000, b"three"] + [b"x" * 100] * 100)
    path = tmp_path / "g.log"
    path.write_bytes(data[:20])
    with LogFileReader(path) as r:
        assert r.read_spans(10).payloads() == [b"one"]
        waited = r.read_spans(10).stop
        assert waited is not None and waited.status is ReadStatus.WAIT and waited.unread == 10
        with open(path, "ab") as f:
            f.write(data[20:5000])
        assert r.read_spans(10).stop is not None
        with open(path, "ab") as f:
            f.write(data[5000:])
        got = r.read_spans(1000)
        assert got.payloads() == [b"two" * 2000, b"three"] + [b"x" * 100] * 100
        assert got.end == len(data) == r.offset


# -- binlog columns -----------------------------------------------------------------------------


def random_entry(rng: random.Random, log_index: int) -> tablet_pb2.LogEntry:
    e = tablet_pb2.LogEntry(term=1, log_index=log_index, pk="")
    kind = rng.random()
    if kind < 0.15:
        e.method_type = tablet_pb2.kDelete
        if rng.random() < 0.7:
            e.ts = rng.randint(0, 1000)
        if rng.random() < 0.3:
            e.end_ts = rng.randint(0, 1000)
        if rng.random() < 0.2:
            e.ts_name = "ts"
    else:
        e.value = rng.randbytes(rng.choice([0, 5, 60, 125, 400, 5000]))
        e.ts = rng.randint(0, 1000)
    for idx in rng.sample(range(4), rng.randint(0, 3)):
        e.dimensions.add(key=f"k{rng.randint(0, 9)}", idx=idx)
    return e


def snappy_value(rng: random.Random, value: bytes) -> bytes:
    """``value`` as a snappy table stores it; rarely not snappy at all (a decode error)."""
    return b"\xff\xff not snappy" if rng.random() < 0.002 else bytes(cramjam.snappy.compress_raw(value))


def write_binlog_files(
    directory: Path, rng: random.Random, *, damage: bool, snappy: bool = False
) -> list[tablet_pb2.LogEntry]:
    """A few binlog files of random entries; maybe a missing file, a damaged byte, a non-entry."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[tablet_pb2.LogEntry] = []
    log_index = 1
    files = rng.randint(1, 4)
    for index in range(files):
        with open(directory / binlog_name(index), "wb") as f:
            w = LogWriter(f)
            for _ in range(rng.randint(0 if index == files - 1 else 1, 400)):
                e = random_entry(rng, log_index)
                if snappy and e.method_type != tablet_pb2.kDelete:
                    e.value = snappy_value(rng, e.value)
                log_index += 1
                written.append(e)
                w.add_record(e.SerializeToString())
                if damage and rng.random() < 0.01:
                    w.add_record(b"\xff\xfe not a log entry")
            if index < files - 1 or rng.random() < 0.3:
                w.add_eof()
    if damage and rng.random() < 0.5:
        path = list_binlogs(directory)[rng.randrange(files)][1]
        data = bytearray(path.read_bytes())
        if data:
            data[rng.randrange(len(data))] ^= 0x10
            path.write_bytes(bytes(data))
    if damage and files > 2 and rng.random() < 0.3:
        (directory / binlog_name(1)).unlink()
    return written


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), verify=st.booleans(), start=st.integers(1, 900))
def test_read_columns_equals_reading_record_by_record(
    tmp_path: Path, seed: int, verify: bool, start: int
) -> None:
    rng = random.Random(seed)
    directory = Path(tempfile.mkdtemp(dir=tmp_path)) / "binlog"
    write_binlog_files(directory, rng, damage=True)
    sizes = iter([rng.choice([1, 3, 50, 4096]) for _ in range(4000)])
    try:
        reader = BinlogReader(directory, start=start, verify_crc=verify)
    except BinlogStartError:
        firsts = [first_log_index(p) for _, p in list_binlogs(directory)]
        assert all(f is None or f > start for f in firsts) and any(f is not None for f in firsts)
        return
    with reader:
        position = reader.position
        assert position is not None
        entries: list[tuple[int, int, bytes]] = []
        damage: list[tuple[int, int]] = []
        empty = 0
        for _ in range(2000):
            try:
                got = reader.read_columns(next(sizes))
            except BadRecordError as exc:
                index = parse_binlog_name(Path(exc.path or "").name)
                assert index is not None and exc.offset is not None
                damage.append((index, exc.offset))
                continue
            except BinlogGapError:
                continue
            entries += [
                (got.file_index, int(o), got.cols.payload(i)) for i, o in enumerate(got.offsets.tolist())
            ]
            if not len(got):
                empty += 1
                if empty == 2:
                    break
    assert (entries, damage) == binlog_outcomes(directory, position, start, verify_crc=verify)


def test_columns_and_batches_convert_both_ways(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    written = write_binlog_files(directory, random.Random(5), damage=False)
    with BinlogReader(directory) as reader:
        cols = reader.read_columns(100)
    batch = cols.to_batch()
    assert list(batch.entries) == written[: len(cols)]
    back = type(cols).from_batch(batch)
    assert back.cols.log_index.tolist() == cols.cols.log_index.tolist()
    assert back.offsets.tolist() == cols.offsets.tolist() and back.end == cols.end


def test_a_gap_holds_the_columns_batch_back_like_read_batch(tmp_path: Path) -> None:
    directory2 = tmp_path / "g2"
    directory2.mkdir()
    for index, first in ((0, 1), (1, 11), (3, 31)):
        with open(directory2 / binlog_name(index), "wb") as f:
            w = LogWriter(f)
            for i in range(first, first + 10):
                w.add_record(random_entry(random.Random(i), i).SerializeToString())
            w.add_eof()
    for columns in (False, True):
        with BinlogReader(directory2) as reader:
            read = reader.read_columns if columns else reader.read_batch
            assert len(read(100)) == 10 and len(read(100)) == 10
            with pytest.raises(BinlogGapError, match=r"00000002\.log"):
                read(100)
            assert reader.position == (3, 0)
            held = read(100)
            assert len(held) == 10 and held.file_index == 3


# -- memory snapshot columns --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["s.sdb", "s.sdb.zlib", "s.sdb.snappy"])
def test_snapshot_columns_equal_batches(tmp_path: Path, name: str) -> None:
    rng = random.Random(7)
    entries = [random_entry(rng, i) for i in range(1, 3000)]
    path = tmp_path / name
    compression = name.split(".")[2] if name.count(".") > 1 else None
    write_sdb(path, entries, compression)
    got = [cols for cols in iter_sdb_columns(path, batch=700)]
    assert [len(c) for c in got][:3] == [700, 700, 700]
    flat = [tablet_pb2.LogEntry.FromString(c.payload(i)) for c in got for i in range(len(c))]
    assert flat == [e for b in iter_sdb_batches(path, batch=700) for e in b] == entries


def test_snapshot_columns_raise_like_batches(tmp_path: Path) -> None:
    path = tmp_path / "bad.sdb"
    good = random_entry(random.Random(1), 1)
    write_sdb(path, [good, b"\xff\xfe not protobuf", good], None)
    errors = []
    for it in (iter_sdb_batches, iter_sdb_columns):
        with pytest.raises(BadRecordError) as info:
            list(it(path))
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "not a LogEntry" in errors[0]


# -- packs ---------------------------------------------------------------------------------------


class _ReferencePacker(PartitionPacker):
    """The packer as it was before the columns path: one protobuf LogEntry per row, parsed in bulk.

    Kept here only, to check that the fast path gives the same packs and errors.
    """

    _REF_BATCH = 8192

    def _drop(self) -> None:
        super()._drop()
        self._ref_batches: Iterator[Sequence[tablet_pb2.LogEntry]] | None = None
        self._ref_entries: Sequence[tablet_pb2.LogEntry] = ()
        self._ref_batch: BinlogBatch | None = None

    def _fill_memory(self, path: Path, start: SyncPoint, fill: Filler) -> tuple[int, bool]:
        if getattr(self, "_ref_batches", None) is None:
            self._ref_batches = iter_sdb_batches(path, verify_crc=self.verify_crc, batch=self._REF_BATCH)
            self._ref_entries, self._i = (), 0
            skip = start.ordinal
            while skip:
                if self._i >= len(self._ref_entries):
                    self._ref_entries, self._i = next(self._ref_batches, ()), 0
                    if not self._ref_entries:
                        return start.ordinal, True
                if _index0(self._ref_entries[self._i]):
                    skip -= 1
                self._i += 1
        assert self._ref_batches is not None
        ordinal = start.ordinal
        incremental = self.mode == MODE_INCREMENTAL
        while True:
            if self._i >= len(self._ref_entries):
                self._ref_entries, self._i = next(self._ref_batches, ()), 0
                if not self._ref_entries:
                    return ordinal, True
            entries, i, n = self._ref_entries, self._i, len(self._ref_entries)
            while i < n:
                e = entries[i]
                if _index0(e):
                    if not incremental or e.ts >= self.start_ts:
                        value = maybe_decompress(e.value, self.snappy) if self.snappy else e.value
                        if not fill.add(value):
                            self._i = i
                            return ordinal, False
                    ordinal += 1
                i += 1
            self._i = i

    def _pack_binlog(self, start: SyncPoint, max_bytes: int, position: tuple[int, int] | None) -> Pack:
        binlog_dir = self.dir / "binlog"
        if self._binlog is None:
            if not list_binlogs(binlog_dir):
                return Pack(b"", 0, start, True, position)
            self._binlog = BinlogReader(
                binlog_dir, start=start.offset, verify_crc=self.verify_crc, position=position
            )
            self._ref_batch, self._i = None, 0
        reader = self._binlog
        fill = Filler(max_bytes)
        next_offset, where = start.offset, position
        incremental = self.mode == MODE_INCREMENTAL
        deletions: list[Deletion] = []
        while True:
            batch = getattr(self, "_ref_batch", None)
            if batch is None or self._i >= len(batch.entries):
                try:
                    batch = self._ref_batch = reader.read_batch(self._REF_BATCH)
                except (BinlogGapError, BadRecordError) as exc:
                    if not fill.count and not deletions and next_offset == start.offset:
                        raise
                    self._deferred = exc
                    self._ref_batch = None
                    return Pack(
                        fill.pack_rows(),
                        fill.count,
                        SyncPoint.binlog(next_offset),
                        False,
                        where,
                        tuple(deletions),
                        fill.row_sizes(),  # from add(), one value at a time
                    )
                self._i = 0
                if not len(batch):
                    return Pack(
                        fill.pack_rows(),
                        fill.count,
                        SyncPoint.binlog(next_offset),
                        True,
                        where,
                        tuple(deletions),
                        fill.row_sizes(),  # from add(), one value at a time
                    )
            entries, i, n = batch.entries, self._i, len(batch.entries)
            full = False
            while i < n:
                e = entries[i]
                if (
                    _index0(e)
                    and e.method_type != tablet_pb2.kDelete
                    and (not incremental or e.ts >= self.start_ts)
                ):
                    value = maybe_decompress(e.value, self.snappy) if self.snappy else e.value
                    if not fill.add(value):
                        full = True
                        break
                elif self.deletes and e.method_type == tablet_pb2.kDelete:
                    if len(deletions) >= packer_mod.MAX_DELETIONS:
                        full = True
                        break
                    deletions += deletions_of(e, fill.count)
                i += 1
            if i > self._i:
                next_offset = int(entries[i - 1].log_index) + 1
                where = (batch.file_index, batch.resume_after(i - 1))
            self._i = i
            if full:
                return Pack(
                    fill.pack_rows(),
                    fill.count,
                    SyncPoint.binlog(next_offset),
                    False,
                    where,
                    tuple(deletions),
                    fill.row_sizes(),
                )


def _index0(entry: tablet_pb2.LogEntry) -> bool:
    dims = entry.dimensions
    return bool(dims) and (dims[0].idx == 0 or any(d.idx == 0 for d in dims))


def make_partition(part: Path, rng: random.Random, *, snappy: bool, damage: bool) -> tablet_pb2.TableMeta:
    (part / "snapshot").mkdir(parents=True)
    meta = tablet_pb2.TableMeta(tid=1, pid=0, name="t", db="db")
    if snappy:
        meta.compress_type = type_pb2.kSnappy
    write_table_meta(part / "table_meta.txt", meta)
    snap = [random_entry(rng, i) for i in range(1, rng.randint(1, 600))]
    for e in snap:
        e.ClearField("method_type")
        if snappy:
            e.value = snappy_value(rng, e.value)
    if rng.random() < 0.8:
        name = "202601010000.sdb" + rng.choice(["", "", ".zlib", ".snappy"])
        write_sdb(part / "snapshot" / name, snap, snapshot_compression_of(name))
        write_manifest(
            part / "snapshot" / "MANIFEST",
            tablet_pb2.Manifest(offset=len(snap), name=name, count=len(snap), term=1),
        )
    write_binlog_files(part / "binlog", rng, damage=damage, snappy=snappy)
    return meta


def snapshot_compression_of(name: str) -> str | None:
    return "zlib" if ".zlib" in name else "snappy" if ".snappy" in name else None


def canonical(pack: Pack) -> Pack:
    """``pack`` with a binlog position inside a block trailer moved to the next block start.

    A position right after an entry that ends a block (< 7 bytes left) and the start of the next
    block resume at the same record; which of the two the old packer reported depended on where
    its batches happened to end (itself a matter of where its reader was opened).
    """
    if pack.position is None:
        return pack
    index, offset = pack.position
    if BLOCK_SIZE - offset % BLOCK_SIZE < HEADER_SIZE:
        offset += BLOCK_SIZE - offset % BLOCK_SIZE
    return replace(pack, position=(index, offset))


def drive(packer: PartitionPacker, rng: random.Random, *, fresh: Any) -> list[Any]:
    """Pack from the start with random pack sizes and restarts; every result and error."""
    out: list[Any] = []
    point, position = SyncPoint.start(), None
    ends = 0
    for _ in range(300):
        if len(out) > 3 and out[-1] == out[-2] == out[-3] and not isinstance(out[-1], Pack):
            break  # the same error again and again (a fault at the very start of a pack)
        if rng.random() < 0.1:  # as after a restart: a fresh packer from the persisted point
            packer.close()
            packer = fresh()
        max_bytes = rng.choice([1, 200, 2000, 20_000, 1 << 20])
        try:
            pack = packer.pack(point, max_bytes, position=position if rng.random() < 0.7 else None)
        except OmsyncError as exc:
            out.append((type(exc).__name__, str(exc)))
            continue
        out.append(canonical(pack))
        point, position = pack.next, pack.position
        if pack.at_end:
            ends += 1
            if ends == 2:
                break
    packer.close()
    return out


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    snappy=st.booleans(),
    damage=st.booleans(),
    mode=st.sampled_from([0, 1, 2]),
    deletes=st.booleans(),
    verify=st.booleans(),
    max_deletions=st.sampled_from([2, 10_000]),
    batch=st.sampled_from([3, 64, 32768]),
)
def test_packs_equal_the_protobuf_packer(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    snappy: bool,
    damage: bool,
    mode: int,
    deletes: bool,
    verify: bool,
    max_deletions: int,
    batch: int,
) -> None:
    monkeypatch.setattr(packer_mod, "MAX_DELETIONS", max_deletions)
    monkeypatch.setattr(packer_mod, "_BATCH", batch)
    part = Path(tempfile.mkdtemp(dir=tmp_path)) / "1_0"
    meta = make_partition(part, random.Random(seed), snappy=snappy, damage=damage)
    start_ts = random.Random(seed).choice([0, 300, 700])
    results = []
    for cls in (_ReferencePacker, PartitionPacker):

        def fresh(cls: type[PartitionPacker] = cls) -> PartitionPacker:
            return cls(part, meta, mode=mode, start_ts=start_ts, verify_crc=verify, deletes=deletes)

        results.append(drive(fresh(), random.Random(seed + 1), fresh=fresh))
    reference, fast = results
    assert fast == reference


def _snappy_partition(part: Path, values: list[bytes]) -> tablet_pb2.TableMeta:
    (part / "binlog").mkdir(parents=True)
    meta = tablet_pb2.TableMeta(tid=1, pid=0, name="t", compress_type=type_pb2.kSnappy)
    with open(part / "binlog" / binlog_name(0), "wb") as f:
        w = LogWriter(f)
        for i, value in enumerate(values, 1):
            e = tablet_pb2.LogEntry(log_index=i, value=value, ts=i)
            e.dimensions.add(key="k", idx=0)
            w.add_record(e.SerializeToString())
    return meta


def test_a_bad_value_mid_pack_loses_no_rows_on_retry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The old loop left its cursor in the batch of the bad value, past the rows of the failed
    # pack: a retry with a smaller pack skipped them. The cursor now starts over.
    monkeypatch.setattr(packer_mod, "_BATCH", 4)
    rows = [bytes([i]) * 10 for i in range(1, 11)]
    values = [bytes(cramjam.snappy.compress_raw(r)) for r in rows]
    values[6] = b"\xff\xff not snappy"
    meta = _snappy_partition(tmp_path / "1_0", values)
    for cls in (PartitionPacker, _ReferencePacker):
        packer = cls(tmp_path / "1_0", meta)
        first = packer.pack(SyncPoint.binlog(1), 20)
        assert (first.rows, first.next) == (rows[0] + rows[1], SyncPoint.binlog(3))
        with pytest.raises(OmsyncError, match="not raw snappy"):
            packer.pack(first.next, 1 << 20)  # rows 3..6 read, then the bad value
        again = packer.pack(first.next, 15)
        assert (again.rows, again.next) == (rows[2], SyncPoint.binlog(4))
        packer.close()


def test_a_snapshot_without_eof_fails_again_on_retry(tmp_path: Path) -> None:
    part = tmp_path / "1_0"
    (part / "snapshot").mkdir(parents=True)
    meta = tablet_pb2.TableMeta(tid=1, pid=0, name="t")
    entries = [random_entry(random.Random(i), i) for i in range(1, 50)]
    path = part / "snapshot" / "s.sdb"
    write_sdb(path, entries, None)
    path.write_bytes(path.read_bytes()[:-10])
    write_manifest(part / "snapshot" / "MANIFEST", tablet_pb2.Manifest(offset=49, name="s.sdb", count=49))
    packer = PartitionPacker(part, meta)
    first = packer.pack(SyncPoint.start(), 1)
    assert first.count and first.next.ordinal
    for _ in range(2):  # never taken for the end of the snapshot
        with pytest.raises(OmsyncError, match="without an EOF record"):
            packer.pack(first.next, 1 << 20)
