"""``omsync collector``: run the collector daemon of one tablet host.

Config sources, highest first: these flags > ``OMSYNC_<SECTION>__<KEY>`` > ``--config`` TOML (or
``collector.toml`` in omsync's config dirs) > OpenMLDB's ``data_collector.flags`` (``--flagfile``)
> the tablet's flags file > platformdirs defaults. ``--check`` prints the resolved config and exits.
Imports stay light: this path never loads pyarrow or textual.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omsync_tui.cli import common

app = typer.Typer(help="Run the collector of this tablet host.", invoke_without_command=True)


@app.callback()
def collector(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="collector.toml (default: omsync's config dirs)")
    ] = None,
    flagfile: Annotated[
        Path | None, typer.Option("--flagfile", help="OpenMLDB data_collector.flags, for migration")
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="advertised ip:port (collector.endpoint)")] = None,
    bind: Annotated[str | None, typer.Option(help="host:port to listen on (collector.bind)")] = None,
    datadir: Annotated[Path | None, typer.Option(help="work dirs and progress (collector.datadir)")] = None,
    zk: Annotated[str | None, typer.Option("--zk", help="ZooKeeper hosts (zookeeper.hosts)")] = None,
    zk_root: Annotated[str | None, typer.Option(help="cluster root znode (zookeeper.root_path)")] = None,
    tablet_root: Annotated[
        list[Path] | None, typer.Option(help="tablet data root; repeat for several (tablet.root_paths)")
    ] = None,
    tablet_flagfile: Annotated[
        Path | None, typer.Option(help="the tablet's gflags file (tablet.flagfile)")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug|info|warning|error (log.level)")] = None,
    log_dir: Annotated[Path | None, typer.Option(help="log directory (log.dir)")] = None,
    system: Annotated[
        bool, typer.Option("--system", help="default paths of a system service (/var/lib/omsync, ...)")
    ] = False,
    check: Annotated[bool, typer.Option("--check", help="print the resolved config and exit")] = False,
) -> None:
    """Run the collector: serve AddSyncTask, push the tablet's rows to synctools (Ctrl-C stops)."""
    if ctx.invoked_subcommand is not None:
        return
    from omsync_tui.core.collector_config import CollectorConfig
    from omsync_tui.core.config import load_config
    from omsync_tui.services.paths import collector_defaults

    overrides = common.flag_overrides(
        ("collector", "endpoint", endpoint),
        ("collector", "bind", bind),
        ("collector", "datadir", datadir),
        ("zookeeper", "hosts", zk),
        ("zookeeper", "root_path", zk_root),
        ("tablet", "root_paths", tuple(tablet_root) if tablet_root else None),
        ("tablet", "flagfile", tablet_flagfile),
        ("log", "level", log_level),
        ("log", "dir", log_dir),
    )
    toml_path = common.config_file(config, "collector.toml")
    cfg = load_config(
        CollectorConfig,
        toml_path=toml_path,
        flagfile=flagfile,
        overrides=overrides,
        defaults=collector_defaults(system=system),
    )
    if check:
        typer.echo(common.describe(cfg))
        return
    from omsync_tui.services.collector.daemon import CollectorDaemon

    common.run_daemon("collector", cfg.log.dir, cfg.log.level, CollectorDaemon(cfg).run)


@app.command("list")
def list_collectors(
    synctool: Annotated[str | None, typer.Option("--synctool", "-s", help="synctool host:port")] = None,
    zk: Annotated[str | None, typer.Option("--zk", help="ZooKeeper hosts, to discover the synctool")] = None,
    zk_root: Annotated[str, typer.Option("--zk-root")] = "/openmldb",
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
) -> None:
    """The collectors registered in ZooKeeper and the subtasks the synctool gave each."""
    from omsync_tui.services.cluster import summary

    def go() -> None:
        with common.client(synctool, zk, zk_root, None) as c:
            cs = c.collectors()
            rows = [["ENDPOINT", "REGISTERED", "SUBTASKS", "LAST HEARTBEAT"]]
            for x in cs:
                age = f"{x.last_heartbeat_age_s:.1f}s ago" if x.last_heartbeat_age_s is not None else "-"
                rows.append([x.endpoint, "yes" if x.registered else "NO", ", ".join(x.subtasks) or "-", age])
            common.emit(
                output,
                {"collectors": [summary(x) for x in cs]},
                common.table(rows) if cs else "no collectors",
            )

    common.run(go)
