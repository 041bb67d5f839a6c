"""OpenMLDB gflags files: reading ``--name=value`` files, and what a collector needs from its
tablet's flags file.

``parse_gflags`` reads a file the way gflags does (includes, ``--noname`` negation via
``flag_name_value``); ``gflags_base_dir`` is where its relative paths point. ``read_tablet_flags``
pulls a tablet's root paths, endpoint, ZooKeeper and binlog name length out of one. The loader
(``omsync_tui.core.config``) uses these for its ``flagfile`` source; ``split_list`` and
``abs_path`` live here because tablet flags need them and the loader's type coercion shares them.

Stdlib only, like the rest of ``omsync_tui.core``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omsync_tui.core.errors import UsageError

ROOT_PATH_FLAGS = ("db_root_path", "ssd_root_path", "hdd_root_path")
_MAX_FLAGFILE_DEPTH = 8


@dataclass(frozen=True, slots=True)
class GFlag:
    """One ``--name=value`` line of a gflags file."""

    name: str  # as written, without dashes: "nobinlog_enable_crc" stays as is
    value: str | None  # None for a bare ``--name``
    path: Path
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def gflags_base_dir(path: Path) -> Path:
    """Where relative paths in an OpenMLDB flags file point: its start scripts run from the
    release directory, the parent of ``conf/``."""
    parent = Path(os.path.abspath(path)).parent
    return parent.parent if parent.name == "conf" else parent


def parse_gflags(path: Path, *, _depth: int = 0) -> tuple[list[GFlag], list[str]]:
    """The flags of a gflags file in order (later ones win), and warnings about skipped lines.

    Lines are ``--name=value`` or ``-name=value``, ``--name`` / ``--noname`` for booleans, ``#``
    comments and blank lines. ``--flagfile=F`` includes F there (relative to ``gflags_base_dir``).
    Matching quotes around a value are removed (gflags would keep them, so no working OpenMLDB
    file has them). A line not starting with ``-`` (gflags' program-name filter) is skipped with
    a warning; a space-separated value is an error, as gflags would refuse to start.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"flags file {path} does not exist", hint="check the --flagfile path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read flags file {path}: {e}") from None
    flags: list[GFlag] = []
    warnings: list[str] = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("-"):
            warnings.append(f"{path}:{no}: {line!r} is not a flag (no leading '-'), skipped")
            continue
        body = line[2:] if line.startswith("--") else line[1:]
        name, eq, value = body.partition("=")
        name = name.strip()
        if not name or re.search(r"\s", name) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise UsageError(
                f"{path}:{no}: cannot read {line!r} as a flag",
                hint="write --name=value on one line, without spaces around the name",
            )
        flag_value: str | None = None
        if eq:
            flag_value = value.strip()
            if len(flag_value) >= 2 and flag_value[0] == flag_value[-1] and flag_value[0] in "\"'":
                flag_value = flag_value[1:-1]
        if name == "flagfile":
            if not flag_value:
                raise UsageError(f"{path}:{no}: --flagfile needs a file name")
            if _depth >= _MAX_FLAGFILE_DEPTH:
                raise UsageError(f"{path}:{no}: --flagfile nested more than {_MAX_FLAGFILE_DEPTH} deep")
            inner = Path(flag_value).expanduser()
            if not inner.is_absolute():
                inner = gflags_base_dir(path) / inner
            more, more_warnings = parse_gflags(inner, _depth=_depth + 1)
            flags += more
            warnings += more_warnings
            continue
        flags.append(GFlag(name, flag_value, path, no))
    return flags, warnings


def flag_name_value(flag: GFlag, known: Collection[str]) -> tuple[str, str | None]:
    """(name, value) with gflags' negation: ``--nofoo`` is ``foo=false`` when ``foo`` is known."""
    if (
        flag.value is None
        and flag.name not in known
        and flag.name.startswith("no")
        and flag.name[2:] in known
    ):
        return flag.name[2:], "false"
    return flag.name, flag.value


@dataclass(frozen=True, slots=True)
class TabletFlags:
    """What a collector needs from its tablet's flags file (reference §3.1)."""

    path: Path
    endpoint: str | None = None
    db_root_paths: tuple[Path, ...] = ()
    ssd_root_paths: tuple[Path, ...] = ()
    hdd_root_paths: tuple[Path, ...] = ()
    zk_cluster: str | None = None
    zk_root_path: str | None = None
    binlog_name_length: int | None = None
    where: Mapping[str, str] = field(default_factory=dict, compare=False)  # flag -> "file:line"

    @property
    def root_paths(self) -> tuple[Path, ...]:
        """Every root, memory first: a partition ``<tid>_<pid>`` lives under exactly one."""
        return tuple(dict.fromkeys(self.db_root_paths + self.ssd_root_paths + self.hdd_root_paths))


def read_tablet_flags(path: Path) -> TabletFlags:
    """Root paths (comma-separated lists), endpoint, ZooKeeper and binlog name length of a tablet."""
    flags, _ = parse_gflags(path)
    base = gflags_base_dir(path)
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    for flag in flags:
        if flag.value is None:
            continue
        if flag.name in ROOT_PATH_FLAGS:
            values[flag.name] = tuple(abs_path(p, base) for p in split_list(flag.value))
        elif flag.name == "binlog_name_length":
            try:
                values[flag.name] = int(flag.value)
            except ValueError:
                raise UsageError(
                    f"{flag.where}: --binlog_name_length must be an integer, not {flag.value!r}"
                ) from None
        elif flag.name in ("endpoint", "zk_cluster", "zk_root_path"):
            values[flag.name] = flag.value
        else:
            continue
        where[flag.name] = flag.where
    return TabletFlags(
        Path(path),
        endpoint=values.get("endpoint"),
        db_root_paths=values.get("db_root_path", ()),
        ssd_root_paths=values.get("ssd_root_path", ()),
        hdd_root_paths=values.get("hdd_root_path", ()),
        zk_cluster=values.get("zk_cluster"),
        zk_root_path=values.get("zk_root_path"),
        binlog_name_length=values.get("binlog_name_length"),
        where=where,
    )


# -- values ----------------------------------------------------------------------------------


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def abs_path(raw: str | Path, base: Path | None) -> Path:
    p = Path(raw).expanduser()
    if not p.is_absolute():
        p = (base or Path.cwd()) / p
    return Path(os.path.normpath(p))
