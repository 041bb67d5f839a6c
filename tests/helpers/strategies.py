"""Hypothesis strategies shared by the row codec tests: random schemas and rows for them."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from omsync_tui.openmldb.schema import Column, ColumnType

T = ColumnType

VALUES: dict[ColumnType, st.SearchStrategy[object]] = {
    T.BOOL: st.booleans(),
    T.SMALLINT: st.integers(-(2**15), 2**15 - 1),
    T.INT: st.integers(-(2**31), 2**31 - 1),
    T.BIGINT: st.integers(-(2**63), 2**63 - 1),
    T.FLOAT: st.floats(width=32),
    T.DOUBLE: st.floats(),
    T.DATE: st.dates(dt.date(1900, 1, 1), dt.date(9999, 12, 31)),
    T.TIMESTAMP: st.integers(-(2**63), 2**63 - 1),
    T.VARCHAR: st.text(max_size=12),
    T.STRING: st.one_of(st.text(max_size=40), st.text(min_size=100, max_size=400)),
}


@st.composite
def schema_and_rows(draw: st.DrawFn, max_rows: int = 12) -> tuple[list[Column], list[list[object]]]:
    """1–12 columns of random types and 1–``max_rows`` rows of values (NULLs anywhere)."""
    types = draw(st.lists(st.sampled_from(list(ColumnType)), min_size=1, max_size=12))
    columns = [Column(f"c{i}", t) for i, t in enumerate(types)]
    row = st.tuples(*(st.none() | VALUES[t] for t in types)).map(list)
    return columns, draw(st.lists(row, min_size=1, max_size=max_rows))
