"""Modal dialogs: the guarded delete (STYLE rule 5), the create form, and the key help."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from omsync_tui.core.errors import OmsyncError
from omsync_tui.services.cluster import CreateRequest, DestinationInfo, TableInfoView, TaskInfo

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 90; max-width: 95%; height: auto; max-height: 95%;
    border: thick $primary; background: $surface; padding: 1 2;
}}
{name} Horizontal {{ height: auto; margin-top: 1; }}
{name} Button {{ margin-right: 2; }}
{name} .warn {{ color: $error; text-style: bold; }}
"""


class DeleteDialog(ModalScreen[bool]):
    """Delete a task: focus starts on Cancel; Delete stays disabled until ``db.table`` is typed."""

    DEFAULT_CSS = DIALOG_CSS.format(name="DeleteDialog")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(self, task: TaskInfo) -> None:
        super().__init__()
        self.target = task

    def compose(self) -> ComposeResult:
        t = self.target
        with Vertical():
            yield Label(Text(f"Delete the sync task of {t.name}?", style="bold"))
            yield Static(
                Text(
                    f"It has written {t.rows:,} rows in {t.files} files to {t.dest}. Deleting the task "
                    "keeps the files; re-creating it from the start writes these "
                    f"{t.rows:,} rows again (create with “resume from destination” to avoid that)."
                )
            )
            yield Static(Text(f"Type {t.name} to confirm:"), classes="warn")
            yield Input(placeholder=t.name, id="confirm")
            with Horizontal():
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Delete", id="delete", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#delete", Button).disabled = event.value.strip() != self.target.name

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.target.name:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        confirmed = (
            event.button.id == "delete" and self.query_one("#confirm", Input).value == self.target.name
        )
        self.dismiss(confirmed)

    def action_cancel(self) -> None:
        self.dismiss(False)


class Probed(Message):
    def __init__(self, request: CreateRequest, held: DestinationInfo | None, error: str) -> None:
        super().__init__()
        self.request = request
        self.held = held
        self.error = error


MODES = [("full", "full"), ("incremental", "incremental"), ("continuous", "continuous")]
FORMATS = [("parquet", "parquet"), ("csv", "csv")]


class TablesListed(Message):
    """The cluster's tables arrived (or could not be read) for the create form's picker."""

    def __init__(self, tables: list[TableInfoView], error: str) -> None:
        super().__init__()
        self.tables = tables
        self.error = error


class CreateDialog(ModalScreen[CreateRequest | None]):
    """The create form. Before answering it asks what the destination holds (``probe`` runs in a
    thread); when it holds data it names the ranges that would be written twice and offers to
    resume from the destination instead."""

    DEFAULT_CSS = DIALOG_CSS.format(name="CreateDialog")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel")]

    def __init__(
        self,
        probe: Callable[[str], DestinationInfo],
        name: str = "",
        tables: Callable[[], list[TableInfoView]] | None = None,
    ) -> None:
        super().__init__()
        self.probe = probe
        self.list_tables = tables
        self.initial_name = name
        self.pending: CreateRequest | None = None
        self.shown_where = ""  # a bare path's resolution, said once before the task is created

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Create a sync task", style="bold"))
            yield Select[str]([], prompt="pick a table of the cluster", id="table-picker")
            yield Input(self.initial_name, placeholder="table: db.table", id="name")
            yield Input(placeholder="destination: /dir, file:///dir, s3://bucket/prefix", id="dest")
            yield Select(MODES, value="full", allow_blank=False, id="mode")
            yield Input("0", placeholder="start ts (ms; incremental)", id="start_ts", type="integer")
            yield Select(FORMATS, value="parquet", allow_blank=False, id="format")
            yield Static("", id="message")
            with Horizontal(id="buttons"):
                yield Button("Create", id="create", variant="primary")
                yield Button("Cancel", id="cancel")
            with Horizontal(id="held-buttons"):
                yield Button("Resume from destination", id="resume", variant="primary")
                yield Button("Write again anyway", id="again", variant="error")
                yield Button("Cancel", id="cancel2")

    def on_mount(self) -> None:
        titles = {
            "#name": "table",
            "#dest": "destination",
            "#mode": "mode",
            "#start_ts": "start ts (ms, incremental)",
            "#format": "format",
        }
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        self.query_one("#held-buttons").display = False
        self.query_one("#table-picker").display = False
        self.query_one("#name", Input).focus()
        if self.list_tables is not None:
            self.fetch_tables()

    @work(thread=True, exclusive=True, exit_on_error=False, group="tables")
    def fetch_tables(self) -> None:
        assert self.list_tables is not None
        try:
            tables, error = self.list_tables(), ""
        except (OmsyncError, OSError) as exc:
            tables, error = [], str(exc)
        self.post_message(TablesListed(tables, error))

    def on_tables_listed(self, message: TablesListed) -> None:
        picker = self.query_one("#table-picker", Select)
        free = [t for t in message.tables if not t.has_task]
        if not free:
            return  # nothing to pick (or the list could not be read): the name is typed
        picker.set_options((f"{t.name}  ({t.partitions} partitions, {t.storage})", t.name) for t in free)
        picker.border_title = "tables without a task"
        picker.display = True

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "table-picker" and isinstance(event.value, str):
            self.query_one("#name", Input).value = event.value

    def _request(self) -> CreateRequest | None:
        name = self.query_one("#name", Input).value.strip()
        dest = self.query_one("#dest", Input).value.strip()
        ts = self.query_one("#start_ts", Input).value.strip() or "0"
        if "." not in name or not dest:
            self._say("a table (db.table) and a destination are needed", warn=True)
            return None
        return CreateRequest(
            name=name,
            dest=dest,
            mode=str(self.query_one("#mode", Select).value),
            start_ts=int(ts),
            format=str(self.query_one("#format", Select).value),
        )

    def _say(self, text: str, *, warn: bool = False) -> None:
        msg = self.query_one("#message", Static)
        msg.set_class(warn, "warn")
        msg.update(Text(text))

    @work(thread=True, exclusive=True, exit_on_error=False)
    def check_destination(self, request: CreateRequest) -> None:
        try:
            held, error = self.probe(request.dest), ""
        except (OmsyncError, OSError) as exc:
            held, error = None, str(exc)
        self.post_message(Probed(request, held, error))

    def on_probed(self, message: Probed) -> None:
        if message.held is None:
            self._say(f"cannot check {message.request.dest}: {message.error}", warn=True)
            return
        held = message.held
        # a bare path that goes to fs.defaultFS, not where it reads: say so once before creating
        moved = held.note and held.resolved != message.request.dest
        if moved and self.shown_where != held.resolved:
            self.shown_where = held.resolved
            self._say(f"{message.request.dest} → {held.resolved}\n({held.note}); create again to confirm")
            return
        if held.empty:
            self.dismiss(message.request)
            return
        ranges = "\n".join(
            f"  pid {h.pid}: {h.rows:,} rows in {h.files} files, {h.first} .. {h.next}"
            for h in held.partitions
        )
        of = f" of {held.table}" if held.table else ""
        self._say(
            f"{held.resolved or held.uri} already holds data{of}:\n{ranges}\n"
            "Creating the task from the start writes these ranges a second time.",
            warn=True,
        )
        self.pending = message.request
        self.query_one("#buttons").display = False
        self.query_one("#held-buttons").display = True
        self.query_one("#resume", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id
        if bid == "create":
            request = self._request()
            if request is not None:
                self._say(f"checking {request.dest} …")
                self.check_destination(request)
        elif bid == "resume" and self.pending is not None:
            p = self.pending
            self.dismiss(CreateRequest(p.name, p.dest, p.mode, p.start_ts, p.format, resume_from_dest=True))
        elif bid == "again" and self.pending is not None:
            self.dismiss(self.pending)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


HELP = """\
1 tasks · 2 subtasks of the selected task · 3 collectors · 4 events · 5 synctools
enter  drill into a task          escape  back
j / k  down / up                  /       filter (escape clears)
f      FAILED tasks only          r       refresh now
c      create a task              d       delete the selected task
R      retry its FAILED subtasks  ctrl+p  command palette
?      this help                  q       quit
"""


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = DIALOG_CSS.format(name="HelpScreen")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "close"),
        Binding("question_mark", "close", "close"),
        Binding("q", "close", "close"),
    ]

    def __init__(self, readonly: bool) -> None:
        super().__init__()
        self.readonly = readonly

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("omsync tui — keys", style="bold"))
            yield Static(Text(HELP))
            if self.readonly:
                yield Static(Text("read-only: create, delete and retry are off"), classes="warn")

    def action_close(self) -> None:
        self.dismiss(None)
