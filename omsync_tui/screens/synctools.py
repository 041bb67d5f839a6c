"""The Synctools screen: every running synctool (each a worker), its role, the subtasks it writes,
rows/s received (from successive polls) and the age of its last report."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from omsync_tui.screens.common import Row, TableScreen, age, sync_rows
from omsync_tui.screens.data import Snapshot
from omsync_tui.services.cluster import SynctoolInfo

COLUMNS = (
    ("ENDPOINT", "endpoint"),
    ("ROLE", "role"),
    ("VERSION", "version"),
    ("SUBTASKS", "subtasks"),
    ("HELD", "held"),
    ("ROWS/S", "rate"),
    ("RECEIVED", "received"),
    ("LAST REPORT", "heartbeat"),
)
LATE_S = 5.0
"""A worker reports every second: this many seconds without a report is shown as late."""


def synctool_cells(s: SynctoolInfo, rate: float) -> list[Any]:
    role = Text(s.role, style="bold") if s.role == "leader" else Text(s.role)
    if not s.works:
        role.append(" · no work", style="dim")
    beat = s.heartbeat_age_s
    if beat is None:
        heartbeat = Text("never")
    elif beat > LATE_S:
        heartbeat = Text(f"⚠ {age(beat)} ago", style="yellow")
    else:
        heartbeat = Text(f"{age(beat)} ago")
    return [
        s.endpoint,
        role,
        s.version or "-",
        str(s.subtasks),
        # held < subtasks: some assigned ones have had no SendData yet (or are being moved)
        str(s.held) if s.held == s.subtasks else Text(str(s.held), style="yellow"),
        f"{rate:,.0f}",
        f"{s.rows_received:,}",
        heartbeat,
    ]


class SynctoolsScreen(TableScreen):
    DEFAULT_CSS = """
    SynctoolsScreen DataTable { height: 1fr; }
    """
    TABLE_ID = "synctools"
    COLUMNS = COLUMNS

    def apply(self, snapshot: Snapshot) -> None:
        text = self.filter_text
        rows: list[Row] = [
            (s.endpoint, synctool_cells(s, snapshot.synctool_rates.get(s.endpoint, 0.0)))
            for s in sorted(snapshot.synctools, key=lambda s: (s.role != "leader", s.endpoint))
            if not text or text in f"{s.endpoint} {s.role}".lower()
        ]
        sync_rows(self.query_one("#synctools", DataTable), rows)
