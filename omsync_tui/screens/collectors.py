"""The Collectors screen: every collector the synctool knows, its subtasks and heartbeat age."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from omsync_tui.screens.common import Row, TableScreen, age, sync_rows
from omsync_tui.screens.data import Snapshot
from omsync_tui.services.cluster import CollectorInfo

COLUMNS = (
    ("ENDPOINT", "endpoint"),
    ("HOST", "host"),
    ("REGISTERED", "registered"),
    ("SUBTASKS", "count"),
    ("HEARTBEAT", "heartbeat"),
    ("ASSIGNED", "subtasks"),
)


def collector_cells(c: CollectorInfo) -> list[Any]:
    return [
        c.endpoint,
        c.host or "-",
        "yes" if c.registered else Text("✖ no", style="bold red"),
        str(len(c.subtasks)),
        age(c.last_heartbeat_age_s) + (" ago" if c.last_heartbeat_age_s is not None else ""),
        ", ".join(c.subtasks[:6]) + (" …" if len(c.subtasks) > 6 else ""),
    ]


class CollectorsScreen(TableScreen):
    DEFAULT_CSS = """
    CollectorsScreen DataTable { height: 1fr; }
    """
    TABLE_ID = "collectors"
    COLUMNS = COLUMNS

    def apply(self, snapshot: Snapshot) -> None:
        text = self.filter_text
        rows: list[Row] = [
            (c.endpoint, collector_cells(c))
            for c in sorted(snapshot.collectors, key=lambda c: c.endpoint)
            if not text or text in f"{c.endpoint} {c.host} {' '.join(c.subtasks)}".lower()
        ]
        sync_rows(self.query_one("#collectors", DataTable), rows)
