"""Reading a destination back: its committed files, leftover temporaries, and the audit of
``omsync task verify`` (DESIGN §3). The layout and the writing side are in ``sink``."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from omsync_tui.core.states import Format
from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.services.sinks.destination import (
    OMSYNC_DIR,
    TMP_PREFIX,
    Destination,
    DestinationError,
    cause_of,
    entries,
    pid_dirs,
    translated,
)
from omsync_tui.services.sinks.iceberg.writer import table_of
from omsync_tui.services.sinks.writer import FileRange, parse_file_name

log = logging.getLogger("omsync.synctool.sink")  # one logger for the destination, both halves


@dataclass(frozen=True)
class _Found:
    range: FileRange
    declared_rows: int | None  # the footer's omsync.rows (Parquet only)
    error: str | None = None  # the footer could not be read


def list_files(dest: Destination, pid: int) -> list[FileRange]:
    """Committed files of one partition, sorted by ``first``; rows from Parquet footers / CSV lines.
    An Iceberg table's: one per append commit, from its snapshots."""
    if dest.iceberg is not None:
        return table_of(dest).ranges(pid)
    found = _scan(dest, pid)
    for f in found:
        if f.error is not None:
            raise DestinationError(
                f"{dest.display}: cannot read committed file {f.range.path}: {f.error}",
                hint="move the damaged file aside, then re-sync its range (`omsync task verify` shows it)",
            )
    return [f.range for f in found]


def list_pids(dest: Destination) -> list[int]:
    if dest.iceberg is not None:
        return sorted({r.pid for r in table_of(dest).ranges()})
    return sorted(pid_dirs(dest, dest.root))


def remove_temporaries(dest: Destination, pid: int | None = None) -> int:
    """Delete ``_tmp-*`` files a crash left behind (all partitions when pid is None); their count.
    An Iceberg table's are in its ``data/`` directory and, for forwarded deletes, its ``_omsync/``."""
    if dest.iceberg is not None:
        plain = dataclasses.replace(dest, iceberg=None)
        data = dataclasses.replace(plain, root=dest.path("data"))
        return remove_temporaries(data, pid) + remove_temporaries(plain, pid)
    deletes = dest.path(OMSYNC_DIR, "deletes")
    pids = [pid] if pid is not None else sorted(set(list_pids(dest)) | pid_dirs(dest, deletes))
    dirs = [d for p in pids for d in (dest.path(f"pid={p}"), f"{deletes}/pid={p}")]
    if pid is None:
        dirs.append(dest.path(OMSYNC_DIR))
    removed = 0
    with translated(dest, "cannot remove temporary files from"):
        for d in dirs:
            for info in entries(dest, d):
                if info.is_file and info.base_name.startswith(TMP_PREFIX):
                    dest.fs.delete_file(info.path)
                    log.info("%s: removed the leftover temporary %s", dest.display, info.path)
                    removed += 1
    return removed


@dataclass(frozen=True)
class PartitionAudit:
    pid: int
    files: int
    rows: int
    first: SyncPoint | None
    next: SyncPoint | None
    gaps: list[tuple[SyncPoint, SyncPoint]]
    overlaps: list[tuple[FileRange, FileRange]]
    bad_rows: list[tuple[FileRange, int]]  # (file, its real row count; -1: footer unreadable)
    expected_rows: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        rows_ok = self.expected_rows is None or self.rows == self.expected_rows
        return rows_ok and not (self.gaps or self.overlaps or self.bad_rows or self.errors)


def audit(
    dest: Destination, pid: int, *, expect_first: SyncPoint | None = None, expect_rows: int | None = None
) -> PartitionAudit:
    """Check one partition: ranges contiguous and disjoint, footers' row counts true, totals expected.
    An Iceberg table's ranges are its commits; its rows those of the data files it holds now."""
    if dest.iceberg is not None:
        return _audit_iceberg(dest, pid, expect_first, expect_rows)
    found = _scan(dest, pid)
    bad: list[tuple[FileRange, int]] = []
    errors = [f"{f.range.path}: {f.error}" for f in found if f.error is not None]
    for f in found:
        if f.error is not None:
            bad.append((f.range, -1))
        elif f.declared_rows is not None and f.declared_rows != f.range.rows:
            bad.append((f.range, f.range.rows))
    gaps, overlaps = _gaps_and_overlaps([f.range for f in found], expect_first)
    last = max((f.range.next for f in found), key=SyncPoint.key, default=None)
    return PartitionAudit(
        pid=pid,
        files=len(found),
        rows=sum(f.range.rows for f in found if f.error is None),
        first=found[0].range.first if found else None,
        next=last,
        gaps=gaps,
        overlaps=overlaps,
        bad_rows=bad,
        expected_rows=expect_rows,
        errors=errors,
    )


def _audit_iceberg(
    dest: Destination, pid: int, expect_first: SyncPoint | None, expect_rows: int | None
) -> PartitionAudit:
    table = table_of(dest)
    ranges = table.ranges(pid)
    gaps, overlaps = _gaps_and_overlaps(ranges, expect_first)
    loaded = table.load()
    held = table.pid_files(loaded, pid) if loaded is not None else None
    # the rows its commits recorded: kept in a table property (snapshots expire), else summed
    recorded = table.recorded_rows(loaded, pid) if loaded is not None else None
    if recorded is None:
        recorded = sum(r.rows for r in ranges)
    errors = []
    if held is not None and held.rows != recorded:
        errors.append(f"the data files of pid {pid} hold {held.rows} rows, its commits recorded {recorded}")
    return PartitionAudit(
        pid=pid,
        files=held.files if held is not None else 0,
        rows=held.rows if held is not None else 0,
        first=ranges[0].first if ranges else None,
        next=max((r.next for r in ranges), key=SyncPoint.key, default=None),
        gaps=gaps,
        overlaps=overlaps,
        bad_rows=[],
        expected_rows=expect_rows,
        errors=errors,
    )


def _gaps_and_overlaps(
    ranges: list[FileRange], expect_first: SyncPoint | None
) -> tuple[list[tuple[SyncPoint, SyncPoint]], list[tuple[FileRange, FileRange]]]:
    gaps: list[tuple[SyncPoint, SyncPoint]] = []
    overlaps: list[tuple[FileRange, FileRange]] = []
    if expect_first is not None and ranges and ranges[0].first.key() > expect_first.key():
        gaps.append((expect_first, ranges[0].first))
    reach: FileRange | None = None  # the range reaching furthest so far
    for r in ranges:
        if reach is not None and r.first.key() > reach.next.key():
            gaps.append((reach.next, r.first))
        elif reach is not None and r.first.key() < reach.next.key():
            overlaps.append((reach, r))
        if reach is None or r.next.key() > reach.next.key():
            reach = r
    return gaps, overlaps


def _scan(dest: Destination, pid: int) -> list[_Found]:
    directory = dest.path(f"pid={pid}")
    named: list[tuple[pafs.FileInfo, SyncPoint, SyncPoint, str]] = []
    with translated(dest, "cannot list"):
        infos = entries(dest, directory)
    for info in infos:
        if not info.is_file or info.base_name.startswith(("_", ".")):
            continue  # temporaries and hidden files
        try:
            named.append((info, *parse_file_name(info.base_name)))
        except ValueError:
            log.warning("%s: ignoring %s: not a committed range file", dest.display, info.path)

    def read(item: tuple[pafs.FileInfo, SyncPoint, SyncPoint, str]) -> _Found:
        info, first, nxt, ext = item
        rows, declared = 0, None
        try:
            if ext == Format.PARQUET.value:
                md = pq.read_metadata(info.path, filesystem=dest.fs)
                rows, kv = md.num_rows, md.metadata or {}
                declared = int(kv[b"omsync.rows"]) if b"omsync.rows" in kv else None
                first, nxt = (
                    _full_point(kv, b"omsync.first_point", first),
                    _full_point(kv, b"omsync.next_point", nxt),
                )
            else:
                rows = _count_lines(dest, info.path)
        except (OSError, pa.ArrowException, ValueError) as exc:
            return _Found(FileRange(pid, first, nxt, 0, info.path, info.size), None, cause_of(exc))
        return _Found(FileRange(pid, first, nxt, rows, info.path, info.size), declared)

    if len(named) > 1:  # footers are one small read each: overlap the round trips (S3, HDFS)
        with ThreadPoolExecutor(max_workers=min(8, len(named))) as pool:
            found = list(pool.map(read, named))
    else:
        found = [read(n) for n in named]
    return sorted(found, key=lambda f: (f.range.first.key(), f.range.next.key()))


def _full_point(kv: Mapping[bytes, bytes], key: bytes, from_name: SyncPoint) -> SyncPoint:
    try:
        p = SyncPoint.from_dict(json.loads(kv[key]))
    except (KeyError, ValueError, TypeError):
        return from_name
    return p if p.key() == from_name.key() else from_name


def _count_lines(dest: Destination, path: str) -> int:
    n = 0
    with dest.fs.open_input_stream(path, compression=None) as f:
        while chunk := f.read(8 << 20):
            n += chunk.count(b"\n")
    return n
