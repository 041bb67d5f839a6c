"""LogFileReader: torn tails, growing files, resuming, damage, and the bulk path agreeing with read()."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from helpers.logs import header, outcome_tuples, payloads_of, read_all, read_many, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omsync_tui.core.errors import NotFoundError
from omsync_tui.openmldb.log.format import (
    BLOCK_SIZE,
    EOF_RECORD,
    HEADER_SIZE,
    LogRead,
    ReadStatus,
    RecordType,
    encode_records,
)
from omsync_tui.openmldb.log.reader import LogFileReader

# -- reader: torn tails, growing files, resuming ----------------------------------------------------


def _mixed_payloads() -> list[bytes]:
    # Layout features: a zero-length FIRST (7 bytes left), a zero trailer (< 7 left), a record
    # spanning three blocks, an empty record, small records.
    return [b"A" * 10, b"B" * 4065, b"C" * 30, b"D" * 9000, b"", b"E" * 5, b"F" * 3200, b"G" * 7]


def test_mixed_layout_has_the_boundary_cases() -> None:
    data = encode_records(_mixed_payloads())
    assert header(data, 4089)[1:] == (0, RecordType.FIRST)  # 17 + 4072 = 4089
    types = []
    pos = 0
    while pos < len(data):
        if BLOCK_SIZE - pos % BLOCK_SIZE < HEADER_SIZE:
            assert data[pos : pos - pos % BLOCK_SIZE + BLOCK_SIZE] == bytes(BLOCK_SIZE - pos % BLOCK_SIZE)
            types.append("trailer")
            pos += BLOCK_SIZE - pos % BLOCK_SIZE
            continue
        _, n, t = header(data, pos)
        types.append(RecordType(t).name)
        pos += HEADER_SIZE + n
    assert "trailer" in types
    assert types.count("MIDDLE") >= 1


def test_torn_tail_at_every_cut_point(tmp_path: Path) -> None:
    payloads = _mixed_payloads()
    data = encode_records(payloads)
    full = read_all(write(tmp_path, data))
    records = [r for r in full if r.status is ReadStatus.RECORD]
    assert [r.payload for r in records] == payloads
    path = tmp_path / "cut.log"
    path.write_bytes(data)
    for cut in range(len(data), -1, -1):
        os.truncate(path, cut)
        complete = [r for r in records if r.end <= cut]
        resume = complete[-1].end if complete else 0
        results = read_all(path)
        assert payloads_of(results) == [r.payload for r in complete], cut
        last = results[-1]
        assert last.status is ReadStatus.WAIT, cut
        assert (last.offset, last.end, last.unread) == (resume, resume, cut - resume), cut


def test_torn_tail_at_every_cut_point_bulk(tmp_path: Path) -> None:
    payloads = _mixed_payloads()
    data = encode_records(payloads)
    path = tmp_path / "cut.log"
    path.write_bytes(data)
    ends = [r.end for r in read_all(path) if r.status is ReadStatus.RECORD]
    for cut in range(len(data), -1, -3):
        os.truncate(path, cut)
        n_complete = sum(1 for e in ends if e <= cut)
        got: list[bytes] = []
        with LogFileReader(path) as r:
            while True:
                spans = r.read_spans(3)
                if spans.stop is not None:
                    break
                got += spans.payloads()
        assert got == payloads[:n_complete], cut
        assert spans.stop.status is ReadStatus.WAIT
        resume = ends[n_complete - 1] if n_complete else 0
        assert (spans.stop.offset, spans.stop.unread) == (resume, cut - resume)


def test_wait_then_appended_bytes_are_read(tmp_path: Path) -> None:
    data = encode_records([b"one", b"two" * 2000, b"three"])
    path = write(tmp_path, data[:20])
    with LogFileReader(path) as r:
        assert r.read().payload == b"one"
        waited = r.read()
        assert waited.status is ReadStatus.WAIT
        assert (waited.offset, waited.unread) == (10, 10)
        with open(path, "ab") as f:
            f.write(data[20:5000])
        again = r.read()
        assert again.status is ReadStatus.WAIT and again.unread == 4990
        with open(path, "ab") as f:
            f.write(data[5000:])
        assert r.read().payload == b"two" * 2000
        assert r.read().payload == b"three"
        assert r.read().status is ReadStatus.WAIT
        assert r.offset == len(data)


def test_resume_from_every_record_boundary(tmp_path: Path) -> None:
    payloads = _mixed_payloads() * 3
    path = write(tmp_path, encode_records(payloads, eof=True))
    results = read_all(path)
    records = [r for r in results if r.status is ReadStatus.RECORD]
    for k, rec in enumerate(records):
        for offset in (rec.offset, rec.end):
            rest = read_all(path, offset=offset)
            expected = payloads[k:] if offset == rec.offset else payloads[k + 1 :]
            assert payloads_of(rest) == expected
            assert rest[-1].status is ReadStatus.EOF
            assert [r.offset for r in rest[:-1]] == [
                r.offset for r in records[len(payloads) - len(expected) :]
            ]


def test_offset_property_is_the_resume_point(tmp_path: Path) -> None:
    path = write(tmp_path, encode_records([b"x" * 100, b"y" * 5000]))
    with LogFileReader(path) as r:
        first = r.read()
        assert r.offset == first.end == 107
        second = r.read()
        assert r.offset == second.end


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        LogFileReader(tmp_path / "nope.log")


# -- reader: EOF -----------------------------------------------------------------------------------


def test_eof_with_torn_bytes_after_it(tmp_path: Path) -> None:
    # Correction 10: a repair EOF is written in place after the last complete record; the torn
    # bytes of the record that was being written remain behind it.
    good = encode_records([b"a" * 50, b"b" * 60])
    torn = encode_records([b"c" * 500])[:200]
    path = write(tmp_path, good + EOF_RECORD + torn[len(EOF_RECORD) :] + b"\x07\x00garbage")
    with LogFileReader(path) as r:
        assert [r.read().payload for _ in range(2)] == [b"a" * 50, b"b" * 60]
        eof = r.read()
        assert (eof.status, eof.offset, eof.end) == (ReadStatus.EOF, len(good), len(good) + 7)
        assert r.read() == eof  # sticky: nothing after an EOF is read
        assert r.offset == len(good)
        assert r.read_spans(10).stop == eof


def test_records_after_an_eof_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, encode_records([b"a"], eof=True) + encode_records([b"b"]))
    results = read_all(path)
    assert payloads_of(results) == [b"a"]
    assert results[-1].status is ReadStatus.EOF


def test_zero_tail_waits_and_a_repair_eof_is_seen(tmp_path: Path) -> None:
    good = encode_records([b"a" * 50, b"b" * 60])
    path = write(tmp_path, good + bytes(40))
    with LogFileReader(path) as r:
        r.read()
        r.read()
        w = r.read()
        assert (w.status, w.offset, w.unread) == (ReadStatus.WAIT, len(good), 40)
        # The restarting tablet writes its EOF over the zeros, in place.
        with open(path, "r+b") as f:
            f.seek(len(good))
            f.write(EOF_RECORD)
        assert r.read().status is ReadStatus.EOF


# -- reader: damage --------------------------------------------------------------------------------


def _damaged(tmp_path: Path, mutate_at: int, new: bytes, payloads: list[bytes]) -> tuple[Path, list[LogRead]]:
    data = bytearray(encode_records(payloads, eof=True))
    clean = read_all(write(tmp_path, bytes(data), "clean.log"))
    data[mutate_at : mutate_at + len(new)] = new
    return write(tmp_path, bytes(data), "bad.log"), clean


PAYLOADS = [bytes([65 + i]) * (20 + i) for i in range(12)]


def test_crc_mismatch_is_bad_at_its_offset(tmp_path: Path) -> None:
    records = [r for r in read_all(write(tmp_path, encode_records(PAYLOADS, eof=True)))]
    victim = records[4]
    path, _ = _damaged(tmp_path, victim.offset + 9, b"\xff", PAYLOADS)
    results = read_all(path)
    bad = [r for r in results if r.status is ReadStatus.BAD]
    assert len(bad) == 1
    assert "CRC" in bad[0].reason
    assert (bad[0].offset, bad[0].end) == (victim.offset, victim.end)
    assert payloads_of(results) == PAYLOADS[:4] + PAYLOADS[5:]
    assert results[-1].status is ReadStatus.EOF
    # Without CRC checks the damaged payload comes back as a record.
    unchecked = payloads_of(read_all(path, verify_crc=False))
    assert len(unchecked) == len(PAYLOADS) and unchecked[4] != PAYLOADS[4]


def test_crc_mismatch_in_bulk_path(tmp_path: Path) -> None:
    records = read_all(write(tmp_path, encode_records(PAYLOADS, eof=True)))
    path, _ = _damaged(tmp_path, records[6].offset + 8, b"\x00", PAYLOADS)
    with LogFileReader(path) as r:
        first = r.read_spans(100)
        assert first.payloads() == PAYLOADS[:6]
        assert first.end == records[6].offset
        bad = r.read_spans(100)
        assert bad.stop is not None and bad.stop.status is ReadStatus.BAD
        assert bad.stop.offset == records[6].offset
        rest = r.read_spans(100)
        assert rest.payloads() == PAYLOADS[7:]
        last = r.read_spans(100).stop
        assert last is not None and last.status is ReadStatus.EOF


@pytest.mark.parametrize(("rtype", "reason"), [(0, "zero record type"), (9, "unknown record type 9")])
def test_zero_and_unknown_types_are_bad(tmp_path: Path, rtype: int, reason: str) -> None:
    for verify in (True, False):
        records = read_all(write(tmp_path, encode_records(PAYLOADS, eof=True)))
        path, _ = _damaged(tmp_path, records[3].offset + 6, bytes([rtype]), PAYLOADS)
        results = read_all(path, verify_crc=verify)
        bad = [r for r in results if r.status is ReadStatus.BAD]
        assert [(b.offset, b.end, b.reason) for b in bad] == [(records[3].offset, records[3].end, reason)]
        assert payloads_of(results) == PAYLOADS[:3] + PAYLOADS[4:]


def test_eof_type_with_payload_is_bad(tmp_path: Path) -> None:
    records = read_all(write(tmp_path, encode_records(PAYLOADS, eof=True)))
    path, _ = _damaged(tmp_path, records[2].offset + 6, b"\x05", PAYLOADS)
    results = read_all(path, verify_crc=False)
    assert [r.offset for r in results if r.status is ReadStatus.BAD] == [records[2].offset]
    assert results[-1].status is ReadStatus.EOF and payloads_of(results) == PAYLOADS[:2] + PAYLOADS[3:]


def test_impossible_length_resyncs_on_the_next_good_record(tmp_path: Path) -> None:
    records = read_all(write(tmp_path, encode_records(PAYLOADS, eof=True)))
    path, _ = _damaged(tmp_path, records[5].offset + 4, b"\xff\x7f", PAYLOADS)
    for verify in (True, False):
        results = read_all(path, verify_crc=verify)
        bad = [r for r in results if r.status is ReadStatus.BAD]
        assert len(bad) == 1 and "does not fit" in bad[0].reason
        assert (bad[0].offset, bad[0].end) == (records[5].offset, records[6].offset)
        assert payloads_of(results) == PAYLOADS[:5] + PAYLOADS[6:]


def test_damaged_first_fragment_is_one_bad_covering_the_record(tmp_path: Path) -> None:
    payloads = [b"a" * 100, b"B" * 9000, b"c" * 100]
    records = read_all(write(tmp_path, encode_records(payloads, eof=True)))
    path, _ = _damaged(tmp_path, records[1].offset + 20, b"\x00\x01", payloads)
    results = read_all(path)
    bad = [r for r in results if r.status is ReadStatus.BAD]
    assert [(b.offset, b.end) for b in bad] == [(records[1].offset, records[1].end)]
    assert payloads_of(results) == [b"a" * 100, b"c" * 100]


def test_damaged_last_fragment_drops_the_whole_record(tmp_path: Path) -> None:
    payloads = [b"a" * 100, b"B" * 9000, b"c" * 100]
    records = read_all(write(tmp_path, encode_records(payloads, eof=True)))
    path, _ = _damaged(tmp_path, records[1].end - 5, b"\x00", payloads)
    results = read_all(path)
    bad = [r for r in results if r.status is ReadStatus.BAD]
    assert len(bad) == 1 and bad[0].offset == records[1].offset and "unfinished record" in bad[0].reason
    assert payloads_of(results) == [b"a" * 100, b"c" * 100]


def test_orphan_fragments_are_one_bad(tmp_path: Path) -> None:
    payloads = [b"a" * 100, b"B" * 9000, b"c" * 100]
    path = write(tmp_path, encode_records(payloads, eof=True))
    records = read_all(path)
    # Start reading in the middle of the fragmented record: MIDDLE and LAST have no FIRST.
    results = read_all(path, offset=4096)
    assert results[0].status is ReadStatus.BAD and "without a FIRST" in results[0].reason
    assert (results[0].offset, results[0].end) == (4096, records[1].end)
    assert payloads_of(results) == [b"c" * 100]


def test_unfinished_fragment_followed_by_full_is_bad_then_the_full_record(tmp_path: Path) -> None:
    first_half = encode_records([b"X" * 5000])[:4096]  # FIRST fragment filling block 0
    data = first_half + encode_records([b"after"])
    results = read_all(write(tmp_path, data))
    assert results[0].status is ReadStatus.BAD and "no LAST" in results[0].reason
    assert (results[0].offset, results[0].end) == (0, 4096)
    assert results[1].payload == b"after" and results[1].offset == 4096


def test_garbage_block_is_skipped_to_the_next_block(tmp_path: Path) -> None:
    rng = random.Random(7)
    data = bytearray(encode_records([b"x" * 3000, b"y" * 3000, b"z" * 10]))
    data[10:4096] = rng.randbytes(4086)  # destroy block 0 after the first header
    results = read_all(write(tmp_path, bytes(data)))
    bad = [r for r in results if r.status is ReadStatus.BAD]
    assert len(bad) == 1 and bad[0].offset == 0
    # The y record's fragments are gone with block 0; its LAST fragment is folded into the BAD.
    assert payloads_of(results) == [b"z" * 10]


# -- property: round trip ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=20_000), max_size=25),
    seed=st.integers(0, 2**32 - 1),
    batch=st.integers(1, 30),
)
def test_round_trip(tmp_path: Path, sizes: list[int], seed: int, batch: int) -> None:
    rng = random.Random(seed)
    payloads = [rng.randbytes(n) for n in sizes]
    path = write(tmp_path, encode_records(payloads, eof=True), f"rt-{seed}.log")
    results = read_all(path)
    assert payloads_of(results) == payloads
    assert results[-1].status is ReadStatus.EOF
    offsets = [r.offset for r in results if r.status is ReadStatus.RECORD]
    got: list[bytes] = []
    got_offsets: list[int] = []
    with LogFileReader(path) as r:
        while True:
            spans = r.read_spans(batch)
            if spans.stop is not None:
                assert spans.stop.status is ReadStatus.EOF
                break
            assert 1 <= len(spans) <= batch
            got += spans.payloads()
            got_offsets += spans.offsets.tolist()
    assert got == payloads
    assert got_offsets == offsets


def test_read_many_stops_at_the_first_non_record(tmp_path: Path) -> None:
    path = write(tmp_path, encode_records([b"a", b"b", b"c"], eof=True))
    with LogFileReader(path) as r:
        first = read_many(r, 2)
        assert [x.payload for x in first] == [b"a", b"b"]
        rest = read_many(r, 10)
        assert [x.status for x in rest] == [ReadStatus.RECORD, ReadStatus.EOF]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), verify=st.booleans(), batch=st.integers(1, 20))
def test_damage_bulk_path_agrees_and_nothing_is_lost_silently(
    tmp_path: Path, seed: int, verify: bool, batch: int
) -> None:
    rng = random.Random(seed)
    sizes = [
        rng.choice([0, 1, 60, 4082, 4089, 5000, 9000, rng.randint(0, 400)]) for _ in range(rng.randint(1, 40))
    ]
    payloads = [rng.randbytes(n) for n in sizes]
    clean = encode_records(payloads, eof=True)
    records = [r for r in read_all(write(tmp_path, clean, f"c{seed}.log")) if r.status is ReadStatus.RECORD]
    data = bytearray(clean)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    path = write(tmp_path, bytes(data), f"d{seed}.log")
    per_record = outcome_tuples(path, spans=False, verify=verify)
    assert outcome_tuples(path, spans=True, verify=verify, batch=batch) == [
        (s, p, o, u) for s, p, o, u in per_record
    ]
    if verify:
        results = read_all(path)
        bad = [(r.offset, r.end) for r in results if r.status is ReadStatus.BAD]
        got = {r.offset: r.payload for r in results if r.status is ReadStatus.RECORD}
        stop = results[-1]
        for rec in records:
            returned = got.get(rec.offset) == rec.payload
            in_bad = any(lo < rec.end and rec.offset < hi for lo, hi in bad)
            after_stop = rec.offset >= stop.offset
            assert returned or in_bad or after_stop, (rec.offset, bad, stop)
        offsets = [r.offset for r in results]
        assert offsets == sorted(offsets)
