"""``omsync collector`` as a process: config → rpc server → ZooKeeper → task loops → clean stop.

Start-up: listen on ``collector.bind`` (``DataCollector.AddSyncTask`` over baidu_std and
HTTP/JSON, plus ``/status``, ``/healthz``, ``/readyz``, ``/metrics``), then compete in ZooKeeper
for being the active collector of this host. Active: register, resume every task in the work
dirs, accept AddSyncTask. Standby (another collector of this host is active, or the ZooKeeper
session was lost): stop the loops, keep their progress, refuse AddSyncTask naming the active one.

Stop (SIGTERM/SIGINT, ``stop()``): refuse new calls, stop the loops (each persisted its progress
when its last pack was accepted), leave ZooKeeper, close the port. A second signal exits at once.
"""

from __future__ import annotations

import logging
import threading
import time

from prometheus_client import CollectorRegistry

from omsync_tui.core.collector_config import CollectorConfig
from omsync_tui.core.errors import OmsyncError
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.rpc.server import RpcServer
from omsync_tui.rpc.service import CallContext, HttpRequest, RouteResult, Routes, Service, prometheus_route
from omsync_tui.services.collector.manager import TaskManager
from omsync_tui.services.collector.registration import Registration, Role
from omsync_tui.services.collector.status import Identity, TaskMetrics, status_text
from omsync_tui.services.collector.task import TaskSettings
from omsync_tui.services.signals import serve_until_signalled

DATA_COLLECTOR = "openmldb.datasync.DataCollector"


class CollectorDaemon:
    def __init__(
        self, config: CollectorConfig, *, workers: int = 4, logger: logging.Logger | None = None
    ) -> None:
        self.config = config
        self.log = logger or logging.getLogger("omsync.collector")
        c = config.collector
        self.settings = TaskSettings(
            endpoint=c.endpoint,
            max_pack_size=c.max_pack_size,
            request_timeout_s=c.request_timeout_ms / 1000,
            short_interval_s=c.sync_task_short_interval_ms / 1000,
            long_interval_s=c.sync_task_long_interval_ms / 1000,
            verify_crc=c.verify_crc,
        )
        self.registration = Registration(
            config.zookeeper.hosts,
            config.zookeeper.root_path,
            c.endpoint,
            session_timeout_s=config.zookeeper.session_timeout_ms / 1000,
            auth=config.zookeeper.auth,
            on_active=self._on_active,
            on_standby=self._on_standby,
            logger=self.log,
        )
        self.manager = TaskManager(
            c.datadir,
            config.tablet.root_paths,
            self.settings,
            workers=workers,
            may_send=lambda: self.registration.may_send,
            logger=self.log,
        )
        self.manager.refuse = self._refusal
        self.identity = Identity(c.endpoint, c.bind or c.endpoint, str(c.datadir), time.time())
        self.metrics = CollectorRegistry()
        self.metrics.register(TaskMetrics(self.manager, lambda: self.registration.role is Role.ACTIVE))
        host, port = c.bind_address
        self.server = RpcServer(
            host,
            port,
            [self._service()],
            self._routes(),
            auth_token=c.auth_token,
            logger=logging.getLogger("omsync.rpc"),
        )
        self._stopped = threading.Event()
        self._stopping = False

    # -- wiring ------------------------------------------------------------------------------------

    def _service(self) -> Service:
        def add_sync_task(
            request: data_sync_pb2.AddSyncTaskRequest, _attachment: bytes, ctx: CallContext
        ) -> tuple[data_sync_pb2.GeneralResponse, bytes]:
            try:
                self.manager.add(request)
            except OmsyncError as exc:
                msg = exc.message + (f" ({exc.hint})" if exc.hint else "")
                self.log.warning(
                    "AddSyncTask %s-%s from %s refused: %s", request.tid, request.pid, ctx.peer, msg
                )
                return data_sync_pb2.GeneralResponse(code=-1, msg=msg), b""
            return data_sync_pb2.GeneralResponse(code=0, msg="ok"), b""

        return Service(DATA_COLLECTOR).add(
            "AddSyncTask",
            data_sync_pb2.AddSyncTaskRequest,
            data_sync_pb2.GeneralResponse,
            add_sync_task,
            mutating=True,
        )

    def _routes(self) -> Routes:
        def status(_r: HttpRequest) -> RouteResult:
            return 200, "text/plain; charset=utf-8", self.status_text().encode()

        def healthz(_r: HttpRequest) -> RouteResult:
            return 200, "text/plain; charset=utf-8", b"ok\n"

        def readyz(_r: HttpRequest) -> RouteResult:
            why = self._not_ready()
            if why:
                return 503, "text/plain; charset=utf-8", f"not ready: {why}\n".encode()
            return 200, "text/plain; charset=utf-8", b"ready\n"

        return (
            Routes()
            .add("/status", status)
            .add("/healthz", healthz)
            .add("/readyz", readyz)
            .add("/metrics", prometheus_route(self.metrics))
        )

    def status_text(self) -> str:
        r = self.registration
        return status_text(self.identity, self.manager, r.role.value, r.zk_state, r.active_peer)

    def _not_ready(self) -> str | None:
        r = self.registration
        if self._stopping:
            return "stopping"
        if r.role is not Role.ACTIVE:
            peer = f" (active: {r.active_peer})" if r.active_peer else ""
            return f"{r.role.value}{peer}"
        if not r.may_send:
            return f"ZooKeeper {r.zk_state}"
        return None

    def _refusal(self) -> str | None:
        if self._stopping:
            return f"collector {self.identity.endpoint} is stopping"
        r = self.registration
        if r.role is not Role.ACTIVE:
            peer = r.active_peer
            return (
                f"collector {self.identity.endpoint} is {r.role.value}, not the active collector of its host"
                + (f"; the active one is {peer}" if peer else "")
            )
        return None

    def _on_active(self) -> None:
        n = self.manager.resume()
        self.log.info("active collector of this host: %d task(s) running", n)

    def _on_standby(self, reason: str) -> None:
        self.log.warning("standing by (%s): stopping the task loops", reason)
        self.manager.suspend(self.settings.request_timeout_s)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        for note in self.config.notes:
            self.log.info("config: %s", note)
        for warning in self.config.warnings:
            self.log.warning("config: %s", warning)
        self.config.collector.datadir.mkdir(parents=True, exist_ok=True)
        self.server.start()
        try:
            self.registration.start()
        except BaseException:
            self.server.stop()
            raise
        self.log.info(
            "collector %s started (listening on %s, datadir %s)",
            self.identity.endpoint,
            self.server.endpoint,
            self.identity.datadir,
        )

    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self.log.info("stopping: task loops, then ZooKeeper, then the port")
        self.manager.close()
        self.registration.stop()
        self.server.stop(timeout=2.0)
        self._stopped.set()
        self.log.info("stopped")

    def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT, stop cleanly; the exit code."""
        return serve_until_signalled(self.start, self.stop, self.log)
