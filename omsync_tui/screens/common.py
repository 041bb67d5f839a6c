"""What every live screen shares: the status banner, keyed in-place table updates, formatting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from omsync_tui.screens.data import Clock, Health, LiveApp, Snapshot

STATE_ORDER = ("FAILED", "REASSIGNING", "INIT", "RUNNING", "SUCCESS")


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def state_text(state: str) -> Text:
    """A state that reads without colour: FAILED carries a glyph as well as red."""
    if state == "FAILED":
        return Text("✖ FAILED", style="bold red")
    if state == "REASSIGNING":
        return Text("↻ REASSIGNING", style="yellow")
    if state in ("SUCCESS", "SUCCEEDED"):
        return Text(f"✔ {state}", style="green")
    return Text(state)


def states_text(states: dict[str, int]) -> Text:
    """Subtask counts, FAILED first: ``✖ 2 FAILED · 1 RUNNING``."""
    out = Text()
    for s in (*STATE_ORDER, *sorted(set(states) - set(STATE_ORDER))):
        n = states.get(s, 0)
        if not n:
            continue
        if out:
            out.append(" · ")
        if s == "FAILED":
            out.append(f"✖ {n} FAILED", style="bold red")
        elif s == "REASSIGNING":
            out.append(f"↻ {n} REASSIGNING", style="yellow")
        else:
            out.append(f"{n} {s}")
    return out or Text("-")


Row = tuple[str, Sequence[Any]]


def sync_rows(table: DataTable[Any], rows: Sequence[Row]) -> None:
    """Make ``table`` show ``rows`` (key, cells) in order without clearing it (no flicker).

    Changed cells are updated in place, vanished rows removed, new rows appended when that keeps
    the order; only a change of order (a task turning FAILED moves to the top) rebuilds the table,
    keeping the cursor on the same key.
    """
    columns = list(table.columns)
    wanted = [k for k, _ in rows]
    wanted_set = set(wanted)
    for row in table.ordered_rows:
        if row.key.value not in wanted_set:
            table.remove_row(row.key)
    present = [r.key.value for r in table.ordered_rows]
    present_set = set(present)
    if wanted[: len(present)] != present:
        cursor = _cursor_key(table)
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if cursor in wanted_set:
            table.move_cursor(row=table.get_row_index(cursor), animate=False)
        return
    for key, cells in rows:
        if key in present_set:
            old = table.get_row(key)
            for col, new, was in zip(columns, cells, old, strict=True):
                if str(new) != str(was) or type(new) is not type(was) or _style(new) != _style(was):
                    table.update_cell(key, col, new)
        else:
            table.add_row(*cells, key=key)


def _style(cell: Any) -> str:
    return str(cell.spans) if isinstance(cell, Text) else ""


def _cursor_key(table: DataTable[Any]) -> str | None:
    if not table.row_count:
        return None
    try:
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    except Exception:  # the cursor is past the last row
        return None


def cursor_key(table: DataTable[Any]) -> str | None:
    return _cursor_key(table)


class Banner(Static):
    """One line on every screen: synctool unreachable (and how old the data is), or FAILED tasks."""

    DEFAULT_CSS = """
    Banner { height: auto; padding: 0 1; background: $boost; }
    Banner.-down { background: $error; color: $text; text-style: bold; }
    Banner.-failed { background: $error 60%; color: $text; text-style: bold; }
    """

    def show(self, health: Health, snapshot: Snapshot | None, refresh_s: float, clock: Clock) -> None:
        failed = sum(1 for t in snapshot.tasks if t.failed) if snapshot else 0
        self.set_class(not health.ok, "-down")
        self.set_class(health.ok and failed > 0, "-failed")
        if not health.ok:
            fresh = health.age(clock.monotonic())
            since = f"data shown is {age(fresh)} old" if fresh is not None else "no data yet"
            self.update(
                Text(
                    f"⚠ synctool {health.endpoint} unreachable: {health.error} — {since}; "
                    f"retrying every {refresh_s:g} s"
                )
            )
        elif failed:
            self.update(f"✖ {failed} task(s) with FAILED subtasks — select one, R retries")
        elif snapshot:
            now = clock.monotonic()
            self.update(
                f"synctool {snapshot.endpoint} · {len(snapshot.tasks)} task(s) · "
                f"updated {age(now - snapshot.fetched_at)} ago"
            )
        else:
            self.update("connecting…")


class FilterInput(Input):
    """The ``/`` filter line: hidden until asked for; escape clears and hides it."""

    DEFAULT_CSS = """
    FilterInput { dock: bottom; display: none; }
    FilterInput.-shown { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "close filter", show=False)]

    def action_close(self) -> None:
        self.value = ""
        self.remove_class("-shown")
        self.screen.focus_next(DataTable)


class LiveScreen(Screen[None]):
    """A screen fed with every snapshot while it is on the stack, and the latest on resume."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor('down')", "down", show=False),
        Binding("k", "cursor('up')", "up", show=False),
        Binding("slash", "filter", "filter"),
    ]

    @property
    def live(self) -> LiveApp:
        assert isinstance(self.app, LiveApp)
        return self.app

    def compose_banner(self) -> ComposeResult:
        yield Banner()

    def compose_footer(self) -> ComposeResult:
        yield FilterInput(placeholder="filter (escape clears)")
        yield Footer()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        live = self.live
        self.query_one(Banner).show(live.health, live.snapshot, live.refresh_s, live.clock)
        if live.snapshot is not None:
            self.apply(live.snapshot)

    def apply(self, snapshot: Snapshot) -> None:
        raise NotImplementedError

    @property
    def filter_text(self) -> str:
        return self.query_one(FilterInput).value.strip().lower()

    def action_filter(self) -> None:
        f = self.query_one(FilterInput)
        f.add_class("-shown")
        f.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, FilterInput):
            self.refresh_view()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if isinstance(event.input, FilterInput):
            self.focus_next(DataTable)

    def action_cursor(self, direction: str) -> None:
        table = self.query_one(DataTable)
        if direction == "down":
            table.action_cursor_down()
        else:
            table.action_cursor_up()


class TableScreen(LiveScreen):
    """A live screen that is one table: ``TABLE_ID`` with ``COLUMNS`` (label, key), between the
    banner and the footer, focused when shown."""

    TABLE_ID: ClassVar[str]
    COLUMNS: ClassVar[Sequence[tuple[str, str]]]

    def compose(self) -> ComposeResult:
        yield from self.compose_banner()
        table: DataTable[Any] = DataTable(id=self.TABLE_ID, cursor_type="row", zebra_stripes=True)
        for label, key in self.COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
