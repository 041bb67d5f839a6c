"""The Events screen: the synctool's journal of state changes, newest at the bottom, filterable."""

from __future__ import annotations

from textual.widgets import DataTable

from omsync_tui.screens.common import Row, TableScreen, state_text, sync_rows
from omsync_tui.screens.data import Snapshot
from omsync_tui.services.cluster import EventInfo

COLUMNS = (
    ("TIME", "time"),
    ("TASK", "task"),
    ("PID", "pid"),
    ("FROM", "old"),
    ("TO", "new"),
    ("REASON", "reason"),
    ("BY", "by"),
)


def event_key(e: EventInfo) -> str:
    return f"{e.ts_ms}:{e.tid}:{e.pid}:{e.old}:{e.new}"


class EventsScreen(TableScreen):
    DEFAULT_CSS = """
    EventsScreen DataTable { height: 1fr; }
    """
    TABLE_ID = "events"
    COLUMNS = COLUMNS

    def apply(self, snapshot: Snapshot) -> None:
        names = {t.tid: t.name for t in snapshot.tasks}
        text = self.filter_text
        rows: list[Row] = []
        seen: set[str] = set()
        for e in snapshot.events:
            task = names.get(e.tid, f"tid {e.tid}")
            cells = [
                self.live.clock.strftime(e.ts_ms, "%H:%M:%S.%f")[:-3],
                task,
                "-" if e.pid is None else str(e.pid),
                e.old or "-",
                state_text(e.new),
                e.reason,
                e.by,
            ]
            if text and text not in " ".join(str(c) for c in cells).lower():
                continue
            key = event_key(e)
            while key in seen:  # two changes in the same millisecond
                key += "'"
            seen.add(key)
            rows.append((key, cells))
        table = self.query_one("#events", DataTable)
        at_end = table.cursor_row >= table.row_count - 1
        sync_rows(table, rows)
        if at_end and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
