"""The reads omsync makes in an OpenMLDB cluster's ZooKeeper: its tables, tablets and collectors.

Every read goes through ``zk_errors``, so callers see omsync errors only; a node that vanished
between listing and reading it (a dropped table, a tablet gone) is skipped. Where the nodes are is
``openmldb/zkpaths``.
"""

from __future__ import annotations

import difflib
from typing import Any

from omsync_tui.core.errors import NotFoundError
from omsync_tui.openmldb.metadata import parse_table_info
from omsync_tui.openmldb.proto import name_server_pb2
from omsync_tui.openmldb.zkpaths import ROOT_HINT, ZkPaths, qualified_name, split_table_name
from omsync_tui.services.zk.errors import zk_errors


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


def resolve_table(zk: Any, paths: ZkPaths, name: str) -> name_server_pb2.TableInfo:
    """The TableInfo of ``"db.table"``; NotFoundError (with similar names) if there is none."""
    db, table = split_table_name(name)
    tables = list_tables(zk, paths)
    for info in tables:
        if info.db == db and info.name == table:
            return info
    known = [qualified_name(t) for t in tables]
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

    scored = [(ratio(table, t.name), ratio(db, t.db), qualified_name(t)) for t in tables]
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
