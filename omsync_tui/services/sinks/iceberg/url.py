"""An Iceberg destination as text: ``iceberg://<namespace>.<table>?<catalog properties>``.

Parsed here without pyiceberg, so opening any destination stays light and a bad URI is a
``UsageError`` naming the part and the fix before anything is loaded. The query holds the
catalog's properties as pyiceberg takes them (``uri=``, ``warehouse=``, ``s3.endpoint=``,
``credential=`` ...), plus omsync's own:

- ``catalog=sql|rest|hive|glue`` the catalog's type (default ``sql``: an embedded SQL catalog,
  ``uri=sqlite:////abs/catalog.db``);
- ``name=`` the catalog's name (default ``omsync``; a JDBC catalog reading the same database must
  use the same name);
- ``compact_files=N`` rewrite a partition's files into one once it has N (default 16; 0: never;
  FULL tasks never compact);
- ``partition=pid`` (the default: identity on the ``omsync_pid`` column) or ``partition=day(<col>)``:
  by pid and by the day of a timestamp or date column (Iceberg's ``day`` transform).

``warehouse`` is where data and metadata go: ``file:///abs/dir``, ``hdfs://nn:port/dir`` or
``s3://bucket/prefix``. The table's directory is ``<warehouse>/<namespace>/<table>``.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field

from omsync_tui.core.errors import UsageError

SCHEME = "iceberg"
FORM = (
    "iceberg://<namespace>.<table>?catalog=sql&uri=sqlite:////abs/catalog.db&warehouse=file:///abs/dir "
    "(warehouse also hdfs://nn:port/dir or s3://bucket/prefix; REST: catalog=rest&uri=http://host:port)"
)
_CATALOGS = ("sql", "rest", "hive", "glue")
_SECRET_WORDS = ("secret", "password", "token", "credential")


@dataclass(frozen=True)
class IcebergUri:
    namespace: str
    table: str
    catalog: str  # sql, rest, hive, glue
    name: str  # the catalog's name
    warehouse: str
    properties: dict[str, str] = field(default_factory=dict)  # the catalog's, as pyiceberg takes them
    compact_files: int = 16
    day_column: str | None = None  # partition=day(<col>): by pid and by that column's day

    @property
    def identifier(self) -> str:
        return f"{self.namespace}.{self.table}"


def parse(text: str) -> IcebergUri:
    """The parts of an ``iceberg://`` URI; UsageError naming what is wrong and the form."""
    shown = masked(text)
    parts = urllib.parse.urlsplit(text.strip())
    if parts.scheme.lower() != SCHEME:
        raise UsageError(f"{shown} is not an iceberg:// destination", hint=f"use {FORM}")
    ident = (parts.netloc + parts.path).strip("/")
    names = ident.split(".")
    if len(names) < 2 or not all(names):
        raise UsageError(
            f"destination {shown} names no <namespace>.<table> (got {ident!r})",
            hint=f"use {FORM}",
        )
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    twice = sorted(k for k, v in query.items() if len(v) > 1)
    if twice:
        raise UsageError(f"destination {shown} gives {', '.join(twice)} more than once")
    props = {k: v[0] for k, v in query.items()}
    catalog = props.pop("catalog", "sql").lower()
    if catalog not in _CATALOGS:
        raise UsageError(
            f"destination {shown}: unknown catalog type {catalog!r}",
            hint=f"use catalog={'|'.join(_CATALOGS)}",
        )
    name = props.pop("name", "omsync") or "omsync"
    partition = props.pop("partition", "pid")
    day = re.fullmatch(r"day\(\s*([^()\s]+)\s*\)", partition)
    if partition != "pid" and day is None:
        raise UsageError(
            f"destination {shown}: partition={partition!r} is not supported",
            hint="partition=pid (the default) or partition=day(<timestamp or date column>)",
        )
    raw_compact = props.pop("compact_files", "16")
    try:
        compact = int(raw_compact)
        if compact < 0 or compact == 1:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"destination {shown}: compact_files={raw_compact!r} is not a file count",
            hint="compact_files=N rewrites a partition's files into one once it holds N (N ≥ 2); 0 never",
        ) from None
    warehouse = props.get("warehouse", "").rstrip("/")
    if not warehouse:
        raise UsageError(f"destination {shown} names no warehouse", hint=f"add &warehouse=... : {FORM}")
    if "://" not in warehouse:
        raise UsageError(
            f"destination {shown}: warehouse {warehouse!r} is not a URI",
            hint="give file:///abs/dir, hdfs://namenode:port/dir or s3://bucket/prefix",
        )
    if catalog in ("sql", "rest") and not props.get("uri"):
        example = "sqlite:////abs/catalog.db" if catalog == "sql" else "http://host:port"
        raise UsageError(f"destination {shown}: the {catalog} catalog needs uri=", hint=f"e.g. uri={example}")
    uri = props.get("uri", "")
    if catalog == "sql" and uri.startswith("sqlite:") and not uri.startswith("sqlite:////"):
        raise UsageError(
            f"destination {shown}: the SQLite catalog {uri!r} is not an absolute path",
            hint="write it as uri=sqlite:////abs/path/catalog.db (four slashes)",
        )
    return IcebergUri(
        namespace=".".join(names[:-1]),
        table=names[-1],
        catalog=catalog,
        name=name,
        warehouse=warehouse,
        properties=props,
        compact_files=compact,
        day_column=day.group(1) if day else None,
    )


def masked(text: str) -> str:
    """The URI with secrets masked: user info and query values of keys naming a secret."""
    parts = urllib.parse.urlsplit(text)
    if not parts.query:
        return text
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    shown = [
        (k, "***" if any(w in k.lower() for w in _SECRET_WORDS) else re.sub(r"://[^/@]*@", "://***@", v))
        for k, v in pairs
    ]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(shown, safe="/:")))
