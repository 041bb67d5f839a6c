"""The synctool's config schema: its sections, ``SynctoolConfig`` and the checks on them.

Each section is a frozen dataclass with one attribute docstring per key; a field's ``property``
metadata names the ``synctool.properties`` key it replaces (reference §6.2), so an OpenMLDB
SyncTool's file can be given as ``properties`` for migration. ``endpoint`` is built from two
properties (``server.host`` and ``server.port``) by ``SynctoolConfig.combine_properties``;
``check`` warns about valid but doubtful values. Load it with ``load_config(SynctoolConfig, ...)``
from ``omsync_tui.core.config``; platformdirs defaults come from
``omsync_tui.services.paths.synctool_defaults``.

Stdlib only, like the rest of ``omsync_tui.core``.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from omsync_tui.core.collector_config import MIB, LogSection, parse_endpoint, under_tmp
from omsync_tui.core.config import ConfigRoot, ConfigValueError, PropertyValue, Setting
from omsync_tui.core.errors import UsageError

ANY_HOST = frozenset({"0.0.0.0", "::", "*", ""})
"""Hosts that mean "every interface": a place to listen, never an address to dial."""

RETRY_BACKOFF_CAP_S = 60.0
"""Reassignment backoff doubles from ``retry_backoff_s`` up to this."""

COLLECTOR_HEARTBEAT_S = 5.0
"""How often an idle collector sends: its default ``sync_task_long_interval_ms`` (a test keeps
the two in step)."""


def _positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigValueError(key, f"must be greater than 0, not {value}")


def _endpoint(key: str, value: str) -> str:
    try:
        host, _ = parse_endpoint(value)
    except ValueError as e:
        raise ConfigValueError(key, str(e)) from None
    return host


def _join(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# -- the synctool's sections -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SynctoolSection:
    """``[synctool]``: the daemon itself."""

    endpoint: str = field(metadata={"property": ("server.host", "server.port")})
    """Advertised ``host:port``: registered in ZooKeeper and sent to collectors as the address to
    send rows to (``des_endpoint``). Must be an address collectors can dial: ``0.0.0.0`` is
    refused (put it in ``bind``). Required. Replaces ``server.host`` + ``server.port``, which the
    original used both to listen and to advertise, so its release value ``0.0.0.0`` made remote
    collectors send to themselves."""

    datadir: Path
    """Local state, such as the event journal cache. Default: platformdirs' user data dir +
    ``synctool``. Replaces ``sync_task.progress_path``, whose value is not carried over: omsync
    keeps progress in ZooKeeper and in the destination, not in local files."""

    bind: str | None = None
    """``host:port`` to listen on (e.g. ``0.0.0.0:8848`` for every interface). Default: the
    endpoint. A properties file whose ``server.host`` is ``0.0.0.0`` sets it."""

    auth_token: str | None = field(default=None, repr=False)
    """Shared token: when set, mutating calls (create, delete, ...) without it are refused.
    Default: none (open). Not in OpenMLDB."""

    check_period_s: float = field(default=10.0, metadata={"property": "sync_task.check_period"})
    """Seconds between checks for timed-out subtasks. Replaces ``sync_task.check_period``."""

    collector_timeout_s: float = 30.0
    """A RUNNING subtask whose collector sent no SendData for this long is reassigned. The
    original used 2 × ``check_period`` and, after a reassignment, allowed only 20 ms more (a unit
    bug: seconds added as milliseconds)."""

    init_timeout_s: float = 60.0
    """An INIT subtask whose collector never sent anything for this long is reassigned."""

    request_timeout_s: float = field(default=5.0, metadata={"property": "request.timeout"})
    """Timeout of each AddSyncTask call to a collector. Replaces ``request.timeout``."""

    max_retries: int = 5
    """Reassignments of one subtask before it is FAILED (the original failed it at the first
    failed reassignment)."""

    retry_backoff_s: float = 2.0
    """Pause before the first retry of a failed reassignment; it doubles at each retry, up to
    60 s."""

    work: bool = True
    """This synctool receives, writes and commits subtasks the leader assigns to it (DESIGN §9);
    false: it only schedules while it leads, and answers reads. Not in OpenMLDB, whose
    standby SyncTools did no work."""

    workers: int = field(default=16, metadata={"property": "server.worker_threads"})
    """Threads serving RPC and HTTP calls. Replaces ``server.worker_threads``."""

    def __post_init__(self) -> None:
        host = _endpoint("endpoint", self.endpoint)
        if host in ANY_HOST:
            raise ConfigValueError(
                "endpoint",
                f"{self.endpoint!r} is not an address collectors can dial (they would send to "
                "themselves); put it in bind and set endpoint to this host's routable address",
            )
        if self.bind is None:
            object.__setattr__(self, "bind", self.endpoint)
        else:
            _endpoint("bind", self.bind)
        for key in ("check_period_s", "collector_timeout_s", "init_timeout_s", "request_timeout_s"):
            _positive(key, getattr(self, key))
        if self.max_retries < 0:
            raise ConfigValueError("max_retries", f"must not be negative, not {self.max_retries}")
        if not 0 <= self.retry_backoff_s <= RETRY_BACKOFF_CAP_S:
            raise ConfigValueError(
                "retry_backoff_s",
                f"must be between 0 and {RETRY_BACKOFF_CAP_S:g} (the cap), not {self.retry_backoff_s}",
            )
        _positive("workers", self.workers)

    @property
    def bind_address(self) -> tuple[str, int]:
        """(host, port) to listen on."""
        return parse_endpoint(self.bind or self.endpoint)


@dataclass(frozen=True, slots=True)
class SinkSection:
    """``[sink]``: how rows become files at the destination."""

    roll_rows: int = 5_000_000
    """Rows per file: a subtask's open file is committed and a new one started after this many.
    The original wrote one file per subtask and never rolled."""

    roll_bytes: int = 256 * MIB
    """Bytes per file (as written): a file is committed and a new one started past this size."""

    commit_seconds: float = 60.0
    """A subtask's open file is committed at least this many seconds after its first row, however
    small it is, so rows reach the destination (and ``task wait``) at most about this late. One
    commit is one file: while rows keep arriving a partition makes at least 3600 /
    ``commit_seconds`` files an hour (60 at the default, 3600 at 1 s), more when ``roll_rows`` or
    ``roll_bytes`` are reached first. Not in OpenMLDB, whose SyncTool wrote a file
    per SendData."""

    roll_seconds: float | None = None
    """The old name of ``commit_seconds`` (default then 300): when set and ``commit_seconds`` is
    not, it sets ``commit_seconds``, with a note to rename it."""

    memory_per_subtask: int = 64 * MIB
    """Bytes of accepted but not yet committed rows buffered per subtask; past it SendData
    answers busy and the collector sends the same rows again later."""

    memory_total: int = 512 * MIB
    """The same limit over every subtask of this synctool."""

    csv_timezone: str = "UTC"
    """IANA time zone of timestamps and dates written to CSV (e.g. ``Asia/Shanghai``). The
    original used the JVM's default zone, so its files depended on the host's settings."""

    def __post_init__(self) -> None:
        if self.roll_seconds is not None:  # first: a bad old name would else be blamed on the new
            _positive("roll_seconds", self.roll_seconds)
        for key in ("roll_rows", "roll_bytes", "commit_seconds", "memory_per_subtask", "memory_total"):
            _positive(key, getattr(self, key))
        if self.csv_timezone != "UTC":
            try:
                zoneinfo.ZoneInfo(self.csv_timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
                raise ConfigValueError(
                    "csv_timezone",
                    f"{self.csv_timezone!r} is not a known time zone (write an IANA name such as "
                    "UTC or Asia/Shanghai)",
                ) from None


@dataclass(frozen=True, slots=True)
class HdfsSection:
    """``[hdfs]``: the HDFS client of ``hdfs://`` and ``viewfs://`` destinations (hdfs-native, a
    Rust client: no JVM, no libhdfs). Every call is bounded by these keys, so a NameNode that is
    down is an error within seconds, never a hung subtask; the synctool retries a failed write
    itself (``synctool.max_retries``, ``synctool.retry_backoff_s``)."""

    hadoop_conf_dir: Path | None = field(default=None, metadata={"property": "hadoop.conf.dir"})
    """Hadoop client config dir (``core-site.xml``, ``hdfs-site.xml``): ``fs.defaultFS``, HA
    nameservices, viewfs mount tables, client keys. A destination given as a bare absolute path
    goes to ``fs.defaultFS`` when this sets one (as the original did). Default:
    ``HADOOP_CONF_DIR`` from the environment. Replaces ``hadoop.conf.dir``."""

    attempts: int = 3
    """Tries of each NameNode call before it fails (``dfs.client.failover.max.attempts``;
    hdfs-native's own default, 15, makes a dead NameNode take ~3 minutes to report)."""

    retry_sleep_ms: int = 100
    """First pause between those tries, doubling (``dfs.client.failover.sleep.base.millis``)."""

    retry_sleep_max_ms: int = 2000
    """Longest pause between tries (``dfs.client.failover.sleep.max.millis``)."""

    socket_timeout_ms: int = 20000
    """A NameNode or DataNode connection that stays silent this long fails the call
    (``dfs.client.socket-timeout``)."""

    kerberos_principal: str | None = None
    """Kerberos principal for a secured cluster (``hadoop.security.authentication = kerberos``
    in core-site.xml). Needs ``kerberos_keytab`` or a ticket cache from ``kinit``."""

    kerberos_keytab: Path | None = None
    """Keytab of ``kerberos_principal``."""

    kerberos_ticket_cache: Path | None = None
    """Ticket cache to use instead of the default (``KRB5CCNAME``)."""

    def __post_init__(self) -> None:
        for key in ("attempts", "retry_sleep_ms", "retry_sleep_max_ms", "socket_timeout_ms"):
            _positive(key, getattr(self, key))
        if self.retry_sleep_max_ms < self.retry_sleep_ms:
            raise ConfigValueError(
                "retry_sleep_max_ms",
                f"{self.retry_sleep_max_ms} is less than retry_sleep_ms = {self.retry_sleep_ms}",
            )

    def client_config(self) -> dict[str, str]:
        """The Hadoop client keys these settings stand for (they win over the conf dir's)."""
        return {
            "dfs.client.failover.max.attempts": str(self.attempts),
            "dfs.client.failover.sleep.base.millis": str(self.retry_sleep_ms),
            "dfs.client.failover.sleep.max.millis": str(self.retry_sleep_max_ms),
            "dfs.client.socket-timeout": str(self.socket_timeout_ms),
        }


@dataclass(frozen=True, slots=True)
class ZooKeeperSection:
    """``[zookeeper]``: the OpenMLDB cluster's ZooKeeper."""

    hosts: str = field(metadata={"property": "zookeeper.cluster"})
    """Connect string ``host:port[,host:port...]``. Required. Replaces ``zookeeper.cluster``."""

    root_path: str = field(default="/openmldb", metadata={"property": "zookeeper.root_path"})
    """The cluster's root znode. Replaces ``zookeeper.root_path``."""

    session_timeout_ms: int = 10000
    """ZooKeeper session timeout: a dead synctool's registration (and leadership) vanishes this
    long after it stopped."""

    auth: str | None = field(default=None, repr=False, metadata={"property": "zookeeper.cert"})
    """``user:password`` for ``addauth digest``, when the cluster uses an ACL. Replaces
    ``zookeeper.cert``."""

    def __post_init__(self) -> None:
        if not self.hosts.strip():
            raise ConfigValueError("hosts", "must not be empty")
        if not self.root_path.startswith("/") or (len(self.root_path) > 1 and self.root_path.endswith("/")):
            raise ConfigValueError("root_path", f"{self.root_path!r} must start and not end with '/'")
        _positive("session_timeout_ms", self.session_timeout_ms)
        if self.auth is not None and ":" not in self.auth:
            raise ConfigValueError("auth", "must be user:password")


# -- the synctool's config -------------------------------------------------------------------

_FLINK = "the original's Flink cache, which it never used"


@dataclass(frozen=True, slots=True)
class SynctoolConfig(ConfigRoot):
    """Everything ``omsync synctool`` reads at start-up."""

    synctool: SynctoolSection
    sink: SinkSection
    zookeeper: ZooKeeperSection
    log: LogSection
    hdfs: HdfsSection
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    origins: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    PROPERTIES_IGNORED: ClassVar[Mapping[str, str]] = {
        "sync_task.progress_path": (
            "omsync keeps progress in ZooKeeper and in the destination; its local state goes to "
            "synctool.datadir"
        ),
        "server.io_threads": "omsync's server has no separate IO threads",
        "user": "omsync reads table metadata from ZooKeeper, with no SQL login",
        "password": "omsync reads table metadata from ZooKeeper, with no SQL login",
        "data.cache_path": _FLINK,
        "flink.slots": _FLINK,
        "rest.bind-address": _FLINK,
        "rest.port": _FLINK,
        "high-availability.storageDir": _FLINK,
        "high-availability.cluster-id": _FLINK,
    }

    @classmethod
    def derived_settings(cls, values: Mapping[str, object]) -> tuple[list[Setting], list[str]]:
        """``sink.roll_seconds``, the old name, sets ``sink.commit_seconds`` below every explicit
        setting: a ``commit_seconds`` given too wins (the loader warns when the two differ)."""
        if "sink.roll_seconds" not in values:
            return [], []
        old = values["sink.roll_seconds"]
        note = (
            f"sink.roll_seconds = {old} is the old name of sink.commit_seconds (a file is committed "
            "at least this often): rename it"
        )
        return [Setting("sink", "commit_seconds", old, "sink.roll_seconds (its old name)")], [note]

    @classmethod
    def combine_properties(
        cls, props: Mapping[str, PropertyValue]
    ) -> tuple[list[Setting], list[str], list[str]]:
        """``server.host`` + ``server.port`` → ``synctool.endpoint``, or ``synctool.bind`` when the
        host is 0.0.0.0 (listen everywhere: an endpoint must then come from elsewhere)."""
        notes: list[str] = []
        if "sync_task.check_period" in props:
            p = props["sync_task.check_period"]
            notes.append(
                f"{p.where}: sync_task.check_period also set the original's collector timeout "
                "(2 × the period); omsync's is synctool.collector_timeout_s"
            )
        host, port = props.get("server.host"), props.get("server.port")
        if port is None:
            if host is None:
                return [], notes, []
            return [], notes, [f"{host.where}: server.host without server.port ignored"]
        number = port.value.strip()
        if not (number.isascii() and number.isdigit()) or not 0 < int(number) < 65536:
            raise UsageError(
                f"{port.where}: server.port must be a port number 1-65535, not {port.value!r}",
                hint="set server.port, or synctool.endpoint in the TOML file",
            )
        if host is None:  # the original then listened on every interface
            name, origin, said = "", f"{port.where} server.port", f"{port.where}: no server.host"
        else:
            name = host.value.strip()
            origin = f"{host.where} server.host, {port.where} server.port"
            said = f"{host.where}: server.host = {name!r}"
        if name not in ANY_HOST:
            return [Setting("synctool", "endpoint", _join(name, number), origin)], notes, []
        bind = _join(name if name in ("0.0.0.0", "::") else "0.0.0.0", number)
        warning = (
            f"{said} only says where to listen (synctool.bind = {bind}); collectors cannot dial it: "
            f"synctool.endpoint must be set to this host's routable address, e.g. <ip>:{number} "
            "(in the TOML file, OMSYNC_SYNCTOOL__ENDPOINT or --endpoint)"
        )
        return [Setting("synctool", "bind", bind, origin)], notes, [warning]

    def check(self) -> list[str]:
        out = []
        s, sink = self.synctool, self.sink
        if under_tmp(s.datadir):
            out.append(
                f"synctool.datadir {s.datadir} ({self.origin('synctool.datadir')}) is under a "
                "temporary directory: local state may vanish on reboot"
            )
        if s.collector_timeout_s < 3 * COLLECTOR_HEARTBEAT_S:
            out.append(
                f"synctool.collector_timeout_s = {s.collector_timeout_s:g} is below 3 × the collectors' "
                f"default heartbeat ({COLLECTOR_HEARTBEAT_S:g} s): a healthy but idle collector may be "
                "taken for dead and its partitions reassigned"
            )
        if sink.roll_bytes < 8 * MIB:
            out.append(
                f"sink.roll_bytes = {sink.roll_bytes} is under 8 MiB: many small files, slow to list and read"
            )
        if sink.commit_seconds < 10:
            out.append(
                f"sink.commit_seconds = {sink.commit_seconds:g}: up to {3600 / sink.commit_seconds:,.0f} "
                "files an hour per partition while rows arrive (many small files, slow to list and read)"
            )
        if sink.memory_total < sink.memory_per_subtask:
            out.append(
                f"sink.memory_total = {sink.memory_total} is less than sink.memory_per_subtask = "
                f"{sink.memory_per_subtask}: one subtask can never use its share"
            )
        bind_port, endpoint_port = s.bind_address[1], parse_endpoint(s.endpoint)[1]
        if bind_port != endpoint_port:
            out.append(
                f"synctool.bind port {bind_port} differs from synctool.endpoint port {endpoint_port}: "
                "collectors dial the endpoint (right only behind a port mapping)"
            )
        return out
