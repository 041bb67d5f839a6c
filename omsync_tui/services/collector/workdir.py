"""One partition's collector work dir: hard links to the tablet's files, and the task's progress.

```
<datadir>/<tid>-<pid>/
    task.progress       the AddSyncTaskRequest, its sync_point = the last accepted point (raw bytes)
    table_meta.txt      copy of the tablet's, so a restart can read the links without the tablet
    snapshot/MANIFEST   link to the tablet's MANIFEST (the tablet replaces it by rename, so the
    snapshot/<name>     link keeps the old text) and to the snapshot it names: a memory table's
                        .sdb file, or a directory of links to a disk table's checkpoint files
    binlog/NNNNNNNN.log links to the tablet's binlog files
```

Links make the tablet's deletions harmless: a snapshot or binlog stays readable here until the
collector lets it go. Links cannot cross filesystems; that error names both paths.

A task prunes its own links to binlog files older than the one it reads (``prune_binlogs``) and
remembers that file index as a floor, so the next ``link_binlogs`` does not link them again (the
original re-links and drops them every round). Files the tablet deleted before they were linked
are not this module's business: the binlog reader reports the gap they leave.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from google.protobuf.message import DecodeError

from omsync_tui.core.errors import FormatError, NotFoundError, OmsyncError, UsageError
from omsync_tui.openmldb.binlog.files import list_binlogs
from omsync_tui.openmldb.metadata import read_manifest, read_table_meta, write_table_meta
from omsync_tui.openmldb.proto import data_sync_pb2, tablet_pb2

PROGRESS = "task.progress"
_LINK_ATTEMPTS = 3  # the tablet may replace its snapshot between our MANIFEST read and the links


class CrossDeviceError(UsageError):
    """``collector.datadir`` is on another filesystem than the tablet's files."""


def find_partition(root_paths: tuple[Path, ...], tid: int, pid: int) -> Path:
    """The tablet's ``<root>/<tid>_<pid>`` directory; NotFoundError listing the roots tried."""
    name = f"{tid}_{pid}"
    for root in root_paths:
        if (root / name).is_dir():
            return root / name
    tried = ", ".join(str(r) for r in root_paths) or "(no root paths configured)"
    raise NotFoundError(
        f"partition {tid}-{pid} is not on this host: no {name}/ under {tried}",
        hint="is this collector on the partition leader's host, and are tablet.root_paths the tablet's?",
    )


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise CrossDeviceError(
                f"cannot hard-link {src} to {dst}: they are on different filesystems",
                hint="collector.datadir must be on the tablet's filesystem (the mount of its root paths)",
            ) from None
        if exc.errno == errno.ENOENT and not src.exists():
            raise FileNotFoundError(errno.ENOENT, "vanished before it could be linked", str(src)) from None
        raise OmsyncError(f"cannot hard-link {src} to {dst}: {exc.strerror}") from exc


def _io(what: str, path: Path, exc: OSError) -> OmsyncError:
    return OmsyncError(f"{what} {path}: {exc.strerror or exc}")


class WorkDir:
    """``<datadir>/<tid>-<pid>/`` for one partition; ``source`` is the tablet's partition dir."""

    def __init__(self, datadir: Path, tid: int, pid: int, source: Path | None = None) -> None:
        self.tid, self.pid = tid, pid
        self.path = datadir / f"{tid}-{pid}"
        self.source = source
        self.binlog = self.path / "binlog"
        self.snapshot = self.path / "snapshot"
        self.progress = self.path / PROGRESS

    def __repr__(self) -> str:
        return f"WorkDir({self.path})"

    def create(self) -> None:
        try:
            self.binlog.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _io("cannot create the work dir", self.path, exc) from exc

    def remove(self) -> None:
        """Drop the work dir and every link in it (the tablet's files are untouched)."""
        shutil.rmtree(self.path, ignore_errors=True)

    # -- table meta ------------------------------------------------------------------------------

    def table_meta(self) -> tablet_pb2.TableMeta:
        """The tablet's current table_meta.txt (kept here too), else the copy from last time."""
        copy = self.path / "table_meta.txt"
        if self.source is not None and (self.source / "table_meta.txt").is_file():
            meta = read_table_meta(self.source / "table_meta.txt")
            try:
                write_table_meta(copy, meta)
            except OSError as exc:
                raise _io("cannot write", copy, exc) from exc
            return meta
        if copy.is_file():
            return read_table_meta(copy)
        raise NotFoundError(
            f"no table_meta.txt for partition {self.tid}-{self.pid} in {self.source} or {copy}"
        )

    # -- snapshot --------------------------------------------------------------------------------

    def linked_manifest(self) -> tablet_pb2.Manifest | None:
        path = self.snapshot / "MANIFEST"
        return read_manifest(path) if path.is_file() else None

    def prepare_snapshot(self, pinned: str, fresh: bool) -> tablet_pb2.Manifest | None:
        """Make ``snapshot/`` hold the snapshot a task starting here reads.

        ``pinned``: the snapshot the task's point names ("" = none named). ``fresh``: the point is
        the very beginning, so the tablet's current snapshot is wanted. Returns its MANIFEST, or
        None when the partition has no snapshot (the task goes straight to the binlog).
        """
        have = self.linked_manifest()
        if pinned:
            if have is not None and have.name == pinned:
                return have
            current = self._tablet_manifest()
            if current is None or current.name != pinned:
                raise NotFoundError(
                    f"partition {self.tid}-{self.pid}: the task's point is in snapshot {pinned}, which "
                    f"neither the tablet ({current.name if current else 'no snapshot'}) nor "
                    f"{self.snapshot} holds",
                    hint="continue the task from a binlog offset, or re-create it from the beginning",
                )
        elif have is not None and not fresh:
            return have  # an original SyncTool's {pk, ts} point: keep reading the snapshot we have
        return self._link_snapshot(have)

    def _tablet_manifest(self) -> tablet_pb2.Manifest | None:
        if self.source is None:
            return None
        path = self.source / "snapshot" / "MANIFEST"
        return read_manifest(path) if path.is_file() else None

    def _link_snapshot(self, have: tablet_pb2.Manifest | None) -> tablet_pb2.Manifest | None:
        if self.source is None:
            return have
        src = self.source / "snapshot"
        for attempt in range(_LINK_ATTEMPTS):
            current = self._tablet_manifest()
            if current is None or not current.name:
                shutil.rmtree(self.snapshot, ignore_errors=True)
                return None
            if have is not None and have == current:
                return have
            shutil.rmtree(self.snapshot, ignore_errors=True)
            try:
                self.snapshot.mkdir(parents=True)
                # MANIFEST first, then what the *linked* MANIFEST names: both from one moment
                _link(src / "MANIFEST", self.snapshot / "MANIFEST")
                linked = read_manifest(self.snapshot / "MANIFEST")
                target = src / linked.name
                if target.is_dir():
                    (self.snapshot / linked.name).mkdir()
                    for f in sorted(target.iterdir()):
                        if f.is_file():
                            _link(f, self.snapshot / linked.name / f.name)
                else:
                    _link(target, self.snapshot / linked.name)
                return linked
            except FileNotFoundError:
                if attempt + 1 == _LINK_ATTEMPTS:
                    raise NotFoundError(
                        f"partition {self.tid}-{self.pid}: the tablet kept replacing its snapshot in {src} "
                        "while it was being linked",
                        hint="retry the task; the tablet is making snapshots back to back",
                    ) from None
            except OSError as exc:
                raise _io("cannot link the snapshot into", self.snapshot, exc) from exc
        raise AssertionError("unreachable")

    def drop_snapshot(self) -> None:
        shutil.rmtree(self.snapshot, ignore_errors=True)

    # -- binlog ----------------------------------------------------------------------------------

    def link_binlogs(self, floor: int = 0) -> int:
        """Link the tablet's binlog files with index ≥ ``floor`` not linked yet; how many were new."""
        if self.source is None:
            return 0
        src = self.source / "binlog"
        if not src.is_dir():
            raise NotFoundError(
                f"partition {self.tid}-{self.pid}: the tablet's binlog dir {src} is gone",
                hint="the table was dropped or the partition moved off this host",
            )
        have = {index for index, _ in list_binlogs(self.binlog)}
        new = 0
        for index, path in list_binlogs(src):
            if index < floor or index in have:
                continue
            try:
                _link(path, self.binlog / path.name)
            except FileNotFoundError:
                continue  # deleted by the tablet just now: the reader reports the gap if it mattered
            new += 1
        return new

    def prune_binlogs(self, below: int) -> int:
        """Unlink our links to binlog files with index < ``below``; how many went."""
        gone = 0
        for index, path in list_binlogs(self.binlog):
            if index >= below:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                gone += 1
        return gone

    # -- progress --------------------------------------------------------------------------------

    def read_progress(self) -> data_sync_pb2.AddSyncTaskRequest | None:
        return read_progress(self.progress)

    def write_progress(self, request: data_sync_pb2.AddSyncTaskRequest) -> None:
        write_progress(self.progress, request)


def read_progress(path: Path) -> data_sync_pb2.AddSyncTaskRequest | None:
    """A ``task.progress`` file (raw AddSyncTaskRequest, as the original writes it), or None."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _io("cannot read", path, exc) from exc
    request = data_sync_pb2.AddSyncTaskRequest()
    try:
        request.ParseFromString(data)
    except (DecodeError, ValueError) as exc:
        raise FormatError(
            f"{path} is not a serialized AddSyncTaskRequest ({len(data)} bytes): {exc}",
            path=str(path),
            hint="move the file away to drop the task; the synctool re-assigns the partition",
        ) from exc
    if not request.HasField("sync_point") or not request.token:
        raise FormatError(f"{path} lacks a sync_point or token", path=str(path))
    return request


def write_progress(path: Path, request: data_sync_pb2.AddSyncTaskRequest) -> None:
    """Replace ``path`` atomically (temporary file, fsync, rename): a crash leaves old or new."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(request.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise _io("cannot write", path, exc) from exc


def list_workdirs(datadir: Path) -> list[tuple[int, int, Path]]:
    """``(tid, pid, dir)`` of every ``<tid>-<pid>/`` holding a task.progress, in order."""
    out: list[tuple[int, int, Path]] = []
    if not datadir.is_dir():
        return out
    for d in datadir.iterdir():
        tid, sep, pid = d.name.partition("-")
        if sep and tid.isdigit() and pid.isdigit() and (d / PROGRESS).is_file():
            out.append((int(tid), int(pid), d))
    return sorted(out)
