"""Scale-out (DESIGN §9): every live synctool writes subtasks, and kills, joins and a change of
leader lose and repeat nothing.

Three synctools share a 6-partition table's continuous sync while the sandbox keeps writing. Each
trial kills one of them with SIGKILL at a random moment (a worker or the leader: it is both) and
starts a new one; the dead one's subtasks move to the others once ZooKeeper expires its session,
the new one gets subtasks by rebalancing, one at a time. In the end every row written is in the
destination exactly once, ``verify`` is clean and every live synctool holds subtasks.

``OMSYNC_SCALEOUT_TRIALS`` sets the number of kills (default 5; ``make soak`` runs more);
``OMSYNC_SCALEOUT_SEED`` replays a failed run's random choices (the seed is in the report).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from helpers.e2e import (
    Trickle,
    count,
    create_task,
    dataset_rows,
    events,
    get_task,
    leading_synctool,
    mixed_table,
    sandbox,
    start_collectors,
    synctool,
    truth_rows,
    verify_ok,
    wait_rows,
)
from helpers.synctoolproc import SynctoolProcess
from helpers.waiting import wait_until

TRIALS = int(os.environ.get("OMSYNC_SCALEOUT_TRIALS", "5"))
SEED = int(os.environ.get("OMSYNC_SCALEOUT_SEED", str(random.randrange(1 << 32))))
SESSION_MS = 2000  # a dead synctool's subtasks move when its session expires
MOVED = re.compile(r"(\w+): (?:.+; )?assigned to (\S+) → (\S+) from .+")


def workers(s: SynctoolProcess, name: str) -> Counter[str]:
    """Unfinished subtasks per worker synctool, as the task shows them."""
    task = get_task(s, name)
    return Counter(p["worker"] for p in (task or {}).get("subtasks", []) if p["state"] in ("INIT", "RUNNING"))


def spread_over(s: SynctoolProcess, name: str, endpoints: set[str], partitions: int) -> bool:
    """Every subtask placed, on exactly ``endpoints``, none with two more than another."""
    load = workers(s, name)
    return (
        sum(load.values()) == partitions
        and set(load) == endpoints
        and max(load.values()) - min(load.values()) <= 1
    )


def test_synctools_share_the_work_and_kill_9_of_any_of_them_loses_and_repeats_nothing(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any], record_property: Any
) -> None:
    record_property("scaleout_seed", SEED)
    rng = random.Random(SEED)
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=6, storage="memory", rows=600, then=120)
    start_collectors(procs, tmp_path, cluster, zk_hosts)

    def spawn() -> SynctoolProcess:
        return synctool(procs, tmp_path, zk_hosts, session_timeout_ms=SESSION_MS)

    live = [spawn(), spawn(), spawn()]
    wait_until(lambda: any(s.leading() for s in live), 30, "a leader")
    leader = next(s for s in live if s.leading())
    wait_until(lambda: len(leader.api("GET", "/api/v1/synctools")[1]["synctools"]) == 3, 20, "3 synctools")
    dest = tmp_path / "out"
    created = create_task(leader, "db.t", str(dest), mode="continuous")
    everyone = {s.endpoint for s in live}
    wait_until(
        lambda: spread_over(leader, "db.t", everyone, 6), 30, f"2 subtasks each: {workers(leader, 'db.t')}"
    )

    with Trickle(cluster, "db.t", 12):  # a steady trickle of new rows all through the kills
        for trial in range(TRIALS):
            wait_until(lambda: any(s.leading() for s in live), 30, f"trial {trial} (seed {SEED}): a leader")
            victim = rng.choice(live)
            time.sleep(rng.uniform(0.0, 2.0))  # the random moment of the kill
            victim.kill()
            live.remove(victim)
            live.append(spawn())
    wait_until(lambda: any(s.leading() for s in live), 30, f"seed {SEED}: a leader after the last kill")
    leader = next(s for s in live if s.leading())
    want = truth_rows(cluster, "db.t")
    wait_rows(leader, "db.t", count(want), timeout=90)
    assert dataset_rows(dest) == want, f"seed {SEED}"
    verify_ok(leader, "db.t")
    # the work is spread again over the synctools alive now, the last one started included
    endpoints = {s.endpoint for s in live}
    wait_until(lambda: spread_over(leader, "db.t", endpoints, 6), 60, f"spread: {workers(leader, 'db.t')}")

    # the journal: a killed synctool's subtasks moved (worker_lost) to live ones, and joiners got
    # theirs by rebalancing, one subtask per event
    journal = events(leader, created["tid"])
    moves = [(m[1], m[3]) for e in journal if (m := MOVED.fullmatch(e["reason"]))]
    assert {cause for cause, _to in moves} >= {"worker_lost", "rebalance"}, moves  # (the newest events)


def test_a_synctool_that_joins_takes_subtasks_one_at_a_time_and_rows_stay_exactly_once(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=4, storage="memory", rows=400)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    first = leading_synctool(procs, tmp_path, zk_hosts)
    dest = tmp_path / "out"
    created = create_task(first, "db.t", str(dest), mode="continuous")
    wait_until(lambda: spread_over(first, "db.t", {first.endpoint}, 4), 30, "all four on the only synctool")
    wait_rows(first, "db.t", 400)
    cluster.write("db.t", 200)
    second = synctool(procs, tmp_path, zk_hosts)
    both = {first.endpoint, second.endpoint}
    wait_until(lambda: spread_over(first, "db.t", both, 4), 40, f"2 each: {workers(first, 'db.t')}")
    cluster.write("db.t", 200)
    want = truth_rows(cluster, "db.t")
    wait_rows(first, "db.t", count(want))
    assert dataset_rows(dest) == want
    verify_ok(first, "db.t")
    journal = events(first, created["tid"])
    rebalanced = [e for e in journal if (m := MOVED.fullmatch(e["reason"])) and m[1] == "rebalance"]
    assert len(rebalanced) == 2 and all(
        e["reason"].endswith(f"→ {second.endpoint} from " + e["reason"].rsplit(" from ", 1)[1])
        for e in rebalanced
    ), rebalanced
    # the worker committed what it had accepted, then let each go: no fence was needed
    released = [e for e in journal if e["reason"] == "released: the leader moves it"]
    assert len(released) == 2 and {e["by"] for e in released} == {first.endpoint}, [
        e["reason"] for e in journal
    ]
    assert rebalanced[0]["ts_ms"] < rebalanced[1]["ts_ms"]  # one move at a time
    # the synctools view: both working, each with its two subtasks
    code, body = second.api("GET", "/api/v1/synctools")
    assert code == 200
    seen = {s["endpoint"]: s for s in body["synctools"]}
    assert set(seen) == both and {s["subtasks"] for s in seen.values()} == {2}, seen
    assert seen[first.endpoint]["role"] == "leader" and seen[second.endpoint]["role"] == "follower", seen


def test_a_worker_cut_off_past_its_session_loses_its_subtasks_and_writes_nothing_twice(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    # SIGSTOP: the process keeps its open files and sockets but answers nothing, so ZooKeeper
    # expires its session; on SIGCONT it must not rename a file of a subtask moved meanwhile
    cluster = sandbox(tmp_path, zk, zk_hosts)
    mixed_table(cluster, "db.t", partitions=4, storage="memory", rows=300)
    start_collectors(procs, tmp_path, cluster, zk_hosts)
    leader = leading_synctool(procs, tmp_path, zk_hosts, session_timeout_ms=SESSION_MS, commit_seconds=3)
    other = synctool(procs, tmp_path, zk_hosts, session_timeout_ms=SESSION_MS, commit_seconds=3)
    wait_until(lambda: len(leader.api("GET", "/api/v1/synctools")[1]["synctools"]) == 2, 20, "2 synctools")
    dest = tmp_path / "out"
    create_task(leader, "db.t", str(dest), mode="continuous")
    both = {leader.endpoint, other.endpoint}
    wait_until(lambda: spread_over(leader, "db.t", both, 4), 30, f"2 each: {workers(leader, 'db.t')}")
    wait_rows(leader, "db.t", 300)
    cluster.write("db.t", 80)  # rows in the cut-off worker's open files (commit_seconds 3)
    time.sleep(0.5)
    other.pause()
    try:
        wait_until(lambda: spread_over(leader, "db.t", {leader.endpoint}, 4), 30, "all moved to the leader")
        cluster.write("db.t", 80)
        time.sleep(1.0)
    finally:
        other.resume()
    # back: it lets go of what it held, registers again and gets its share back by rebalancing
    wait_until(lambda: spread_over(leader, "db.t", both, 4), 60, f"spread again: {workers(leader, 'db.t')}")
    cluster.write("db.t", 80)
    want = truth_rows(cluster, "db.t")
    wait_rows(leader, "db.t", count(want))
    assert dataset_rows(dest) == want
    verify_ok(leader, "db.t")
