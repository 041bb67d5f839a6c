"""What the ``omsync`` commands share: exit codes, options, output, the synctool client, daemon start-up.

The ``*_cmd`` modules import from here and never from each other. Imports stay light (typer and
``core`` only; services load inside the functions), so ``omsync --help`` and the daemons' entry
points load no pyarrow or textual.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from omsync_tui.core.errors import OmsyncError, RpcError, TaskExit, UsageError, task_exit_code

if TYPE_CHECKING:
    from omsync_tui.services.cluster import SyncClient

# ``omsync task``'s documented codes; core.errors.TaskExit is their one definition
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_REFUSED, EXIT_TIMEOUT = (
    int(code) for code in TaskExit
)
SCHEMA_VERSION = 1

EXIT_CODES = (
    "Exit codes: 0 ok; 1 error; 2 usage; 3 some subtask FAILED; 4 synctool unreachable; "
    "5 refused to avoid duplicate data (or no --yes without a TTY); 124 wait timed out."
)

SynctoolOpt = Annotated[
    str | None, typer.Option("--synctool", "-s", help="synctool host:port (else OMSYNC_SYNCTOOL, else --zk)")
]
ZkOpt = Annotated[str | None, typer.Option("--zk", help="ZooKeeper hosts, to discover the synctool")]
ZkRootOpt = Annotated[str, typer.Option("--zk-root", help="cluster root znode")]
OutOpt = Annotated[str, typer.Option("--output", "-o", help="text or json")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="OMSYNC_AUTH_TOKEN", help="auth token")]


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def client(synctool: str | None, zk: str | None, zk_root: str, token: str | None) -> SyncClient:
    """Flags first, then ``OMSYNC_SYNCTOOL``, then client.toml / ``OMSYNC_CLIENT__*``, then ZooKeeper."""
    from omsync_tui.core.client_config import ClientConfig
    from omsync_tui.services.cluster import SyncClient, locate_synctool

    cfg = load_client()
    assert isinstance(cfg, ClientConfig)
    c = cfg.client
    endpoint = locate_synctool(
        synctool,
        zk_hosts=zk or c.zk,
        zk_root=zk_root if zk_root != "/openmldb" else c.zk_root,
        config_value=c.synctool,
    )
    return SyncClient(endpoint, auth_token=token or c.auth_token)


def say(msg: str) -> None:
    print(msg, file=sys.stderr)


def emit(output: str, obj: dict[str, Any], text: str) -> None:
    if output == "json":
        print(json.dumps({"schema_version": SCHEMA_VERSION, **obj}, ensure_ascii=False, default=str))
    elif output == "text":
        print(text)
    else:
        raise UsageError(f"--output {output!r}: use text or json")


def run(fn: Any) -> None:
    """Call ``fn`` and map omsync errors to this command group's exit codes."""
    try:
        fn()
    except Exit as e:
        raise typer.Exit(e.code) from None
    except RpcError as exc:
        say(f"error: {exc.message}")
        if exc.hint:
            say(f"hint: {exc.hint}")
        raise typer.Exit(
            EXIT_UNREACHABLE if exc.transient or "no synctool" in exc.message else EXIT_ERROR
        ) from None
    except OmsyncError as exc:
        say(f"error: {exc.message}")
        if exc.hint:
            say(f"hint: {exc.hint}")
        raise typer.Exit(int(task_exit_code(exc))) from None


def color(text: str, fg: str) -> str:
    if os.environ.get("NO_COLOR") or not sys.stdout.isatty():
        return text
    return typer.style(text, fg=fg, bold=True)


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        say("refused: no TTY to confirm on; pass --yes to go ahead")
        raise Exit(EXIT_REFUSED)
    if not typer.confirm(question, default=False, err=True):
        say("cancelled")
        raise Exit(EXIT_REFUSED)


# -- config and daemons ------------------------------------------------------------------------


def load_client(config: Path | None = None) -> object:
    """The clients' config: ``client.toml`` (omsync's config dirs, or ``config``) + environment."""
    from omsync_tui.core.client_config import ClientConfig
    from omsync_tui.core.config import load_config
    from omsync_tui.services.paths import find_config_file

    if config is not None and not config.is_file():
        raise UsageError(f"config file {config} does not exist")
    return load_config(
        ClientConfig, toml_path=config if config is not None else find_config_file("client.toml")
    )


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
