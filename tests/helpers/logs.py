"""Writing a log file and reading it record by record, for tests that compare outcomes one by one."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from omsync_tui.openmldb.log.format import LogRead, ReadStatus
from omsync_tui.openmldb.log.reader import LogFileReader


def read_many(reader: LogFileReader, max_records: int) -> list[LogRead]:
    """Up to ``max_records`` outcomes of ``reader.read()``; a non-RECORD outcome ends the list (and
    is included)."""
    out: list[LogRead] = []
    while len(out) < max_records:
        r = reader.read()
        out.append(r)
        if r.status is not ReadStatus.RECORD:
            break
    return out


def write(tmp_path: Path, data: bytes, name: str = "00000000.log") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def outcomes(reader: Any) -> list[LogRead]:
    """Every outcome of ``reader.read()`` (a log file's or a compressed snapshot's reader) up to
    and including the first EOF or WAIT."""
    out = []
    for _ in range(100_000):
        res = reader.read()
        out.append(res)
        if res.status in (ReadStatus.EOF, ReadStatus.WAIT):
            return out
    raise AssertionError("reader did not stop")


def read_all(path: Path, *, offset: int = 0, verify_crc: bool = True) -> list[LogRead]:
    """``outcomes`` of a LogFileReader over ``path``."""
    with LogFileReader(path, offset=offset, verify_crc=verify_crc) as r:
        return outcomes(r)


def payloads_of(results: list[LogRead]) -> list[bytes]:
    return [r.payload for r in results if r.status is ReadStatus.RECORD and r.payload is not None]


def header(data: bytes, pos: int) -> tuple[int, int, int]:
    crc, n, t = struct.unpack_from("<IHB", data, pos)
    return crc, n, t


def outcome_tuples(
    path: Path, *, spans: bool, verify: bool, batch: int = 1, read_size: int = 4 << 20
) -> list[Any]:
    """(status, payload, offset, unread) of every outcome up to EOF/WAIT, per record or as spans."""
    out: list[Any] = []
    with LogFileReader(path, verify_crc=verify, read_size=read_size) as r:
        for _ in range(100_000):
            if spans:
                got = r.read_spans(batch)
                if got.stop is None:
                    assert 1 <= len(got) <= batch
                    out += [
                        (ReadStatus.RECORD, p, o, 0)
                        for p, o in zip(got.payloads(), got.offsets.tolist(), strict=True)
                    ]
                    continue
                res = got.stop
            else:
                res = r.read()
            out.append((res.status, res.payload, res.offset, res.unread))
            if res.status in (ReadStatus.EOF, ReadStatus.WAIT):
                return out
    raise AssertionError("reader did not stop")
