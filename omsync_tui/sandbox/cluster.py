"""A simulated OpenMLDB cluster: nameserver metadata in a real ZooKeeper, tablets' files on disk.

What it writes is what a real cluster writes (reference §3, §5): binary ``TableInfo`` under
``<root>/table/db_table_data/<tid>``, tablets under ``<root>/nodes/<endpoint>``, and per
partition on the leader tablet's root path: ``table_meta.txt``, binlogs, MANIFEST and snapshots.
Rows go to every partition one of their index keys hashes to (MurmurHash64A, seed 0xe17a1465),
each LogEntry carrying only that partition's dimensions.

State that is not OpenMLDB's (table specs, the row counter, the operation journal used for
ground truth) lives under ``<base>/sandbox/``, so several processes — the CLI at the shell, a
continuous writer, a test — can work on one sandbox in turn.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from omsync_tui.core.errors import NotFoundError, UsageError
from omsync_tui.openmldb.hashing import index_key, partition_of
from omsync_tui.openmldb.proto import name_server_pb2, tablet_pb2
from omsync_tui.openmldb.row.encode import compress_value, encode_row
from omsync_tui.openmldb.schema import Column
from omsync_tui.openmldb.zkpaths import ZkPaths
from omsync_tui.sandbox.datagen import RowGenerator, TableSpec
from omsync_tui.sandbox.partition import PartitionWriter, locked, read_journal, write_partition_meta
from omsync_tui.sandbox.state import SandboxConfig, TableState, table_info, table_meta
from omsync_tui.sandbox.truth import TruthRow, expected_rows, to_json_values

ROOT_FLAG = {"memory": "db_root_path", "ssd": "ssd_root_path", "hdd": "hdd_root_path"}


class SandboxCluster:
    """Drive a simulated cluster: create tables, write rows, snapshot, alter, know the truth."""

    def __init__(self, base: Path, zk: Any, config: SandboxConfig) -> None:
        self.base = base
        self.zk = zk
        self.config = config
        self.paths = ZkPaths(config.zk_root)
        self.state_dir = base / "sandbox"

    # -- layout ---------------------------------------------------------------------------

    @classmethod
    def create(cls, base: Path, zk: Any, config: SandboxConfig) -> SandboxCluster:
        base.mkdir(parents=True, exist_ok=True)
        config.save(base)
        cluster = cls(base, zk, config)
        for path in (cluster.paths.db_table_data, cluster.paths.nodes, f"{config.zk_root}/db"):
            zk.ensure_path(path)
        for path in (cluster.paths.table_index, cluster.paths.notify, f"{config.zk_root}/table/term"):
            if not zk.exists(path):
                zk.create(path, b"0", makepath=True)
        for endpoint in config.tablets:
            cluster.write_tablet_flags(endpoint)
        return cluster

    @classmethod
    def open(cls, base: Path, zk: Any) -> SandboxCluster:
        return cls(base, zk, SandboxConfig.load(base))

    def tablet_dir(self, endpoint: str) -> Path:
        return self.base / "tablets" / endpoint.replace(":", "_")

    def tablet_root(self, endpoint: str, storage: str) -> Path:
        return self.tablet_dir(endpoint) / {"memory": "db", "ssd": "ssd", "hdd": "hdd"}[storage]

    def write_tablet_flags(self, endpoint: str) -> Path:
        """A ``tablet.flags`` like a real deployment's, so collectors can read the root paths."""
        d = self.tablet_dir(endpoint)
        d.mkdir(parents=True, exist_ok=True)
        lines = [
            f"--endpoint={endpoint}",
            "--role=tablet",
            f"--zk_cluster={self.config.zk_hosts}",
            f"--zk_root_path={self.config.zk_root}",
        ]
        for storage, flag in ROOT_FLAG.items():
            root = self.tablet_root(endpoint, storage)
            root.mkdir(parents=True, exist_ok=True)
            lines.append(f"--{flag}={root}")
        path = d / "tablet.flags"
        path.write_text("\n".join(lines) + "\n")
        return path

    def register_tablets(self, *, ephemeral: bool = True) -> None:
        """``<root>/nodes/<endpoint>``, as a live tablet holds it (ephemeral, ``startup_<ep>``)."""
        for endpoint in self.config.tablets:
            path = self.paths.tablet(endpoint)
            if not self.zk.exists(path):
                self.zk.create(path, f"startup_{endpoint}".encode(), ephemeral=ephemeral, makepath=True)

    # -- tables ---------------------------------------------------------------------------

    def _state_path(self, tid: int) -> Path:
        return self.state_dir / "tables" / f"{tid}.json"

    def _save_state(self, st: TableState) -> None:
        path = self._state_path(st.tid)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(st.to_json()))
        tmp.replace(path)

    def tables(self) -> list[TableState]:
        d = self.state_dir / "tables"
        if not d.exists():
            return []
        return sorted(
            (TableState.from_json(json.loads(p.read_text())) for p in d.glob("*.json")), key=lambda s: s.tid
        )

    def table(self, name: str) -> TableState:
        for st in self.tables():
            if st.spec.full_name == name:
                return st
        known = ", ".join(s.spec.full_name for s in self.tables()) or "none"
        raise NotFoundError(
            f"sandbox has no table {name!r} (tables: {known})",
            hint="create it with: omsync sandbox create-table",
        )

    def leader(self, st: TableState, pid: int) -> str:
        return st.leader(pid, self.config.tablets)

    def partition_dir(self, st: TableState, pid: int) -> Path:
        return self.tablet_root(self.leader(st, pid), st.spec.storage) / f"{st.tid}_{pid}"

    def journal_path(self, st: TableState, pid: int) -> Path:
        return self.state_dir / "journal" / f"{st.tid}_{pid}.jsonl"

    def _allocate_tid(self) -> int:
        """Next tid from ``table/table_index``, compare-and-set like the nameserver's counter."""
        from kazoo.exceptions import BadVersionError

        while True:
            data, stat = self.zk.get(self.paths.table_index)
            tid = int(data.decode() or "0") + 1
            try:
                self.zk.set(self.paths.table_index, str(tid).encode(), version=stat.version)
            except BadVersionError:
                continue  # another writer took this tid
            return tid

    def _bump_notify(self) -> None:
        data, stat = self.zk.get(self.paths.notify)
        self.zk.set(self.paths.notify, str(int(data.decode() or "0") + 1).encode(), version=stat.version)

    def create_table(self, spec: TableSpec, *, seed: int | None = None) -> TableState:
        for st in self.tables():
            if st.spec.full_name == spec.full_name:
                raise UsageError(f"table {spec.full_name} already exists in the sandbox")
        tid = self._allocate_tid()
        st = TableState(tid, spec, seed=self.config.seed if seed is None else seed)
        self.zk.ensure_path(f"{self.config.zk_root}/db/{spec.db}")
        self._publish(st, create=True)
        self._save_state(st)
        return st

    def table_info(self, st: TableState) -> name_server_pb2.TableInfo:
        return table_info(st, self.config.tablets)

    def table_meta(self, st: TableState, pid: int) -> tablet_pb2.TableMeta:
        return table_meta(st, pid, self.config.tablets)

    def _publish(self, st: TableState, *, create: bool) -> None:
        """TableInfo to ZooKeeper and table_meta.txt to every partition directory."""
        data = self.table_info(st).SerializeToString()
        path = self.paths.table(st.tid)
        if create:
            self.zk.create(path, data, makepath=True)
        else:
            self.zk.set(path, data)
        for pid in range(st.spec.partition_num):
            part = self.partition_dir(st, pid)
            write_partition_meta(part, self.table_meta(st, pid))
            (part / "binlog").mkdir(exist_ok=True)
            (part / "snapshot").mkdir(exist_ok=True)
        self._bump_notify()

    def add_column(self, name: str, column: Column) -> TableState:
        """``ALTER TABLE ... ADD COLUMN``: a new schema version; later rows carry it in byte 1."""
        with locked(self.state_dir / "locks" / f"{name}.lock"):
            st = self.table(name)
            if column.name in {c.name for c in st.schema.latest}:
                raise UsageError(f"table {name} already has a column {column.name!r}")
            st.added.append(replace(column, not_null=False))
            st.versions[st.schema.latest_version + 1] = len(st.spec.columns) + len(st.added)
            self._publish(st, create=False)
            self._save_state(st)
            return st

    def drop_table(self, name: str) -> None:
        st = self.table(name)
        self.zk.delete(self.paths.table(st.tid))
        self._state_path(st.tid).unlink()
        self._bump_notify()

    # -- writing --------------------------------------------------------------------------

    def _writers(self, st: TableState, stack: ExitStack) -> dict[int, PartitionWriter]:
        writers = {}
        for pid in range(st.spec.partition_num):
            w = PartitionWriter(
                self.partition_dir(st, pid),
                self.journal_path(st, pid),
                binlog_max_bytes=self.config.binlog_max_bytes,
            )
            stack.callback(w.close)
            writers[pid] = w
        return writers

    def _disk(self, st: TableState, pid: int, stack: ExitStack) -> Any:
        from omsync_tui.sandbox.rocks_writer import DiskTableWriter

        writer = DiskTableWriter(self.partition_dir(st, pid) / "data", self.table_meta(st, pid))
        stack.callback(writer.close)
        return writer

    def put_rows(self, name: str, rows: Sequence[Sequence[object]], *, time_ms: int | None = None) -> int:
        """Insert ``rows`` (values of the latest schema) as a SQL client's puts would arrive."""
        with locked(self.state_dir / "locks" / f"{name}.lock"), ExitStack() as stack:
            st = self.table(name)
            self._put(st, rows, time_ms, stack)
            return len(rows)

    def write(self, name: str, count: int) -> tuple[int, int]:
        """Insert the next ``count`` generated rows; returns the row-number range written."""
        with locked(self.state_dir / "locks" / f"{name}.lock"), ExitStack() as stack:
            st = self.table(name)
            gen = RowGenerator(st.schema.latest, st.seed)
            start = st.next_row
            # one set of writers for every chunk: a second RocksDB writer on the same DB is refused
            writers = self._writers(st, stack)
            disks = (
                {pid: self._disk(st, pid, stack) for pid in writers} if st.spec.storage != "memory" else {}
            )
            for chunk in range(start, start + count, 5000):
                n = min(5000, start + count - chunk)
                self._put(st, gen.rows(chunk, n), None, stack, first_row=chunk, opened=(writers, disks))
            st.next_row = start + count
            self._save_state(st)
            return start, start + count

    def _put(
        self,
        st: TableState,
        rows: Sequence[Sequence[object]],
        time_ms: int | None,
        stack: ExitStack,
        first_row: int | None = None,
        opened: tuple[Any, Any] | None = None,
    ) -> None:
        schema = st.schema
        columns = schema.latest
        version = schema.latest_version
        positions = {c.name: i for i, c in enumerate(columns)}
        if opened is not None:
            writers, disks = opened
        else:
            writers = self._writers(st, stack)
            disks = (
                {pid: self._disk(st, pid, stack) for pid in writers} if st.spec.storage != "memory" else {}
            )
        spec = st.spec
        for n, values in enumerate(rows):
            if len(values) != len(columns):
                raise UsageError(f"{spec.full_name} has {len(columns)} columns, a row has {len(values)}")
            put_time = (
                time_ms
                if time_ms is not None
                else (
                    1_700_000_000_000 + 7 * (first_row + n) + 3
                    if first_row is not None
                    else int(time.time() * 1000)
                )
            )
            row = encode_row(columns, values, schema_version=version)
            stored = compress_value(row) if spec.snappy else row
            by_pid: dict[int, list[tuple[int, str, int]]] = {}
            for idx, ix in enumerate(spec.indexes):
                key = index_key([values[positions[c]] for c in ix.columns])
                ts = put_time if ix.ts_column is None else values[positions[ix.ts_column]]
                if not isinstance(ts, int):
                    raise UsageError(f"index {ix.name}: ts column {ix.ts_column} must be set (got {ts!r})")
                by_pid.setdefault(partition_of(key, spec.partition_num), []).append((idx, key, ts))
            for pid, dims in by_pid.items():
                entry = tablet_pb2.LogEntry(pk="", value=stored, ts=put_time)
                for idx, key, _ in dims:
                    entry.dimensions.add(key=key, idx=idx)
                t0 = next((ts for idx, _, ts in dims if idx == 0), 0)
                writers[pid].append(
                    entry,
                    {
                        "op": "put",
                        "sv": version,
                        "t0": t0,
                        "dims": [[idx, key] for idx, key, _ in dims],
                        "v": to_json_values(values),
                    },
                )
                if pid in disks:
                    disks[pid].put(
                        [(idx, key.encode()) for idx, key, _ in dims],
                        {idx: ts for idx, _, ts in dims},
                        stored,
                    )

    def delete(self, name: str, key: str) -> int:
        """``DELETE FROM t WHERE <index-0 key> = key``: one delete entry in the key's partition."""
        with locked(self.state_dir / "locks" / f"{name}.lock"), ExitStack() as stack:
            st = self.table(name)
            pid = partition_of(key, st.spec.partition_num)
            writer = self._writers(st, stack)[pid]
            entry = tablet_pb2.LogEntry(method_type=tablet_pb2.kDelete)
            entry.dimensions.add(key=key, idx=0)
            index = writer.append(entry, {"op": "del", "dims": [[0, key]]})
            if st.spec.storage != "memory":
                self._disk(st, pid, stack).delete(0, key.encode())
            return index

    def restart_tablet(self, name: str, *, torn_tail: bytes = b"") -> None:
        """Every partition of ``name`` behaves as after a tablet restart (EOF in place, new file)."""
        with locked(self.state_dir / "locks" / f"{name}.lock"), ExitStack() as stack:
            for w in self._writers(self.table(name), stack).values():
                w.restart(torn_tail)

    # -- snapshots ------------------------------------------------------------------------

    def snapshot(self, name: str, *, purge_binlogs: bool = True) -> dict[int, tablet_pb2.Manifest]:
        """Make a snapshot of every partition (as the tablet's daily job or `makesnapshot`)."""
        with locked(self.state_dir / "locks" / f"{name}.lock"), ExitStack() as stack:
            st = self.table(name)
            out = {}
            for pid, w in self._writers(st, stack).items():
                if st.spec.storage == "memory":
                    entries = self._live_memory_entries(st, pid, w.last_index)
                    out[pid] = w.write_memory_snapshot(entries, self.config.snapshot_compression)
                else:
                    snap_name = w.snapshot_name()
                    disk = self._disk(st, pid, stack)
                    tmp = w.snapshot_dir / f"{snap_name}.tmp"
                    disk.checkpoint(tmp)
                    tmp.rename(w.snapshot_dir / snap_name)
                    count = len(self._truth(st, pid, w.last_index, disk=True, tail=False))
                    out[pid] = w.install_disk_snapshot(w.snapshot_dir / snap_name, snap_name, count)
                if purge_binlogs:
                    w.purge_binlogs()
            return out

    def _live_memory_entries(self, st: TableState, pid: int, upto: int) -> list[bytes]:
        """Serialized LogEntries a memory table holds: every put not deleted (by index-0 key)."""
        live: list[tuple[dict[int, str], bytes]] = []
        for op in read_journal(self.journal_path(st, pid)):
            if op["i"] > upto:
                break
            dims = {int(i): str(k) for i, k in op["dims"]}
            if op["op"] == "del":
                live = [(d, e) for d, e in live if d.get(0) != dims[0]]
            else:
                live.append((dims, bytes.fromhex(op["e"])))
        return [e for _, e in live]

    # -- ground truth ---------------------------------------------------------------------

    def _truth(
        self, st: TableState, pid: int, offset: int, *, disk: bool, tail: bool, now_ms: int = 0
    ) -> list[TruthRow]:
        rows = expected_rows(
            read_journal(self.journal_path(st, pid)),
            st.schema,
            snapshot_offset=offset,
            disk=disk,
            abs_ttl_minutes=st.spec.abs_ttl_minutes if now_ms else 0,
            lat_ttl=st.spec.lat_ttl if now_ms else 0,
            now_ms=now_ms,
        )
        return rows if tail else [r for r in rows if r.log_index <= offset]

    def expected_full_sync(self, name: str, *, now_ms: int | None = None) -> dict[int, list[TruthRow]]:
        """Per pid, the rows a FULL sync must produce (snapshot part, then binlog part).

        Disk tables with a TTL: the snapshot part is what index 0's TTL keeps at ``now_ms``
        (default: now), as the collector's reader applies it.
        """
        from omsync_tui.openmldb.metadata import read_manifest

        st = self.table(name)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        out = {}
        for pid in range(st.spec.partition_num):
            manifest_path = self.partition_dir(st, pid) / "snapshot" / "MANIFEST"
            offset = int(read_manifest(manifest_path).offset) if manifest_path.exists() else 0
            out[pid] = self._truth(st, pid, offset, disk=st.spec.storage != "memory", tail=True, now_ms=now)
        return out

    def iter_partitions(self, name: str) -> Iterator[tuple[int, str, Path]]:
        st = self.table(name)
        for pid in range(st.spec.partition_num):
            yield pid, self.leader(st, pid), self.partition_dir(st, pid)
