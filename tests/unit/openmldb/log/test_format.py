"""The uncompressed log framing as written: golden bytes (Appendix B), CRCs, block boundaries."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest
from helpers.logs import header, payloads_of, read_all, write
from hypothesis import given
from hypothesis import strategies as st

from omsync_tui.openmldb.log.format import (
    BLOCK_SIZE,
    EOF_RECORD,
    LogWriter,
    RecordType,
    crc32c,
    encode_records,
    mask_crc,
    unmask_crc,
)
from omsync_tui.openmldb.proto import tablet_pb2

# §4.6's 27-byte row and Appendix B's LogEntry around it.
ROW_46 = bytes.fromhex("01011b000000e80700000000" + "68e5cf8b01000005027c00191b6162")
ENTRY_47 = bytes.fromhex(
    "0801100122" + "1b" + ROW_46.hex() + "2880d095ffbc3132050a016b1000",
)


def ref_crc32c(data: bytes) -> int:
    """Bit-at-a-time CRC-32C, independent of the crc32c package."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


# -- golden bytes (Appendix B) ----------------------------------------------------------------------


def test_crc32c_check_value_and_chaining() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert ref_crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"56789", crc32c(b"1234")) == 0xE3069283


@given(st.binary(max_size=300))
def test_crc32c_matches_reference(data: bytes) -> None:
    assert crc32c(data) == ref_crc32c(data)
    assert unmask_crc(mask_crc(crc32c(data))) == crc32c(data)


def test_mask_of_eof_type_byte() -> None:
    assert mask_crc(crc32c(b"\x05")) == 0x311DB9F0
    assert bytes.fromhex("f0b91d31000005") == EOF_RECORD


def test_writer_eof_record_bytes() -> None:
    buf = io.BytesIO()
    LogWriter(buf).add_eof()
    assert buf.getvalue() == bytes.fromhex("f0 b9 1d 31 00 00 05")


def test_appendix_b_entry_serializes_to_47_bytes() -> None:
    entry = tablet_pb2.LogEntry(term=1, log_index=1, value=ROW_46, ts=1700000000000)
    dim = entry.dimensions.add()
    dim.key = "k"
    dim.idx = 0
    assert entry.SerializeToString() == ENTRY_47
    assert len(ENTRY_47) == 47


def test_appendix_b_record_header() -> None:
    data = encode_records([ENTRY_47])
    assert data[:7] == bytes.fromhex("07 ac 0f 6e 2f 00 01")
    assert data[7:] == ENTRY_47


def test_tablet_written_put_carries_empty_pk() -> None:
    # Correction 5: the tablet sets pk "", which adds "1a 00" and makes the entry 49 bytes.
    entry = tablet_pb2.LogEntry(term=1, log_index=1, pk="", value=ROW_46, ts=1700000000000)
    dim = entry.dimensions.add()
    dim.key = "k"
    dim.idx = 0
    entry_49 = entry.SerializeToString()
    assert entry_49 == ENTRY_47[:4] + b"\x1a\x00" + ENTRY_47[4:]
    data = encode_records([entry_49])
    crc = mask_crc(ref_crc32c(b"\x01" + entry_49))
    assert data[:7] == struct.pack("<IHB", crc, 49, 1) == bytes.fromhex("f3 75 c7 33 31 00 01")
    assert tablet_pb2.LogEntry.FromString(data[7:]) == entry


# -- writer: block boundaries ---------------------------------------------------------------------


def test_exactly_seven_bytes_left_gives_zero_length_first(tmp_path: Path) -> None:
    # 7 + 4082 = 4089 bytes used: exactly one header's worth (7) is left in the block.
    data = encode_records([b"a" * 4082, b"b" * 10])
    assert header(data, 4089)[1:] == (0, RecordType.FIRST)
    assert header(data, 4096)[1:] == (10, RecordType.LAST)
    assert len(data) == 4096 + 7 + 10
    results = read_all(write(tmp_path, data))
    assert payloads_of(results) == [b"a" * 4082, b"b" * 10]
    assert (results[1].offset, results[1].end) == (4089, 4096 + 17)


def test_fewer_than_seven_bytes_left_are_zero_filled(tmp_path: Path) -> None:
    data = encode_records([b"a" * 4083, b"b" * 10])  # 4090 used, 6 left
    assert data[4090:4096] == bytes(6)
    assert header(data, 4096)[1:] == (10, RecordType.FULL)
    results = read_all(write(tmp_path, data))
    assert payloads_of(results) == [b"a" * 4083, b"b" * 10]
    assert results[1].offset == 4096


def test_eof_after_fewer_than_seven_bytes_goes_to_next_block() -> None:
    buf = io.BytesIO()
    w = LogWriter(buf)
    w.add_record(b"a" * 4084)  # 4091 used, 5 left
    w.add_eof()
    assert buf.getvalue()[4091:] == bytes(5) + EOF_RECORD


def test_record_spanning_three_blocks(tmp_path: Path) -> None:
    payload = bytes(random.Random(1).randbytes(10_000))
    data = encode_records([payload, b"next"])
    assert header(data, 0)[1:] == (4089, RecordType.FIRST)
    assert header(data, 4096)[1:] == (4089, RecordType.MIDDLE)
    assert header(data, 8192)[1:] == (10_000 - 2 * 4089, RecordType.LAST)
    results = read_all(write(tmp_path, data))
    assert payloads_of(results) == [payload, b"next"]
    assert (results[0].offset, results[0].end) == (0, 8192 + 7 + 1822)


def test_empty_payload_is_one_full_record() -> None:
    data = encode_records([b""])
    assert data == struct.pack("<IHB", mask_crc(crc32c(b"\x01")), 0, 1)


def test_appending_writer_resumes_at_file_size(tmp_path: Path) -> None:
    sizes = [100, 4000, 3, 9000, 50]
    payloads = [bytes([i]) * n for i, n in enumerate(sizes)]
    path = tmp_path / "a.log"
    for p in payloads:
        with open(path, "ab") as f:
            w = LogWriter(f)
            w.add_record(p)
            w.flush()
    assert path.read_bytes() == encode_records(payloads)


def test_explicit_block_offset() -> None:
    buf = io.BytesIO()
    w = LogWriter(buf, block_offset=4090)
    assert w.add_record(b"xy") == 6 + 7 + 2
    assert buf.getvalue()[:6] == bytes(6)
    with pytest.raises(ValueError):
        LogWriter(io.BytesIO(), block_offset=BLOCK_SIZE)
