"""Soak: kill -9 the leading synctool at random moments while the sandbox keeps writing.

Two synctools run at any time, a leader and a standby. Each trial waits for a leader, lets it
work for a random 0–1.5 s (so kills land everywhere: during the take-over itself, mid-file,
mid-commit), kills it with SIGKILL and starts a new standby; the old standby takes over once
ZooKeeper expires the dead leader's session. In the end every row written must be in the
destination exactly once and ``verify`` must be clean (DESIGN §3).

``OMSYNC_SOAK_TRIALS`` sets the number of kills (default 10; ``make soak`` runs 50);
``OMSYNC_SOAK_SEED`` replays the random delays of a failed run (the seed is in the report).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from helpers.e2e import (
    Trickle,
    count,
    create_task,
    dataset_rows,
    sandbox,
    start_collectors,
    synctool,
    truth_rows,
    verify_ok,
    wait_rows,
)
from helpers.synctoolproc import SynctoolProcess
from helpers.waiting import wait_until

from omsync_tui.sandbox.datagen import preset_spec

TRIALS = int(os.environ.get("OMSYNC_SOAK_TRIALS", "10"))
SEED = int(os.environ.get("OMSYNC_SOAK_SEED", str(random.randrange(1 << 32))))
SESSION_MS = 2000  # a dead leader's lock goes with its session: shorter sessions, more kills per minute


def test_every_row_exactly_once_across_random_kill_9_of_the_leader(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], record_property: Any
) -> None:
    record_property("soak_seed", SEED)
    rng = random.Random(SEED)
    cluster = sandbox(tmp_path, zk, zk_hosts)
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 400)
    cluster.snapshot("db.t")
    cluster.write("db.t", 100)
    start_collectors(procs, tmp_path, cluster, zk_hosts)

    def spawn() -> SynctoolProcess:
        return synctool(procs, tmp_path, zk_hosts, session_timeout_ms=SESSION_MS)

    current, standby = spawn(), spawn()
    wait_until(lambda: current.leading() or standby.leading(), 30, "a leader")
    leader = current if current.leading() else standby
    dest = tmp_path / "out"
    create_task(leader, "db.t", str(dest), mode="continuous")

    live = [current, standby]
    with Trickle(cluster, "db.t", 20):  # a steady trickle of new rows all through the kills
        for trial in range(TRIALS):
            wait_until(lambda: any(s.leading() for s in live), 30, f"trial {trial} (seed {SEED}): a leader")
            leader = next(s for s in live if s.leading())
            time.sleep(rng.uniform(0.0, 1.5))  # the random moment of the kill
            leader.kill()
            live.remove(leader)
            live.append(spawn())
    wait_until(lambda: any(s.leading() for s in live), 30, f"seed {SEED}: a leader after the last kill")
    leader = next(s for s in live if s.leading())
    want = truth_rows(cluster, "db.t")
    wait_rows(leader, "db.t", count(want), timeout=60)
    assert dataset_rows(dest) == want, f"seed {SEED}"
    verify_ok(leader, "db.t")
