"""``omsync task ...``: sync tasks for people and CI scripts, through the ``services.cluster`` facade.

Exit codes (also in ``omsync task --help`` and the README):
0 ok · 1 error · 2 usage · 3 some subtask FAILED · 4 synctool unreachable ·
5 refused to avoid duplicate data (or a destructive action without ``--yes`` and no TTY) ·
124 ``wait`` timed out.

``-o json`` prints one JSON document on stdout with ``schema_version``; messages go to stderr.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from omsync_tui.cli import common
from omsync_tui.cli.common import (
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    Exit,
    OutOpt,
    SynctoolOpt,
    TokenOpt,
    ZkOpt,
    ZkRootOpt,
)
from omsync_tui.core.errors import OmsyncError, UsageError

if TYPE_CHECKING:
    from omsync_tui.services.cluster import SubtaskInfo, SyncClient, TaskInfo

app = typer.Typer(help=f"Create, watch, verify and delete sync tasks. {EXIT_CODES}", no_args_is_help=True)


def _states(t: TaskInfo) -> str:
    order = ("FAILED", "REASSIGNING", "INIT", "RUNNING", "SUCCESS")
    parts = [f"{n} {s}" for s in order if (n := t.states.get(s, 0))]
    text = ", ".join(parts) or "-"
    return common.color(f"!! {text}", "red") if t.failed else text


def _partition_offsets(text: str | None, original: Path | None) -> dict[int, int] | None:
    """``--from-offsets PID=OFFSET,...`` or ``--from-original-progress DIR`` as pid → offset."""
    if text is not None and original is not None:
        raise UsageError("give --from-offsets or --from-original-progress, not both")
    if original is not None:
        from omsync_tui.openmldb.synctoolprogress import binlog_offsets

        offsets = binlog_offsets(original)
        where = ", ".join(f"pid {p} at {o}" for p, o in sorted(offsets.items()))
        common.say(f"the original SyncTool's progress: {where}")
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
    wait: Annotated[bool, typer.Option("--wait", help="then wait as `omsync task wait` does")] = False,
    timeout: Annotated[float, typer.Option(help="with --wait: seconds; exit 124 when they pass")] = 600.0,
    synctool: SynctoolOpt = None,
    zk: ZkOpt = None,
    zk_root: ZkRootOpt = "/openmldb",
    token: TokenOpt = None,
    output: OutOpt = "text",
) -> None:
    """Create a sync task; refuses to write ranges the destination already holds. With --wait,
    then wait for it as `omsync task wait` does (progress on stderr, exit 3 on FAILED, 124 on
    timeout)."""
    from omsync_tui.core.desturi import on_client
    from omsync_tui.services.cluster import CreateRequest, summary

    offsets = _partition_offsets(from_offsets, from_original_progress)
    # the synctool would take a relative path relative to its own working directory: make it
    # absolute here, where the person who typed it is, and say so
    where = on_client(dest)
    if where.note:
        common.say(f"destination {where.note}")

    def go() -> None:
        dest = where.uri
        with common.client(synctool, zk, zk_root, token) as c:
            held = c.destination(dest)
            if held.note:
                common.say(f"destination {held.resolved} ({held.note})")
            if not held.empty and not resume_from_dest and from_offset is None and offsets is None:
                ranges = "; ".join(
                    f"pid {h.pid}: {h.rows:,} rows in {h.files} files, {h.first} .. {h.next}"
                    for h in held.partitions
                )
                common.say(
                    f"{dest} already holds data{f' of {held.table}' if held.table else ''}: {ranges}.\n"
                    "Creating the task from the start writes these ranges a second time. Use "
                    "--resume-from-dest to continue after them, or another --dest."
                )
                if dry_run:
                    raise Exit(EXIT_REFUSED)
                common.confirm("write them again anyway?", yes)
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
                common.emit(
                    output,
                    {"dry_run": True, "request": request.to_json()},
                    f"would create: {request.to_json()}",
                )
                return
            t = c.create(request)
            if wait:  # the wait's document is the one printed
                common.say(f"created {t.name} (tid {t.tid}, {t.partitions} partitions) → {t.dest}")
                _wait_for(c, t.name, timeout, output)
                return
            common.emit(
                output,
                {"task": summary(t)},
                f"created {t.name} (tid {t.tid}, {t.partitions} partitions) → {t.dest}",
            )

    common.run(go)


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
        with common.client(synctool, zk, zk_root, token) as c:
            t = c.task(name)
            common.say(
                f"{t.name} has written {t.rows:,} rows in {t.files} files to {t.dest}. Deleting the task "
                "keeps them; re-creating it from the start writes them again (use --resume-from-dest then)."
            )
            common.confirm(f"delete the sync task of {t.name}?", yes)
            c.delete(name)
            common.emit(output, {"deleted": t.name, "rows": t.rows, "files": t.files}, f"deleted {t.name}")

    common.run(go)


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
        with common.client(synctool, zk, zk_root, token) as c:
            pids = c.retry(name, pid)
            common.emit(
                output,
                {"retried": pids},
                f"retrying pid {', '.join(map(str, pids))}" if pids else "nothing FAILED",
            )

    common.run(go)


def _status_text(tasks: list[TaskInfo], detail: bool) -> str:
    if not tasks:
        return "no sync tasks"
    failed = sum(1 for t in tasks if t.failed)
    rows = [["TASK", "MODE", "STATE", "SUBTASKS", "ROWS", "FILES", "LAG", "DEST"]]
    for t in sorted(tasks, key=lambda t: (-t.failed, t.name)):
        rows.append([t.name, t.mode, t.state, _states(t), f"{t.rows:,}", str(t.files), t.lag_text, t.dest])
    out = [common.color(f"{failed} task(s) with FAILED subtasks", "red")] if failed else []
    out.append(common.table(rows))
    if detail:
        for t in tasks:
            sub = [
                ["PID", "STATE", "COLLECTOR", "WORKER", "POSITION", "ROWS", "FILES", "RETRIES", "LAST ERROR"]
            ]
            for s in sorted(t.subtasks, key=lambda s: (s.state != "FAILED", s.pid)):
                error = (f"{s.cause}: " if s.cause else "") + s.last_error
                sub.append(
                    [
                        str(s.pid),
                        s.state,
                        s.collector,
                        s.worker or "-",
                        s.position,
                        f"{s.rows:,}",
                        str(s.files),
                        str(s.retries),
                        error,
                    ]
                )
            out += ["", t.name, common.table(sub)]
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
    from omsync_tui.services.cluster import summary

    def go() -> None:
        with common.client(synctool, zk, zk_root, None) as c:
            while True:
                tasks = [c.task(name)] if name else c.tasks()
                common.emit(
                    output, {"tasks": [summary(t) for t in tasks]}, _status_text(tasks, detail=bool(name))
                )
                if watch is None:
                    break
                time.sleep(watch)
                if output == "text":
                    print()
            if any(t.failed for t in tasks):
                raise Exit(EXIT_FAILED)

    common.run(go)


def _heads(c: SyncClient, name: str) -> dict[int, int]:
    """pid → the last binlog offset its tablet has written, asked now; a partition whose tablet
    cannot be asked is named on stderr and left out (it is then waited for as caught up with what
    its collector reported)."""
    heads: dict[int, int] = {}
    try:
        found = c.heads(name)
    except OmsyncError as exc:  # e.g. an older synctool, without the call
        common.say(
            f"cannot ask the tablets where they stand ({exc.message}); waiting until every subtask "
            "has caught up with what its collector reported instead"
        )
        return heads
    for h in found:
        if h.offset is None:
            common.say(
                f"pid {h.pid}: cannot ask its tablet where it stands ({h.error}); waiting until it has "
                "caught up with what its collector reported instead"
            )
        else:
            heads[h.pid] = h.offset
    return heads


def _caught_up_as_reported(s: SubtaskInfo) -> bool:
    return s.phase == "binlog" and (s.lag_offsets or 0) == 0 and s.uncommitted_rows == 0


def _progress(t: TaskInfo, togo: dict[int, int | None]) -> str:
    done = sum(1 for n in togo.values() if n == 0)
    behind = sum(n for n in togo.values() if n)
    snapshot = sum(1 for n in togo.values() if n is None)
    return (
        f"waiting for {t.name}: {done} of {len(togo)} partitions have every row written before the wait "
        f"in committed files; {behind:,} binlog offsets to go"
        + (f", {snapshot} partition(s) still in the snapshot" if snapshot else "")
        + f" ({t.rows:,} rows in {t.files} files so far)"
    )


@app.command()
def wait(
    name: Annotated[str, typer.Argument(help="db.table")],
    timeout: Annotated[float, typer.Option(help="seconds; exit 124 when they pass")] = 600.0,
    synctool: SynctoolOpt = None,
    zk: ZkOpt = None,
    zk_root: ZkRootOpt = "/openmldb",
    output: OutOpt = "text",
) -> None:
    """Wait until a FULL task SUCCEEDED, or until every row written to a continuous (or
    incremental) task's table before the call is in committed files, reporting progress on
    stderr (a bar on a terminal); exit 3 on FAILED, 124 on timeout."""

    def go() -> None:
        with common.client(synctool, zk, zk_root, None) as c:
            _wait_for(c, name, timeout, output)

    common.run(go)


def _expected_rows(c: SyncClient, name: str) -> int | None:
    """The rows a FULL sync of ``name`` will bring, estimated from its tablets' record counts
    (None when a tablet cannot say)."""
    try:
        heads = c.heads(name)
    except OmsyncError:
        return None
    counts = [h.rows for h in heads]
    return sum(n for n in counts if n is not None) if heads and None not in counts else None


def _wait_for(c: SyncClient, name: str, timeout: float, output: str) -> None:
    """``task wait``'s loop over an open client (also ``task create --wait``)."""
    from omsync_tui.cli.progress import Progress, RowRate, full_line
    from omsync_tui.services.cluster import offsets_to_go, summary

    deadline = time.monotonic() + timeout
    t = c.task(name)
    full = t.mode == "full"
    # where each tablet stands now: rows written later are not waited for
    heads = _heads(c, name) if not full else {}
    expected = _expected_rows(c, name) if full else None
    progress, rate = Progress(), RowRate()
    while True:
        togo = offsets_to_go(t, heads)
        received = t.rows_received or t.rows
        if full:
            line, done = full_line(
                t.name, received, t.rows, expected, rate.update(time.monotonic(), received)
            )
        else:
            line, done = (_progress(t, togo), None) if togo else ("", None)
        progress.show(line, done)  # where it stands, also at the end: at least one line
        if t.failed:
            progress.end()
            common.emit(output, {"task": summary(t)}, _status_text([t], detail=True))
            raise Exit(EXIT_FAILED)
        caught_up = (
            not full
            and bool(t.subtasks)
            and all(togo[s.pid] == 0 if s.pid in togo else _caught_up_as_reported(s) for s in t.subtasks)
        )
        if t.state == "SUCCEEDED" or caught_up:
            progress.end()
            common.emit(
                output, {"task": summary(t)}, f"{t.name}: {t.state}, {t.rows:,} rows in {t.files} files"
            )
            return
        if time.monotonic() > deadline:
            progress.end()
            common.say(
                f"timed out after {timeout:g} s: {t.name} is {t.state} ({_states(t)})"
                + (f"; {line.removeprefix('waiting for ')}" if line else "")
            )
            raise Exit(EXIT_TIMEOUT)
        time.sleep(0.5)
        t = c.task(name)


@app.command()
def verify(
    name: Annotated[str, typer.Argument(help="db.table")],
    synctool: SynctoolOpt = None,
    zk: ZkOpt = None,
    zk_root: ZkRootOpt = "/openmldb",
    output: OutOpt = "text",
) -> None:
    """Audit the destination: per partition, ranges contiguous, disjoint, row counts matching."""
    from omsync_tui.services.cluster import summary

    def go() -> None:
        with common.client(synctool, zk, zk_root, None) as c:
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
            common.emit(output, {"verify": summary(r)}, "\n".join(lines))
            if not r.ok:
                raise Exit(EXIT_ERROR)

    common.run(go)
