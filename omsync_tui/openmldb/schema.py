"""Table schemas as the row codec sees them: columns, types and schema versions.

A row's byte 1 (SVersion) selects its column list: version 1 is ``column_desc``; version v is
``column_desc`` + the first ``field_count - len(column_desc)`` entries of ``added_column_desc``
for the ``schema_versions`` pair with ``id == v`` (reference §4.3). ``TableSchema`` resolves that
once so decoders never look at protobufs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omsync_tui.core.errors import RowDecodeError, UsageError

if TYPE_CHECKING:
    from omsync_tui.openmldb.proto import common_pb2
    from omsync_tui.openmldb.proto.name_server_pb2 import TableInfo
    from omsync_tui.openmldb.proto.tablet_pb2 import TableMeta


class ColumnType(IntEnum):
    """openmldb.type.DataType values the row codec v1 supports."""

    BOOL = 1
    SMALLINT = 2
    INT = 3
    BIGINT = 4
    FLOAT = 5
    DOUBLE = 6
    DATE = 7
    TIMESTAMP = 8
    VARCHAR = 13
    STRING = 14

    @property
    def is_string(self) -> bool:
        return self in (ColumnType.VARCHAR, ColumnType.STRING)

    @property
    def width(self) -> int:
        """Bytes of the fixed slot; 0 for strings."""
        return FIXED_WIDTH.get(self, 0)


FIXED_WIDTH: dict[ColumnType, int] = {
    ColumnType.BOOL: 1,
    ColumnType.SMALLINT: 2,
    ColumnType.INT: 4,
    ColumnType.BIGINT: 8,
    ColumnType.FLOAT: 4,
    ColumnType.DOUBLE: 8,
    ColumnType.DATE: 4,
    ColumnType.TIMESTAMP: 8,
}

_TYPE_NAMES: dict[str, ColumnType] = {
    "bool": ColumnType.BOOL,
    "boolean": ColumnType.BOOL,
    "smallint": ColumnType.SMALLINT,
    "int16": ColumnType.SMALLINT,
    "int": ColumnType.INT,
    "int32": ColumnType.INT,
    "integer": ColumnType.INT,
    "bigint": ColumnType.BIGINT,
    "int64": ColumnType.BIGINT,
    "float": ColumnType.FLOAT,
    "double": ColumnType.DOUBLE,
    "date": ColumnType.DATE,
    "timestamp": ColumnType.TIMESTAMP,
    "varchar": ColumnType.VARCHAR,
    "string": ColumnType.STRING,
}
# OpenMLDB's own enum spellings (kInt, kVarchar, ...) are accepted too.
_TYPE_NAMES.update({"k" + name: t for name, t in list(_TYPE_NAMES.items())})
_TYPE_NAMES.update(
    {"ksmallint": ColumnType.SMALLINT, "kbigint": ColumnType.BIGINT, "ktimestamp": ColumnType.TIMESTAMP}
)

TYPE_NAME: dict[ColumnType, str] = {
    ColumnType.BOOL: "bool",
    ColumnType.SMALLINT: "smallint",
    ColumnType.INT: "int",
    ColumnType.BIGINT: "bigint",
    ColumnType.FLOAT: "float",
    ColumnType.DOUBLE: "double",
    ColumnType.DATE: "date",
    ColumnType.TIMESTAMP: "timestamp",
    ColumnType.VARCHAR: "varchar",
    ColumnType.STRING: "string",
}


def parse_type_name(name: str) -> ColumnType:
    """``int``, ``kInt``, ``INT`` → ColumnType.INT; anything else is a UsageError naming the choices."""
    found = _TYPE_NAMES.get(name.strip().lower())
    if found is None:
        choices = " ".join(TYPE_NAME.values())
        raise UsageError(f"unknown column type {name!r}", hint=f"use one of: {choices} (or kInt-style names)")
    return found


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType
    not_null: bool = False


def _column_from_desc(desc: common_pb2.ColumnDesc, where: str) -> Column:
    try:
        ctype = ColumnType(desc.data_type)
    except ValueError:
        raise UsageError(
            f"{where}: column {desc.name!r} has data_type {desc.data_type}, which row codec v1 cannot decode",
            hint="ARRAY/MAP columns are not supported by OpenMLDB's row codec either",
        ) from None
    return Column(desc.name, ctype, bool(desc.not_null))


@dataclass(frozen=True)
class TableSchema:
    """Columns of every schema version of one table.

    ``base`` = ``column_desc``; ``added`` = ``added_column_desc``; ``versions`` maps a schema
    version id (> 1) to its field count. Version 1 always means ``base``.
    """

    base: tuple[Column, ...]
    added: tuple[Column, ...] = ()
    versions: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.base:
            raise UsageError("a table schema needs at least one column")
        for vid, count in self.versions.items():
            if count < len(self.base) or count > len(self.base) + len(self.added):
                raise UsageError(
                    f"schema version {vid} has field_count {count}, but the table has "
                    f"{len(self.base)} base and {len(self.added)} added columns"
                )

    @property
    def latest_version(self) -> int:
        """Highest known schema version id (1 when the table was never altered)."""
        return max(self.versions, default=1)

    @property
    def latest(self) -> tuple[Column, ...]:
        """Columns of the newest version: the shape every decoded batch is given."""
        return self.columns_for(self.latest_version)

    def columns_for(self, version: int) -> tuple[Column, ...]:
        if version == 1:
            return self.base
        count = self.versions.get(version)
        if count is None:
            known = ", ".join(str(v) for v in sorted({1, *self.versions}))
            raise RowDecodeError(
                f"row has schema version {version}, the table knows versions {known}",
                hint="the schema is older than the data: re-read the table's metadata after ALTER TABLE",
            )
        return self.base + self.added[: count - len(self.base)]

    @classmethod
    def from_proto(cls, table: TableInfo | TableMeta, where: str = "table") -> TableSchema:
        """From an ``openmldb.nameserver.TableInfo`` or an ``openmldb.api.TableMeta``."""
        base = tuple(_column_from_desc(d, where) for d in table.column_desc)
        added = tuple(_column_from_desc(d, where) for d in table.added_column_desc)
        versions = {int(v.id): int(v.field_count) for v in table.schema_versions if v.id != 1}
        return cls(base, added, versions)

    @classmethod
    def from_columns(cls, columns: Iterable[Column]) -> TableSchema:
        return cls(tuple(columns))

    @classmethod
    def from_json(cls, text: str, where: str = "schema") -> TableSchema:
        """``[{"name": "c1", "type": "int"}, ...]`` (the ``--schema`` file of ``omsync inspect``)."""
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{where}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                hint='write a list like [{"name": "c1", "type": "int"}]',
            ) from None
        if not isinstance(data, list) or not data:
            raise UsageError(
                f"{where}: expected a non-empty JSON list of columns",
                hint='write a list like [{"name": "c1", "type": "int"}]',
            )
        columns = []
        for i, item in enumerate(data):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("name"), str)
                or not isinstance(item.get("type"), str)
            ):
                raise UsageError(f'{where}: column #{i} needs string fields "name" and "type", got {item!r}')
            try:
                ctype = parse_type_name(item["type"])
            except UsageError as exc:
                raise UsageError(f"{where}: column {item['name']!r}: {exc.message}", hint=exc.hint) from None
            columns.append(Column(item["name"], ctype, bool(item.get("not_null", False))))
        return cls(tuple(columns))

    @classmethod
    def from_json_file(cls, path: str | Path) -> TableSchema:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read schema file {path}: {exc.strerror}") from None
        return cls.from_json(text, where=str(path))

    def to_json(self) -> str:
        """The latest version's columns in ``--schema`` form."""
        return json.dumps([{"name": c.name, "type": TYPE_NAME[c.type]} for c in self.latest])
