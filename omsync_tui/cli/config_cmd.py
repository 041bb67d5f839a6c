"""``omsync config show [client|collector|synctool]``: resolved settings and where each came from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omsync_tui.cli import common
from omsync_tui.core.errors import UsageError

app = typer.Typer(help="Show omsync's resolved configuration.", no_args_is_help=True)


@app.command()
def show(
    which: Annotated[str, typer.Argument(help="client, collector or synctool")] = "client",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="the TOML file to read")] = None,
    flagfile: Annotated[Path | None, typer.Option(help="collector: OpenMLDB data_collector.flags")] = None,
    properties: Annotated[Path | None, typer.Option(help="synctool: OpenMLDB synctool.properties")] = None,
) -> None:
    """Print every setting as ``section.key = value  # origin`` (secrets as ***)."""
    from omsync_tui.core.config import load_config
    from omsync_tui.services.paths import collector_defaults, find_config_file, synctool_defaults

    if which == "client":
        cfg = common.load_client(config)
    elif which in ("collector", "synctool"):
        if config is not None and not config.is_file():
            raise UsageError(f"config file {config} does not exist")
        toml = config if config is not None else find_config_file(f"{which}.toml")
        if which == "collector":
            from omsync_tui.core.collector_config import CollectorConfig

            cfg = load_config(
                CollectorConfig, toml_path=toml, flagfile=flagfile, defaults=collector_defaults()
            )
        else:
            from omsync_tui.core.synctool_config import SynctoolConfig

            cfg = load_config(
                SynctoolConfig, toml_path=toml, properties=properties, defaults=synctool_defaults()
            )
    else:
        raise UsageError(f"{which!r}: show client, collector or synctool")
    typer.echo(common.describe(cfg))
