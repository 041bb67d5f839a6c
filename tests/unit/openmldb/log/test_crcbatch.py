"""``crcbatch``: all of a buffer's record CRCs checked in one call, against one call per record.

Records come from ``encode_records`` (what ``LogWriter`` writes), so the layout has every case
the reader meets: FULL records packed back to back, block trailers, records fragmented over
blocks. A flipped bit in any record's data or stored CRC must be found and pinned on its record;
bytes outside the CRC (length fields, trailers) must not matter.
"""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from omsync_tui.openmldb.log.crcbatch import Scratch, first_bad_crc, zero_crcs
from omsync_tui.openmldb.log.format import BLOCK_SIZE, HEADER_SIZE, RecordType, crc32c, encode_records


def physical(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(header, payload end, logical record) of every physical record, walked one by one."""
    heads, ends, recs = [], [], []
    pos, rec = 0, 0
    while pos + HEADER_SIZE <= len(data):
        if BLOCK_SIZE - pos % BLOCK_SIZE < HEADER_SIZE:
            pos += BLOCK_SIZE - pos % BLOCK_SIZE  # trailer
            continue
        _, n, t = struct.unpack_from("<IHB", data, pos)
        heads.append(pos)
        ends.append(pos + HEADER_SIZE + n)
        recs.append(rec)
        if t in (RecordType.FULL, RecordType.LAST):
            rec += 1
        pos += HEADER_SIZE + n
    return np.array(heads, dtype=np.int64), np.array(ends, dtype=np.int64), np.array(recs, dtype=np.int64)


def check(
    data: bytes | bytearray, kept: int | None = None, phys: tuple[np.ndarray, ...] | None = None
) -> int:
    """``first_bad_crc`` over ``data``'s physical records (walked from ``data`` unless given)."""
    buf = bytearray(data) + bytearray(8)  # the reader's buffers always have room past the last record
    heads, ends, recs = physical(bytes(data)) if phys is None else phys
    u32 = np.ndarray(shape=(len(buf) - 3,), dtype="<u4", buffer=buf, strides=(1,))
    try:
        return first_bad_crc(
            buf, u32, (heads, ends, recs), int(recs.max()) + 1 if kept is None else kept, Scratch()
        )
    finally:
        del u32


@pytest.fixture
def records() -> tuple[bytes, list[int]]:
    rng = random.Random(7)
    sizes = [rng.choice([0, 1, 5, 60, 120, 400, 4089, 9000, 40_000]) for _ in range(200)]
    return encode_records([rng.randbytes(n) for n in sizes]), sizes


def test_zero_table_is_the_crc_of_zero_bytes() -> None:
    table = zero_crcs()
    assert len(table) == BLOCK_SIZE + 1
    for n in (0, 1, 2, 7, 100, 4096, BLOCK_SIZE):
        assert int(table[n]) == crc32c(bytes(n))


def test_intact_records_pass(records: tuple[bytes, list[int]]) -> None:
    data, sizes = records
    assert check(data) == len(sizes)


def test_each_flipped_bit_is_pinned_on_its_record(records: tuple[bytes, list[int]]) -> None:
    data, _ = records
    heads, ends, recs = physical(data)
    rng = random.Random(11)
    for k in rng.sample(range(len(heads)), 60):
        # a byte of the stored CRC, the type byte, or a payload byte
        at = rng.choice(
            [
                int(heads[k]) + rng.randrange(4),
                int(heads[k]) + 6,
                rng.randrange(int(heads[k]) + 6, int(ends[k])),
            ]
        )
        bad = bytearray(data)
        bad[at] ^= 1 << rng.randrange(8)
        assert check(bad) == recs[k], f"flip at {at} (physical record {k})"


def test_the_first_of_several_bad_records_is_reported(records: tuple[bytes, list[int]]) -> None:
    data, _ = records
    heads, _, recs = physical(data)
    bad = bytearray(data)
    for k in (150, 40, 90):
        bad[int(heads[k]) + 6] ^= 0x10
    assert check(bad) == min(recs[150], recs[40], recs[90])


def test_records_after_kept_are_not_checked(records: tuple[bytes, list[int]]) -> None:
    data, _ = records
    heads, _, recs = physical(data)
    bad = bytearray(data)
    bad[int(heads[100]) + 6] ^= 1
    assert check(bad, kept=int(recs[100])) == recs[100]  # record 100 itself is beyond kept
    assert check(bad, kept=int(recs[100]) + 1) == recs[100]


def test_bytes_outside_the_crc_do_not_matter(records: tuple[bytes, list[int]]) -> None:
    data, sizes = records
    phys = physical(data)
    heads, ends, _ = phys
    noisy = bytearray(data)
    for h in heads.tolist()[1:]:
        noisy[h + 4] ^= 0xFF  # length field: not covered by the CRC
    # trailers: the bytes at a block's end too short for a header
    trailers = [(e, -e % BLOCK_SIZE) for e in ends.tolist() if 0 < -e % BLOCK_SIZE < HEADER_SIZE]
    assert trailers
    for e, n in trailers:
        noisy[e : e + n] = b"\xab" * n
    assert check(noisy, phys=phys) == len(sizes)
