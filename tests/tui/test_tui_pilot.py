"""``omsync tui`` driven by textual's Pilot against real processes: a sandbox cluster, collectors
and a synctool. The screens see a task appear and finish, a FAILED subtask surface first, the
guarded delete, read-only mode, and the synctool going away and coming back.

Each scenario runs in ``asyncio.run`` (no pytest-asyncio here); waits poll a condition with a
deadline while the app keeps running (``pilot.pause``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from helpers.e2e import (
    create_task,
    leading_synctool,
    memory_table_with_collectors,
    start_collectors,
    synctool,
    wait_rows,
)
from helpers.pilot import until
from helpers.synctoolproc import SynctoolProcess
from helpers.waiting import wait_until
from textual.widgets import Button, DataTable, Input, Select, Static

from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.state import SandboxConfig
from omsync_tui.screens.app import OmsyncApp
from omsync_tui.screens.common import Banner
from omsync_tui.screens.dialogs import CreateDialog, DeleteDialog
from omsync_tui.screens.subtasks import COLUMNS as SUBTASK_COLUMNS
from omsync_tui.screens.subtasks import SubtasksScreen
from omsync_tui.screens.synctools import COLUMNS as SYNCTOOL_COLUMNS
from omsync_tui.screens.synctools import SynctoolsScreen
from omsync_tui.screens.tasks import TasksScreen

SIZE = (220, 50)


def banner(app: OmsyncApp) -> str:
    return str(app.screen.query_one(Banner).content)


def rows(app: OmsyncApp) -> dict[str, list[str]]:
    """The Tasks table as text, in display order."""
    table = app.screen.query_one("#tasks", DataTable)
    return {str(r.key.value): [str(c) for c in table.get_row(r.key)] for r in table.ordered_rows}


def cell(app: OmsyncApp, name: str, column: int) -> str | None:
    row = rows(app).get(name)
    return None if row is None else row[column]


STATE, SUBTASKS, ROWS = 2, 3, 4


def test_tasks_live_failed_delete_and_readonly(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = SandboxCluster.create(tmp_path / "sb", zk, SandboxConfig(zk_hosts))
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.create_table(preset_spec("mixed", "db", "f", partition_num=2, storage="memory"))
    cluster.write("db.t", 3000)
    cluster.write("db.f", 100)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    # a retry budget of one: an unwritable destination ends FAILED quickly
    s = SynctoolProcess(tmp_path, zk_hosts=zk_hosts, extra_synctool="max_retries = 1")
    procs.append(s)
    s.start()
    wait_until(s.leading, 20, "leader")
    dest_t, dest_f = tmp_path / "out-t", tmp_path / "out-f"

    async def scenario() -> None:
        app = OmsyncApp(s.endpoint, refresh=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "0 task(s)" in banner(app), "first refresh")
            assert isinstance(app.screen, TasksScreen)

            # create through the form: the destination is probed (empty), then the task is made
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, CreateDialog), "create dialog")
            # the form lists the cluster's tables without a task (read in a thread worker)
            picker = app.screen.query_one("#table-picker", Select)
            await until(pilot, lambda: bool(picker.display), "table picker filled", 20)
            picker.value = "db.t"
            await until(pilot, lambda: app.screen.query_one("#name", Input).value == "db.t", "picked")
            app.screen.query_one("#name", Input).value = "db.t"
            app.screen.query_one("#dest", Input).value = str(dest_t)
            await pilot.click("#create")
            await until(pilot, lambda: "db.t" in rows(app), "db.t listed", 20)
            seen: list[str] = []

            def succeeded() -> bool:
                state = cell(app, "db.t", STATE) or ""
                if not seen or seen[-1] != state:
                    seen.append(state)
                return "SUCCEEDED" in state

            await until(pilot, succeeded, "db.t SUCCEEDED", 40)
            # a 3,000-row FULL sync may finish before a poll sees it RUNNING; the live change
            # RUNNING -> FAILED is checked on db.f below
            assert cell(app, "db.t", ROWS) == "3,000"

            # a FAILED task: its destination becomes a plain file, writes fail past the budget
            code, body = s.api(
                "POST", "/api/v1/tasks", {"name": "db.f", "dest": str(dest_f), "mode": "continuous"}
            )
            assert code == 201, body
            await until(pilot, lambda: cell(app, "db.f", ROWS) == "100", "db.f caught up", 30)
            assert list(rows(app)) == ["db.f", "db.t"]  # by name while nothing FAILED
            dest_f.rename(tmp_path / "out-f-aside")
            dest_f.write_text("not a directory\n")
            cluster.write("db.f", 50)
            await until(pilot, lambda: "2 FAILED" in (cell(app, "db.f", SUBTASKS) or ""), "db.f FAILED", 40)
            assert "✖ 2 FAILED" in (cell(app, "db.f", SUBTASKS) or "")  # reads without colour
            assert next(iter(rows(app))) == "db.f"
            assert "1 task(s) with FAILED subtasks" in banner(app)

            # drill in: the detail pane has the cause and the partition's events
            table = app.screen.query_one("#tasks", DataTable)
            table.move_cursor(row=0)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, SubtasksScreen), "subtasks screen")

            def detail() -> str:
                return str(app.screen.query_one("#detail-text", Static).content)

            await until(
                pilot, lambda: "recent events" in detail(), lambda: f"subtask events: {detail()!r}", 10
            )
            assert "destination" in detail() and str(dest_f) in detail() and "FAILED" in detail()
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, TasksScreen), "back to tasks")

            # delete: escape cancels and changes nothing; typing db.t confirms
            table = app.screen.query_one("#tasks", DataTable)
            table.move_cursor(row=list(rows(app)).index("db.t"))
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, DeleteDialog), "delete dialog")
            assert app.screen.focused is not None and app.screen.focused.id == "cancel"
            await pilot.press("enter")  # enter on the focused Cancel
            await until(pilot, lambda: isinstance(app.screen, TasksScreen), "dialog cancelled")
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, DeleteDialog), "delete dialog again")
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, TasksScreen), "dialog escaped")
            assert s.api("GET", "/api/v1/tasks/db.t")[0] == 200
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, DeleteDialog), "delete dialog, third time")
            dialog = app.screen
            said = " ".join(str(w.content) for w in dialog.query(Static))
            assert "3,000 rows" in said and "writes these 3,000 rows again" in said, said
            dialog.query_one("#confirm", Input).focus()
            await pilot.press("d", "b", ".", "x")
            await pilot.press("enter")  # wrong name: nothing happens
            assert isinstance(app.screen, DeleteDialog)
            await pilot.press("backspace", "t", "enter")
            await until(pilot, lambda: "db.t" not in rows(app), "db.t gone from the table", 15)
            assert s.api("GET", "/api/v1/tasks/db.t")[0] == 404
            assert "db.f" in rows(app)

            # re-create onto the same destination: the form names what would be written twice
            # and offers to resume from the destination (focused), which takes over those rows
            cluster.write("db.t", 40)
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, CreateDialog), "create dialog again")
            app.screen.query_one("#name", Input).value = "db.t"
            app.screen.query_one("#dest", Input).value = str(dest_t)
            await pilot.click("#create")

            def message() -> str:
                return str(app.screen.query_one("#message", Static).content)

            await until(pilot, lambda: "already holds data" in message(), lambda: f"warning in {message()!r}")
            assert "pid 0" in message() and "second time" in message()
            assert app.screen.focused is not None and app.screen.focused.id == "resume"
            await pilot.press("enter")
            await until(pilot, lambda: "SUCCEEDED" in (cell(app, "db.t", STATE) or ""), "resumed db.t", 40)
            assert cell(app, "db.t", ROWS) == "3,040"  # 3,000 taken over, 40 new: nothing twice

        # read-only: the write keys are neither shown nor obeyed
        ro = OmsyncApp(s.endpoint, refresh=0.3, readonly=True)
        async with ro.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "db.f" in rows(ro), "read-only app sees db.f")
            keys = ro.screen.active_bindings
            assert not {"c", "d", "R"} & set(keys), sorted(keys)
            await pilot.press("d", "c", "R")
            await pilot.pause(0.2)
            assert isinstance(ro.screen, TasksScreen)
            ro.action_delete()
            await pilot.pause(0.1)
            assert isinstance(ro.screen, TasksScreen)
        assert s.api("GET", "/api/v1/tasks/db.f")[0] == 200

    asyncio.run(scenario())


def test_unreachable_synctool_banner_and_recovery(tmp_path: Path, zk_hosts: str, procs: list[Any]) -> None:
    s = SynctoolProcess(tmp_path, zk_hosts=zk_hosts)
    procs.append(s)
    s.start()

    async def scenario() -> None:
        app = OmsyncApp(s.endpoint, refresh=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: f"synctool {s.endpoint} · 0 task(s)" in banner(app), "connected")
            s.kill()
            await until(pilot, lambda: "unreachable" in banner(app), "unreachable banner", 10)
            assert "old" in banner(app) and s.endpoint in banner(app)
            await pilot.press("3")  # other screens say so too, and keys still work
            await until(pilot, lambda: "unreachable" in banner(app), "banner on collectors")
            again = SynctoolProcess(tmp_path, zk_hosts=zk_hosts, port=s.port)
            procs.append(again)
            await asyncio.to_thread(again.start)
            await until(pilot, lambda: "unreachable" not in banner(app), "recovered", 20)
            assert f"synctool {s.endpoint}" in banner(app)

    asyncio.run(scenario())


def test_create_form_says_where_a_bare_path_goes_before_creating(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], hdfs_server: Any, hdfs_url: str
) -> None:
    cluster = SandboxCluster.create(tmp_path / "sb", zk, SandboxConfig(zk_hosts))
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 100)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    conf = tmp_path / "hadoop"
    conf.mkdir()
    (conf / "core-site.xml").write_text(
        "<configuration><property><name>fs.defaultFS</name>"
        f"<value>{hdfs_server.url}</value></property></configuration>\n"
    )
    s = SynctoolProcess(tmp_path, zk_hosts=zk_hosts, extra=f'[hdfs]\nhadoop_conf_dir = "{conf}"\n')
    procs.append(s)
    s.start()
    wait_until(s.leading, 20, "leader")
    path = "/" + hdfs_url.split("/", 3)[3] + "/t"

    async def scenario() -> None:
        app = OmsyncApp(s.endpoint, refresh=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "0 task(s)" in banner(app), "first refresh")
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, CreateDialog), "create dialog")
            app.screen.query_one("#name", Input).value = "db.t"
            app.screen.query_one("#dest", Input).value = path
            await pilot.click("#create")

            def message() -> str:
                return str(app.screen.query_one("#message", Static).content)

            # the first press only says where the bare path goes; the second creates the task
            await until(pilot, lambda: "fs.defaultFS" in message(), message)
            assert f"{path} → {hdfs_server.url}{path}" in message() and "create again" in message()
            assert isinstance(app.screen, CreateDialog)  # still open: nothing created yet
            assert s.api("GET", "/api/v1/tasks")[1]["tasks"] == []
            await pilot.pause()
            app.screen.query_one("#create", Button).press()
            listed = lambda: isinstance(app.screen, TasksScreen) and "db.t" in rows(app)  # noqa: E731
            await until(pilot, listed, lambda: f"db.t listed; {app.screen!r}: {message()}", 20)
            assert rows(app)["db.t"][-1] == f"{hdfs_server.url}{path}"

    asyncio.run(scenario())


def table_of(
    app: OmsyncApp, table_id: str, columns: tuple[tuple[str, str], ...]
) -> dict[str, dict[str, str]]:
    """A screen's table as text: row key → column key → cell."""
    table = app.screen.query_one(f"#{table_id}", DataTable)
    keys = [key for _, key in columns]
    return {
        str(r.key.value): dict(zip(keys, (str(c) for c in table.get_row(r.key)), strict=True))
        for r in table.ordered_rows
    }


def test_synctools_screen_and_each_subtasks_worker(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = memory_table_with_collectors(tmp_path, zk, zk_hosts, procs, rows=300)
    leader = leading_synctool(procs, tmp_path, zk_hosts)
    other = synctool(procs, tmp_path, zk_hosts)
    endpoints = {leader.endpoint, other.endpoint}
    wait_until(lambda: len(leader.api("GET", "/api/v1/synctools")[1]["synctools"]) == 2, 20, "two synctools")
    create_task(leader, "db.t", str(tmp_path / "out"), mode="continuous")
    wait_rows(leader, "db.t", 300)

    async def scenario() -> None:
        app = OmsyncApp(other.endpoint, refresh=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "db.t" in rows(app), "db.t listed")
            await pilot.press("5")
            await until(pilot, lambda: isinstance(app.screen, SynctoolsScreen), "synctools screen")

            def synctools() -> dict[str, dict[str, str]]:
                return table_of(app, "synctools", SYNCTOOL_COLUMNS)

            def settled() -> bool:
                shown = synctools()
                return set(shown) == endpoints and sum(int(s["held"]) for s in shown.values()) == 2

            await until(pilot, settled, lambda: f"both synctools, both subtasks held: {synctools()}", 20)
            shown = synctools()
            assert list(shown) == [leader.endpoint, other.endpoint]  # the leader first
            assert shown[leader.endpoint]["role"] == "leader" and shown[other.endpoint]["role"] == "follower"
            assert sum(int(s["subtasks"]) for s in shown.values()) == 2
            assert all(s["heartbeat"].endswith("s ago") and "⚠" not in s["heartbeat"] for s in shown.values())

            # rows/s comes from successive polls of each synctool's rows received
            cluster.write("db.t", 2000)

            def received() -> int:
                return sum(int(s["received"].replace(",", "")) for s in synctools().values())

            def moving() -> bool:
                return any(s["rate"] != "0" for s in synctools().values())

            await until(pilot, lambda: received() == 2300, lambda: f"2,300 rows received: {synctools()}", 30)
            await until(pilot, moving, lambda: f"a rate above 0: {synctools()}", 10)

            # the task's subtasks name their worker, the same the synctools screen counts
            await pilot.press("1")
            await until(pilot, lambda: isinstance(app.screen, TasksScreen), "tasks screen")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, SubtasksScreen), "subtasks screen")

            def subtasks() -> dict[str, dict[str, str]]:
                return table_of(app, "subtasks", SUBTASK_COLUMNS)

            await until(pilot, lambda: set(subtasks()) == {"0", "1"}, lambda: f"two subtasks: {subtasks()}")
            workers = [s["worker"] for s in subtasks().values()]
            assert set(workers) <= endpoints, workers
            for ep, s in shown.items():
                assert int(s["subtasks"]) == workers.count(ep), (shown, workers)
            detail = str(app.screen.query_one("#detail-text", Static).content)
            assert f"→ worker {workers[0]}" in detail, detail

    asyncio.run(scenario())
