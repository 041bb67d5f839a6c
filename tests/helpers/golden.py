"""The reference's worked row example (§4.6), shared by the codec and ``inspect`` tests."""

from __future__ import annotations

import datetime as dt
import json

from omsync_tui.openmldb.schema import TYPE_NAME, Column, ColumnType

T = ColumnType

EXAMPLE_COLUMNS = (
    Column("c1", T.STRING),
    Column("c2", T.INT),
    Column("c3", T.TIMESTAMP),
    Column("c4", T.STRING),
    Column("c5", T.DATE),
)
EXAMPLE_VALUES = ["ab", 7, 1700000000000, None, dt.date(2024, 3, 5)]
EXAMPLE_HEX = "01 01 1b 00 00 00 e8 07 00 00 00 00 68 e5 cf 8b 01 00 00 05 02 7c 00 19 1b 61 62"


def example_schema_json(**spelled: str) -> str:
    """The example as an ``--schema`` file; ``spelled`` overrides a column's type name (c2="kInt")."""
    return json.dumps(
        [{"name": c.name, "type": spelled.get(c.name, TYPE_NAME[c.type])} for c in EXAMPLE_COLUMNS]
    )
