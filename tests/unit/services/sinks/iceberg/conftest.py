"""The ``dest`` of the Iceberg tests: table ``db.t`` made in a fresh local warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.iceberg import COLUMNS, uri_of

from omsync_tui.services.sinks.destination import Destination, open_destination
from omsync_tui.services.sinks.iceberg import table as iceberg


@pytest.fixture
def dest(tmp_path: Path) -> Destination:
    d = open_destination(uri_of(tmp_path))
    iceberg.table_of(d).ensure(COLUMNS, "db.t", 7)
    return d
