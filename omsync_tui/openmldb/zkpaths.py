"""The ZooKeeper layout of a real OpenMLDB cluster (reference §5): where its znodes are.

``ZkPaths`` only builds paths and the functions here only look at what was read; reading through
a ``KazooClient``, and turning kazoo's exceptions into omsync errors, is ``services/zk``'s.
"""

from __future__ import annotations

from omsync_tui.core.errors import ClusterError, UsageError
from omsync_tui.openmldb.proto import name_server_pb2

ROOT_HINT = "is zk_root_path right? (OpenMLDB's --zk_root_path / zookeeper.root_path, default /openmldb)"


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


def qualified_name(info: name_server_pb2.TableInfo) -> str:
    """``db.table`` of a TableInfo."""
    return f"{info.db}.{info.name}"


def split_table_name(name: str) -> tuple[str, str]:
    """``"db.table"`` → ``("db", "table")``; anything else is a UsageError."""
    parts = name.split(".")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise UsageError(f"table {name!r} is not of the form db.table", hint="e.g. demo_db.t1")
    return parts[0].strip(), parts[1].strip()


def partition_leaders(table_info: name_server_pb2.TableInfo) -> dict[int, str]:
    """pid → endpoint of its one alive leader; ClusterError naming tid/pid otherwise.

    Every pid in ``0 .. partition_num - 1`` must be present (when ``partition_num`` is set).
    """
    where = f"table {qualified_name(table_info)} (tid {table_info.tid})"
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
