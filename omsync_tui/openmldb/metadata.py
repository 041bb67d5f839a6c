"""Reading and writing the small metadata files of a tablet partition and ZooKeeper's TableInfo.

* ``snapshot/MANIFEST``: protobuf text format of ``openmldb.api.Manifest`` (§3.7). The tablet
  (``Snapshot::GenManifest``) writes it to ``MANIFEST.tmp``, fsyncs and renames, so a hard link
  to the previous MANIFEST keeps the previous content; ``write_manifest`` does the same.
* ``table_meta.txt``: protobuf text format of ``openmldb.api.TableMeta`` (§3.1). The tablet
  writes it in place; we write it through a temporary file as well, so a reader never sees half.
* ``<zk_root>/table/db_table_data/<tid>``: binary ``openmldb.nameserver.TableInfo`` (§5).

Every parse failure becomes a ``FormatError`` that names the file (and line) or the znode.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from google.protobuf import text_format
from google.protobuf.message import DecodeError, Message

from omsync_tui.core.errors import FormatError, NotFoundError
from omsync_tui.openmldb.proto import name_server_pb2, tablet_pb2

MANIFEST = "MANIFEST"
TABLE_META = "table_meta.txt"

_M = TypeVar("_M", bound=Message)


def _read_text(path: Path, what: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise FormatError(f"cannot read {what}: {exc.strerror or exc}", path=str(path)) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FormatError(f"line {line}: not UTF-8 text", path=str(path), offset=exc.start) from None


def _parse_text(text: str, message: _M, path: Path) -> _M:
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        line = exc.GetLine()
        column = exc.GetColumn()
        # ParseError's message starts with "line:column : "; we put the location in front ourselves.
        reason = str(exc)
        prefix = f"{line}:{column} : "
        if reason.startswith(prefix):
            reason = reason[len(prefix) :]
        where = f"line {line}, column {column}" if line is not None else "text"
        raise FormatError(f"{where}: {reason}", path=str(path)) from None
    missing = _missing_required(message)
    if missing:
        raise FormatError(f"required field(s) missing: {', '.join(missing)}", path=str(path))
    return message


def _missing_required(message: Message) -> list[str]:
    if message.IsInitialized():
        return []
    # Present at runtime in every protobuf backend, absent from the type stubs.
    errors: list[str] = message.FindInitializationErrors()  # type: ignore[attr-defined]
    return errors


def _write_atomically(path: Path, text: str) -> None:
    """tmp file + fsync + rename (+ fsync of the directory so the rename itself is durable)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _to_text(message: Message) -> str:
    # Same layout as C++ TextFormat::PrintToString: fields in number order, enums by name,
    # nested messages as "name {" blocks indented by two spaces, non-ASCII bytes octal-escaped.
    return text_format.MessageToString(message)


def read_manifest(path: str | os.PathLike[str]) -> tablet_pb2.Manifest:
    """Parse a snapshot MANIFEST (the file itself, e.g. ``<part>/snapshot/MANIFEST``)."""
    p = Path(path)
    return _parse_text(_read_text(p, "MANIFEST"), tablet_pb2.Manifest(), p)


def write_manifest(path: str | os.PathLike[str], manifest: tablet_pb2.Manifest) -> None:
    """Write a MANIFEST the way the tablet does: ``MANIFEST.tmp``, fsync, rename."""
    _write_atomically(Path(path), _to_text(manifest))


def read_table_meta(path: str | os.PathLike[str]) -> tablet_pb2.TableMeta:
    """Parse a partition's ``table_meta.txt``."""
    p = Path(path)
    return _parse_text(_read_text(p, "table_meta.txt"), tablet_pb2.TableMeta(), p)


def write_table_meta(path: str | os.PathLike[str], meta: tablet_pb2.TableMeta) -> None:
    """Write ``table_meta.txt`` (text format) through a temporary file."""
    _write_atomically(Path(path), _to_text(meta))


def parse_table_info(data: bytes, *, source: str) -> name_server_pb2.TableInfo:
    """Parse a binary ``TableInfo`` (a ``db_table_data`` znode's value); ``source`` names it."""
    info = name_server_pb2.TableInfo()
    try:
        info.ParseFromString(data)
    except DecodeError as exc:
        raise FormatError(f"not a binary TableInfo ({len(data)} bytes): {exc}", path=source) from None
    # Python's parser accepts messages with required fields unset; the nameserver's C++ parser
    # does not, so neither do we.
    missing = _missing_required(info)
    if missing:
        raise FormatError(f"TableInfo lacks required field(s): {', '.join(missing)}", path=source)
    return info


def read_table_info_file(path: str | os.PathLike[str]) -> name_server_pb2.TableInfo:
    """Parse a binary ``TableInfo`` saved to a file (e.g. a copy of a znode's value)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"TableInfo file {p} does not exist") from None
    except OSError as exc:
        raise FormatError(f"cannot read TableInfo: {exc.strerror or exc}", path=str(p)) from exc
    return parse_table_info(data, source=str(p))
