"""The damage rule for one physical record (``judge_physical``), which every reader asks."""

from __future__ import annotations

import struct

import pytest

from omsync_tui.openmldb.log.assembler import PhysKind, judge_physical
from omsync_tui.openmldb.log.format import (
    BLOCK_SIZE,
    EOF_RECORD,
    HEADER,
    HEADER_SIZE,
    RecordType,
    crc32c,
    encode_records,
    mask_crc,
)

RECORD = encode_records([b"payload"])  # one FULL record: 7 + 7 bytes


def with_type(data: bytes, rtype: int) -> bytes:
    return data[:6] + bytes([rtype]) + data[7:]


def judge(buf: bytes, i: int = 0, limit: int | None = None, *, verify: bool = True) -> tuple[object, ...]:
    return judge_physical(buf, i, len(buf) if limit is None else limit, BLOCK_SIZE, verify=verify)


def test_an_intact_record_is_ok_with_its_end_and_type() -> None:
    assert judge(RECORD) == (PhysKind.OK, len(RECORD), RecordType.FULL, "")


def test_the_bytes_after_the_last_header_of_a_block_are_a_trailer_once_the_block_is_there() -> None:
    buf = bytes(BLOCK_SIZE)
    i = BLOCK_SIZE - HEADER_SIZE + 1
    assert judge(buf, i)[0] is PhysKind.TRAILER
    assert judge(buf, i, limit=BLOCK_SIZE - 1)[0] is PhysKind.WAIT


@pytest.mark.parametrize("cut", [0, 3, HEADER_SIZE - 1, HEADER_SIZE, len(RECORD) - 1])
def test_a_record_cut_short_waits(cut: int) -> None:
    assert judge(RECORD, limit=cut)[0] is PhysKind.WAIT


def test_a_record_cut_short_waits_whatever_its_type_says() -> None:
    # A torn tail is judged once it is complete: its type byte may be half-written garbage.
    assert judge(with_type(RECORD, 0), limit=len(RECORD) - 1)[0] is PhysKind.WAIT
    assert judge(with_type(RECORD, 0))[:2] == (PhysKind.BAD, len(RECORD))


def test_a_length_that_cannot_fit_its_block_is_damage_at_once_with_no_end() -> None:
    buf = HEADER.pack(0, BLOCK_SIZE, RecordType.FULL)
    kind, end, _, reason = judge(buf)
    assert (kind, end) == (PhysKind.BAD, -1)
    assert (
        reason == f"length {BLOCK_SIZE} does not fit the {BLOCK_SIZE - HEADER_SIZE} bytes left in its block"
    )


@pytest.mark.parametrize(
    ("rtype", "reason"),
    [(0, "zero record type"), (6, "unknown record type 6"), (255, "unknown record type 255")],
)
def test_zero_and_unknown_types_are_damage(rtype: int, reason: str) -> None:
    for verify in (True, False):
        assert judge(with_type(RECORD, rtype), verify=verify) == (PhysKind.BAD, len(RECORD), rtype, reason)


def test_a_crc_mismatch_is_damage_only_when_crcs_are_checked() -> None:
    bad = RECORD[:-1] + b"X"
    assert judge(bad) == (PhysKind.BAD, len(RECORD), RecordType.FULL, "CRC mismatch in a FULL record")
    assert judge(bad, verify=False)[0] is PhysKind.OK


def test_an_eof_record_has_no_payload() -> None:
    assert judge(EOF_RECORD) == (PhysKind.OK, HEADER_SIZE, RecordType.EOF, "")
    payload = b"x"
    crc = mask_crc(crc32c(bytes([RecordType.EOF]) + payload))
    assert judge(HEADER.pack(crc, 1, RecordType.EOF) + payload)[::3] == (
        PhysKind.BAD,
        "EOF record with a 1-byte payload",
    )


def test_the_compressed_framings_nine_byte_header_is_judged_the_same_way() -> None:
    header = struct.Struct("<IIB")
    payload = b"abc"
    crc = mask_crc(crc32c(bytes([RecordType.FULL]) + payload))
    buf = header.pack(crc, len(payload), RecordType.FULL) + payload
    assert judge_physical(buf, 0, len(buf), 1 << 20, header, verify=True) == (
        PhysKind.OK,
        len(buf),
        RecordType.FULL,
        "",
    )
    assert judge_physical(buf, 0, len(buf) - 1, 1 << 20, header, verify=True)[0] is PhysKind.WAIT
