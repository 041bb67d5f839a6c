"""SVG snapshots of ``omsync tui`` screens in named states (pytest-textual-snapshot).

The app is fed fixed data through ``LiveApp``'s ``source`` seam instead of polling a synctool, and
its ``clock`` is frozen (ages, "ago", event times in UTC), so every run draws the same picture.
Regenerate after an intended change with ``pytest tests/tui/test_tui_snapshots.py --snapshot-update``
and look at the SVGs in ``tests/tui/__snapshots__/`` before committing them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from helpers.pilot import until
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from omsync_tui.screens.app import OmsyncApp
from omsync_tui.screens.common import Banner
from omsync_tui.screens.data import Clock, Snapshot
from omsync_tui.screens.dialogs import DeleteDialog
from omsync_tui.screens.subtasks import SubtasksScreen
from omsync_tui.screens.synctools import SynctoolsScreen
from omsync_tui.services.cluster import CollectorInfo, EventInfo, SubtaskInfo, SynctoolInfo, TaskInfo

ENDPOINT = "127.0.0.1:7181"
WORKERS = (ENDPOINT, "127.0.0.1:7182")
MONO = 1000.0  # the frozen time.monotonic()
WALL = 1_767_225_600.0  # the frozen time.time(): 2026-01-01 00:00:00 UTC
FETCHED = MONO - 3  # every snapshot was fetched "3s ago"
SIZE = (150, 30)
CLOCK = Clock(monotonic=lambda: MONO, wall=lambda: WALL, tz=dt.UTC)


def ms_ago(seconds: float) -> int:
    return int((WALL - seconds) * 1000)


def subtask(
    pid: int, state: str, rows: int, *, cause: str = "", error: str = "", retries: int = 0
) -> SubtaskInfo:
    return SubtaskInfo(
        pid=pid,
        state=state,
        collector=f"127.0.0.{pid % 2 + 1}:9901",
        worker=WORKERS[pid % 2],
        tablet=f"127.0.0.{pid % 2 + 1}:10921",
        phase="binlog" if state == "RUNNING" else "snapshot",
        position=f"offset {rows}",
        rows=rows,
        bytes=rows * 40,
        files=rows // 1000 + 1,
        uncommitted_rows=0,
        lag_offsets=0 if state != "FAILED" else 50,
        last_update_age_s=4.0,
        silent_s=4.0,
        retries=retries,
        cause=cause,
        last_error=error,
    )


def task(
    tid: int,
    name: str,
    state: str,
    mode: str,
    states: dict[str, int],
    rows: int,
    subs: tuple[SubtaskInfo, ...] = (),
) -> TaskInfo:
    return TaskInfo(
        tid=tid,
        name=name,
        mode=mode,
        dest=f"/data/out/{name}",
        format="parquet",
        state=state,
        partitions=sum(states.values()),
        states=states,
        rows=rows,
        bytes=rows * 40,
        files=rows // 1000 + 2,
        lag_offsets=50 if state == "FAILED" else 0,
        last_update_ms=ms_ago(4),
        subtasks=subs,
    )


RUNNING = task(1, "db.orders", "RUNNING", "continuous", {"RUNNING": 2}, 12_345)
SUCCEEDED = task(2, "db.users", "SUCCEEDED", "full", {"SUCCESS": 2}, 3_000)
FAILED_SUBS = (
    subtask(0, "FAILED", 100, cause="destination", error="/data/out/db.clicks is not a directory", retries=1),
    subtask(1, "RUNNING", 120),
)
FAILED = task(3, "db.clicks", "FAILED", "continuous", {"FAILED": 1, "RUNNING": 1}, 220, FAILED_SUBS)
COLLECTORS = (
    CollectorInfo("127.0.0.1:9901", "127.0.0.1", True, ("db.orders/0", "db.users/0"), 1.0),
    CollectorInfo("127.0.0.2:9901", "127.0.0.2", True, ("db.orders/1", "db.users/1"), 1.0),
)
SYNCTOOLS = (
    SynctoolInfo(ENDPOINT, "leader", "0.9.0", True, 2, 2, 1_234_567, 0.4),
    SynctoolInfo("127.0.0.1:7182", "follower", "0.9.0", True, 2, 1, 56_789, 0.9),
    SynctoolInfo("127.0.0.1:7183", "follower", "0.9.0", True, 0, 0, 0, 12.0),  # late: no report for 12 s
    SynctoolInfo("127.0.0.1:7184", "follower", "0.9.0", False, 0, 0, 0, 0.2),  # [synctool] work = false
)
SYNCTOOL_RATES = {ENDPOINT: 2_500.0, "127.0.0.1:7182": 1_200.0}
FAILED_EVENTS = (
    EventInfo(ms_ago(60), 3, 0, "", "INIT", "created", "synctool"),
    EventInfo(ms_ago(55), 3, 0, "INIT", "RUNNING", "assigned", "synctool"),
    EventInfo(ms_ago(10), 3, 0, "RUNNING", "FAILED", "destination: not a directory", "127.0.0.1:9901"),
)


def snapshot(*tasks: TaskInfo, focus: TaskInfo | None = None, events: tuple[EventInfo, ...] = ()) -> Snapshot:
    return Snapshot(
        endpoint=ENDPOINT,
        tasks=tasks,
        collectors=COLLECTORS if tasks else (),
        events=events,
        rates={"db.orders": 250.0},
        fetched_at=FETCHED,
        focus=focus,
        focus_events=events,
        wall=WALL,
        synctools=SYNCTOOLS if tasks else (),
        synctool_rates=SYNCTOOL_RATES if tasks else {},
    )


def app_of(source: Callable[[], Snapshot]) -> OmsyncApp:
    return OmsyncApp(ENDPOINT, source=source, clock=CLOCK)


def banner(app: OmsyncApp) -> str:
    return str(app.screen.query_one(Banner).content)


def table_rows(app: OmsyncApp) -> int:
    return app.screen.query_one(DataTable).row_count


def test_empty_cluster(snap_compare: Any) -> None:
    app = app_of(lambda: snapshot())

    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: "0 task(s)" in banner(app), "first snapshot")

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_mixed_states(snap_compare: Any) -> None:
    app = app_of(lambda: snapshot(RUNNING, SUCCEEDED))

    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: table_rows(app) == 2, "two tasks")

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_failed_task_banner_and_first(snap_compare: Any) -> None:
    app = app_of(lambda: snapshot(RUNNING, SUCCEEDED, FAILED))

    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: table_rows(app) == 3, "three tasks")
        assert "FAILED subtasks" in banner(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_lost_connection_banner(snap_compare: Any) -> None:
    down: list[bool] = []

    def source() -> Snapshot:
        if down:
            raise ConnectionRefusedError(111, "Connection refused")
        return snapshot(RUNNING, SUCCEEDED)

    app = app_of(source)

    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: table_rows(app) == 2, "two tasks")
        down.append(True)
        app.poll()
        await until(pilot, lambda: "unreachable" in banner(app), "unreachable banner")

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_delete_dialog(snap_compare: Any) -> None:
    app = app_of(lambda: snapshot(RUNNING, SUCCEEDED))

    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: table_rows(app) == 2, "two tasks")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeleteDialog), "delete dialog")

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_subtasks_with_detail(snap_compare: Any) -> None:
    app = app_of(lambda: snapshot(RUNNING, SUCCEEDED, FAILED, focus=FAILED, events=FAILED_EVENTS))

    def detail() -> str:
        return str(app.screen.query_one("#detail-text", Static).content)

    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: table_rows(app) == 3, "three tasks")
        await pilot.press("enter")  # the cursor is on the FAILED task, sorted first
        await until(pilot, lambda: isinstance(app.screen, SubtasksScreen), "subtasks screen")
        await until(pilot, lambda: "recent events" in detail(), "the detail pane's events")

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_synctools_screen(snap_compare: Any) -> None:
    app = app_of(lambda: snapshot(RUNNING, SUCCEEDED, FAILED))

    async def ready(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: table_rows(app) == 3, "three tasks")
        await pilot.press("5")
        await until(pilot, lambda: isinstance(app.screen, SynctoolsScreen), "synctools screen")
        await until(pilot, lambda: table_rows(app) == 4, "four synctools")

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)
