"""The Tasks screen: one row per table task, FAILED ones first, updated in place every refresh."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from omsync_tui.screens.common import Row, TableScreen, cursor_key, state_text, states_text, sync_rows
from omsync_tui.screens.data import Snapshot
from omsync_tui.services.cluster import TaskInfo

COLUMNS = (
    ("TASK", "task"),
    ("MODE", "mode"),
    ("STATE", "state"),
    ("SUBTASKS", "subtasks"),
    ("ROWS", "rows"),
    ("ROWS/S", "rate"),
    ("LAG", "lag"),
    ("UPDATED", "age"),
    ("FORMAT", "format"),
    ("DEST", "dest"),
)


def task_cells(t: TaskInfo, rate: float, now_wall: float, trend: str = "") -> list[Any]:
    updated = now_wall - t.last_update_ms / 1000 if t.last_update_ms else None
    return [
        Text(t.name, style="bold red") if t.failed else t.name,
        t.mode,
        state_text(t.state),
        states_text(t.states),
        f"{t.rows:,}",
        f"{rate:,.0f} {trend}" if trend else f"{rate:,.0f}",
        t.lag_text,
        "-" if updated is None else f"{max(0.0, updated):.0f}s ago",
        t.format,
        t.dest,
    ]


class TasksScreen(TableScreen):
    DEFAULT_CSS = """
    TasksScreen DataTable { height: 1fr; }
    """
    TABLE_ID = "tasks"
    COLUMNS = COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "failed_only", "FAILED only"),
        Binding("enter", "open", "subtasks", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.failed_only = False

    def shown_tasks(self, snapshot: Snapshot) -> list[TaskInfo]:
        text = self.filter_text
        tasks = [
            t
            for t in snapshot.tasks
            if (not self.failed_only or t.failed) and (not text or text in f"{t.name} {t.dest}".lower())
        ]
        return sorted(tasks, key=lambda t: (-t.failed, t.name))

    def apply(self, snapshot: Snapshot) -> None:
        now = self.live.clock.wall()
        rows: list[Row] = [
            (t.name, task_cells(t, snapshot.rates.get(t.name, 0.0), now, snapshot.trends.get(t.name, "")))
            for t in self.shown_tasks(snapshot)
        ]
        table = self.query_one("#tasks", DataTable)
        sync_rows(table, rows)
        self.sub_title = "FAILED only (f shows all)" if self.failed_only else ""

    def selected_task(self) -> str | None:
        return cursor_key(self.query_one("#tasks", DataTable))

    def action_failed_only(self) -> None:
        self.failed_only = not self.failed_only
        self.refresh_view()

    def action_open(self) -> None:
        name = self.selected_task()
        if name is not None:
            from omsync_tui.screens.subtasks import SubtasksScreen

            self.app.push_screen(SubtasksScreen(name))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()
