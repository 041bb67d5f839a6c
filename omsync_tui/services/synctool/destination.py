"""A synctool destination: a pyarrow filesystem and a root path, opened from a URI (DESIGN §3).

``open_destination`` takes a local path or ``file://``, ``s3://bucket/prefix?...`` or
``hdfs://namenode:port/path``; ``probe_writable`` proves a destination takes files before a task
is created. pyarrow.fs errors (OSError, ArrowException) become ``DestinationError`` here
(``translated``), naming the URI with any credentials in it masked, with a hint for the scheme.
The small files omsync keeps under ``_omsync/`` (``write_json``/``read_json``) and whole files
written at once (``write_whole``) go through a temporary and a rename, like the data files of
``sink``.
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

from omsync_tui.core.errors import OmsyncError, UsageError

TMP_PREFIX = "_tmp-"
OMSYNC_DIR = "_omsync"
_SUPPORTED = (
    "file:///abs/dir (or a plain path), s3://bucket/prefix?endpoint_override=...&region=..., "
    "hdfs://namenode:port/path"
)
_HDFS_HINT = (
    "hdfs:// needs a Hadoop client on this host: JAVA_HOME (a JDK), HADOOP_HOME or ARROW_LIBHDFS_DIR "
    "(the directory holding libhdfs.so), and CLASSPATH set from `hadoop classpath --glob`"
)


class DestinationError(OmsyncError):
    """The destination cannot be opened, read or written; the message names the URI and the cause."""


@dataclass(frozen=True)
class Destination:
    uri: str
    fs: pafs.FileSystem
    root: str  # base path inside ``fs``, no trailing slash

    @property
    def display(self) -> str:
        """The URI with credentials masked (``s3://KEY:SECRET@bucket`` → ``s3://***@bucket``)."""
        return re.sub(r"://[^/@]*@", "://***@", self.uri)

    def path(self, *parts: str) -> str:
        return "/".join([self.root if self.root != "/" else "", *parts])


def open_destination(uri: str) -> Destination:
    """A destination from a URI or path; UsageError for what is malformed, DestinationError else."""
    text = uri.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if not text or (scheme and scheme not in ("file", "s3", "hdfs")):
        shown = Destination(text, pafs.LocalFileSystem(), "").display
        raise UsageError(f"unsupported destination {shown!r}", hint=f"use one of: {_SUPPORTED}")
    if not scheme:
        return Destination(text, pafs.LocalFileSystem(), _no_slash(os.path.abspath(text)))
    shown = Destination(text, pafs.LocalFileSystem(), "").display
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except ValueError as exc:  # ArrowInvalid: a query parameter pyarrow does not know, a bad URI
        raise UsageError(
            f"bad destination {shown}: {cause_of(exc)}",
            hint="s3:// takes ?region=, endpoint_override=, scheme=http|https, allow_bucket_creation=; "
            "credentials as s3://KEY:SECRET@bucket or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        ) from None
    except (OSError, pa.ArrowException) as exc:
        cause = cause_of(exc)
        if scheme == "hdfs" and ("libhdfs" in cause or "libjvm" in cause or "JAVA_HOME" in cause):
            first = str(exc).strip().splitlines()[0]  # the dlopen details add nothing to the hint
            raise DestinationError(
                f"cannot open {shown}: {first} (no Hadoop client on this host)", hint=_HDFS_HINT
            ) from None
        raise DestinationError(f"cannot open {shown}: {cause}", hint=_hint(scheme)) from None
    root = _no_slash(path)
    if scheme == "s3" and not root:
        raise UsageError(f"destination {shown} names no bucket", hint="use s3://bucket/prefix")
    return Destination(text, fs, root)


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
    data = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
    write_whole(dest, dest.path(*_relparts(relpath)), lambda out: out.write(data))


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
    directory = path.rsplit("/", 1)[0]
    tmp = f"{directory}/{TMP_PREFIX}{uuid.uuid4().hex}.tmp"
    with translated(dest, "cannot write to"):
        ensure_dir(dest, directory)
        try:
            with dest.fs.open_output_stream(tmp, compression=None) as out:
                write(out)
            dest.fs.move(tmp, path)
        except BaseException:
            with suppress(OSError, pa.ArrowException):
                dest.fs.delete_file(tmp)
            raise


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
    if dest.fs.type_name != "s3":  # S3 has no directories; markers would only add objects
        dest.fs.create_dir(directory, recursive=True)


def _no_slash(path: str) -> str:
    return path.rstrip("/") or ("/" if path.startswith("/") else "")


def cause_of(exc: BaseException) -> str:
    """A pyarrow.fs error's message on one line."""
    return (
        "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
        or type(exc).__name__
    )


def _hint(scheme: str) -> str:
    if scheme == "s3":
        return (
            "check the bucket, the endpoint (?endpoint_override=host:port&scheme=http), the region and the "
            "credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
        )
    if scheme == "hdfs":
        return "check that the namenode is reachable and this user may write the path"
    return "check that the directory exists or can be created and that this user may write there"


@contextmanager
def translated(dest: Destination, what: str) -> Iterator[None]:
    """pyarrow.fs failures → DestinationError("<what> <uri>: <cause>")."""
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        scheme = {"local": "file"}.get(dest.fs.type_name, dest.fs.type_name)
        full = getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in str(exc)
        hint = (
            "the destination's filesystem is full: free space there; the subtask retries by itself "
            "within its retry budget, and a FAILED one continues with `omsync task retry <db.table>`"
            if full
            else _hint(scheme)
        )
        raise DestinationError(f"{what} {dest.display}: {cause_of(exc)}", hint=hint) from exc
