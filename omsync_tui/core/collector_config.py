"""The collector's config schema: its sections, ``CollectorConfig`` and the checks on them.

Each section is a frozen dataclass with one attribute docstring per key; a field's ``gflag``
metadata names the OpenMLDB flag it replaces. ``CollectorConfig`` adds what the tablet's flags
file implies (``derived_settings``) and warnings about valid but doubtful values (``check``).
Load it with ``load_config(CollectorConfig, ...)`` from ``omsync_tui.core.config``.

Stdlib only, like the rest of ``omsync_tui.core``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from omsync_tui.core.config import ConfigRoot, ConfigValueError, Setting
from omsync_tui.core.gflags import ROOT_PATH_FLAGS, read_tablet_flags

# -- host:port -------------------------------------------------------------------------------


def parse_endpoint(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6addr]:port`` → (host, port); ValueError says what is wrong."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: write IPv6 addresses as [addr]:port")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: port must be 1-65535")
    return host, int(port)


# -- the collector's sections ----------------------------------------------------------------

MIB = 1024 * 1024


def _positive(key: str, value: int) -> None:
    if value <= 0:
        raise ConfigValueError(key, f"must be greater than 0, not {value}")


@dataclass(frozen=True, slots=True)
class CollectorSection:
    """``[collector]``: the daemon itself."""

    endpoint: str = field(metadata={"gflag": "endpoint"})
    """Advertised ``host:port``: the name registered in ZooKeeper and what synctools dial. Its host
    must be the same text as the tablets' endpoints on this machine (the synctool matches by host).
    Required. Replaces ``--endpoint``."""

    datadir: Path = field(metadata={"gflag": "collector_datadir"})
    """Work dirs (hard links to tablet files) and progress; must be on the tablet's filesystem.
    Default: platformdirs' user data dir + ``collector``. Replaces ``--collector_datadir``."""

    bind: str | None = None
    """``host:port`` to listen on (e.g. ``0.0.0.0:8888``). Default: the endpoint. OpenMLDB has no
    such flag (``--endpoint`` is both)."""

    auth_token: str | None = field(default=None, repr=False)
    """Shared token: when set, mutating calls without it are refused. Default: none (open)."""

    max_pack_size: int = field(default=MIB, metadata={"gflag": "max_pack_size"})
    """Most row bytes per SendData (a larger single row goes alone). Replaces ``--max_pack_size``."""

    request_timeout_ms: int = field(default=20000, metadata={"gflag": "request_timeout_ms"})
    """Timeout of each RPC the collector makes (SendData, tablet calls). Replaces
    ``--request_timeout_ms``."""

    sync_task_short_interval_ms: int = field(default=0, metadata={"gflag": "sync_task_short_interval_ms"})
    """Pause before the next pack when more data is pending. Default 0: the original's 1000 let a
    partition send at most one pack (1 MiB) per second. Replaces ``--sync_task_short_interval_ms``."""

    sync_task_long_interval_ms: int = field(default=5000, metadata={"gflag": "sync_task_long_interval_ms"})
    """Pause after reaching the binlog's end or a failed send. Replaces
    ``--sync_task_long_interval_ms``."""

    verify_crc: bool = field(default=True, metadata={"gflag": "binlog_enable_crc"})
    """Check each log record's CRC-32C while reading. Replaces ``--binlog_enable_crc`` (whose
    default was false)."""

    def __post_init__(self) -> None:
        try:
            host, _ = parse_endpoint(self.endpoint)
        except ValueError as e:
            raise ConfigValueError("endpoint", str(e)) from None
        if host in ("0.0.0.0", "::", "*"):
            raise ConfigValueError(
                "endpoint", f"{self.endpoint!r} is not an address others can dial; put it in bind instead"
            )
        if self.bind is None:
            object.__setattr__(self, "bind", self.endpoint)
        else:
            try:
                parse_endpoint(self.bind)
            except ValueError as e:
                raise ConfigValueError("bind", str(e)) from None
        if not 0 < self.max_pack_size < 64 * MIB:
            raise ConfigValueError("max_pack_size", "must be between 1 and 64 MiB - 1 (brpc's body limit)")
        for key in ("request_timeout_ms", "sync_task_long_interval_ms"):
            _positive(key, getattr(self, key))
        if self.sync_task_short_interval_ms < 0:
            raise ConfigValueError("sync_task_short_interval_ms", "must not be negative")

    @property
    def bind_address(self) -> tuple[str, int]:
        """(host, port) to listen on."""
        return parse_endpoint(self.bind or self.endpoint)


@dataclass(frozen=True, slots=True)
class ZooKeeperSection:
    """``[zookeeper]``: the OpenMLDB cluster's ZooKeeper."""

    hosts: str = field(metadata={"gflag": "zk_cluster"})
    """Connect string ``host:port[,host:port...]``. Required (or read from ``tablet.flagfile``).
    Replaces ``--zk_cluster``."""

    root_path: str = field(default="/openmldb", metadata={"gflag": "zk_root_path"})
    """The cluster's root znode. Replaces ``--zk_root_path``."""

    session_timeout_ms: int = field(default=10000, metadata={"gflag": "zk_session_timeout"})
    """ZooKeeper session timeout; the collector's registration vanishes this long after it dies.
    Replaces ``--zk_session_timeout`` (whose collector default was 2000)."""

    auth: str | None = field(default=None, repr=False, metadata={"gflag": "zk_cert"})
    """``user:password`` for ``addauth digest``, when the cluster uses an ACL. Replaces
    ``--zk_cert``."""

    def __post_init__(self) -> None:
        if not self.hosts.strip():
            raise ConfigValueError("hosts", "must not be empty")
        if not self.root_path.startswith("/") or (len(self.root_path) > 1 and self.root_path.endswith("/")):
            raise ConfigValueError("root_path", f"{self.root_path!r} must start and not end with '/'")
        _positive("session_timeout_ms", self.session_timeout_ms)
        if self.auth is not None and ":" not in self.auth:
            raise ConfigValueError("auth", "must be user:password")


@dataclass(frozen=True, slots=True)
class TabletSection:
    """``[tablet]``: where this host's TabletServer keeps its files."""

    root_paths: tuple[Path, ...] = ()
    """The tablet's data roots (its ``--db_root_path``, ``--ssd_root_path`` and ``--hdd_root_path``
    lists together). Default: read from ``flagfile``; one of the two is required."""

    flagfile: Path | None = None
    """The tablet's gflags file (e.g. ``<release>/conf/tablet.flags``): root paths, ``endpoint``,
    ``zk_cluster``, ``zk_root_path`` and ``binlog_name_length`` not set here are read from it."""

    endpoint: str | None = None
    """The tablet's endpoint (its ``--endpoint``). Default: read from ``flagfile``; a warning when
    its host differs from ``collector.endpoint``'s."""

    binlog_name_length: int = field(default=8, metadata={"gflag": "binlog_name_length"})
    """Digits in binlog file names; must match the tablet's. Replaces ``--binlog_name_length``."""

    def __post_init__(self) -> None:
        if not self.root_paths:
            raise ConfigValueError(
                "root_paths", "no tablet root paths: set tablet.root_paths, or tablet.flagfile to read them"
            )
        if self.endpoint is not None:
            try:
                parse_endpoint(self.endpoint)
            except ValueError as e:
                raise ConfigValueError("endpoint", str(e)) from None
        _positive("binlog_name_length", self.binlog_name_length)


LOG_LEVELS = {"debug": "debug", "info": "info", "warn": "warning", "warning": "warning", "error": "error"}


@dataclass(frozen=True, slots=True)
class LogSection:
    """``[log]``: the daemon's own log."""

    dir: Path = field(metadata={"gflag": "openmldb_log_dir"})
    """Directory of the log files. Default: platformdirs' user log dir. Replaces
    ``--openmldb_log_dir``."""

    level: str = field(default="info", metadata={"gflag": "log_level"})
    """``debug``, ``info``, ``warning`` or ``error``. Replaces ``--log_level``."""

    def __post_init__(self) -> None:
        level = LOG_LEVELS.get(self.level.strip().lower())
        if level is None:
            raise ConfigValueError("level", f"{self.level!r} is not one of debug, info, warning, error")
        object.__setattr__(self, "level", level)


# -- the collector's config ------------------------------------------------------------------


_NOT_USED = "omsync has no such knob"


@dataclass(frozen=True, slots=True)
class CollectorConfig(ConfigRoot):
    """Everything ``omsync collector`` reads at start-up."""

    collector: CollectorSection
    zookeeper: ZooKeeperSection
    tablet: TabletSection
    log: LogSection
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    origins: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    GFLAGS_IGNORED: ClassVar[Mapping[str, str]] = {
        "role": "always data_collector",
        "enable_status_service": "omsync always serves /status",
        "socket_max_unwritten_bytes": "omsync sends one pack at a time per connection",
        "task_thread_pool_size": "partitions are synced by omsync's own scheduler",
        "thread_pool_size": "omsync's server is not thread-pooled",
        "zk_keep_alive_check_interval": "kazoo re-registers on session events",
        "zk_auth_schema": "omsync authenticates with digest only (the default)",
        "max_traverse_cnt": "snapshot reads are never capped",
        "block_cache_mb": "snapshots are opened read-only with RocksDB defaults",
        "write_buffer_mb": "snapshots are opened read-only with RocksDB defaults",
        "disable_wal": "snapshots are opened read-only",
        "request_max_retry": _NOT_USED,
        "request_sleep_time": _NOT_USED,
    }

    @classmethod
    def derived_settings(cls, values: Mapping[str, object]) -> tuple[list[Setting], list[str]]:
        flagfile = values.get("tablet.flagfile")
        if not isinstance(flagfile, Path):
            return [], []
        tf = read_tablet_flags(flagfile)
        out: list[Setting] = []
        notes: list[str] = []
        if tf.root_paths:
            which = ", ".join(f"{tf.where[f]} --{f}" for f in ROOT_PATH_FLAGS if f in tf.where)
            out.append(Setting("tablet", "root_paths", tf.root_paths, which))
            notes.append(f"tablet root paths from {flagfile}: {', '.join(map(str, tf.root_paths))}")
        for flag, section, key in (
            ("endpoint", "tablet", "endpoint"),
            ("zk_cluster", "zookeeper", "hosts"),
            ("zk_root_path", "zookeeper", "root_path"),
            ("binlog_name_length", "tablet", "binlog_name_length"),
        ):
            value = getattr(tf, flag)
            if value is not None:
                out.append(Setting(section, key, value, f"{tf.where[flag]} --{flag}"))
        return out, notes

    def check(self) -> list[str]:
        out = []
        if under_tmp(self.collector.datadir):
            out.append(
                f"collector.datadir {self.collector.datadir} ({self.origin('collector.datadir')}) is under "
                "a temporary directory: progress and links may vanish on reboot"
            )
        if self.tablet.endpoint is not None:
            mine, theirs = parse_endpoint(self.collector.endpoint)[0], parse_endpoint(self.tablet.endpoint)[0]
            if mine != theirs:
                out.append(
                    f"collector.endpoint host {mine!r} differs from the tablet's {theirs!r}: synctools pick "
                    "a collector by the exact host text of the partition leader's endpoint"
                )
        if self.collector.sync_task_short_interval_ms > self.collector.sync_task_long_interval_ms:
            out.append("collector.sync_task_short_interval_ms is longer than sync_task_long_interval_ms")
        return out


def under_tmp(path: Path) -> bool:
    p = os.path.abspath(path)
    return any(
        p == t or p.startswith(t.rstrip("/") + "/") for t in {"/tmp", "/var/tmp", tempfile.gettempdir()}
    )
