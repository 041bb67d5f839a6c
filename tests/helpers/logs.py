"""Reading a log file record by record, for tests that compare outcomes one by one."""

from __future__ import annotations

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
