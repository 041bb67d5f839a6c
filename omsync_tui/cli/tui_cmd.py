"""``omsync tui``: the terminal UI over the same ``services.cluster`` facade as ``omsync task``.

Textual is imported inside the command (STYLE rule 3): ``omsync --help`` never loads it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from omsync_tui.core.errors import UsageError

app = typer.Typer(help="Watch and steer sync tasks in a terminal UI.", invoke_without_command=True)


@app.callback()
def tui(
    synctool: Annotated[
        str | None,
        typer.Option("--synctool", "-s", help="synctool host:port (else OMSYNC_SYNCTOOL, else --zk)"),
    ] = None,
    zk: Annotated[str | None, typer.Option("--zk", help="ZooKeeper hosts, to discover the synctool")] = None,
    zk_root: Annotated[str, typer.Option("--zk-root", help="cluster root znode")] = "/openmldb",
    readonly: Annotated[bool, typer.Option("--readonly", help="no create, delete or retry")] = False,
    refresh: Annotated[float, typer.Option("--refresh", help="seconds between polls")] = 2.0,
    token: Annotated[
        str | None, typer.Option("--token", envvar="OMSYNC_AUTH_TOKEN", help="auth token")
    ] = None,
) -> None:
    """Tasks, subtasks, collectors, synctools and events, live; create, delete and retry tasks."""
    if refresh <= 0:
        raise UsageError(f"--refresh {refresh:g}: give a number of seconds > 0")
    from omsync_tui.screens.app import OmsyncApp

    OmsyncApp(synctool, zk=zk, zk_root=zk_root, readonly=readonly, refresh=refresh, token=token).run()
