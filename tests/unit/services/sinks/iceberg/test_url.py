"""``iceberg://`` URIs: their parts, defaults, masked secrets, and what is refused with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.iceberg import uri_of

from omsync_tui.core.errors import UsageError
from omsync_tui.services.sinks.destination import open_destination
from omsync_tui.services.sinks.iceberg.url import masked, parse


def test_uri_parts_and_defaults(tmp_path: Path) -> None:
    u = parse(uri_of(tmp_path, "a.b.t", "&s3.secret-access-key=S&compact_files=4"))
    assert (u.namespace, u.table, u.catalog, u.name, u.compact_files) == ("a.b", "t", "sql", "omsync", 4)
    assert u.properties["uri"] == f"sqlite:///{tmp_path}/cat.db"
    assert u.warehouse == f"file://{tmp_path}/wh"
    assert "S&" not in masked(uri_of(tmp_path, extra="&s3.secret-access-key=S&x=1"))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("iceberg://t?uri=sqlite:////c.db&warehouse=file:///w", "names no <namespace>.<table>"),
        ("iceberg://db.t?uri=sqlite:////c.db", "names no warehouse"),
        ("iceberg://db.t?warehouse=file:///w", "needs uri="),
        ("iceberg://db.t?uri=sqlite:///rel.db&warehouse=file:///w", "not an absolute path"),
        ("iceberg://db.t?uri=sqlite:////c.db&warehouse=/w", "is not a URI"),
        ("iceberg://db.t?catalog=nessie&uri=x&warehouse=file:///w", "unknown catalog type"),
        ("iceberg://db.t?uri=sqlite:////c.db&warehouse=file:///w&compact_files=x", "not a file count"),
        ("iceberg://db.t?uri=sqlite:////c.db&warehouse=file:///w&partition=month(ts)", "not supported"),
    ],
)
def test_bad_uris_are_usage_errors_with_a_hint(text: str, says: str) -> None:
    with pytest.raises(UsageError) as err:
        open_destination(text)
    assert says in err.value.message
    assert err.value.hint
