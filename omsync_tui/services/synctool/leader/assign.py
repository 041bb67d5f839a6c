"""``Assigner``: the leader's placement of subtasks, and the watch loop that keeps each placed
(DESIGN §4, §9).

It works on the records in ZooKeeper (``Schedule``), never on data: the worker synctools hold
the partitions (``worker.Worker``), and every call to another process goes through ``Peers``.
One assignment:

1. the current worker, if it lives, lets go (``Peers.release``: it commits what it accepted and
   clears the token); a worker that does not answer keeps the subtask until it does or its
   registration is gone;
2. the token is cleared if it is still set (a worker that died, or seemed to): a worker reads the
   record before each rename (``worker``), so none renames a file after this; then the
   destination is reconciled (``Schedule.reconcile``: the files of a worker that died count);
3. a worker is chosen among the live synctools that take subtasks (``work``), the fewest
   unfinished subtasks first, the current one kept while it is within one of the fewest;
4. the record is stored with the worker, the collector on the partition leader's host and a
   fresh token, then AddSyncTask goes to that collector with the worker as ``des_endpoint``.

The watch loop (``tick``, every second) reads the workers' reports (their registration nodes)
and the records (each check period, and at once when a report or the set of synctools says one
may have changed), and moves a subtask whose worker is gone (``worker_lost``), whose collector
went silent (``collector_silent``; a subtask never taken up: ``init_timeout``), whose partition
leader moved to another host, or whose worker gave it back (REASSIGNING), with exponential
backoff and a bounded budget; then FAILED with a machine-readable cause, kept across restarts.
When nothing waits, it moves one subtask from the busiest worker to the idlest while they differ
by two or more (``rebalance``): one at a time, each from its committed point.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from omsync_tui.core.errors import ClusterError, NotFoundError, OmsyncError
from omsync_tui.core.states import Mode, State
from omsync_tui.core.synctool_config import SynctoolSection
from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.services import syncwire
from omsync_tui.services.synctool.leader.peers import Peers, host_of
from omsync_tui.services.synctool.leader.schedule import Schedule, Table
from omsync_tui.services.synctool.model import SubtaskRecord
from omsync_tui.services.synctool.worker import Synctools, fresh_report, report_of, unreported, works

log = logging.getLogger("omsync.synctool")


class Assigner:
    """Places the ``Schedule``'s subtasks; stores records only through ``Schedule.update`` (a
    compare-and-set on the freshest record, refused once this synctool may no longer write)."""

    def __init__(self, settings: SynctoolSection, schedule: Schedule, peers: Peers) -> None:
        self.settings = settings
        self.schedule = schedule
        self.peers = peers
        self._last_check = 0.0
        self._waiting = False  # a subtask waited to be placed at the last tick
        self._seen: set[str] = set()  # the live synctools at the last tick

    # -- assignment ------------------------------------------------------------------------------

    def assign_all(self, t: Table, pids: list[int], *, cause: str) -> None:
        """Assign each partition, at the same time (each is a few ZooKeeper round trips and an
        AddSyncTask call), to workers chosen one after the other so that they spread."""
        try:
            live = self.schedule.store.synctools()
        except OmsyncError as exc:
            for pid in pids:
                self._assign_failed(t, pid, cause, exc.message)
            return
        load = self._load(live)
        plan: dict[int, str] = {}
        for pid in pids:
            try:
                plan[pid] = self._choose(t.recs.get(pid), live, load)
            except OmsyncError as exc:
                self._assign_failed(t, pid, cause, exc.message)
                continue
            load[plan[pid]] += 1

        def one(pid: int) -> None:
            self._assign(t, pid, cause=cause, live=live, to=plan[pid])

        if len(plan) <= 1:
            for pid in plan:
                one(pid)
            return
        with ThreadPoolExecutor(max_workers=min(8, len(plan)), thread_name_prefix="omsync-assign") as pool:
            list(pool.map(one, plan))

    def _assign(
        self, t: Table, pid: int, *, cause: str, live: Synctools, to: str | None = None, why: str = ""
    ) -> bool:
        try:
            rec = self.schedule.fresh(t, pid)
        except OmsyncError as exc:
            return self._assign_failed(t, pid, cause, exc.message)
        if rec.state.final and cause != "retry":
            return False
        trouble = self.peers.release(rec, live)
        if trouble:
            return self._assign_failed(t, pid, cause, trouble)
        try:
            rec = self.schedule.fresh(t, pid)  # after the worker's last commit
            if rec.token:  # a worker that did not release it renames nothing from now on
                taken = f"{cause}: {why + '; ' if why else ''}taken from {rec.worker or 'no synctool'}"
                rec = self.schedule.update(t.record.tid, pid, lambda old: old.but(token=""), taken)
            rec = self.schedule.reconcile(t, rec)
        except OmsyncError as exc:
            return self._assign_failed(t, pid, "destination", exc.message)
        try:
            worker = to or self._choose(rec, live, self._load(live))
            leader = self.peers.leaders(t.record.tid)[pid]
            collector = self.peers.collector_for(leader)
        except (OmsyncError, KeyError) as exc:
            return self._assign_failed(t, pid, cause, getattr(exc, "message", f"no partition {pid}"))
        token = str(uuid.uuid4())

        def assigned(old: SubtaskRecord) -> SubtaskRecord:
            return old.but(
                token=token,
                collector=collector,
                worker=worker,
                tablet=leader,
                assigned_ms=int(time.time() * 1000),
                state=State.INIT if old.state is State.INIT else State.RUNNING,
                cause=cause if cause != "created" else "",
            )

        reason = (
            f"{cause}: {why + '; ' if why else ''}assigned to {collector} → {worker} from {rec.committed}"
        )
        try:
            rec = self.schedule.update(t.record.tid, pid, assigned, reason)
        except OmsyncError as exc:
            return self._assign_failed(t, pid, cause, exc.message)
        t.recs[pid] = rec
        req = data_sync_pb2.AddSyncTaskRequest(
            tid=t.record.tid,
            pid=pid,
            mode=t.record.mode.wire,  # type: ignore[arg-type]
            sync_point=syncwire.to_proto(rec.committed),
            tablet_endpoint=leader,
            des_endpoint=worker,
            token=token,
            dest=t.record.dest,
            ready=True,  # the record is saved: SendData may come at once
        )
        if t.record.mode is Mode.INCREMENTAL:
            req.start_ts = t.record.start_ts
        if t.record.deletes:
            req.deletes = True
        refused = self.peers.add_sync_task(collector, req)
        if refused is not None:
            return self._assign_failed(t, pid, cause, refused)
        t.next_try.pop(pid, None)
        log.info(
            "%s pid %d assigned to %s → %s from %s (%s)",
            t.record.name,
            pid,
            collector,
            worker,
            rec.committed,
            cause,
        )
        return True

    def _load(self, live: Synctools) -> Counter[str]:
        """Unfinished subtasks per working synctool (every working one listed, 0 included)."""
        load: Counter[str] = Counter({ep: 0 for ep, data in live.items() if works(data)})
        for t in self.schedule.tables():
            for rec in t.recs.values():
                if not rec.state.final and rec.worker in load:
                    load[rec.worker] += 1
        return load

    def _choose(self, rec: SubtaskRecord | None, live: Synctools, load: Counter[str]) -> str:
        if not load:
            raise ClusterError(
                "no live synctool takes subtasks",
                hint="start `omsync synctool` (with `work = true`, the default) on one more host",
            )
        fewest = min(load.values())
        current = rec.worker if rec is not None else ""
        if (
            current in load
            and load[current] - (1 if rec is not None and not rec.state.final else 0) <= fewest
        ):
            return current
        return min(sorted(load), key=lambda ep: load[ep])

    def _assign_failed(self, t: Table, pid: int, cause: str, why: str) -> bool:
        s = self.settings
        retries = (t.recs[pid].retries if pid in t.recs else 0) + 1

        def failed(old: SubtaskRecord) -> SubtaskRecord:
            # the token goes too: a worker still holding the subtask may no longer store it
            state = State.FAILED if old.retries + 1 > s.max_retries else State.REASSIGNING
            return old.but(state=state, cause=cause, last_error=why, retries=old.retries + 1, token="")

        gave_up = retries > s.max_retries
        reason = f"{cause}: gave up after {s.max_retries} attempts: {why}" if gave_up else f"{cause}: {why}"
        try:
            rec = self.schedule.update(t.record.tid, pid, failed, reason)
            t.recs[pid] = rec
            retries = rec.retries
        except OmsyncError as exc:
            log.warning("%s pid %d: could not store the failed assignment: %s", t.record.name, pid, exc)
        t.next_try[pid] = time.monotonic() + self._backoff(retries)
        log.warning("%s pid %d: %s (attempt %d)", t.record.name, pid, why, retries)
        return False

    def _backoff(self, retries: int) -> float:
        base = min(60.0, self.settings.retry_backoff_s * float(2 ** max(0, retries - 1)))
        return base * (0.8 + 0.4 * random.random())  # jitter: partitions do not retry in lockstep

    # -- the watch loop ------------------------------------------------------------------------

    def tick(self) -> None:
        """Place every unfinished subtask; the manager calls it while it leads and may write."""
        now = time.monotonic()
        s = self.settings
        full_check = now - self._last_check >= s.check_period_s
        if full_check:
            self._last_check = now
        live = self.schedule.store.synctools()
        tables = self.schedule.tables()
        # the records are read again each check period, and at once when something may have
        # changed them: a synctool came or went, a subtask waits to be placed, or a worker no
        # longer reports one it was given (it finished, failed or gave it back)
        everything = full_check or self._waiting or set(live) != self._seen
        self._seen = set(live)
        waiting = False
        for t in tables:
            if everything or any(unreported(rec, live) for rec in t.recs.values()):
                t.recs = self.schedule.read(t)
            leaders = self._leaders_or_fail(t) if full_check else None
            for pid, rec in sorted(t.recs.items()):
                if rec.state.final:
                    continue
                due = t.next_try.get(pid)
                if due is None and (rec.state is State.REASSIGNING or not rec.worker or not rec.token):
                    # given back by its worker (e.g. the destination failed): back off, then assign;
                    # never placed (a task of an earlier version): now
                    fresh = not rec.worker and rec.state is not State.REASSIGNING
                    due = t.next_try[pid] = now if fresh else now + self._backoff(rec.retries)
                if due is not None:
                    waiting = True
                    if now >= due:
                        cause = rec.cause if rec.state is State.REASSIGNING and rec.cause else "takeover"
                        self._assign(t, pid, cause=cause, live=live)
                    continue
                why = self._trouble(rec, live, leaders)
                if why is not None:
                    waiting = True
                    self._assign(t, pid, cause=why[0], live=live, why=why[1])
        self._waiting = waiting
        if not waiting and full_check:
            self._rebalance(tables, live)

    def _trouble(
        self, rec: SubtaskRecord, live: Synctools, leaders: dict[int, str] | None
    ) -> tuple[str, str] | None:
        """Why an assigned subtask must move now (cause, words), or None."""
        s = self.settings
        if rec.worker not in live:
            return "worker_lost", f"synctool {rec.worker} is gone"
        entry = report_of(live, rec)
        if entry is None:
            waited = time.time() - rec.assigned_ms / 1000
            if fresh_report(live[rec.worker]) and waited > s.init_timeout_s:
                return "init_timeout", f"no first SendData at {rec.worker} after {waited:.0f} s"
        elif float(entry.get("silent_s", 0)) > s.collector_timeout_s:
            return "collector_silent", f"no SendData for {float(entry['silent_s']):.0f} s"
        if leaders is not None and rec.pid in leaders and host_of(leaders[rec.pid]) != host_of(rec.tablet):
            return "leader_changed", f"leader moved to {leaders[rec.pid]}"
        return None

    def _rebalance(self, tables: list[Table], live: Synctools) -> None:
        """Move one subtask from the busiest worker to the idlest while they differ by two or more."""
        load = self._load(live)
        if len(load) < 2:
            return
        busiest = max(sorted(load), key=lambda ep: load[ep])
        idlest = min(sorted(load), key=lambda ep: load[ep])
        if load[busiest] - load[idlest] < 2:
            return
        for t in tables:
            for pid, rec in sorted(t.recs.items()):
                if rec.worker == busiest and not rec.state.final and rec.token:
                    why = f"{busiest} holds {load[busiest]} subtasks, {idlest} {load[idlest]}"
                    self._assign(t, pid, cause="rebalance", live=live, to=idlest, why=why)
                    return

    def _leaders_or_fail(self, t: Table) -> dict[int, str] | None:
        try:
            return self.peers.leaders(t.record.tid)
        except NotFoundError:
            for pid, rec in t.recs.items():
                if not rec.state.final:
                    self.schedule.update(
                        t.record.tid,
                        pid,
                        lambda old: old.but(
                            state=State.FAILED,
                            cause="table_dropped",
                            last_error="the table is gone",
                            token="",
                        ),
                        "table_dropped: the table no longer exists in ZooKeeper",
                    )
            return None
        except OmsyncError:
            return None  # failing over right now: look again next period
