"""``omsync task ...``: sync tasks for people and CI scripts, through the ``services.cluster`` facade.

Exit codes (also in ``omsync task --help`` and the README):
0 ok · 1 error · 2 usage · 3 some subtask FAILED · 4 synctool unreachable ·
5 refused to avoid duplicate data (or a destructive action without ``--yes`` and no TTY) ·
124 ``wait`` timed out.

``-o json`` prints one JSON document on stdout with ``schema_version``; messages go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from omsync_tui.core.errors import OmsyncError, RpcError, UsageError

if TYPE_CHECKING:
    from omsync_tui.services.cluster import SyncClient, TaskInfo

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_REFUSED, EXIT_TIMEOUT = (
    0,
    1,
    2,
    3,
    4,
    5,
    124,
)
SCHEMA_VERSION = 1

EXIT_CODES = (
    "Exit codes: 0 ok; 1 error; 2 usage; 3 some subtask FAILED; 4 synctool unreachable; "
    "5 refused to avoid duplicate data (or no --yes without a TTY); 124 wait timed out."
)

app = typer.Typer(help=f"Create, watch, verify and delete sync tasks. {EXIT_CODES}", no_args_is_help=True)

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


def _client(synctool: str | None, zk: str | None, zk_root: str, token: str | None) -> SyncClient:
    """Flags first, then ``OMSYNC_SYNCTOOL``, then client.toml / ``OMSYNC_CLIENT__*``, then ZooKeeper."""
    from omsync_tui.cli.config_cmd import load_client
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


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _emit(output: str, obj: dict[str, Any], text: str) -> None:
    if output == "json":
        print(json.dumps({"schema_version": SCHEMA_VERSION, **obj}, ensure_ascii=False, default=str))
    elif output == "text":
        print(text)
    else:
        raise UsageError(f"--output {output!r}: use text or json")


def _run(fn: Any) -> None:
    """Call ``fn`` and map omsync errors to this command group's exit codes."""
    try:
        fn()
    except Exit as e:
        raise typer.Exit(e.code) from None
    except RpcError as exc:
        _say(f"error: {exc.message}")
        if exc.hint:
            _say(f"hint: {exc.hint}")
        raise typer.Exit(
            EXIT_UNREACHABLE if exc.transient or "no synctool" in exc.message else EXIT_ERROR
        ) from None
    except OmsyncError as exc:
        _say(f"error: {exc.message}")
        if exc.hint:
            _say(f"hint: {exc.hint}")
        raise typer.Exit(EXIT_USAGE if isinstance(exc, UsageError) else EXIT_ERROR) from None


def _color(text: str, fg: str) -> str:
    if os.environ.get("NO_COLOR") or not sys.stdout.isatty():
        return text
    return typer.style(text, fg=fg, bold=True)


def _states(t: TaskInfo) -> str:
    order = ("FAILED", "REASSIGNING", "INIT", "RUNNING", "SUCCESS")
    parts = [f"{n} {s}" for s in order if (n := t.states.get(s, 0))]
    text = ", ".join(parts) or "-"
    return _color(f"!! {text}", "red") if t.failed else text


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        _say("refused: no TTY to confirm on; pass --yes to go ahead")
        raise Exit(EXIT_REFUSED)
    if not typer.confirm(question, default=False, err=True):
        _say("cancelled")
        raise Exit(EXIT_REFUSED)


def _partition_offsets(text: str | None, original: Path | None) -> dict[int, int] | None:
    """``--from-offsets PID=OFFSET,...`` or ``--from-original-progress DIR`` as pid → offset."""
    if text is not None and original is not None:
        raise UsageError("give --from-offsets or --from-original-progress, not both")
    if original is not None:
        from omsync_tui.openmldb.synctoolprogress import binlog_offsets

        offsets = binlog_offsets(original)
        where = ", ".join(f"pid {p} at {o}" for p, o in sorted(offsets.items()))
        _say(f"the original SyncTool's progress: {where}")
        return offsets
    if text is None:
        return None
    out: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        pid, eq, offset = part.partition("=")
        if not eq or not pid.strip().isdigit() or not offset.strip().isdigit():
            raise UsageError(f"--from-offsets {text!r}: {part!r} is not PID=OFFSET", hint="e.g. 0=1201,1=998")
        out[int(pid)] = int(offset)
    if not out:
        raise UsageError(f"--from-offsets {text!r} names no partition", hint="e.g. 0=1201,1=998")
    return out


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="db.table")],
    dest: Annotated[
        str, typer.Option("--dest", "-d", help="file:///dir, /dir, s3://bucket/prefix, hdfs://nn/dir")
    ],
    mode: Annotated[str, typer.Option(help="full | incremental | continuous")] = "full",
    start_ts: Annotated[int, typer.Option(help="incremental: rows with ts >= this (ms)")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="parquet | csv")] = "parquet",
    from_offset: Annotated[int | None, typer.Option(help="every partition from this binlog offset")] = None,
    from_offsets: Annotated[
        str | None, typer.Option(help="per partition: PID=OFFSET,PID=OFFSET (binlog offsets)")
    ] = None,
    from_original_progress: Annotated[
        Path | None,
        typer.Option(help="per partition, where OpenMLDB's SyncTool stands: its <progress_path>/<tid> dir"),
    ] = None,
    resume_from_dest: Annotated[bool, typer.Option(help="continue after what --dest already holds")] = False,
    deletes: Annotated[bool, typer.Option(help="also record binlog deletes")] = False,
    dry_run: Annotated[bool, typer.Option(help="say what would happen, change nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    synctool: SynctoolOpt = None,
    zk: ZkOpt = None,
    zk_root: ZkRootOpt = "/openmldb",
    token: TokenOpt = None,
    output: OutOpt = "text",
) -> None:
    """Create a sync task; refuses to write ranges the destination already holds."""
    from omsync_tui.services.cluster import CreateRequest

    offsets = _partition_offsets(from_offsets, from_original_progress)

    def go() -> None:
        with _client(synctool, zk, zk_root, token) as c:
            held = c.destination(dest)
            if held.note:
                _say(f"destination {held.resolved} ({held.note})")
            if not held.empty and not resume_from_dest and from_offset is None and offsets is None:
                ranges = "; ".join(
                    f"pid {h.pid}: {h.rows:,} rows in {h.files} files, {h.first} .. {h.next}"
                    for h in held.partitions
                )
                _say(
                    f"{dest} already holds data{f' of {held.table}' if held.table else ''}: {ranges}.\n"
                    "Creating the task from the start writes these ranges a second time. Use "
                    "--resume-from-dest to continue after them, or another --dest."
                )
                if dry_run:
                    raise Exit(EXIT_REFUSED)
                _confirm("write them again anyway?", yes)
            request = CreateRequest(
                name=name,
                dest=dest,
                mode=mode,
                start_ts=start_ts,
                format=fmt,
                start_offset=from_offset,
                start_offsets=offsets,
                resume_from_dest=resume_from_dest,
                deletes=deletes,
            )
            if dry_run:
                _emit(
                    output,
                    {"dry_run": True, "request": request.to_json()},
                    f"would create: {request.to_json()}",
                )
                return
            t = c.create(request)
            _emit(
                output,
                {"task": asdict(t)},
                f"created {t.name} (tid {t.tid}, {t.partitions} partitions) → {t.dest}",
            )

    _run(go)


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="db.table")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    synctool: SynctoolOpt = None,
    zk: ZkOpt = None,
    zk_root: ZkRootOpt = "/openmldb",
    token: TokenOpt = None,
    output: OutOpt = "text",
) -> None:
    """Delete a sync task (its files stay at the destination)."""

    def go() -> None:
        with _client(synctool, zk, zk_root, token) as c:
            t = c.task(name)
            _say(
                f"{t.name} has written {t.rows:,} rows in {t.files} files to {t.dest}. Deleting the task "
                "keeps them; re-creating it from the start writes them again (use --resume-from-dest then)."
            )
            _confirm(f"delete the sync task of {t.name}?", yes)
            c.delete(name)
            _emit(output, {"deleted": t.name, "rows": t.rows, "files": t.files}, f"deleted {t.name}")

    _run(go)


@app.command()
def retry(
    name: Annotated[str, typer.Argument(help="db.table")],
    pid: Annotated[int | None, typer.Option(help="only this partition")] = None,
    synctool: SynctoolOpt = None,
    zk: ZkOpt = None,
    zk_root: ZkRootOpt = "/openmldb",
    token: TokenOpt = None,
    output: OutOpt = "text",
) -> None:
    """Retry FAILED subtasks from their committed points."""

    def go() -> None:
        with _client(synctool, zk, zk_root, token) as c:
            pids = c.retry(name, pid)
            _emit(
                output,
                {"retried": pids},
                f"retrying pid {', '.join(map(str, pids))}" if pids else "nothing FAILED",
            )

    _run(go)


def _status_text(tasks: list[TaskInfo], detail: bool) -> str:
    if not tasks:
        return "no sync tasks"
    failed = sum(1 for t in tasks if t.failed)
    rows = [["TASK", "MODE", "STATE", "SUBTASKS", "ROWS", "FILES", "LAG", "DEST"]]
    for t in sorted(tasks, key=lambda t: (-t.failed, t.name)):
        rows.append(
            [t.name, t.mode, t.state, _states(t), f"{t.rows:,}", str(t.files), str(t.lag_offsets), t.dest]
        )
    out = [_color(f"{failed} task(s) with FAILED subtasks", "red")] if failed else []
    out.append(_table(rows))
    if detail:
        for t in tasks:
            sub = [["PID", "STATE", "COLLECTOR", "POSITION", "ROWS", "FILES", "RETRIES", "LAST ERROR"]]
            for s in sorted(t.subtasks, key=lambda s: (s.state != "FAILED", s.pid)):
                error = (f"{s.cause}: " if s.cause else "") + s.last_error
                sub.append(
                    [
                        str(s.pid),
                        s.state,
                        s.collector,
                        s.position,
                        f"{s.rows:,}",
                        str(s.files),
                        str(s.retries),
                        error,
                    ]
                )
            out += ["", t.name, _table(sub)]
    return "\n".join(out)


@app.command()
def status(
    name: Annotated[str | None, typer.Argument(help="db.table (default: every task)")] = None,
    watch: Annotated[float | None, typer.Option(help="refresh every N seconds until Ctrl-C")] = None,
    synctool: SynctoolOpt = None,
    zk: ZkOpt = None,
    zk_root: ZkRootOpt = "/openmldb",
    output: OutOpt = "text",
) -> None:
    """Tasks and their subtasks; exit 3 when a subtask is FAILED."""

    def go() -> None:
        with _client(synctool, zk, zk_root, None) as c:
            while True:
                tasks = [c.task(name)] if name else c.tasks()
                _emit(output, {"tasks": [asdict(t) for t in tasks]}, _status_text(tasks, detail=bool(name)))
                if watch is None:
                    break
                time.sleep(watch)
                if output == "text":
                    print()
            if any(t.failed for t in tasks):
                raise Exit(EXIT_FAILED)

    _run(go)


@app.command()
def wait(
    name: Annotated[str, typer.Argument(help="db.table")],
    timeout: Annotated[float, typer.Option(help="seconds; exit 124 when they pass")] = 600.0,
    synctool: SynctoolOpt = None,
    zk: ZkOpt = None,
    zk_root: ZkRootOpt = "/openmldb",
    output: OutOpt = "text",
) -> None:
    """Wait until a FULL task SUCCEEDED, or a continuous one has caught up; exit 3 on FAILED."""

    def go() -> None:
        deadline = time.monotonic() + timeout
        with _client(synctool, zk, zk_root, None) as c:
            while True:
                t = c.task(name)
                if t.failed:
                    _emit(output, {"task": asdict(t)}, _status_text([t], detail=True))
                    raise Exit(EXIT_FAILED)
                caught_up = (
                    t.mode != "full"
                    and t.subtasks
                    and all(
                        s.phase == "binlog" and (s.lag_offsets or 0) == 0 and s.uncommitted_rows == 0
                        for s in t.subtasks
                    )
                )
                if t.state == "SUCCEEDED" or caught_up:
                    _emit(
                        output,
                        {"task": asdict(t)},
                        f"{t.name}: {t.state}, {t.rows:,} rows in {t.files} files",
                    )
                    return
                if time.monotonic() > deadline:
                    _say(f"timed out after {timeout:g} s: {t.name} is {t.state} ({_states(t)})")
                    raise Exit(EXIT_TIMEOUT)
                time.sleep(0.5)

    _run(go)


@app.command()
def verify(
    name: Annotated[str, typer.Argument(help="db.table")],
    synctool: SynctoolOpt = None,
    zk: ZkOpt = None,
    zk_root: ZkRootOpt = "/openmldb",
    output: OutOpt = "text",
) -> None:
    """Audit the destination: per partition, ranges contiguous, disjoint, row counts matching."""

    def go() -> None:
        with _client(synctool, zk, zk_root, None) as c:
            r = c.verify(name)
            lines = [f"{r.name}: {'OK' if r.ok else 'PROBLEMS'}"]
            for p in r.partitions:
                lines.append(
                    f"  pid {p.pid}: {'ok' if p.ok else 'BAD'}  {p.files} files, {p.rows:,} rows "
                    f"(committed {p.committed_rows:,})"
                )
                lines += [f"    gap {a} .. {b}" for a, b in p.gaps]
                lines += [f"    overlap {a} / {b}" for a, b in p.overlaps]
                lines += [f"    rows do not match in {f} ({n})" for f, n in p.bad_rows]
            _emit(output, {"verify": asdict(r)}, "\n".join(lines))
            if not r.ok:
                raise Exit(EXIT_ERROR)

    _run(go)
