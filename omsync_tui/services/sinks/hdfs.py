"""HDFS for pyarrow's writers and readers, through hdfs-native (a Rust client: no JVM, no libhdfs).

``hdfs_filesystem(url, settings)`` is a ``pyarrow.fs.PyFileSystem`` over one ``hdfs_native.Client``
for ``hdfs://namenode:port``, an HA nameservice ``hdfs://ns1`` or ``viewfs://cluster``; the
destination layer (``destination.py``) opens it like the local and S3 filesystems. What is
HDFS-specific lives here:

- every call is bounded by ``[hdfs]`` (attempts, sleeps, socket timeout), so a dead NameNode is
  an error within seconds;
- ``move`` is one NameNode ``rename2`` with OVERWRITE: the commit of a file (DESIGN §3). A
  replayed range maps to the same name and holds the same rows, so replacing it is harmless, as
  on local disk and S3 (pyarrow's ``FSSpecHandler.move`` refuses an existing target instead);
- hdfs-native's errors (a RuntimeError carrying the Java exception's class) become OSErrors
  (``PermissionError``, ``FileNotFoundError``, ``HdfsFault`` with a ``kind``), and ``hint`` says
  how to fix each kind;
- ``read_hadoop_conf`` reads ``fs.defaultFS`` and friends from ``core-site.xml``/``hdfs-site.xml``
  for the rule "a bare absolute path goes to ``fs.defaultFS``".
"""

from __future__ import annotations

import errno
import functools
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs

from omsync_tui.core import desturi
from omsync_tui.core.synctool_config import HdfsSection

SCHEMES = ("hdfs", "viewfs")

P = ParamSpec("P")
R = TypeVar("R")


class HdfsFault(OSError):
    """An HDFS call failed; ``kind`` is what went wrong (see ``hint``), ``java_class`` the
    NameNode's exception class when it sent one."""

    def __init__(self, kind: str, message: str, java_class: str = "") -> None:
        super().__init__(_ERRNO.get(kind, errno.EIO), message)
        self.kind = kind
        self.java_class = java_class

    def __str__(self) -> str:
        return str(self.strerror)


_ERRNO = {"permission": errno.EACCES, "quota": errno.EDQUOT, "unreachable": errno.ECONNREFUSED}

# The NameNode's exception classes omsync tells apart; anything else is kind "hdfs".
_KINDS = (
    ("AccessControlException", "permission"),
    ("SafeModeException", "safe_mode"),
    ("QuotaExceededException", "quota"),  # NSQuotaExceededException, DSQuotaExceededException
    ("DiskErrorException", "disk_full"),
    ("NotReplicatedYetException", "datanodes"),
    ("could only be written to 0 of the", "datanodes"),
    ("StandbyException", "standby"),
    ("No viewfs fallback mount found", "viewfs_fallback"),
)


def classify(exc: BaseException, *, writing: bool = False) -> OSError:
    """hdfs-native's exception → an OSError naming the cause on one line (Java traces dropped).

    ``writing``: the call streamed a file's data, so a lost connection was to a DataNode."""
    if isinstance(exc, HdfsFault | FileNotFoundError | FileExistsError | IsADirectoryError):
        return exc
    text = str(exc)
    match = re.match(r'\s*RPCError\("([^"]+)",\s*"(.*)"\)\s*$', text, re.S)
    java_class, message = (match.group(1), match.group(2)) if match else ("", text)
    message = message.encode().decode("unicode_escape", "replace") if match else message
    first = next((line.strip() for line in message.splitlines() if line.strip()), type(exc).__name__)
    for needle, kind in _KINDS:
        if needle in java_class or needle in first:
            if kind == "permission":
                return PermissionError(
                    errno.EACCES, f"permission denied: {first.removeprefix('Permission denied: ')}"
                )
            return HdfsFault(kind, first, java_class)
    if "FileAlreadyExistsException" in java_class:
        return FileExistsError(errno.EEXIST, first)
    if "FileNotFoundException" in java_class:
        return FileNotFoundError(errno.ENOENT, first)
    if isinstance(exc, ConnectionError) or re.search(
        r"Connection refused|connection reset|timed out|No route to host|failed to connect|"
        r"dns error|Name or service not known|broken pipe",
        text,
        re.I,
    ):
        return HdfsFault("datanodes" if writing else "unreachable", first)
    short = f"{java_class.rsplit('.', 1)[-1]}: {first}" if java_class else first
    return HdfsFault("hdfs", short, java_class)


def _translating(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (OSError, RuntimeError, ValueError) as exc:
            raise classify(exc) from exc

    return wrapper


def hint(exc: BaseException, url: str) -> str:
    """What to do about an HDFS failure, for ``DestinationError.hint``."""
    kind = "permission" if isinstance(exc, PermissionError) else getattr(exc, "kind", "")
    retry = "the subtask retries by itself; a FAILED one continues with `omsync task retry <db.table>`"
    if kind == "permission":
        user = _user()
        return (
            f"the synctool writes as HDFS user {user!r} (HADOOP_USER_NAME, else the login user): grant it "
            f"the path (`hdfs dfs -chown {user} <dir>` or `-chmod`), or run the synctool as a user who "
            "may write there; a FAILED subtask continues with `omsync task retry <db.table>` after the fix"
        )
    if kind == "safe_mode":
        return f"the NameNode is in safe mode: wait for it to leave (`hdfs dfsadmin -safemode get`); {retry}"
    if kind in ("quota", "disk_full"):
        return (
            "the directory's quota or the DataNodes' disks are full: raise the quota "
            f"(`hdfs dfsadmin -setSpaceQuota`) or free space; {retry}"
        )
    if kind == "datanodes":
        return (
            "a DataNode did not take the file's data: check that DataNodes are up, have space and are "
            f"reachable from this host (`hdfs dfsadmin -report`); {retry}"
        )
    if kind == "viewfs_fallback":
        cluster = url.split("://", 1)[-1]
        return (
            "hdfs-native resolves viewfs paths only with a fallback link: add "
            f"fs.viewfs.mounttable.{cluster}.linkFallback (e.g. hdfs://<namenode>/) to core-site.xml "
            "in [hdfs] hadoop_conf_dir, or give the destination as hdfs://<namenode>/<path>"
        )
    if kind == "unreachable":
        return (
            f"no NameNode answered for {url}: check that it runs and that host:port is its RPC address "
            "(fs.defaultFS in core-site.xml; for an HA nameservice, dfs.ha.namenodes.* in hdfs-site.xml of "
            f"[hdfs] hadoop_conf_dir); {retry}"
        )
    return f"check that the NameNode of {url} is reachable and this user may write the path"


def _user() -> str:
    name = os.environ.get("HADOOP_USER_NAME")
    if name:
        return name
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "?")


# -- Hadoop's config files ------------------------------------------------------------------


def conf_dir(settings: HdfsSection) -> Path | None:
    """``[hdfs] hadoop_conf_dir``, else ``HADOOP_CONF_DIR``; None when neither is set."""
    if settings.hadoop_conf_dir is not None:
        return settings.hadoop_conf_dir
    env = os.environ.get("HADOOP_CONF_DIR")
    return Path(env) if env else None


def read_hadoop_conf(directory: Path | None) -> dict[str, str]:
    """The properties of ``core-site.xml`` and ``hdfs-site.xml`` in ``directory`` (hdfs-site wins).

    Parsed once per version of the files: every destination opened asks, and only a changed
    file (size or modification time) is read again."""
    if directory is None:
        return {}
    stamps: list[tuple[int, int] | None] = []
    for name in _HADOOP_FILES:
        try:
            st = (directory / name).stat()
            stamps.append((st.st_mtime_ns, st.st_size))
        except OSError:
            stamps.append(None)
    return dict(_parse_hadoop_conf(directory, tuple(stamps)))


_HADOOP_FILES = ("core-site.xml", "hdfs-site.xml")


@functools.lru_cache(maxsize=8)
def _parse_hadoop_conf(
    directory: Path, stamps: tuple[tuple[int, int] | None, ...]
) -> tuple[tuple[str, str], ...]:
    """``read_hadoop_conf``'s parse; ``stamps`` (one per file, None when absent) key the cache."""
    from omsync_tui.core.errors import UsageError

    props: dict[str, str] = {}
    for name, stamp in zip(_HADOOP_FILES, stamps, strict=True):
        path = directory / name
        if stamp is None or not path.is_file():
            continue
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as exc:
            raise UsageError(
                f"{path}: not a Hadoop configuration file: {exc}",
                hint="fix the XML, or point [hdfs] hadoop_conf_dir / HADOOP_CONF_DIR elsewhere",
            ) from None
        for prop in root.iter("property"):
            key, value = prop.findtext("name"), prop.findtext("value")
            if key and value is not None:
                props[key.strip()] = value.strip()
    return tuple(props.items())


def default_fs(settings: HdfsSection) -> tuple[str, str] | None:
    """``(fs.defaultFS, the file that set it)`` when the Hadoop config names an HDFS one."""
    directory = conf_dir(settings)
    fs = read_hadoop_conf(directory).get("fs.defaultFS", "")
    if directory is None or desturi.scheme(fs) not in SCHEMES:
        return None
    return fs.rstrip("/"), str(directory / "core-site.xml")


# -- the filesystem -------------------------------------------------------------------------


def split_url(url: str) -> tuple[str, str]:
    """``hdfs://nn:8020/a/b`` → (``hdfs://nn:8020``, ``/a/b``)."""
    scheme, rest = url.split("://", 1)
    authority, _, path = rest.partition("/")
    return f"{scheme.lower()}://{authority}", "/" + path.rstrip("/") if path.strip("/") else "/"


def hdfs_filesystem(base_url: str, settings: HdfsSection) -> pafs.PyFileSystem:
    """A pyarrow filesystem over ``base_url`` (``hdfs://authority``); paths inside it are absolute."""
    import hdfs_native

    directory = conf_dir(settings)
    try:
        client = hdfs_native.Client(
            base_url,
            settings.client_config(),
            str(directory) if directory is not None else None,
            kerberos_principal=settings.kerberos_principal,
            kerberos_keytab=str(settings.kerberos_keytab) if settings.kerberos_keytab else None,
            kerberos_cache=str(settings.kerberos_ticket_cache) if settings.kerberos_ticket_cache else None,
        )
    except (OSError, RuntimeError, ValueError) as exc:
        raise classify(exc) from exc
    return pafs.PyFileSystem(HdfsHandler(client, base_url))


class _Output:
    """A file being written: what pyarrow's ``PythonFile`` needs (write, tell, close).

    After a failed write the file is only dropped (the caller deletes it): closing it would ask
    the NameNode to complete a file whose pipeline broke, which hdfs-native retries for ~30 s."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self._pos = 0
        self._broken = False
        self.closed = False

    def write(self, data: Any) -> int:
        if self._broken:
            raise HdfsFault("hdfs", "an earlier write to this file failed")
        if not isinstance(data, bytes | bytearray):
            # pyarrow hands over its Buffers; hdfs-native takes anything but bytes element by
            # element (16 MiB: 1.2 s as a Buffer, 0.03 s as bytes), so one copy is far cheaper
            data = memoryview(data).tobytes()
        try:
            n: int = self._writer.write(data)
        except (OSError, RuntimeError, ValueError) as exc:
            self._broken = True
            raise classify(exc, writing=True) from exc
        self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        """Data reaches the DataNodes as blocks fill; close() makes the file whole."""

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._broken:
            return
        try:
            self._writer.close()
        except (OSError, RuntimeError, ValueError) as exc:
            raise classify(exc, writing=True) from exc


class _Input:
    """A file being read: seekable, with a size (Parquet reads its footer first)."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self.closed = False

    @_translating
    def read(self, size: int = -1) -> bytes:
        data: bytes = self._reader.read(size)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._reader.seek(offset, whence)
        return self.tell()

    def tell(self) -> int:
        pos: int = self._reader.tell()
        return pos

    def size(self) -> int:
        return len(self._reader)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


class HdfsHandler(pafs.FileSystemHandler):  # type: ignore[misc]  # pyarrow ships no type hints
    """pyarrow's filesystem calls on one hdfs-native client; errors translated by ``classify``."""

    def __init__(self, client: Any, base_url: str) -> None:
        self.client = client
        self.base_url = base_url

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HdfsHandler) and other.base_url == self.base_url

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def get_type_name(self) -> str:
        return "hdfs"

    def normalize_path(self, path: str) -> str:
        return path

    def _info(self, path: str, status: Any) -> pafs.FileInfo:
        if status.isdir:
            return pafs.FileInfo(path, pafs.FileType.Directory, mtime_ns=status.modification_time * 1_000_000)
        return pafs.FileInfo(
            path, pafs.FileType.File, size=status.length, mtime_ns=status.modification_time * 1_000_000
        )

    @_translating
    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        out = []
        for path in paths:
            try:
                out.append(self._info(path, self.client.get_file_info(path)))
            except FileNotFoundError:
                out.append(pafs.FileInfo(path, pafs.FileType.NotFound))
        return out

    @_translating
    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        base = selector.base_dir.rstrip("/") or "/"
        try:
            statuses: Iterator[Any] = self.client.list_status(base, selector.recursive)
            found = [(status.path, status) for status in statuses]
        except FileNotFoundError:
            if selector.allow_not_found:
                return []
            raise
        prefix = "" if base == "/" else base
        # hdfs-native gives paths relative to the listed directory in some versions, absolute in others
        return [self._info(p if p.startswith("/") else f"{prefix}/{p}", st) for p, st in found]

    @_translating
    def create_dir(self, path: str, recursive: bool) -> None:
        self.client.mkdirs(path, 0o755, recursive)

    @_translating
    def delete_dir(self, path: str) -> None:
        self.client.delete(path, True)

    @_translating
    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        try:
            children = [status.path for status in self.client.list_status(path, False)]
        except FileNotFoundError:
            if missing_dir_ok:
                return
            raise
        for child in children:
            self.client.delete(child if child.startswith("/") else f"{path.rstrip('/')}/{child}", True)

    def delete_root_dir_contents(self) -> None:
        raise PermissionError(errno.EPERM, "omsync never empties an HDFS root directory")

    @_translating
    def delete_file(self, path: str) -> None:
        if not self.client.delete(path, False):
            raise FileNotFoundError(errno.ENOENT, f"no such file: {path}")

    @_translating
    def move(self, src: str, dest: str) -> None:
        self.client.rename(src, dest, True)

    @_translating
    def copy_file(self, src: str, dest: str) -> None:
        with self.client.read(src) as reader, self.client.create(dest) as writer:
            for chunk in reader.read_range_stream(0, len(reader)):
                writer.write(chunk)

    @_translating
    def open_input_stream(self, path: str) -> pa.NativeFile:
        return pa.PythonFile(_Input(self.client.read(path)), mode="r")

    @_translating
    def open_input_file(self, path: str) -> pa.NativeFile:
        return pa.PythonFile(_Input(self.client.read(path)), mode="r")

    @_translating
    def open_output_stream(self, path: str, metadata: dict[str, str] | None) -> pa.NativeFile:
        import hdfs_native

        # the raw writer: hdfs_native.FileWriter is an io.RawIOBase, whose finalizer closes the
        # file, so a broken one would still be "completed" (retried for ~30 s) when collected
        writer = self.client.inner.create(path, hdfs_native.WriteOptions(overwrite=True))
        return pa.PythonFile(_Output(writer), mode="w")

    def open_append_stream(self, path: str, metadata: dict[str, str] | None) -> pa.NativeFile:
        raise NotImplementedError("omsync never appends to an HDFS file")
