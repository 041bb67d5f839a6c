"""A synctool destination: a pyarrow filesystem and a root path, opened from a URI (DESIGN §3).

``open_destination`` takes a local path or ``file://``, ``s3://bucket/prefix?...``,
``hdfs://namenode:port/path`` or ``viewfs://`` (HDFS through ``hdfs.py``); a bare absolute path
goes to ``fs.defaultFS`` when a Hadoop config names one (``resolve_destination``).
``probe_writable`` proves a destination takes files before a task is created. pyarrow.fs errors
(OSError, ArrowException) become ``DestinationError`` here (``translated``), naming the URI with
any credentials in it masked, with a hint for the scheme. The small files omsync keeps under
``_omsync/`` (``write_json``/``read_json``) and whole files written at once (``write_whole``) go
through a temporary and a rename, like the data files of ``sink``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

from omsync_tui.core import desturi
from omsync_tui.core.errors import OmsyncError, UsageError
from omsync_tui.core.synctool_config import HdfsSection
from omsync_tui.services.sinks import hdfs
from omsync_tui.services.sinks.iceberg import url as icebergurl
from omsync_tui.services.sinks.iceberg.url import IcebergUri

TMP_PREFIX = "_tmp-"
OMSYNC_DIR = "_omsync"
_SUPPORTED = (
    "file:///abs/dir (or a plain absolute path), s3://bucket/prefix?endpoint_override=...&region=..., "
    "hdfs://namenode:port/path, hdfs://nameservice/path, viewfs://cluster/path, "
    "iceberg://<namespace>.<table>?uri=...&warehouse=..."
)


class DestinationError(OmsyncError):
    """The destination cannot be opened, read or written; the message names the URI and the cause."""


@dataclass(frozen=True)
class Destination:
    uri: str
    fs: pafs.FileSystem
    root: str  # base path inside ``fs``, no trailing slash
    scheme: str = "file"  # file, s3, hdfs or viewfs: of the files (an Iceberg table's: its warehouse's)
    iceberg: IcebergUri | None = None  # an Iceberg table; ``root`` is its directory in the warehouse
    hdfs_settings: HdfsSection | None = None  # an Iceberg table's: its catalog's FileIO reaches HDFS too

    @property
    def display(self) -> str:
        """The URI with credentials masked (``s3://KEY:SECRET@bucket`` → ``s3://***@bucket``)."""
        return _masked(self.uri)

    def path(self, *parts: str) -> str:
        return "/".join([self.root if self.root != "/" else "", *parts])


def _masked(uri: str) -> str:
    return icebergurl.masked(re.sub(r"://[^/@]*@", "://***@", uri))


@dataclass(frozen=True)
class Resolved:
    """A destination as the synctool will write it: ``uri``, and ``note`` saying where a bare
    path went (``fs.defaultFS`` from which file, or the local disk)."""

    uri: str
    note: str = ""


def resolve_destination(uri: str, hdfs_settings: HdfsSection | None = None) -> Resolved:
    """Where ``uri`` points: a bare absolute path goes to ``fs.defaultFS`` when the Hadoop config
    names an HDFS one (as OpenMLDB's SyncTool did), else to the local disk."""
    text = uri.strip()
    if desturi.scheme(text) or not text.startswith("/"):
        return Resolved(text)
    found = hdfs.default_fs(hdfs_settings or HdfsSection())
    if found is None:
        return Resolved(text, "a bare path: local disk (no fs.defaultFS of HDFS in a Hadoop config)")
    fs, where = found
    return Resolved(f"{fs}{_no_slash(text)}", f"a bare path: fs.defaultFS {fs} from {where}")


def open_destination(uri: str, hdfs_settings: HdfsSection | None = None) -> Destination:
    """A destination from a URI or path; UsageError for what is malformed, DestinationError else.

    ``hdfs_settings`` bound HDFS calls and name the Hadoop config (default: ``HdfsSection()``)."""
    settings = hdfs_settings or HdfsSection()
    text = resolve_destination(uri, settings).uri
    scheme = desturi.scheme(text)
    shown = _masked(text)
    if scheme == icebergurl.SCHEME:
        table = icebergurl.parse(text)
        if desturi.scheme(table.warehouse) == icebergurl.SCHEME:
            raise UsageError(f"destination {shown}: the warehouse cannot be an iceberg:// URI")
        files = open_destination(table.warehouse, settings)
        root = files.path(*table.namespace.split("."), table.table)
        return Destination(text, files.fs, root, files.scheme, table, settings)
    if not text or (scheme and scheme not in ("file", "s3", *hdfs.SCHEMES)):
        raise UsageError(f"unsupported destination {shown!r}", hint=f"use one of: {_SUPPORTED}")
    if not scheme:
        return Destination(text, pafs.LocalFileSystem(), _no_slash(os.path.abspath(text)))
    if scheme in hdfs.SCHEMES:
        base, path = hdfs.split_url(text)
        if base.endswith("://"):
            raise UsageError(f"destination {shown} names no NameNode", hint="use hdfs://namenode:port/path")
        try:
            return Destination(text, hdfs.hdfs_filesystem(base, settings), path, scheme)
        except OSError as exc:
            raise DestinationError(f"cannot open {shown}: {exc}", hint=hdfs.hint(exc, base)) from None
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except ValueError as exc:  # ArrowInvalid: a query parameter pyarrow does not know, a bad URI
        raise UsageError(
            f"bad destination {shown}: {cause_of(exc)}",
            hint="s3:// takes ?region=, endpoint_override=, scheme=http|https, allow_bucket_creation=; "
            "credentials as s3://KEY:SECRET@bucket or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        ) from None
    except (OSError, pa.ArrowException) as exc:
        raise DestinationError(f"cannot open {shown}: {cause_of(exc)}", hint=_hint(scheme)) from None
    root = _no_slash(path)
    if scheme == "s3" and not root:
        raise UsageError(f"destination {shown} names no bucket", hint="use s3://bucket/prefix")
    return Destination(text, fs, root, "s3" if scheme == "s3" else "file")


def probe_writable(dest: Destination) -> None:
    """Write and remove ``_omsync/probe-<uuid>``: DestinationError unless that works."""
    directory = dest.path(OMSYNC_DIR)
    probe = f"{directory}/probe-{uuid.uuid4().hex}"
    with translated(dest, "cannot write to"):
        ensure_dir(dest, directory)
        with dest.fs.open_output_stream(probe, compression=None) as out:
            out.write(b"omsync write probe\n")
        dest.fs.delete_file(probe)


# -- small files -------------------------------------------------------------------------------


def write_json(dest: Destination, relpath: str, obj: object) -> None:
    """Write ``<root>/<relpath>`` (e.g. ``_omsync/table.json``) through a temporary and a rename."""
    begin_json(dest, relpath, obj)()


def begin_json(dest: Destination, relpath: str, obj: object) -> Callable[[], None]:
    """``write_json`` up to the close: the returned ``finish()`` closes and renames the file."""
    data = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
    return begin_whole(dest, dest.path(*_relparts(relpath)), lambda out: out.write(data))


def read_json(dest: Destination, relpath: str) -> object | None:
    """The JSON in ``<root>/<relpath>``, or None when there is no such file."""
    path = dest.path(*_relparts(relpath))
    with translated(dest, f"cannot read {relpath} from"):
        if dest.fs.get_file_info(path).type == pafs.FileType.NotFound:
            return None
        with dest.fs.open_input_stream(path, compression=None) as f:
            data = f.read()
    try:
        obj: object = json.loads(data)
        return obj
    except ValueError as exc:
        raise DestinationError(f"{dest.display}: {relpath} is not JSON: {exc}") from None


def write_whole(dest: Destination, path: str, write: Callable[[pa.NativeFile], object]) -> None:
    """Write ``path`` through a temporary and a rename."""
    begin_whole(dest, path, write)()


def begin_whole(dest: Destination, path: str, write: Callable[[pa.NativeFile], object]) -> Callable[[], None]:
    """Write ``path``'s bytes under a temporary name and leave it open: whatever refuses the file
    (permission, safe mode, a quota, no DataNode to take its block) refuses it here. The returned
    ``finish()`` closes it (on HDFS ~0.5 s: the NameNode waits for the DataNode's block report)
    and renames it into place."""
    directory = path.rsplit("/", 1)[0]
    tmp = f"{directory}/{TMP_PREFIX}{uuid.uuid4().hex}.tmp"
    with translated(dest, "cannot write to"):
        ensure_dir(dest, directory)
        out = dest.fs.open_output_stream(tmp, compression=None)
        try:
            write(out)
        except BaseException:
            _discard(dest, out, tmp)
            raise

    def finish() -> None:
        with translated(dest, "cannot write to"):
            try:
                out.close()
                dest.fs.move(tmp, path)
            except BaseException:
                _discard(dest, out, tmp)
                raise

    return finish


def _discard(dest: Destination, out: pa.NativeFile, tmp: str) -> None:
    with suppress(OSError, pa.ArrowException):
        out.close()
    with suppress(OSError, pa.ArrowException):
        dest.fs.delete_file(tmp)


# -- helpers -----------------------------------------------------------------------------------


def _relparts(relpath: str) -> list[str]:
    parts = relpath.strip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"bad path {relpath!r} inside a destination")
    return parts


def entries(dest: Destination, directory: str) -> list[pafs.FileInfo]:
    """What ``directory`` holds (nothing if it does not exist); errors are pyarrow's."""
    infos: list[pafs.FileInfo] = dest.fs.get_file_info(pafs.FileSelector(directory, allow_not_found=True))
    return infos


def pid_dirs(dest: Destination, directory: str) -> set[int]:
    """The partitions with a ``pid=<n>`` directory in ``directory``."""
    with translated(dest, "cannot list"):
        infos = entries(dest, directory)
    out = set()
    for info in infos:
        name = info.base_name
        if info.type == pafs.FileType.Directory and name.startswith("pid=") and name[4:].isdigit():
            out.add(int(name[4:]))
    return out


def ensure_dir(dest: Destination, directory: str) -> None:
    if dest.scheme != "s3":  # S3 has no directories; markers would only add objects
        dest.fs.create_dir(directory, recursive=True)


def _no_slash(path: str) -> str:
    return path.rstrip("/") or ("/" if path.startswith("/") else "")


def cause_of(exc: BaseException) -> str:
    """A pyarrow.fs error's message on one line."""
    text = re.sub(r"^\[Errno \d+\] ", "", str(exc).strip())  # the cause says it in words
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or type(exc).__name__


def _hint(scheme: str) -> str:
    if scheme == "s3":
        return (
            "check the bucket, the endpoint (?endpoint_override=host:port&scheme=http), the region and the "
            "credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
        )
    return "check that the directory exists or can be created and that this user may write there"


@contextmanager
def translated(dest: Destination, what: str) -> Iterator[None]:
    """pyarrow.fs failures → DestinationError("<what> <uri>: <cause>")."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        full = getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in str(exc)
        if dest.scheme in hdfs.SCHEMES:
            hint = hdfs.hint(exc, hdfs.split_url(dest.iceberg.warehouse if dest.iceberg else dest.uri)[0])
        elif full:
            hint = (
                "the destination's filesystem is full: free space there; the subtask retries by itself "
                "within its retry budget, and a FAILED one continues with `omsync task retry <db.table>`"
            )
        else:
            hint = _hint(dest.scheme)
        raise DestinationError(f"{what} {dest.display}: {cause_of(exc)}", hint=hint) from exc
