"""``omsync tui``: wires the screens, keys and command palette to ``LiveApp``'s data and actions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from omsync_tui.screens.collectors import CollectorsScreen
from omsync_tui.screens.common import LiveScreen
from omsync_tui.screens.data import ActionDone, Health, LiveApp, Refreshed, Unreachable
from omsync_tui.screens.dialogs import CreateDialog, DeleteDialog, HelpScreen
from omsync_tui.screens.events import EventsScreen
from omsync_tui.screens.subtasks import SubtasksScreen
from omsync_tui.screens.synctools import SynctoolsScreen
from omsync_tui.screens.tasks import TasksScreen
from omsync_tui.services.cluster import CreateRequest

WRITE_ACTIONS = frozenset({"create", "delete", "retry"})


class OmsyncApp(LiveApp):
    TITLE = "omsync"
    MODES: ClassVar[dict[str, Any]] = {
        "tasks": TasksScreen,
        "collectors": CollectorsScreen,
        "events": EventsScreen,
        "synctools": SynctoolsScreen,
    }
    DEFAULT_MODE: ClassVar[str] = "tasks"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show('tasks')", "tasks"),
        Binding("2", "show('subtasks')", "subtasks"),
        Binding("3", "show('collectors')", "collectors"),
        Binding("4", "show('events')", "events"),
        Binding("5", "show('synctools')", "synctools"),
        Binding("r", "refresh_now", "refresh"),
        Binding("c", "create", "create"),
        Binding("d", "delete", "delete"),
        Binding("R", "retry", "retry FAILED"),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
    ]

    def on_mount(self) -> None:
        self.start_polling()

    # -- data in ------------------------------------------------------------------------------

    def _live_screens(self) -> list[LiveScreen]:
        return [s for s in self.screen_stack if isinstance(s, LiveScreen)]

    def on_refreshed(self, message: Refreshed) -> None:
        self.snapshot = message.snapshot
        self.health = Health(
            ok=True, endpoint=message.snapshot.endpoint, fresh_at=message.snapshot.fetched_at
        )
        for screen in self._live_screens():
            screen.refresh_view()

    def on_unreachable(self, message: Unreachable) -> None:
        self.health = Health(
            ok=False, endpoint=message.endpoint, error=message.error, fresh_at=self.health.fresh_at
        )
        for screen in self._live_screens():
            screen.refresh_view()

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, severity="information" if message.ok else "error", timeout=6)

    # -- keys ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # read-only: the write keys are not shown in the footer and do nothing
        return not (action in WRITE_ACTIONS and self.readonly)

    def _selected(self) -> str | None:
        screen: Screen[Any] = self.screen
        if isinstance(screen, TasksScreen | SubtasksScreen):
            return screen.selected_task()
        return None

    def _refuse_readonly(self) -> bool:
        if self.readonly:
            self.notify("read-only: create, delete and retry are off", severity="warning")
        return self.readonly

    def action_show(self, what: str) -> None:
        if what == "subtasks":
            name = self._selected()
            if isinstance(self.screen, TasksScreen) and name is not None:
                self.push_screen(SubtasksScreen(name))
            return
        if self.current_mode != what:
            self.switch_mode(what)
        elif what == "tasks":
            while len(self.screen_stack) > 1:
                self.pop_screen()

    def action_refresh_now(self) -> None:
        self.poll()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.readonly))

    def action_create(self) -> None:
        if self._refuse_readonly():
            return

        def done(request: CreateRequest | None) -> None:
            if request is not None:
                self.create_task(request)

        self.push_screen(CreateDialog(self.probe_destination, tables=self.list_tables), done)

    def action_delete(self) -> None:
        if self._refuse_readonly():
            return
        name = self._selected()
        task = self.snapshot.task(name) if self.snapshot and name else None
        if task is None:
            self.notify("select a task first (tasks screen)", severity="warning")
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.delete_task(task.name)

        self.push_screen(DeleteDialog(task), done)

    def action_retry(self) -> None:
        if self._refuse_readonly():
            return
        name = self._selected()
        if name is None:
            self.notify("select a task first (tasks screen)", severity="warning")
            return
        self.retry_task(name)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Tasks", "every sync task", lambda: self.action_show("tasks"))
        yield SystemCommand(
            "Collectors", "collectors and their subtasks", lambda: self.action_show("collectors")
        )
        yield SystemCommand("Events", "the state-change journal", lambda: self.action_show("events"))
        yield SystemCommand(
            "Synctools", "running synctools: role, subtasks, rows/s", lambda: self.action_show("synctools")
        )
        yield SystemCommand("Refresh", "poll the synctool now", self.action_refresh_now)
        if not self.readonly:
            yield SystemCommand("Create task", "create a sync task", self.action_create)
            yield SystemCommand("Delete task", "delete the selected task", self.action_delete)
            yield SystemCommand(
                "Retry FAILED", "retry the selected task's FAILED subtasks", self.action_retry
            )
