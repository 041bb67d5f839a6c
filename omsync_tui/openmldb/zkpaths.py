"""The ZooKeeper layout of a real OpenMLDB cluster (reference §5) and the reads omsync makes there.

``ZkPaths`` only builds paths; the functions read through a started ``KazooClient`` and are the
one place where kazoo's exceptions about cluster metadata become omsync errors
(``zk_errors``): a missing znode is a ``NotFoundError`` that suggests checking
``zk_root_path``, a lost connection or session a ``ClusterError``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kazoo.exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    NoAuthError,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError

from omsync_tui.core.errors import ClusterError, NotFoundError, UsageError
from omsync_tui.openmldb.metadata import parse_table_info
from omsync_tui.openmldb.proto import name_server_pb2

ROOT_HINT = "is zk_root_path right? (OpenMLDB's --zk_root_path / zookeeper.root_path, default /openmldb)"
CONNECT_HINT = "is ZooKeeper reachable? check zk_cluster and that the ensemble is up"


class ZkPaths:
    """Znode paths under one cluster root (``--zk_root_path``, default ``/openmldb``)."""

    def __init__(self, root: str = "/openmldb") -> None:
        if not root.startswith("/"):
            raise UsageError(f"zk_root_path {root!r} must start with '/'", hint="e.g. /openmldb")
        stripped = root.rstrip("/")
        self.root = stripped or "/"
        # Children of "/" are "/x", not "//x".
        self._prefix = stripped

    def _join(self, *parts: str) -> str:
        return "/".join((self._prefix, *parts))

    def __repr__(self) -> str:
        return f"ZkPaths({self.root!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZkPaths) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    @property
    def db_table_data(self) -> str:
        """Parent of one persistent node per table, named by tid, holding a binary TableInfo."""
        return self._join("table", "db_table_data")

    def table(self, tid: int) -> str:
        return f"{self.db_table_data}/{int(tid)}"

    @property
    def table_index(self) -> str:
        """Decimal counter the nameserver allocates tids from."""
        return self._join("table", "table_index")

    @property
    def term(self) -> str:
        return self._join("table", "term")

    @property
    def notify(self) -> str:
        """Decimal counter bumped on every table change; SDKs watch it to refresh their cache."""
        return self._join("table", "notify")

    @property
    def nodes(self) -> str:
        """Parent of the tablets' ephemeral registration nodes."""
        return self._join("nodes")

    def tablet(self, endpoint: str) -> str:
        return f"{self.nodes}/{_child_name(endpoint)}"

    @property
    def collectors(self) -> str:
        """Parent of the DataCollectors' ephemeral ``<ip:port>`` nodes."""
        return self._join("sync_tool", "collector")

    def collector(self, endpoint: str) -> str:
        return f"{self.collectors}/{_child_name(endpoint)}"

    @property
    def dbs(self) -> str:
        return self._join("db")

    def db(self, name: str) -> str:
        return f"{self.dbs}/{_child_name(name)}"

    @property
    def leader(self) -> str:
        """Parent of the nameservers' election nodes (lowest sequence = leader)."""
        return self._join("leader")


def _child_name(name: str) -> str:
    if not name or "/" in name:
        raise UsageError(f"{name!r} is not a valid znode name (empty or contains '/')")
    return name


@contextmanager
def zk_errors(path: str) -> Iterator[None]:
    """Translate kazoo's exceptions raised while working on ``path`` into omsync errors."""
    try:
        yield
    except NoNodeError:
        raise NotFoundError(f"znode {path} does not exist", hint=ROOT_HINT) from None
    except NoAuthError as exc:
        raise ClusterError(
            f"ZooKeeper refused access to {path} (no auth)",
            hint="the cluster uses an ACL: configure zk_cert (addauth digest) like OpenMLDB's --zk_cert",
        ) from exc
    except ConnectionClosedError as exc:
        raise ClusterError(f"the ZooKeeper client was closed before reading {path}") from exc
    except SessionExpiredError as exc:
        raise ClusterError(f"ZooKeeper session expired while reading {path}", hint=CONNECT_HINT) from exc
    except (ConnectionLoss, OperationTimeoutError, KazooTimeoutError) as exc:
        raise ClusterError(f"lost the ZooKeeper connection while reading {path}", hint=CONNECT_HINT) from exc
    except KazooException as exc:
        raise ClusterError(f"ZooKeeper error on {path}: {type(exc).__name__} {exc}".rstrip()) from exc


def _children(zk: Any, path: str) -> list[str]:
    with zk_errors(path):
        children: list[str] = zk.get_children(path)
    return children


def _get_if_exists(zk: Any, path: str) -> bytes | None:
    """A child's data, or None if it vanished since it was listed (dropped table, gone tablet)."""
    try:
        with zk_errors(path):
            data, _stat = zk.get(path)
    except NotFoundError:
        return None
    return bytes(data or b"")


def _qualified(info: name_server_pb2.TableInfo) -> str:
    return f"{info.db}.{info.name}"


def list_tables(zk: Any, paths: ZkPaths) -> list[name_server_pb2.TableInfo]:
    """Every table of the cluster, sorted by (db, name); a node that does not parse → FormatError."""
    parent = paths.db_table_data
    tables: list[name_server_pb2.TableInfo] = []
    for child in _children(zk, parent):
        path = f"{parent}/{child}"
        data = _get_if_exists(zk, path)
        if data is not None:
            tables.append(parse_table_info(data, source=f"znode {path}"))
    tables.sort(key=lambda t: (t.db, t.name, t.tid))
    return tables


def split_table_name(name: str) -> tuple[str, str]:
    """``"db.table"`` → ``("db", "table")``; anything else is a UsageError."""
    parts = name.split(".")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise UsageError(f"table {name!r} is not of the form db.table", hint="e.g. demo_db.t1")
    return parts[0].strip(), parts[1].strip()


def resolve_table(zk: Any, paths: ZkPaths, name: str) -> name_server_pb2.TableInfo:
    """The TableInfo of ``"db.table"``; NotFoundError (with similar names) if there is none."""
    db, table = split_table_name(name)
    tables = list_tables(zk, paths)
    for info in tables:
        if info.db == db and info.name == table:
            return info
    known = [_qualified(t) for t in tables]
    similar = _similar_tables(db, table, tables)
    if similar:
        hint = f"did you mean {', '.join(similar)}?"
    elif known:
        shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
        hint = f"known tables: {shown}"
    else:
        hint = f"the cluster has no tables under {paths.db_table_data}; {ROOT_HINT}"
    raise NotFoundError(f"table {db}.{table} does not exist", hint=hint)


def _similar_tables(db: str, table: str, tables: list[name_server_pb2.TableInfo]) -> list[str]:
    """Up to five ``db.table`` names close to the one asked for, best first.

    The table name decides (a shared database prefix would make every table look similar);
    the database name breaks ties, so a table that exists in another database comes first.
    """

    def ratio(a: str, b: str) -> float:
        return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()

    scored = [(ratio(table, t.name), ratio(db, t.db), _qualified(t)) for t in tables]
    close = [s for s in scored if s[0] >= 0.6]
    close.sort(key=lambda s: (-s[0], -s[1], s[2]))
    return [name for _, _, name in close[:5]]


def table_by_tid(zk: Any, paths: ZkPaths, tid: int) -> name_server_pb2.TableInfo:
    """The TableInfo stored at ``db_table_data/<tid>``."""
    path = paths.table(tid)
    try:
        with zk_errors(path):
            data, _stat = zk.get(path)
    except NotFoundError:
        raise NotFoundError(f"no table with tid {tid} ({path} does not exist)", hint=ROOT_HINT) from None
    return parse_table_info(bytes(data or b""), source=f"znode {path}")


def partition_leaders(table_info: name_server_pb2.TableInfo) -> dict[int, str]:
    """pid → endpoint of its one alive leader; ClusterError naming tid/pid otherwise.

    Every pid in ``0 .. partition_num - 1`` must be present (when ``partition_num`` is set).
    """
    where = f"table {_qualified(table_info)} (tid {table_info.tid})"
    leaders: dict[int, str] = {}
    for partition in table_info.table_partition:
        pid = partition.pid
        if pid in leaders:
            raise ClusterError(f"{where} lists partition pid {pid} twice")
        alive = [m.endpoint for m in partition.partition_meta if m.is_leader and m.is_alive]
        if len(alive) != 1:
            state = "no alive leader" if not alive else f"{len(alive)} alive leaders ({', '.join(alive)})"
            raise ClusterError(
                f"{where} pid {pid} has {state}",
                hint="the nameserver is probably failing over; retry, or check `showtablet`/`showtable`",
            )
        leaders[pid] = alive[0]
    if table_info.HasField("partition_num"):
        missing = sorted(set(range(table_info.partition_num)) - leaders.keys())
        if missing:
            raise ClusterError(
                f"{where} has no partition entry for pid {', '.join(map(str, missing))}",
                hint="the table's metadata is incomplete; check it with `showtable` in the OpenMLDB CLI",
            )
    return dict(sorted(leaders.items()))


def _list_registrations(zk: Any, parent: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for child in sorted(_children(zk, parent)):
        data = _get_if_exists(zk, f"{parent}/{child}")
        if data is not None:
            result[child] = data.decode("utf-8", "replace")
    return result


def list_tablets(zk: Any, paths: ZkPaths) -> dict[str, str]:
    """Registered tablets: node name (endpoint or ``--use_name`` name) → node data.

    The data is ``startup_<endpoint>`` after a tablet's first registration and ``<endpoint>``
    after a re-registration.
    """
    return _list_registrations(zk, paths.nodes)


def list_collectors(zk: Any, paths: ZkPaths) -> dict[str, str]:
    """Registered DataCollectors: ``ip:port`` → node data (the same endpoint).

    No ``sync_tool/collector`` node just means no collector has ever started: empty result.
    """
    try:
        return _list_registrations(zk, paths.collectors)
    except NotFoundError:
        with zk_errors(paths.root):
            root_exists = zk.exists(paths.root) is not None
        if not root_exists:
            raise NotFoundError(f"znode {paths.root} does not exist", hint=ROOT_HINT) from None
        return {}
