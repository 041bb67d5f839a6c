"""Shared parts of the synctool end-to-end tests: a sandbox, collectors per host, synctools, and
the comparison of what the destination holds with the sandbox's ground truth.

Rows are compared as a multiset per partition of canonical strings (``canon``): every value's
``repr``, timestamps as epoch milliseconds, rows of an older schema padded with NULLs. So a row
missing, a row twice or a value decoded wrongly all show up as a difference.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from helpers.collectorproc import CollectorProcess
from helpers.synctoolproc import SynctoolProcess
from helpers.waiting import wait_until
from omsync_tui.openmldb.row.batch import arrow_schema
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import BASE_TS, preset_spec
from omsync_tui.sandbox.state import SandboxConfig
from omsync_tui.sandbox.truth import TruthRow
from omsync_tui.services.sinks.csvformat import render_csv
from omsync_tui.services.sinks.destination import open_destination

TABLETS = ("127.0.0.1:10921", "127.0.0.2:10921")
Rows = dict[int, Counter[str]]


def sandbox(tmp_path: Path, zk: Any, zk_hosts: str) -> SandboxCluster:
    return SandboxCluster.create(tmp_path / "sb", zk, SandboxConfig(zk_hosts, binlog_max_bytes=16 * 1024))


def mixed_table(
    cluster: SandboxCluster,
    name: str,
    *,
    partitions: int,
    storage: str,
    rows: int = 0,
    then: int | None = None,
) -> None:
    """Table ``name`` ("db.t") of the "mixed" preset with ``rows`` rows; with ``then``, a snapshot
    of them and ``then`` rows more (the binlog past the snapshot)."""
    cluster.create_table(preset_spec("mixed", *name.split("."), partition_num=partitions, storage=storage))
    if rows:
        cluster.write(name, rows)
    if then is not None:
        cluster.snapshot(name)
        cluster.write(name, then)


def collector(
    procs: list[Any],
    tmp_path: Path,
    cluster: SandboxCluster,
    zk_hosts: str,
    tablet: str,
    *,
    port: int | None = None,
    extra: str = "",
) -> CollectorProcess:
    """A collector for ``tablet``'s host, not started yet.

    Its datadir is the host's: a collector started again (the same ``port`` for the same
    endpoint) resumes the tasks of the one before. ``extra``: more ``[collector]`` settings.
    """
    host = tablet.split(":")[0]
    roots = tuple(cluster.tablet_root(tablet, s) for s in ("memory", "ssd", "hdd"))
    c = CollectorProcess(
        tmp_path,
        zk_hosts=zk_hosts,
        roots=roots,
        host=host,
        port=port,
        datadir=tmp_path / f"c-{host}",
        extra=extra,
    )
    procs.append(c)
    return c


def start_collectors(
    procs: list[Any], tmp_path: Path, cluster: SandboxCluster, zk_hosts: str, tablets: Iterable[str] = TABLETS
) -> list[CollectorProcess]:
    started = [collector(procs, tmp_path, cluster, zk_hosts, t).start() for t in tablets]
    wait_until(lambda: all(c.ready() for c in started), 20, "collectors ready")
    return started


def memory_table_with_collectors(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], rows: int
) -> SandboxCluster:
    """A sandbox with memory table ``db.t`` (2 partitions, ``rows`` rows) and a collector per host."""
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=2, storage="memory", rows=rows)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    return cluster


def synctool(procs: list[Any], tmp_path: Path, zk_hosts: str, **kw: Any) -> SynctoolProcess:
    s = SynctoolProcess(tmp_path, zk_hosts=zk_hosts, **kw)
    procs.append(s)
    return s.start()


def leading_synctool(procs: list[Any], tmp_path: Path, zk_hosts: str, **kw: Any) -> SynctoolProcess:
    s = synctool(procs, tmp_path, zk_hosts, **kw)
    try:
        wait_until(s.leading, 30, f"synctool {s.endpoint} leads")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{s.log_tail()}") from None
    return s


# -- what a task looks like through /api/v1 --------------------------------------------------------


def create_task(s: SynctoolProcess, name: str, dest: str, **options: Any) -> dict[str, Any]:
    code, body = s.api("POST", "/api/v1/tasks", {"name": name, "dest": dest, **options})
    assert code == 201, body
    task: dict[str, Any] = body["task"]
    return task


def get_task(s: SynctoolProcess, name: str) -> dict[str, Any] | None:
    try:
        code, body = s.api("GET", f"/api/v1/tasks/{name}")
    except OSError:
        return None
    return body["task"] if code == 200 else None


def wait_task(
    s: SynctoolProcess, name: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60
) -> dict[str, Any]:
    """Poll the task until ``check`` holds; the task as it was then."""
    last: dict[str, Any] | None = None

    def done() -> bool:
        nonlocal last
        last = get_task(s, name)
        return last is not None and check(last)

    try:
        wait_until(done, timeout, f"{name}: {what}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last: {last}\n{s.log_tail()}") from None
    assert last is not None
    return last


def wait_state(s: SynctoolProcess, name: str, state: str, timeout: float = 60) -> dict[str, Any]:
    return wait_task(s, name, lambda t: t["state"] == state, f"state {state}", timeout)


def wait_rows(s: SynctoolProcess, name: str, rows: int, timeout: float = 60) -> dict[str, Any]:
    """Wait until the task's committed rows reach ``rows`` (continuous tasks never end)."""
    return wait_task(s, name, lambda t: t["rows"] >= rows, f"{rows} rows committed", timeout)


def verify_ok(s: SynctoolProcess, name: str) -> None:
    code, verify = s.api("GET", f"/api/v1/tasks/{name}/verify")
    assert code == 200 and verify["ok"], verify


def events(s: SynctoolProcess, tid: int) -> list[dict[str, Any]]:
    code, body = s.api("GET", f"/api/v1/events?tid={tid}&limit=500")
    assert code == 200, body
    found: list[dict[str, Any]] = body["events"]
    return found


# -- rows ------------------------------------------------------------------------------------------


def canon(values: list[object] | tuple[object, ...], width: int) -> str:
    padded = list(values) + [None] * (width - len(values))
    out = []
    for v in padded:
        if isinstance(v, dt.datetime):
            v = int((v if v.tzinfo else v.replace(tzinfo=dt.UTC)).timestamp() * 1000)
        out.append(repr(v))
    return "|".join(out)


def read_dataset(dest: Path | str, filesystem: pafs.FileSystem | None = None) -> pa.Table:
    """Every committed Parquet file under ``dest`` as one table, schemas unified (ADD COLUMN: NULLs)."""
    base = ds.dataset(dest, format="parquet", partitioning="hive", filesystem=filesystem)
    fragments = list(base.get_fragments())
    if not fragments:
        return pa.table({})
    schema = pa.unify_schemas([f.physical_schema for f in fragments])
    schema = schema.append(pa.field("pid", pa.int32()))
    return ds.dataset(
        dest, format="parquet", partitioning="hive", filesystem=filesystem, schema=schema
    ).to_table()


def table_rows(table: pa.Table) -> Rows:
    columns = [c for c in table.column_names if c != "pid"]
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.int64()))
    out: Rows = {}
    pids = table.column("pid").to_pylist()
    rows = table.select(columns).to_pylist()
    for pid, row in zip(pids, rows, strict=True):
        out.setdefault(int(pid), Counter())[canon(list(row.values()), len(columns))] += 1
    return out


def destination_rows(uri: str | Path) -> Rows:
    """What a destination (a path or a URI: file, hdfs, ...) holds, read through omsync's own
    filesystem for it."""
    dest = open_destination(str(uri))
    return dataset_rows(dest.root, dest.fs)


def destination_names(uri: str | Path) -> list[str]:
    """The base names of every file and directory below a destination."""
    dest = open_destination(str(uri))
    return [i.base_name for i in dest.fs.get_file_info(pafs.FileSelector(dest.root, recursive=True))]


def dataset_rows(dest: Path | str, filesystem: pafs.FileSystem | None = None) -> Rows:
    return table_rows(read_dataset(dest, filesystem))


def as_rows(cluster: SandboxCluster, name: str, truth: dict[int, list[TruthRow]]) -> Rows:
    width = len(cluster.table(name).schema.latest)
    return {pid: Counter(canon(r.values, width) for r in rows) for pid, rows in truth.items() if rows}


def truth_rows(cluster: SandboxCluster, name: str) -> Rows:
    return as_rows(cluster, name, cluster.expected_full_sync(name))


def count(rows: Rows) -> int:
    return sum(sum(c.values()) for c in rows.values())


def csv_truth_lines(cluster: SandboxCluster, name: str, timezone: str = "UTC") -> Rows:
    """The truth as the original SyncTool's CSV lines: decoded into Arrow, rendered by ``render_csv``."""
    schema = arrow_schema(cluster.table(name).schema.latest)
    out: Rows = {}
    for pid, rows in cluster.expected_full_sync(name).items():
        if not rows:
            continue
        columns = list(zip(*(r.values for r in rows), strict=True))
        batch = pa.record_batch([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema)
        out[pid] = Counter(render_csv(batch, timezone).decode().splitlines())
    return out


def csv_lines(dest: Path) -> Rows:
    out: Rows = {}
    for f in dest.glob("pid=*/*.csv"):
        out.setdefault(int(f.parent.name[4:]), Counter()).update(f.read_text().splitlines())
    return out


def ts_of_row(n: int) -> int:
    """Index 0's ts (the ``ts`` column) of generated row ``n``; the put time is 3 ms later."""
    return BASE_TS + 7 * n


class Trickle:
    """A live table's load: ``rows`` written to sandbox table ``name`` every ``every`` seconds by a
    thread, from ``with`` until ``stop()`` (which the end of ``with`` calls too). ``written``
    counts them; a write that failed is raised by ``stop()``."""

    def __init__(self, cluster: SandboxCluster, name: str, rows: int = 20, every: float = 0.05) -> None:
        self.cluster, self.name, self.rows, self.every = cluster, name, rows, every
        self.written = 0
        self._stop = threading.Event()
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="sandbox-writer", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.cluster.write(self.name, self.rows)
                self.written += self.rows
                self._stop.wait(self.every)
        except BaseException as exc:  # raised in the test's thread by stop()
            self._failure.append(exc)

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        if self._failure:
            raise AssertionError(f"writing to {self.name} failed: {self._failure[0]!r}") from self._failure[0]

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(30)
        if kind is None:
            self.stop()
