"""What the collector tells about itself: ``/status`` text and ``/metrics`` (Prometheus).

The original's ``/status`` is brpc's RPC counters and no tasks at all; omsync's lists each task
with its position, what it sent and its last error — what an operator asks a collector about.
Metrics are read from the tasks at scrape time (a custom collector), so the sync loops carry no
metric bookkeeping of their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from omsync_tui import __version__
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.services.collector.manager import TaskManager


@dataclass(frozen=True, slots=True)
class Identity:
    endpoint: str
    bind: str
    datadir: str
    started: float  # wall clock


def _ago(t: float, now: float) -> str:
    if not t:
        return "never"
    s = max(0.0, now - t)
    return f"{s:.1f}s ago" if s < 120 else f"{s / 60:.0f}m ago"


def status_text(ident: Identity, manager: TaskManager, role: str, zk_state: str, peer: str | None) -> str:
    now = time.time()
    lines = [
        f"version: omsync {__version__}",
        f"uptime: {now - ident.started:.0f}s",
        f"endpoint: {ident.endpoint} (listening on {ident.bind})",
        f"datadir: {ident.datadir}",
        f"zookeeper: {zk_state}",
        f"role: {role}" + (f" (active collector of this host: {peer})" if role == "standby" and peer else ""),
    ]
    tasks = manager.tasks()
    lines.append(f"tasks: {len(tasks)}")
    for t in tasks:
        s = t.stats
        mode = data_sync_pb2.SyncMode.Name(t.mode)
        lines.append(
            f"  {t.tid}-{t.pid} mode={mode} state={s.state} phase={t.point.phase.value} point={t.point} "
            f"rows_sent={s.rows_sent} bytes_sent={s.bytes_sent} deletes_sent={s.deletes_sent} "
            f"binlog_latest={s.binlog_latest or '-'} last_accepted={_ago(s.last_accepted, now)} "
            f"to={t.request.des_endpoint} token={t.token}"
        )
        if s.last_error:
            lines.append(f"    last_error: {s.last_error}")
    if manager.ended:
        lines.append("recently ended:")
        lines += [f"  {tid}-{pid}: {why}" for (tid, pid), why in manager.ended]
    return "\n".join(lines) + "\n"


class TaskMetrics(Collector):
    """Prometheus metrics computed from the live tasks at each scrape."""

    def __init__(self, manager: TaskManager, active: Callable[[], bool]) -> None:
        self.manager = manager
        self.active = active

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        labels = ["tid", "pid"]
        rows = CounterMetricFamily(
            "omsync_collector_rows_sent", "Rows accepted by the synctool", labels=labels
        )
        data = CounterMetricFamily(
            "omsync_collector_bytes_sent", "Row bytes accepted by the synctool", labels=labels
        )
        fails = CounterMetricFamily(
            "omsync_collector_send_failures", "SendData calls that failed or were refused", labels=labels
        )
        offset = GaugeMetricFamily(
            "omsync_collector_binlog_offset",
            "Next binlog log_index to send (0 in the snapshot)",
            labels=labels,
        )
        latest = GaugeMetricFamily(
            "omsync_collector_binlog_latest", "Newest binlog log_index seen", labels=labels
        )
        failed = GaugeMetricFamily(
            "omsync_collector_task_failed", "1 when the task hit a terminal fault", labels=labels
        )
        for t in self.manager.tasks():
            key = [str(t.tid), str(t.pid)]
            rows.add_metric(key, t.stats.rows_sent)
            data.add_metric(key, t.stats.bytes_sent)
            fails.add_metric(key, t.stats.failed_sends)
            offset.add_metric(key, t.point.offset)
            latest.add_metric(key, t.stats.binlog_latest)
            failed.add_metric(key, 1 if t.failure is not None else 0)
        yield GaugeMetricFamily(
            "omsync_collector_active",
            "1 when this collector is its host's active one",
            value=1 if self.active() else 0,
        )
        yield GaugeMetricFamily(
            "omsync_collector_tasks", "Tasks this collector runs", value=len(self.manager.tasks())
        )
        yield from (rows, data, fails, offset, latest, failed)
