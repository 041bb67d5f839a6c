"""The ``omsync`` command: wires sub-commands and turns omsync errors into exit codes.

Entry points import nothing heavy at module level (STYLE rule 3): each command imports what it
needs inside its function, so ``omsync --help`` stays fast and the collector never loads pyarrow.
"""

from __future__ import annotations

import sys

import typer

from omsync_tui import __version__
from omsync_tui.cli import (
    collector_cmd,
    config_cmd,
    doctor_cmd,
    inspect_cmd,
    sandbox_cmd,
    synctool_cmd,
    task_cmd,
    tui_cmd,
)
from omsync_tui.core.errors import OmsyncError

app = typer.Typer(
    name="omsync",
    help="Copy OpenMLDB online tables to offline storage, exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)
app.add_typer(collector_cmd.app, name="collector")
app.add_typer(config_cmd.app, name="config")
app.add_typer(doctor_cmd.app, name="doctor")
app.add_typer(inspect_cmd.app, name="inspect")
app.add_typer(synctool_cmd.app, name="synctool")
app.add_typer(task_cmd.app, name="task")
app.add_typer(tui_cmd.app, name="tui")
app.add_typer(sandbox_cmd.app, name="sandbox")


@app.command()
def version() -> None:
    """Print omsync's version."""
    typer.echo(f"omsync {__version__}")


def report(exc: OmsyncError) -> int:
    """Print an omsync error the way every command does: message, then hint, on stderr."""
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)
    return exc.exit_code


def main() -> None:
    try:
        app()
    except OmsyncError as exc:
        sys.exit(report(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # `omsync inspect ... | head` closes the pipe early: that is not an error.
        sys.stderr.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
