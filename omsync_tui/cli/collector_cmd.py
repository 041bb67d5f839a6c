"""``omsync collector``: run the collector daemon of one tablet host.

Config sources, highest first: these flags > ``OMSYNC_<SECTION>__<KEY>`` > ``--config`` TOML (or
``collector.toml`` in omsync's config dirs) > OpenMLDB's ``data_collector.flags`` (``--flagfile``)
> the tablet's flags file > platformdirs defaults. ``--check`` prints the resolved config and exits.
Imports stay light: this path never loads pyarrow or textual.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from omsync_tui.core.errors import UsageError

app = typer.Typer(help="Run the collector of this tablet host.", invoke_without_command=True)


def setup_logging(directory: Path, level: str, name: str) -> Path:
    """Log to stderr and ``<directory>/<name>.log`` (rotated); returns the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.log"
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
    root = logging.getLogger("omsync")
    root.setLevel(level.upper())
    root.handlers.clear()
    for handler in (
        logging.StreamHandler(sys.stderr),
        logging.handlers.RotatingFileHandler(path, maxBytes=64 * 1024 * 1024, backupCount=5),
    ):
        handler.setFormatter(fmt)
        root.addHandler(handler)
    root.propagate = False
    return path


def flag_overrides(*settings: tuple[str, str, object]) -> dict[str, dict[str, object]]:
    """``load_config`` overrides from ``(section, key, value)`` of command-line flags; None = not given."""
    out: dict[str, dict[str, object]] = {}
    for section, key, value in settings:
        if value is not None:
            out.setdefault(section, {})[key] = value
    return out


def config_file(given: Path | None, name: str) -> Path | None:
    """The TOML file to read: ``--config`` (which must exist), else ``name`` where configs are found."""
    if given is None:
        from omsync_tui.services.paths import find_config_file

        return find_config_file(name)
    if not given.is_file():
        raise UsageError(f"config file {given} does not exist", hint=f"see conf/{name} for an example")
    return given


def run_daemon(kind: str, log_dir: Path, log_level: str, run: Callable[[], int]) -> None:
    """Log to ``log_dir``, run the daemon in the foreground, exit with its code."""
    log_file = setup_logging(log_dir, log_level, kind)
    logging.getLogger("omsync").info("logging to %s", log_file)
    raise typer.Exit(run())


def describe(cfg: object) -> str:
    """``section.key = value  # origin`` for every key; secrets shown as ``***``."""
    from dataclasses import fields, is_dataclass

    from omsync_tui.core.config import ConfigRoot

    assert isinstance(cfg, ConfigRoot) and is_dataclass(cfg)
    lines = []
    for section in fields(cfg):
        value = getattr(cfg, section.name)
        if not is_dataclass(value):
            continue
        for f in fields(value):
            shown = getattr(value, f.name)
            if f.name in ("auth_token", "auth") and shown is not None:
                shown = "***"
            elif isinstance(shown, tuple):
                shown = ", ".join(map(str, shown))
            name = f"{section.name}.{f.name}"
            lines.append(f"{name} = {shown}  # {cfg.origin(name)}")
    lines += [f"note: {n}" for n in cfg.notes] + [f"warning: {w}" for w in cfg.warnings]
    return "\n".join(lines)


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

    overrides = flag_overrides(
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
    toml_path = config_file(config, "collector.toml")
    cfg = load_config(
        CollectorConfig,
        toml_path=toml_path,
        flagfile=flagfile,
        overrides=overrides,
        defaults=collector_defaults(system=system),
    )
    if check:
        typer.echo(describe(cfg))
        return
    from omsync_tui.services.collector.daemon import CollectorDaemon

    run_daemon("collector", cfg.log.dir, cfg.log.level, CollectorDaemon(cfg).run)


@app.command("list")
def list_collectors(
    synctool: Annotated[str | None, typer.Option("--synctool", "-s", help="synctool host:port")] = None,
    zk: Annotated[str | None, typer.Option("--zk", help="ZooKeeper hosts, to discover the synctool")] = None,
    zk_root: Annotated[str, typer.Option("--zk-root")] = "/openmldb",
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
) -> None:
    """The collectors registered in ZooKeeper and the subtasks the synctool gave each."""
    from dataclasses import asdict

    from omsync_tui.cli.task_cmd import _client, _emit, _run, _table

    def go() -> None:
        with _client(synctool, zk, zk_root, None) as c:
            cs = c.collectors()
            rows = [["ENDPOINT", "REGISTERED", "SUBTASKS", "LAST HEARTBEAT"]]
            for x in cs:
                age = f"{x.last_heartbeat_age_s:.1f}s ago" if x.last_heartbeat_age_s is not None else "-"
                rows.append([x.endpoint, "yes" if x.registered else "NO", ", ".join(x.subtasks) or "-", age])
            _emit(output, {"collectors": [asdict(x) for x in cs]}, _table(rows) if cs else "no collectors")

    _run(go)
