"""Compressed snapshot framing: block layout, whole-block writes, damage, round trips."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import cramjam
import pytest
from helpers.logs import outcomes, payloads_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omsync_tui.core.errors import UsageError
from omsync_tui.openmldb.log.compressed import (
    BLOCK_HEADER_SIZE,
    COMPRESS_BLOCK_SIZE,
    COMPRESSED_HEADER_SIZE,
    CompressedLogReader,
    CompressedLogWriter,
    compress_block,
)
from omsync_tui.openmldb.log.format import LogRead, ReadStatus, crc32c, mask_crc

MiB = COMPRESS_BLOCK_SIZE


def write(path: Path, payloads: list[bytes], compression: str, *, eof: bool = True) -> bytes:
    buf = io.BytesIO()
    w = CompressedLogWriter(buf, compression)
    for p in payloads:
        w.add_record(p)
    if eof:
        w.add_eof()
    w.close()
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def read_all(path: Path, **kw: bool) -> list[LogRead]:
    with CompressedLogReader(path, **kw) as r:
        return outcomes(r)


def blocks(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(file offset, compressed length, compress type, decompressed block) of each stored block."""
    out = []
    pos = 0
    while pos < len(data):
        clen, ctype = struct.unpack_from("<iB", data, pos)
        assert data[pos + 5 : pos + BLOCK_HEADER_SIZE] == bytes(59)
        raw = data[pos + BLOCK_HEADER_SIZE : pos + BLOCK_HEADER_SIZE + clen]
        block = zlib.decompress(raw) if ctype == 1 else bytes(cramjam.snappy.decompress_raw(raw))
        out.append((pos, clen, ctype, block))
        pos += BLOCK_HEADER_SIZE + clen
    return out


def phys(block: bytes, off: int) -> tuple[int, int, int]:
    crc, n, t = struct.unpack_from("<IIB", block, off)
    return crc, n, t


def stored(block: bytes, compression: str) -> bytes:
    return compress_block(block, compression)


@pytest.mark.parametrize(("compression", "ctype"), [("zlib", 1), ("snappy", 2)])
def test_block_layout(tmp_path: Path, compression: str, ctype: int) -> None:
    data = write(tmp_path / "s", [b"hello"], compression)
    [(offset, clen, got_type, block)] = blocks(data)
    assert (offset, got_type, len(block)) == (0, ctype, MiB)
    assert len(data) == BLOCK_HEADER_SIZE + clen
    if compression == "zlib":
        assert data[BLOCK_HEADER_SIZE:] == zlib.compress(block)  # zlib compress(), with header
    assert phys(block, 0) == (mask_crc(crc32c(b"\x01hello")), 5, 1)
    assert block[9:14] == b"hello"
    assert block[14:23] == bytes.fromhex("f0b91d31 00000000 05")  # EOF with a 4-byte length
    assert block[23:] == bytes(MiB - 23)


def test_only_whole_blocks_are_written(tmp_path: Path) -> None:
    data = write(tmp_path / "s", [b"x" * 1000] * 10, "zlib", eof=False)
    assert data == b""
    results = read_all(tmp_path / "s")
    assert [(r.status, r.unread) for r in results] == [(ReadStatus.WAIT, 0)]


def test_unclosed_file_lacks_its_partial_block(tmp_path: Path) -> None:
    payloads = [bytes([i]) * 100_000 for i in range(15)]  # ~1.43 MiB: one full block and a partial one
    data = write(tmp_path / "s", payloads, "snappy", eof=False)
    assert len(blocks(data)) == 1
    results = read_all(tmp_path / "s")
    # Records wholly inside block 0 come back; the one spanning into the missing block waits.
    assert payloads_of(results) == payloads[:10]
    # The unfinished record starts in block 0 (file offset 0); no bytes of a later block exist.
    assert (results[-1].status, results[-1].offset, results[-1].unread) == (ReadStatus.WAIT, 0, 0)


def test_exactly_nine_bytes_left_gives_zero_length_first() -> None:
    first = MiB - 9 - 9  # FULL record that leaves exactly one header's worth
    data = io.BytesIO()
    w = CompressedLogWriter(data, "zlib")
    w.add_record(b"a" * first)
    w.add_record(b"b" * 10)
    w.add_eof()
    (_, _, _, b0), (_, _, _, b1) = blocks(data.getvalue())
    assert phys(b0, MiB - 9)[1:] == (0, 2)
    assert phys(b1, 0)[1:] == (10, 4)


def test_fewer_than_nine_bytes_left_are_skipped_unchecked(tmp_path: Path) -> None:
    # Correction 7: OpenMLDB's trailer comes from an uninitialised buffer; build one with garbage.
    block = bytearray(MiB)
    pos = 0
    records = [b"r" * (MiB - 9 - 4)]  # leaves 4 trailer bytes
    for p in records:
        struct.pack_into("<IIB", block, pos, mask_crc(crc32c(b"\x01" + p)), len(p), 1)
        block[pos + 9 : pos + 9 + len(p)] = p
        pos += 9 + len(p)
    block[pos:] = b"\xde\xad\xbe\xef"
    block2 = bytearray(MiB)
    struct.pack_into("<IIB", block2, 0, mask_crc(crc32c(b"\x01tail")), 4, 1)
    block2[9:13] = b"tail"
    struct.pack_into("<IIB", block2, 13, mask_crc(crc32c(b"\x05")), 0, 5)
    (tmp_path / "s").write_bytes(stored(bytes(block), "zlib") + stored(bytes(block2), "snappy"))
    results = read_all(tmp_path / "s")
    assert payloads_of(results) == [*records, b"tail"]
    assert results[-1].status is ReadStatus.EOF


def test_offsets_are_block_file_offsets(tmp_path: Path) -> None:
    payloads = [bytes([i]) * 300_000 for i in range(5)]
    data = write(tmp_path / "s", payloads, "zlib")
    starts = [b[0] for b in blocks(data)]
    results = read_all(tmp_path / "s")
    recs = [r for r in results if r.status is ReadStatus.RECORD]
    # Record i starts at decompressed offset i * 300009 → block (i * 300009) // MiB.
    assert [r.offset for r in recs] == [starts[(i * 300_009) // MiB] for i in range(5)]
    assert results[-1].status is ReadStatus.EOF and results[-1].offset == starts[-1]


def test_torn_last_block_waits_with_its_bytes_unread(tmp_path: Path) -> None:
    payloads = [bytes([i]) * 400_000 for i in range(4)]
    data = write(tmp_path / "s", payloads, "zlib")
    starts = [b[0] for b in blocks(data)]
    (tmp_path / "t").write_bytes(data[: starts[1] + 100])
    results = read_all(tmp_path / "t")
    assert payloads_of(results) == payloads[:2]
    assert (results[-1].status, results[-1].unread) == (ReadStatus.WAIT, 100)


def test_bad_block_header_stops_reading(tmp_path: Path) -> None:
    payloads = [bytes([i]) * 400_000 for i in range(6)]
    data = bytearray(write(tmp_path / "s", payloads, "snappy"))
    starts = [b[0] for b in blocks(bytes(data))]
    data[starts[1] + 4] = 7  # compress type 7
    (tmp_path / "b").write_bytes(bytes(data))
    results = read_all(tmp_path / "b")
    bad = [r for r in results if r.status is ReadStatus.BAD]
    assert len(bad) == 1 and "bad compressed block header" in bad[0].reason
    # Only the records wholly in block 0 survive; the next block cannot be located.
    assert payloads_of(results) == payloads[:2]
    assert results[-1].status is ReadStatus.WAIT


@pytest.mark.parametrize("compression", ["zlib", "snappy"])
def test_block_of_wrong_size_is_bad_and_reading_resumes(tmp_path: Path, compression: str) -> None:
    raw = (
        zlib.compress(bytes(1000))
        if compression == "zlib"
        else bytes(cramjam.snappy.compress_raw(bytes(1000)))
    )
    short = struct.pack("<iB59x", len(raw), 1 if compression == "zlib" else 2) + raw
    good = bytearray(MiB)
    struct.pack_into("<IIB", good, 0, mask_crc(crc32c(b"\x01ok")), 2, 1)
    good[9:11] = b"ok"
    struct.pack_into("<IIB", good, 11, mask_crc(crc32c(b"\x05")), 0, 5)
    (tmp_path / "s").write_bytes(short + compress_block(bytes(good), compression))
    results = read_all(tmp_path / "s")
    assert results[0].status is ReadStatus.BAD and "1048576" in results[0].reason
    assert results[0].offset == 0
    assert payloads_of(results) == [b"ok"]
    assert results[-1].status is ReadStatus.EOF


def test_undecompressable_block_is_bad(tmp_path: Path) -> None:
    # Records of 400,009 bytes: 0-1 in block 0, 2 spans blocks 0-1, 3-4 in block 1, 5 spans 1-2.
    payloads = [bytes([i]) * 400_000 for i in range(7)]
    data = bytearray(write(tmp_path / "s", payloads, "zlib"))
    bl = blocks(bytes(data))
    data[bl[1][0] + BLOCK_HEADER_SIZE + 10 : bl[1][0] + BLOCK_HEADER_SIZE + 20] = bytes(10)
    (tmp_path / "b").write_bytes(bytes(data))
    results = read_all(tmp_path / "b")
    bad = [r for r in results if r.status is ReadStatus.BAD]
    # One BAD from the block where the broken record 2 began up to the block where reading resumes
    # (record 5's orphan tail in block 2 is folded into it).
    assert [(b.offset, b.end) for b in bad] == [(bl[0][0], bl[2][0])]
    assert "does not decompress" in bad[0].reason
    assert payloads_of(results) == [*payloads[:2], payloads[6]]
    assert results[-1].status is ReadStatus.EOF


def test_crc_mismatch_inside_a_block(tmp_path: Path) -> None:
    payloads = [bytes([65 + i]) * 50 for i in range(10)]
    data = write(tmp_path / "s", payloads, "zlib")
    [(_, _, _, block)] = blocks(data)
    damaged = bytearray(block)
    damaged[3 * 59 + 9 + 5] ^= 0xFF  # inside record 3's payload
    (tmp_path / "b").write_bytes(compress_block(bytes(damaged), "zlib"))
    results = read_all(tmp_path / "b")
    assert [r.reason for r in results if r.status is ReadStatus.BAD] == ["CRC mismatch in a FULL record"]
    assert payloads_of(results) == payloads[:3] + payloads[4:]
    assert len(payloads_of(read_all(tmp_path / "b", verify_crc=False))) == 10


def test_unknown_compression_is_rejected() -> None:
    with pytest.raises(UsageError):
        CompressedLogWriter(io.BytesIO(), "lz4")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=20_000), max_size=60),
    big=st.lists(st.integers(min_value=20_000, max_value=600_000), max_size=3),
    compression=st.sampled_from(["zlib", "snappy"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_round_trip(tmp_path: Path, sizes: list[int], big: list[int], compression: str, seed: int) -> None:
    rng = random.Random(seed)
    all_sizes = sizes + big
    rng.shuffle(all_sizes)
    payloads = [rng.randbytes(n) for n in all_sizes]
    path = tmp_path / f"rt-{seed}.sdb.{compression}"
    write(path, payloads, compression)
    results = read_all(path)
    assert payloads_of(results) == payloads
    assert results[-1].status is ReadStatus.EOF
    total = sum(COMPRESSED_HEADER_SIZE + n for n in all_sizes) + COMPRESSED_HEADER_SIZE
    assert len(blocks(path.read_bytes())) >= total / MiB
