"""``omsync sandbox``: drive a simulated OpenMLDB cluster by hand (and from ``make demo``).

``up`` starts a background ``serve`` process that owns a throwaway ZooKeeper (unless ``--zk`` names
one), with ``--hdfs`` a real HDFS (a MiniDFSCluster on 127.0.0.1, ``<dir>/sandbox/jvm/hdfs``), and
holds the tablets' ephemeral ``<root>/nodes/<endpoint>`` znodes, as live tablets do; the other
commands are one-shot and work on the files and znodes it set up. ``up`` and ``status`` print the
HDFS as a line ``hdfs  hdfs://127.0.0.1:<port>`` (scripts read it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from omsync_tui.core.errors import ClusterError, UsageError

if TYPE_CHECKING:
    from omsync_tui.sandbox.cluster import SandboxCluster

app = typer.Typer(
    help="A simulated OpenMLDB cluster: real ZooKeeper, real tablet files.", no_args_is_help=True
)

DirOpt = Annotated[Path, typer.Option("--dir", "-d", help="sandbox directory", envvar="OMSYNC_SANDBOX")]
TableArg = Annotated[str, typer.Argument(help="db.table")]


def _pidfile(base: Path) -> Path:
    return base / "sandbox" / "serve.json"


@contextmanager
def _cluster(base: Path) -> Iterator[SandboxCluster]:
    from omsync_tui.sandbox.cluster import SandboxCluster
    from omsync_tui.sandbox.state import SandboxConfig

    config = SandboxConfig.load(base)
    zk = _connect(config.zk_hosts)
    try:
        yield SandboxCluster(base, zk, config)
    finally:
        zk.stop()
        zk.close()


def _connect(hosts: str, timeout: float = 10.0) -> Any:
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=hosts, timeout=timeout)
    try:
        zk.start(timeout=timeout)
    except Exception as exc:
        zk.close()
        raise ClusterError(
            f"cannot reach ZooKeeper at {hosts}: {exc}",
            hint="is the sandbox up? run: omsync sandbox up --dir DIR",
        ) from None
    return zk


@app.command()
def up(
    base: DirOpt,
    zk: Annotated[str | None, typer.Option(help="use this ZooKeeper instead of starting one")] = None,
    zk_root: Annotated[str, typer.Option(help="OpenMLDB's zk_root_path")] = "/openmldb",
    tablets: Annotated[
        str, typer.Option(help="comma-separated tablet endpoints")
    ] = "127.0.0.1:10921,127.0.0.2:10921",
    seed: Annotated[int, typer.Option(help="seed of generated rows")] = 0,
    binlog_max_kb: Annotated[int, typer.Option(help="rotate binlog files above this size")] = 256,
    snapshot_compression: Annotated[str | None, typer.Option(help="memory snapshots: zlib or snappy")] = None,
    hdfs: Annotated[
        bool, typer.Option("--hdfs", help="also run a real HDFS (MiniDFSCluster) on 127.0.0.1")
    ] = False,
) -> None:
    """Start the sandbox cluster (ZooKeeper + tablets' registrations) in the background."""
    from omsync_tui.sandbox.state import SandboxConfig

    base = base.resolve()
    if _alive(base):
        raise UsageError(f"a sandbox is already up in {base}", hint=f"omsync sandbox down --dir {base}")
    if snapshot_compression not in (None, "zlib", "snappy"):
        raise UsageError(f"--snapshot-compression {snapshot_compression!r}: use zlib or snappy")
    eps = tuple(t.strip() for t in tablets.split(",") if t.strip())
    config = SandboxConfig(zk or "", zk_root, eps, binlog_max_kb * 1024, seed, snapshot_compression)
    config.save(base)
    if hdfs:
        from omsync_tui.sandbox.jvm.hdfs import prepare

        # Built here, not in serve: a first build downloads Hadoop's jars, and its errors (no
        # java, no mvn, offline) belong on this terminal.
        prepare()
    log = open(base / "sandbox" / "serve.log", "ab")  # noqa: SIM115 - handed to the child
    cmd = [sys.executable, "-m", "omsync_tui", "sandbox", "serve", "--dir", str(base)]
    if hdfs:
        cmd.append("--hdfs")
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    ready_within = 180 if hdfs else 60
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ClusterError(
                f"sandbox serve exited with code {proc.returncode}",
                hint=f"see {base / 'sandbox' / 'serve.log'}",
            )
        if _alive(base):
            config = SandboxConfig.load(base)
            typer.echo(f"sandbox up: ZooKeeper {config.zk_hosts}{config.zk_root}, tablets {', '.join(eps)}")
            if config.hdfs_url:
                typer.echo(f"hdfs  {config.hdfs_url}")
            typer.echo(f"  dir {base}  (omsync sandbox down --dir {base} stops it)")
            return
        time.sleep(0.1)
    proc.terminate()
    raise ClusterError(
        f"sandbox serve did not become ready in {ready_within} s",
        hint=f"see {base / 'sandbox' / 'serve.log'}",
    )


def _alive(base: Path) -> bool:
    path = _pidfile(base)
    if not path.exists():
        return False
    pid = json.loads(path.read_text())["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@app.command(hidden=True)
def serve(
    base: DirOpt,
    hdfs: Annotated[bool, typer.Option("--hdfs", help="also run a MiniDFSCluster")] = False,
) -> None:
    """Run in the foreground: own ZooKeeper (if none was given), HDFS (if asked), hold the tablets' znodes."""
    from omsync_tui.sandbox.cluster import SandboxCluster
    from omsync_tui.sandbox.jvm.hdfs import HdfsServer
    from omsync_tui.sandbox.jvm.zkserver import ZkServer
    from omsync_tui.sandbox.responder import ClusterResponder
    from omsync_tui.sandbox.state import SandboxConfig

    base = base.resolve()
    config = SandboxConfig.load(base)
    server = None
    hdfs_server = None
    try:
        if not config.zk_hosts:
            server = ZkServer(base / "sandbox" / "zookeeper")
            server.start()
            config.zk_hosts = server.hosts
            config.save(base)
        if hdfs:
            hdfs_server = HdfsServer(base / "sandbox" / "hdfs")
            hdfs_server.start()
            config.hdfs_url = hdfs_server.url
            config.save(base)
        stop = False

        def on_term(signum: int, frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        zk = _connect(config.zk_hosts)
        try:
            cluster = SandboxCluster.create(base, zk, config)
            cluster.register_tablets(ephemeral=True)
            # The nameserver's and tablets' RPCs, so OpenMLDB's own SDK can use the sandbox too.
            responder = ClusterResponder(cluster)
            answering = responder.start()
            _pidfile(base).write_text(json.dumps({"pid": os.getpid(), "zk": config.zk_hosts}))
            print(f"serving: zk {config.zk_hosts}" + (f", {config.hdfs_url}" if hdfs else ""), flush=True)
            print(f"nameserver {answering.nameserver}, tablets {', '.join(answering.tablets)}", flush=True)
            for endpoint, why in answering.refused.items():
                print(f"tablet {endpoint} does not answer RPCs: {why}", flush=True)
            try:
                while not stop:
                    time.sleep(0.2)
            finally:
                responder.stop()
        finally:
            _pidfile(base).unlink(missing_ok=True)
            zk.stop()
            zk.close()
    finally:
        if hdfs_server is not None:
            hdfs_server.stop()
            _forget_hdfs(base)
        if server is not None:
            server.stop()


def _forget_hdfs(base: Path) -> None:
    """Clear the stopped HDFS's URL from the sandbox's state, so no command offers it any more."""
    from omsync_tui.sandbox.state import SandboxConfig

    if not (base / "sandbox" / "sandbox.json").exists():
        return
    config = SandboxConfig.load(base)
    if config.hdfs_url is not None:
        config.hdfs_url = None
        config.save(base)


@app.command()
def down(base: DirOpt) -> None:
    """Stop the sandbox's background process (and the ZooKeeper and HDFS it started)."""
    from omsync_tui.sandbox.jvm.hdfs import HdfsServer
    from omsync_tui.sandbox.jvm.zkserver import ZkServer

    base = base.resolve()
    path = _pidfile(base)
    was_up = _alive(base)
    if was_up:
        pid = json.loads(path.read_text())["pid"]
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(base):
            time.sleep(0.1)
        if _alive(base):
            os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    # serve stops the ZooKeeper and HDFS it started; if serve died or had to be killed, those
    # servers are orphans now (they run in sessions of their own) and are stopped here.
    orphan = ZkServer.stop_detached(base / "sandbox" / "zookeeper")
    hdfs_orphan = HdfsServer.stop_detached(base / "sandbox" / "hdfs")
    _forget_hdfs(base)
    if was_up or orphan or hdfs_orphan:
        typer.echo(f"sandbox in {base} stopped")
    else:
        typer.echo(f"no sandbox running in {base}")


@app.command("create-table")
def create_table(
    base: DirOpt,
    table: TableArg,
    preset: Annotated[str, typer.Option(help="mixed | multiindex | sharedkey")] = "mixed",
    storage: Annotated[str, typer.Option(help="memory | ssd | hdd")] = "memory",
    partitions: Annotated[int, typer.Option(help="partition_num")] = 2,
    snappy: Annotated[bool, typer.Option(help="compress_type = kSnappy")] = False,
    seed: Annotated[int | None, typer.Option(help="row seed (default: the sandbox's)")] = None,
    abs_ttl: Annotated[int, typer.Option(help="absolute TTL of every index, minutes (0 = none)")] = 0,
    lat_ttl: Annotated[int, typer.Option(help="latest-N TTL of every index (0 = none)")] = 0,
) -> None:
    """CREATE TABLE: TableInfo in ZooKeeper, partition directories with table_meta.txt."""
    from omsync_tui.sandbox.datagen import preset_spec

    db, name = _split(table)
    if abs_ttl < 0 or lat_ttl < 0:
        raise UsageError("--abs-ttl and --lat-ttl must be ≥ 0")
    spec = preset_spec(
        preset,
        db,
        name,
        partition_num=partitions,
        storage=storage,
        snappy=snappy,
        abs_ttl_minutes=abs_ttl,
        lat_ttl=lat_ttl,
    )
    with _cluster(base.resolve()) as cluster:
        st = cluster.create_table(spec, seed=seed)
        typer.echo(
            f"created {table}: tid {st.tid}, {partitions} partitions, {storage}"
            + (", snappy" if snappy else "")
        )


@app.command()
def write(
    base: DirOpt,
    table: TableArg,
    rows: Annotated[int, typer.Option(help="rows to insert (without --rate)")] = 1000,
    rate: Annotated[float, typer.Option(help="keep writing at this many rows/s")] = 0.0,
    duration: Annotated[float, typer.Option(help="with --rate: seconds to run (0 = until Ctrl-C)")] = 0.0,
) -> None:
    """Insert generated rows (deterministic from the seed), once or continuously."""
    with _cluster(base.resolve()) as cluster:
        if rate <= 0:
            start, end = cluster.write(table, rows)
            typer.echo(f"{table}: wrote rows {start}..{end - 1}")
            return
        written = 0
        t0 = time.monotonic()
        try:
            while duration <= 0 or time.monotonic() - t0 < duration:
                due = int((time.monotonic() - t0) * rate) - written
                if due > 0:
                    cluster.write(table, due)
                    written += due
                time.sleep(min(0.1, 1 / rate))
        except KeyboardInterrupt:
            pass
        typer.echo(f"{table}: wrote {written} rows in {time.monotonic() - t0:.1f} s")


@app.command()
def delete(base: DirOpt, table: TableArg, key: Annotated[str, typer.Argument(help="index-0 key")]) -> None:
    """DELETE by the first index's key: a delete entry in that key's partition."""
    with _cluster(base.resolve()) as cluster:
        index = cluster.delete(table, key)
        typer.echo(f"{table}: delete {key!r} at log_index {index}")


@app.command()
def snapshot(
    base: DirOpt,
    table: TableArg,
    keep_binlogs: Annotated[bool, typer.Option(help="do not delete binlogs older than the snapshot")] = False,
) -> None:
    """Make a snapshot of every partition (MANIFEST + .sdb or RocksDB checkpoint)."""
    with _cluster(base.resolve()) as cluster:
        for pid, m in sorted(cluster.snapshot(table, purge_binlogs=not keep_binlogs).items()):
            typer.echo(f"{table} pid {pid}: snapshot {m.name} offset {m.offset} count {m.count}")


@app.command()
def alter(
    base: DirOpt,
    table: TableArg,
    add_column: Annotated[str, typer.Option(help="NAME:TYPE, e.g. city:string")],
) -> None:
    """ALTER TABLE ADD COLUMN: a new schema version for rows written from now on."""
    from omsync_tui.openmldb.schema import Column, parse_type_name

    name, sep, type_name = add_column.partition(":")
    if not sep or not name:
        raise UsageError(f"--add-column {add_column!r}: write NAME:TYPE, e.g. city:string")
    with _cluster(base.resolve()) as cluster:
        st = cluster.add_column(table, Column(name, parse_type_name(type_name)))
        typer.echo(f"{table}: added {name} ({type_name}), schema version {st.schema.latest_version}")


@app.command("restart-tablet")
def restart_tablet(base: DirOpt, table: TableArg) -> None:
    """Act as if the tablet restarted: EOF written in place, later rows go to a new binlog file."""
    with _cluster(base.resolve()) as cluster:
        cluster.restart_tablet(table)
        typer.echo(f"{table}: binlogs closed as after a tablet restart")


@app.command()
def status(base: DirOpt) -> None:
    """Tables, partitions, leaders, binlog files and snapshots of the sandbox."""
    from omsync_tui.openmldb.binlog.files import list_binlogs
    from omsync_tui.openmldb.metadata import read_manifest

    base = base.resolve()
    with _cluster(base) as cluster:
        up_state = "up" if _alive(base) else "down"
        typer.echo(
            f"sandbox {base} ({up_state}), ZooKeeper {cluster.config.zk_hosts}{cluster.config.zk_root}"
        )
        if up_state == "up" and cluster.config.hdfs_url:
            typer.echo(f"hdfs  {cluster.config.hdfs_url}")
        for st in cluster.tables():
            s = st.spec
            typer.echo(
                f"{s.full_name}  tid {st.tid}  {s.storage}{' snappy' if s.snappy else ''}  "
                f"schema v{st.schema.latest_version}  rows written {st.next_row}"
            )
            for pid, leader, part in cluster.iter_partitions(s.full_name):
                files = list_binlogs(part / "binlog")
                manifest = part / "snapshot" / "MANIFEST"
                snap = "no snapshot"
                if manifest.exists():
                    m = read_manifest(manifest)
                    snap = f"snapshot {m.name} offset {m.offset} count {m.count}"
                names = f"{files[0][1].name}..{files[-1][1].name}" if files else "none"
                typer.echo(f"  pid {pid}  leader {leader}  binlogs {len(files)} ({names})  {snap}")
                typer.echo(f"         {part}")


@app.command()
def truth(
    base: DirOpt,
    table: TableArg,
    now_ms: Annotated[int | None, typer.Option(help="clock for TTL expiry (default: now)")] = None,
) -> None:
    """Print, as JSON lines, the rows a FULL sync of the table must produce (per pid)."""
    from omsync_tui.services.inspect import json_values

    with _cluster(base.resolve()) as cluster:
        for pid, rows in sorted(cluster.expected_full_sync(table, now_ms=now_ms).items()):
            for r in rows:
                typer.echo(
                    json.dumps(
                        {
                            "pid": pid,
                            "log_index": r.log_index,
                            "pk": r.pk,
                            "ts": r.ts,
                            "values": json_values(r.values),
                        },
                        ensure_ascii=False,
                    )
                )


def _split(table: str) -> tuple[str, str]:
    db, sep, name = table.partition(".")
    if not sep or not db or not name or "." in name:
        raise UsageError(f"{table!r} is not db.table")
    return db, name
