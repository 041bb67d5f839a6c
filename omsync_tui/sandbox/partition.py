"""One partition replica of a sandbox tablet: what a real TabletServer leaves on disk.

``<root>/<tid>_<pid>/`` gets ``table_meta.txt``, ``binlog/NNNNNNNN.log`` (LevelDB framing,
rotated with an EOF record, newest file left open), ``snapshot/MANIFEST`` plus a memory snapshot
(``.sdb``, optionally zlib/snappy with the doubled suffix) or a disk snapshot (RocksDB checkpoint
of the live ``data/`` DB), and old binlogs are deleted as the tablet does after a snapshot.

Every operation is also appended to a journal (``ops.jsonl``, outside the tablet root) from which
``truth.py`` derives what a full sync must produce, independently of omsync's readers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from omsync_tui.core.errors import FormatError
from omsync_tui.openmldb.binlog.files import binlog_name, list_binlogs
from omsync_tui.openmldb.log.format import LogWriter, ReadStatus
from omsync_tui.openmldb.log.reader import LogFileReader
from omsync_tui.openmldb.metadata import read_manifest, write_manifest, write_table_meta
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.snapshot.memory import write_sdb

Dimension = tuple[int, str]


class PartitionWriter:
    """Appends LogEntries to one partition's binlog the way a leader tablet does.

    Opening an existing directory resumes like a running tablet: it appends to the newest file
    if that file ends cleanly, and repairs it the way a restarted tablet does otherwise.
    """

    def __init__(
        self,
        part_dir: Path,
        journal: Path,
        *,
        term: int = 1,
        binlog_max_bytes: int = 256 * 1024,
        name_length: int = 8,
    ) -> None:
        self.dir = part_dir
        self.binlog_dir = part_dir / "binlog"
        self.snapshot_dir = part_dir / "snapshot"
        self.journal_path = journal
        self.term = term
        self.binlog_max_bytes = binlog_max_bytes
        self.name_length = name_length
        self.binlog_dir.mkdir(parents=True, exist_ok=True)
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        self.last_index = 0
        self._file: IO[bytes] | None = None
        self._writer: LogWriter | None = None
        self._file_index = -1
        self._journal: IO[str] | None = None
        self._recover()

    # -- recovery -------------------------------------------------------------------------

    def _recover(self) -> None:
        manifest = self.snapshot_dir / "MANIFEST"
        if manifest.exists():
            self.last_index = int(read_manifest(manifest).offset)
        files = list_binlogs(self.binlog_dir)
        if not files:
            return
        index, path = files[-1]
        self._file_index = index
        last, status, resume, unread = _scan_to_end(path)
        if last is not None:
            self.last_index = max(self.last_index, last)
        elif len(files) > 1:
            prev_last, *_ = _scan_to_end(files[-2][1])
            if prev_last is not None:
                self.last_index = max(self.last_index, prev_last)
        if status is ReadStatus.EOF:
            return  # closed file: the next append opens index + 1
        if unread:
            # A torn tail: repair like a restarted tablet (EOF in place after the last complete
            # record; the torn bytes behind it stay and are never read).
            self._repair(path, resume)
            return
        self._open(index, path, append=True)

    def _repair(self, path: Path, resume: int) -> None:
        with open(path, "r+b") as f:
            f.seek(resume)
            writer = LogWriter(f, block_offset=resume % 4096)
            writer.add_eof()
            writer.flush()
            os.fsync(f.fileno())

    def restart(self, torn_tail: bytes = b"") -> None:
        """Emulate a tablet restart (or a crash that left ``torn_tail`` unwritten half-records)."""
        path = self._current_path()
        resume = None
        if self._file is not None:
            self._file.flush()
            resume = self._file.tell()
            if torn_tail:
                self._file.write(torn_tail)
                self._file.flush()
            self._file.close()
            self._file = None
            self._writer = None
        if path is not None and resume is not None:
            self._repair(path, resume)

    # -- writing --------------------------------------------------------------------------

    def _current_path(self) -> Path | None:
        if self._file_index < 0:
            return None
        return self.binlog_dir / binlog_name(self._file_index, self.name_length)

    def _open(self, index: int, path: Path, *, append: bool) -> None:
        self._file = open(path, "ab" if append else "wb")  # noqa: SIM115 - held open across appends
        self._writer = LogWriter(self._file)
        self._file_index = index

    def _roll_if_needed(self) -> None:
        if self._file is not None and self._file.tell() <= self.binlog_max_bytes:
            return
        if self._file is not None and self._writer is not None:
            self._writer.add_eof()
            self._writer.flush()
            self._file.close()
        index = self._file_index + 1
        self._open(index, self.binlog_dir / binlog_name(index, self.name_length), append=False)

    def append(self, entry: tablet_pb2.LogEntry, journal: dict[str, Any]) -> int:
        """Give ``entry`` the next log_index, write it, flush it to the OS (the tablet's fflush)."""
        self._roll_if_needed()
        assert self._writer is not None and self._file is not None
        self.last_index += 1
        entry.log_index = self.last_index
        entry.term = self.term
        data = entry.SerializeToString()
        self._writer.add_record(data)
        self._writer.flush()
        journal["i"] = self.last_index
        journal["e"] = data.hex()
        self._journal_write(journal)
        return self.last_index

    def _journal_write(self, record: dict[str, Any]) -> None:
        if self._journal is None:
            self.journal_path.parent.mkdir(parents=True, exist_ok=True)
            self._journal = open(self.journal_path, "a", encoding="utf-8")  # noqa: SIM115
        self._journal.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._journal.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None
            self._writer = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    # -- snapshots ------------------------------------------------------------------------

    def snapshot_name(self, now: dt.datetime | None = None) -> str:
        """``YYYYMMDDHHMM`` local time, as the tablet names them; bumped a minute if taken."""
        when = (now or dt.datetime.now()).replace(second=0, microsecond=0)
        current = self.manifest()
        while True:
            name = when.strftime("%Y%m%d%H%M")
            if current is None or not current.name.startswith(name):
                return name
            when += dt.timedelta(minutes=1)

    def manifest(self) -> tablet_pb2.Manifest | None:
        path = self.snapshot_dir / "MANIFEST"
        return read_manifest(path) if path.exists() else None

    def write_memory_snapshot(self, entries: Sequence[bytes], compression: str | None) -> tablet_pb2.Manifest:
        """Write ``entries`` (serialized LogEntries) as ``<name>.sdb[.c.c]`` and switch MANIFEST."""
        old = self.manifest()
        name = self.snapshot_name() + ".sdb"
        if compression:
            # OpenMLDB appends the suffix in two places: the real name carries it twice.
            name += f".{compression}.{compression}"
        tmp = self.snapshot_dir / (name + ".tmp")
        count = write_sdb(tmp, entries, compression)
        os.replace(tmp, self.snapshot_dir / name)
        manifest = tablet_pb2.Manifest(offset=self.last_index, name=name, count=count, term=self.term)
        write_manifest(self.snapshot_dir / "MANIFEST", manifest)
        if old is not None and old.name != name:
            (self.snapshot_dir / old.name).unlink(missing_ok=True)
        return manifest

    def install_disk_snapshot(self, checkpoint: Path, name: str, count: int) -> tablet_pb2.Manifest:
        """Publish a RocksDB checkpoint made at ``checkpoint`` (= ``snapshot/<name>``)."""
        old = self.manifest()
        manifest = tablet_pb2.Manifest(offset=self.last_index, name=name, count=count, term=self.term)
        write_manifest(self.snapshot_dir / "MANIFEST", manifest)
        if old is not None and old.name != name:
            shutil.rmtree(self.snapshot_dir / old.name, ignore_errors=True)
        return manifest

    def purge_binlogs(self) -> list[Path]:
        """Delete binlogs entirely older than the snapshot, as the tablet's delete task does.

        ``k`` = the file holding the snapshot offset; files with index ≤ k − 1 go. Only when
        more than one file exists.
        """
        manifest = self.manifest()
        files = list_binlogs(self.binlog_dir)
        if manifest is None or len(files) <= 1:
            return []
        k = None
        for index, path in files:
            first = _first_index(path)
            if first is not None and first <= manifest.offset:
                k = index
        if k is None:
            return []
        removed = []
        for index, path in files:
            if index <= k - 1:
                path.unlink()
                removed.append(path)
        return removed


def _scan_to_end(path: Path) -> tuple[int | None, ReadStatus, int, int]:
    """(last log_index, final status, resume offset, unread bytes) of one binlog file."""
    last = None
    with LogFileReader(path, verify_crc=True) as reader:
        while True:
            rec = reader.read()
            if rec.status is ReadStatus.RECORD:
                assert rec.payload is not None
                entry = tablet_pb2.LogEntry()
                entry.ParseFromString(rec.payload)
                last = int(entry.log_index)
            elif rec.status is ReadStatus.BAD:
                raise FormatError(
                    rec.reason,
                    path=str(path),
                    offset=rec.offset,
                    hint="the sandbox only repairs torn tails, not damaged records",
                )
            else:
                return last, rec.status, rec.end, rec.unread


def _first_index(path: Path) -> int | None:
    with LogFileReader(path, verify_crc=True) as reader:
        rec = reader.read()
        if rec.status is not ReadStatus.RECORD or rec.payload is None:
            return None
        entry = tablet_pb2.LogEntry()
        entry.ParseFromString(rec.payload)
        return int(entry.log_index)


def write_partition_meta(part_dir: Path, meta: tablet_pb2.TableMeta) -> None:
    part_dir.mkdir(parents=True, exist_ok=True)
    write_table_meta(part_dir / "table_meta.txt", meta)


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock so two sandbox commands never write one table at the same time."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
