"""``omsync synctool``: run a synctool (any number may run; ZooKeeper elects one leader).

Config sources, highest first: these flags > ``OMSYNC_<SECTION>__<KEY>`` > ``--config`` TOML (or
``synctool.toml`` in omsync's config dirs) > OpenMLDB's ``synctool.properties`` (``--properties``)
> platformdirs defaults. ``--check`` prints the resolved config and exits.

``omsync synctool list``: the running synctools (each a worker), as ``omsync collector list`` lists
collectors. Exit codes as ``omsync task``'s: 0 ok, 1 error, 2 usage, 4 synctool unreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omsync_tui.cli import common
from omsync_tui.cli.common import OutOpt, SynctoolOpt, ZkOpt, ZkRootOpt

app = typer.Typer(help="Run a synctool, or list the running ones.", invoke_without_command=True)


@app.callback()
def synctool(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="synctool.toml (default: omsync's config dirs)")
    ] = None,
    properties: Annotated[
        Path | None, typer.Option("--properties", help="OpenMLDB synctool.properties, for migration")
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="advertised host:port (synctool.endpoint)")] = None,
    bind: Annotated[str | None, typer.Option(help="host:port to listen on (synctool.bind)")] = None,
    zk: Annotated[str | None, typer.Option("--zk", help="ZooKeeper hosts (zookeeper.hosts)")] = None,
    zk_root: Annotated[str | None, typer.Option(help="cluster root znode (zookeeper.root_path)")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug|info|warning|error (log.level)")] = None,
    log_dir: Annotated[Path | None, typer.Option(help="log directory (log.dir)")] = None,
    system: Annotated[
        bool, typer.Option("--system", help="default paths of a system service (/var/lib/omsync, ...)")
    ] = False,
    check: Annotated[bool, typer.Option("--check", help="print the resolved config and exit")] = False,
) -> None:
    """Run a synctool: tasks, SendData → Parquet/CSV at the destination, exactly once (Ctrl-C stops)."""
    if ctx.invoked_subcommand is not None:
        return
    from omsync_tui.core.config import load_config
    from omsync_tui.core.synctool_config import SynctoolConfig
    from omsync_tui.services.paths import synctool_defaults

    overrides = common.flag_overrides(
        ("synctool", "endpoint", endpoint),
        ("synctool", "bind", bind),
        ("zookeeper", "hosts", zk),
        ("zookeeper", "root_path", zk_root),
        ("log", "level", log_level),
        ("log", "dir", log_dir),
    )
    toml_path = common.config_file(config, "synctool.toml")
    cfg = load_config(
        SynctoolConfig,
        toml_path=toml_path,
        properties=properties,
        overrides=overrides,
        defaults=synctool_defaults(system=system),
    )
    if check:
        typer.echo(common.describe(cfg))
        return
    from omsync_tui.services.synctool.daemon import SynctoolDaemon

    common.run_daemon("synctool", cfg.log.dir, cfg.log.level, SynctoolDaemon(cfg).run)


@app.command("list")
def list_synctools(
    synctool: SynctoolOpt = None,
    zk: ZkOpt = None,
    zk_root: ZkRootOpt = "/openmldb",
    output: OutOpt = "text",
) -> None:
    """The running synctools: role, the subtasks each writes (held: taken up), rows received and
    the age of its last report. Exit 4 when no synctool answers."""
    from omsync_tui.services.cluster import summary

    def go() -> None:
        with common.client(synctool, zk, zk_root, None) as c:
            found = c.synctools()
            rows = [["ENDPOINT", "ROLE", "VERSION", "SUBTASKS", "HELD", "ROWS RECEIVED", "LAST REPORT"]]
            for x in found:
                beat = f"{x.heartbeat_age_s:.1f}s ago" if x.heartbeat_age_s is not None else "never"
                rows.append(
                    [
                        x.endpoint,
                        x.role if x.works else f"{x.role} (no work)",
                        x.version or "-",
                        str(x.subtasks),
                        str(x.held),
                        f"{x.rows_received:,}",
                        beat,
                    ]
                )
            common.emit(
                output,
                {"synctools": [summary(x) for x in found]},
                common.table(rows) if found else "no synctools",
            )

    common.run(go)
