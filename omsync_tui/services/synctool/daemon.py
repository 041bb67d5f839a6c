"""``omsync synctool`` as a process: config → rpc server → ZooKeeper membership → task manager.

Every synctool serves reads (``TaskStatus``, ``/api/v1``, ``/status``) and is a worker: it
receives SendData for the subtasks the leader assigned to it (``worker.Worker``) and publishes
their figures every second in its registration node. The one elected leader also manages tasks
and schedules every subtask (``manager``, ``assign``); followers refuse writes naming the leader.

Stop (SIGTERM/SIGINT): refuse new calls, commit open files while the session is live, leave
ZooKeeper (the leader moves the subtasks to the others), close the port; a second signal exits at
once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from omsync_tui import __version__
from omsync_tui.core.collector_config import parse_endpoint
from omsync_tui.core.errors import OmsyncError
from omsync_tui.core.states import State
from omsync_tui.core.synctool_config import SynctoolConfig
from omsync_tui.rpc.server import RpcServer
from omsync_tui.rpc.service import HttpRequest, RouteResult, Routes, prometheus_route
from omsync_tui.services.signals import serve_until_signalled
from omsync_tui.services.synctool.api import (
    Api,
    Context,
    subtask_info,
    sync_tool_service,
    synctool_infos,
    task_info,
)
from omsync_tui.services.synctool.destapi import add_destination_route
from omsync_tui.services.synctool.manager import SyncManager
from omsync_tui.services.synctool.membership import Membership
from omsync_tui.services.synctool.store import Store
from omsync_tui.services.synctool.wire import SynctoolInfo
from omsync_tui.services.synctool.worker import Worker

log = logging.getLogger("omsync.synctool")


class _Metrics(Collector):
    def __init__(self, daemon: SynctoolDaemon) -> None:
        self.d = daemon

    def collect(self) -> Any:
        m = self.d.manager
        yield GaugeMetricFamily("omsync_synctool_leader", "1 when this synctool leads", value=int(m.leading))
        labels = ["table", "pid", "state"]
        rows = CounterMetricFamily(
            "omsync_synctool_rows_committed", "Rows in committed files", labels=labels[:2]
        )
        received = CounterMetricFamily(
            "omsync_synctool_rows_received",
            "Rows received since this synctool took the subtask",
            labels=labels[:2],
        )
        pending = GaugeMetricFamily(
            "omsync_synctool_uncommitted_rows", "Rows received, not yet in committed files", labels=labels[:2]
        )
        lag_offsets = GaugeMetricFamily(
            "omsync_synctool_lag_offsets", "Binlog offsets not yet in committed files", labels=labels[:2]
        )
        lag_s = GaugeMetricFamily(
            "omsync_synctool_lag_seconds",
            "How long the oldest row not in committed files has waited",
            labels=labels[:2],
        )
        subs = GaugeMetricFamily("omsync_synctool_subtasks", "Subtasks by state", labels=["table", "state"])
        for task, parts in m.tables():
            counts = {s.value: 0 for s in State}
            for p in parts:
                where = [task.name, str(p.pid)]
                rows.add_metric(where, p.record.rows)
                counts[p.record.state.value] += 1
                info = subtask_info(p)
                received.add_metric(where, info.rows_received)
                pending.add_metric(where, info.uncommitted_rows)
                if info.lag_offsets is not None:
                    lag_offsets.add_metric(where, info.lag_offsets)
                if info.lag_s is not None:
                    lag_s.add_metric(where, info.lag_s)
            for state, n in counts.items():
                subs.add_metric([task.name, state], n)
        yield rows
        yield received
        yield pending
        yield lag_offsets
        yield lag_s
        yield subs


def _worker_lines(synctools: list[SynctoolInfo]) -> list[str]:
    """``/status``'s workers: one line per running synctool."""
    lines = [f"synctools: {len(synctools)}"]
    for s in synctools:
        beat = f"{s.heartbeat_age_s:g}s" if s.heartbeat_age_s is not None else "never"
        lines.append(
            f"  {s.endpoint} {s.role} subtasks={s.subtasks} held={s.held} heartbeat_age={beat}"
            + ("" if s.works else " (takes no subtasks: [synctool] work = false)")
        )
    return lines


class SynctoolDaemon:
    def __init__(self, config: SynctoolConfig) -> None:
        self.config = config
        c = config.synctool
        self.endpoint = c.endpoint
        self.membership = Membership(
            config.zookeeper.hosts,
            config.zookeeper.root_path,
            c.endpoint,
            session_timeout_s=config.zookeeper.session_timeout_ms / 1000,
            auth=config.zookeeper.auth,
            on_leader=self._on_leader,
            on_follower=self._on_follower,
            on_session_lost=self._on_session_lost,
            logger=log,
            version=__version__,
            works=c.work,
        )
        self.manager: SyncManager | Any = None
        self.worker: Worker | Any = None
        self.store: Store | Any = None
        self.server: RpcServer | None = None
        self.started = time.time()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._ticker: threading.Thread | None = None
        self._stopping = False

    # -- membership callbacks (one background thread, in order) ----------------------------------

    def _on_leader(self) -> None:
        # membership may elect us before start() has built the manager on its client
        self._ready.wait()
        if self.manager is not None and not self._stopping:
            log.info("elected leader: taking over every task")
            self.manager.lead()

    def _on_follower(self, reason: str) -> None:
        self._ready.wait()
        if self.manager is not None:
            self.manager.step_down(reason)

    def _on_session_lost(self) -> None:
        self._ready.wait()
        if self.worker is not None:
            self.worker.drop_all("ZooKeeper session expired (the leader may have moved them)")

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        for note in self.config.notes:
            log.info("config: %s", note)
        for warning in self.config.warnings:
            log.warning("config: %s", warning)
        self.membership.start()
        client = self.membership.client
        self.store = Store(client, self.config.zookeeper.root_path, by=self.endpoint)
        self.worker = Worker(
            self.config,
            client,
            self.store,
            root_path=self.config.zookeeper.root_path,
            connected=lambda: self.membership.zk_state == "connected",
        )
        self.manager = SyncManager(
            self.config,
            client,
            self.store,
            self.worker,
            root_path=self.config.zookeeper.root_path,
            may_write=lambda: self.membership.is_leader and self.membership.may_write,
        )
        ctx = Context(
            manager=self.manager,
            store=self.store,
            zk=client,
            root_path=self.config.zookeeper.root_path,
            endpoint=self.endpoint,
            started=self.started,
            role=lambda: "leader" if self.manager.leading else "follower",
            leader=lambda: self.membership.leader,
            zk_state=lambda: self.membership.zk_state,
        )
        routes = add_destination_route(Api(ctx).add_to(Routes()), self.config.hdfs)
        routes.add("/status", self._status).add("/healthz", self._healthz).add("/readyz", self._readyz)
        metrics = CollectorRegistry()
        metrics.register(_Metrics(self))
        routes.add("/metrics", prometheus_route(metrics))
        host, port = parse_endpoint(self.config.synctool.bind or self.endpoint)
        self.server = RpcServer(
            host,
            port,
            [sync_tool_service(ctx)],
            routes,
            workers=self.config.synctool.workers,
            auth_token=self.config.synctool.auth_token,
        )
        self.server.start()
        self._ready.set()
        self._ticker = threading.Thread(target=self._tick_loop, name="omsync-synctool-watch", daemon=True)
        self._ticker.start()
        log.info("synctool %s started (listening on %s)", self.endpoint, self.server.endpoint)

    def _tick_loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.worker.tick()
                self.membership.publish(self.worker.report())
                self.manager.tick()
            except Exception:
                log.exception("the watch loop failed; going on")

    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._ready.set()
        log.info("stopping: committing open files, then leaving ZooKeeper")
        self._stop.set()
        if self.manager is not None:
            self.manager.shutdown()
        if self.worker is not None:
            self.worker.shutdown()
        self.membership.stop()
        if self.server is not None:
            self.server.stop(timeout=2.0)
        log.info("stopped")

    def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT, stop cleanly; the exit code."""
        return serve_until_signalled(self.start, self.stop, log)

    # -- plain routes ------------------------------------------------------------------------------

    def _status(self, _r: HttpRequest) -> RouteResult:
        m = self.manager
        tables = m.tables()  # one read of ZooKeeper for the whole page
        lines = [
            f"version: omsync {__version__}",
            f"uptime: {time.time() - self.started:.0f}s",
            f"endpoint: {self.endpoint}",
            f"zookeeper: {self.membership.zk_state}",
            f"role: {'leader' if m.leading else 'follower'} (leader: {self.membership.leader or 'none'})",
            f"tasks: {len(tables)}",
        ]
        for task, parts in tables:
            v = task_info(task, parts, detail=False)
            states = " ".join(f"{k}={n}" for k, n in v.states.items() if n)
            lines.append(
                f"  {task.name} tid={task.tid} mode={task.mode.value} {v.state} {states} rows={v.rows} "
                f"files={v.files} uncommitted_rows={v.uncommitted_rows} lag_offsets={v.lag_offsets} "
                f"lag_s={v.lag_s if v.lag_s is not None else '-'} dest={task.dest}"
            )
            for p in parts:
                if p.record.last_error:
                    lines.append(f"    pid {p.pid} {p.record.state.value}: {p.record.last_error}")
        try:
            lines += _worker_lines(synctool_infos(m, self.membership.leader))
        except OmsyncError as exc:  # read from ZooKeeper: /status still answers while it is away
            lines.append(f"synctools: unknown ({exc.message})")
        return 200, "text/plain; charset=utf-8", ("\n".join(lines) + "\n").encode()

    def _healthz(self, _r: HttpRequest) -> RouteResult:
        return 200, "text/plain; charset=utf-8", b"ok\n"

    def _readyz(self, _r: HttpRequest) -> RouteResult:
        if self._stopping:
            return 503, "text/plain; charset=utf-8", b"not ready: stopping\n"
        state = self.membership.zk_state
        if state != "connected":
            return 503, "text/plain; charset=utf-8", f"not ready: ZooKeeper {state}\n".encode()
        role = "leader" if self.manager.leading else f"follower of {self.membership.leader or 'nobody yet'}"
        return 200, "text/plain; charset=utf-8", f"ready ({role})\n".encode()
