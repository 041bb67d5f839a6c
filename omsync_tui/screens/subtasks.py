"""The Subtasks screen of one task: a row per partition, and the selected one's error and events."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from omsync_tui.screens.common import LiveScreen, Row, age, cursor_key, state_text, sync_rows
from omsync_tui.screens.data import Clock, Snapshot
from omsync_tui.services.cluster import EventInfo, SubtaskInfo, TaskInfo

COLUMNS = (
    ("PID", "pid"),
    ("STATE", "state"),
    ("COLLECTOR", "collector"),
    ("WORKER", "worker"),
    ("TABLET", "tablet"),
    ("PHASE", "phase"),
    ("POSITION", "position"),
    ("ROWS", "rows"),
    ("FILES", "files"),
    ("UPDATED", "age"),
    ("RETRIES", "retries"),
    ("LAST ERROR", "error"),
)


def error_of(s: SubtaskInfo) -> str:
    """The last fault: its cause and message. ``cause`` also names why a healthy subtask was last
    assigned ("retry", a new leader's takeover), which is no error and is not shown."""
    if s.state in ("REASSIGNING", "FAILED"):
        return ": ".join(part for part in (s.cause, s.last_error) if part)
    return s.last_error


def subtask_cells(s: SubtaskInfo) -> list[Any]:
    error = error_of(s)
    return [
        str(s.pid),
        state_text(s.state),
        s.collector or "-",
        s.worker or "-",
        s.tablet or "-",
        s.phase or "-",
        s.position or "-",
        f"{s.rows:,}",
        str(s.files),
        age(s.last_update_age_s),
        str(s.retries),
        Text(error[:60] + ("…" if len(error) > 60 else ""), style="red" if s.state == "FAILED" else ""),
    ]


def event_line(e: EventInfo, clock: Clock) -> str:
    when = clock.strftime(e.ts_ms, "%H:%M:%S")
    return f"{when}  {e.old or '-'} → {e.new}  {e.reason}  ({e.by})"


class SubtasksScreen(LiveScreen):
    DEFAULT_CSS = """
    SubtasksScreen #title { padding: 0 1; text-style: bold; }
    SubtasksScreen #subtasks { height: 1fr; }
    SubtasksScreen #detail { height: 12; border-top: solid $primary; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "back")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.task_name = name

    def compose(self) -> ComposeResult:
        yield from self.compose_banner()
        yield Static(self.task_name, id="title")
        table: DataTable[Any] = DataTable(id="subtasks", cursor_type="row", zebra_stripes=True)
        for label, key in COLUMNS:
            table.add_column(label, key=key)
        yield table
        with VerticalScroll(id="detail"):
            yield Static("", id="detail-text")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        if self.live.focus_name != self.task_name:
            self.live.focus_name = self.task_name
            self.live.poll()  # fetch the subtasks and events now, not at the next tick
        super().on_screen_resume()

    def on_screen_suspend(self) -> None:
        self.live.focus_name = None

    def _detailed(self, snapshot: Snapshot) -> TaskInfo | None:
        if snapshot.focus is not None and snapshot.focus.name == self.task_name:
            return snapshot.focus
        return None

    def selected_task(self) -> str | None:
        return self.task_name

    def apply(self, snapshot: Snapshot) -> None:
        t = snapshot.task(self.task_name)
        title = self.query_one("#title", Static)
        table = self.query_one("#subtasks", DataTable)
        if t is None:
            title.update(Text(f"{self.task_name}: no such task (deleted?) — escape goes back"))
            sync_rows(table, [])
            self._show_detail(None, snapshot)
            return
        title.update(
            Text(f"{t.name} · tid {t.tid} · {t.mode} → {t.dest} ({t.format}) · {t.state} · {t.rows:,} rows")
        )
        detailed = self._detailed(snapshot)
        if detailed is None:  # the list has counts only: keep the rows until the detail comes
            return
        t = detailed
        text = self.filter_text
        subs = sorted(t.subtasks, key=lambda s: (s.state != "FAILED", s.pid))
        rows: list[Row] = [
            (str(s.pid), subtask_cells(s))
            for s in subs
            if not text or text in f"{s.pid} {s.state} {s.collector} {s.worker} {error_of(s)}".lower()
        ]
        sync_rows(table, rows)
        self._show_detail(t, snapshot)

    def _show_detail(self, t: TaskInfo | None, snapshot: Snapshot) -> None:
        detail = self.query_one("#detail-text", Static)
        key = cursor_key(self.query_one("#subtasks", DataTable))
        s = next((s for s in t.subtasks if str(s.pid) == key), None) if t else None
        if t is None or s is None:
            detail.update("" if t is None or t.subtasks else "loading subtasks…")
            return
        lines = [
            f"pid {s.pid} · {s.state} · {s.rows:,} rows in {s.files} files · committed {s.position}",
            f"collector {s.collector or '-'} → worker {s.worker or '- (not assigned yet)'}",
        ]
        if s.uncommitted_rows:
            lines.append(f"uncommitted rows: {s.uncommitted_rows:,}")
        if s.lag_offsets is not None:
            waited = f", the oldest waiting {s.lag_s:,.0f}s" if s.lag_s else ""
            lines.append(f"lag: {s.lag_offsets:,} offsets{waited}")
        error = error_of(s)
        if error:
            lines.append(f"last error: {error}")
        if self._detailed(snapshot) is not None:
            mine = [e for e in snapshot.focus_events if e.pid == s.pid][-8:]
            lines.append("recent events:" if mine else "no events for this partition")
            lines += [f"  {event_line(e, self.live.clock)}" for e in reversed(mine)]
        else:
            lines.append("events: loading…")
        detail.update(Text("\n".join(lines)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        snap = self.live.snapshot
        if snap is not None:
            self._show_detail(self._detailed(snap), snap)

    def action_back(self) -> None:
        self.app.pop_screen()
