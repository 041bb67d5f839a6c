"""``omsync doctor``: preflight checks of a cluster before (or while) syncing it.

Each check yields one line: ``ok``, ``warn`` or ``FAIL``, what was checked, and for the last two
what to do. Exit 0 when nothing failed (warnings do not fail), 1 otherwise. Checks that depend on
an earlier one (ZooKeeper reachable) are skipped, not failed twice. Creates nothing anywhere:
the only write is the local destination probe, which removes its file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from omsync_tui.openmldb.zkpaths import ZkPaths

app = typer.Typer(
    help="Check that ZooKeeper, collectors and the synctool are ready.", invoke_without_command=True
)

SCHEMA_VERSION = 1
_LOOPBACK = ("0.0.0.0", "localhost", "::", "::1", "[::]", "[::1]")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | FAIL
    detail: str
    hint: str | None = None


def _host(endpoint: str) -> str:
    return endpoint.rpartition(":")[0] if ":" in endpoint else endpoint


def _loopback(host: str) -> bool:
    return host.lower() in _LOOPBACK or host.startswith("127.")


def _tablet_endpoint(name: str, data: str) -> str:
    """The tablet's endpoint: node data is ``startup_<ep>`` or ``<ep>``; the name with --use_name."""
    ep = data.strip().removeprefix("startup_")
    return ep or name


def _zookeeper(hosts: str, timeout: float) -> tuple[Any, Check]:
    import logging

    from kazoo.client import KazooClient

    quiet = logging.getLogger("omsync.doctor.kazoo")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    client = KazooClient(hosts=hosts, timeout=timeout, logger=quiet)
    try:
        client.start(timeout=timeout)
    except Exception as exc:  # kazoo timeout, bad host string, DNS failure: all mean unreachable
        client.close()
        return None, Check(
            "zookeeper",
            "FAIL",
            f"ZooKeeper {hosts} is unreachable ({type(exc).__name__}: {exc})".replace(": )", ")"),
            "check --zk (host:port[,host:port][/chroot]) and that ZooKeeper is running",
        )
    return client, Check("zookeeper", "ok", f"connected to {hosts}")


def _cluster_checks(zk: Any, paths: ZkPaths) -> tuple[list[Check], dict[str, str], list[str]]:
    """Root, tablets↔collectors; returns the checks, tablet endpoints by node, collector endpoints."""
    from omsync_tui.core.errors import OmsyncError
    from omsync_tui.services.zk.reads import list_collectors, list_tables, list_tablets

    try:
        if zk.exists(paths.root) is None:
            return (
                [
                    Check(
                        "cluster root",
                        "FAIL",
                        f"znode {paths.root} does not exist",
                        "pass the cluster's --zk-root (OpenMLDB's zk_root_path)",
                    )
                ],
                {},
                [],
            )
        tables = list_tables(zk, paths)
        tablets = {n: _tablet_endpoint(n, d) for n, d in list_tablets(zk, paths).items()}
        collectors = sorted(list_collectors(zk, paths))
    except OmsyncError as exc:
        return [Check("cluster root", "FAIL", exc.message, exc.hint)], {}, []
    checks = [Check("cluster root", "ok", f"{paths.root}: {len(tables)} tables, {len(tablets)} tablets")]
    if not tablets:
        checks.append(
            Check(
                "tablets", "warn", f"no tablet registered under {paths.nodes}", "start the OpenMLDB tablets"
            )
        )
    by_host: dict[str, list[str]] = {}
    for c in collectors:
        by_host.setdefault(_host(c), []).append(c)
    for ep in sorted(set(tablets.values())):
        host = _host(ep)
        found = by_host.get(host)
        if found:
            checks.append(Check(f"collector on {host}", "ok", f"tablet {ep}: collector {', '.join(found)}"))
        else:
            checks.append(
                Check(
                    f"collector on {host}",
                    "FAIL",
                    f"tablet {ep} has no collector registered on {host} ({paths.collectors})",
                    f"run `omsync collector --endpoint {host}:PORT --zk ...` on {host}",
                )
            )
    return checks, tablets, collectors


def _collector_health(endpoint: str, timeout: float) -> Check:
    from omsync_tui.core.errors import OmsyncError
    from omsync_tui.rpc.client import HttpJsonClient

    name = f"collector {endpoint} answers"
    client = HttpJsonClient(f"http://{endpoint}", timeout=timeout)
    try:
        status, body = client.get("/healthz")
    except OmsyncError as exc:
        return Check(
            name, "FAIL", exc.message, "is the collector running and its endpoint reachable from here?"
        )
    finally:
        client.close()
    if status != 200:
        return Check(name, "FAIL", f"/healthz answered {status}: {body[:200]}", "see the collector's log")
    return Check(name, "ok", "/healthz 200")


def _synctool_checks(
    explicit: str | None, zk_hosts: str, zk_root: str, dest: str | None, timeout: float
) -> tuple[list[Check], str | None]:
    from omsync_tui.core.errors import OmsyncError
    from omsync_tui.services.cluster import SyncClient, locate_synctool

    try:
        endpoint = locate_synctool(explicit, zk_hosts=zk_hosts, zk_root=zk_root)
    except OmsyncError as exc:
        return [Check("synctool", "FAIL", exc.message, exc.hint or "start `omsync synctool`")], None
    checks: list[Check] = []
    with SyncClient(endpoint, timeout=timeout) as client:
        try:
            st = client.status()
        except OmsyncError as exc:
            hint = exc.hint or "is the synctool running and reachable from here?"
            detail = exc.message if endpoint in exc.message else f"{endpoint}: {exc.message}"
            return [Check("synctool", "FAIL", detail, hint)], endpoint
        if st.leader:
            checks.append(Check("synctool", "ok", f"{endpoint} ({st.role}), leader {st.leader}"))
        else:
            checks.append(
                Check(
                    "synctool",
                    "FAIL",
                    f"{endpoint} ({st.role}) reports no leader",
                    "wait for the election, or check the synctools' ZooKeeper connection",
                )
            )
        if dest is not None:
            try:
                info = client.destination(dest)
                held = f", holds {len(info.partitions)} partitions" if not info.empty else ", empty"
                where = f" → {info.resolved} ({info.note})" if info.note else ""
                checks.append(Check("destination (synctool)", "ok", f"{dest}{where}{held}"))
            except OmsyncError as exc:
                checks.append(Check("destination (synctool)", "FAIL", exc.message, exc.hint))
    return checks, endpoint


def _local_destination(dest: str) -> Check | None:
    """Write probe from this host for the local disk and HDFS (a bare path goes to ``fs.defaultFS``
    when ``HADOOP_CONF_DIR`` names one); None for S3, whose credentials the synctool holds."""
    from omsync_tui.core.desturi import scheme

    if scheme(dest) not in ("", "file", "hdfs", "viewfs"):
        return None
    from omsync_tui.core.errors import OmsyncError
    from omsync_tui.services.sinks.destination import open_destination, probe_writable, resolve_destination

    name = "destination (write from this host)"
    try:
        resolved = resolve_destination(dest)
        probe_writable(open_destination(resolved.uri))
    except OmsyncError as exc:
        return Check(name, "FAIL", exc.message, exc.hint)
    where = f"{resolved.uri} ({resolved.note})" if resolved.note else dest
    return Check(name, "ok", f"wrote and removed a probe under {where}")


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing parent: the filesystem it is (or will be) on."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _filesystem_checks(datadir: Path, roots: list[Path]) -> list[Check]:
    base = _existing(datadir)
    dev = os.stat(base).st_dev
    where = str(datadir) if base == datadir.absolute() else f"{datadir} (not yet created; {base})"
    checks = []
    for root in roots:
        name = f"same filesystem {root}"
        if not root.exists():
            checks.append(Check(name, "FAIL", f"tablet root {root} does not exist", "check --tablet-root"))
        elif os.stat(root).st_dev != dev:
            checks.append(
                Check(
                    name,
                    "FAIL",
                    f"datadir {where} and tablet root {root} are on different filesystems",
                    "put the collector's datadir on the tablet's filesystem (hard links need it)",
                )
            )
        else:
            checks.append(Check(name, "ok", f"datadir {where} and {root}"))
    return checks


def _routable(tablets: list[str], collectors: list[str], synctool: str | None) -> Check:
    tablet_hosts = {_host(t) for t in tablets}
    if not tablet_hosts or all(_loopback(h) for h in tablet_hosts):
        return Check(
            "endpoints routable", "ok", "all endpoints are on this host's loopback or none to compare"
        )
    ours = [*collectors, *([synctool] if synctool else [])]
    local = [e for e in ours if _loopback(_host(e))]
    if local:
        return Check(
            "endpoints routable",
            "warn",
            f"{', '.join(local)} advertise a local address"
            f" while tablets use {', '.join(sorted(tablet_hosts))}",
            "set --endpoint to an address other hosts can reach",
        )
    return Check("endpoints routable", "ok", "collector and synctool endpoints are not loopback")


def _print(checks: list[Check], output: str) -> None:
    if output == "json":
        ok = all(c.status != "FAIL" for c in checks)
        doc = {"schema_version": SCHEMA_VERSION, "ok": ok, "checks": [asdict(c) for c in checks]}
        typer.echo(json.dumps(doc, indent=2))
        return
    for c in checks:
        line = f"{c.status:<4}  {c.name}: {c.detail}"
        if c.hint and c.status != "ok":
            line += f" — fix: {c.hint}"
        typer.echo(line)


@app.callback()
def doctor(
    ctx: typer.Context,
    zk: Annotated[str, typer.Option("--zk", envvar="OMSYNC_ZK", help="ZooKeeper hosts (host:port[/chroot])")],
    zk_root: Annotated[str, typer.Option("--zk-root", help="cluster root znode")] = "/openmldb",
    synctool: Annotated[
        str | None, typer.Option("--synctool", "-s", help="synctool host:port (else discovered via --zk)")
    ] = None,
    dest: Annotated[str | None, typer.Option("--dest", "-d", help="destination URI to check")] = None,
    datadir: Annotated[Path | None, typer.Option(help="collector datadir (with --tablet-root)")] = None,
    tablet_root: Annotated[
        list[Path] | None, typer.Option(help="tablet data root; repeat for several")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
    timeout: Annotated[float, typer.Option(help="seconds per network check")] = 3.0,
) -> None:
    """Check ZooKeeper, collectors, the synctool and the destination; exit 1 if any check fails."""
    if ctx.invoked_subcommand is not None:
        return
    if output not in ("text", "json"):
        raise typer.BadParameter("use text or json", param_hint="--output")
    from omsync_tui.core.desturi import on_client
    from omsync_tui.openmldb.zkpaths import ZkPaths

    if dest is not None:  # checked where `omsync task create` would send it
        dest = on_client(dest).uri
    checks: list[Check] = []
    client, zk_check = _zookeeper(zk, timeout)
    checks.append(zk_check)
    tablets: dict[str, str] = {}
    collectors: list[str] = []
    if client is not None:
        try:
            found, tablets, collectors = _cluster_checks(client, ZkPaths(zk_root))
            checks += found
        finally:
            client.stop()
            client.close()
        checks += [_collector_health(c, timeout) for c in collectors]
    st_endpoint = synctool
    if client is not None or synctool is not None:  # discovery needs ZooKeeper, --synctool does not
        st_checks, st_endpoint = _synctool_checks(synctool, zk, zk_root, dest, timeout)
        checks += st_checks
    if dest is not None:
        local = _local_destination(dest)
        if local is not None:
            checks.append(local)
    if datadir is not None and tablet_root:
        checks += _filesystem_checks(datadir, tablet_root)
    elif datadir is not None or tablet_root:
        checks.append(
            Check("same filesystem", "warn", "skipped", "pass both --datadir and --tablet-root to compare")
        )
    if client is not None:
        checks.append(_routable(list(tablets.values()), collectors, st_endpoint))
    _print(checks, output)
    raise typer.Exit(0 if all(c.status != "FAIL" for c in checks) else 1)
