"""Reading a worker's report back (``worker.report_of`` and friends): what the leader and every
synctool's views may trust of the figures another synctool publishes."""

from __future__ import annotations

import time
from typing import Any

from omsync_tui.core.states import State
from omsync_tui.services.synctool.model import SubtaskRecord
from omsync_tui.services.synctool.worker import REPORT_STALE_S, fresh_report, report_of, unreported, works

W = "127.0.0.1:9001"
REC = SubtaskRecord(tid=7, pid=2, worker=W, token="tok", state=State.RUNNING)


def registration(*entries: dict[str, Any], age_s: float = 0.0) -> dict[str, Any]:
    return {"heartbeat_ms": int((time.time() - age_s) * 1000), "subtasks": list(entries)}


def entry(**kw: Any) -> dict[str, Any]:
    return {"tid": 7, "pid": 2, "token": "tok", "silent_s": 0.5, **kw}


def test_the_figures_of_the_same_assignment_are_read_from_a_fresh_report() -> None:
    got = report_of({W: registration(entry(rows_received=42))}, REC)
    assert got is not None and got["rows_received"] == 42


def test_a_report_of_another_assignment_or_another_worker_says_nothing() -> None:
    assert report_of({W: registration(entry(token="older"))}, REC) is None  # moved since
    assert report_of({W: registration(entry(pid=3))}, REC) is None
    assert report_of({"127.0.0.1:9002": registration(entry())}, REC) is None


def test_a_stale_report_says_nothing_of_what_the_worker_holds() -> None:
    stale = registration(entry(), age_s=REPORT_STALE_S + 1)
    assert not fresh_report(stale)
    assert report_of({W: stale}, REC) is None
    assert not unreported(REC, {W: stale})  # nor that it left the subtask out


def test_an_assignment_a_fresh_report_leaves_out_is_unreported() -> None:
    assert unreported(REC, {W: registration()})
    assert not unreported(REC, {W: registration(entry())})
    assert not unreported(REC.but(token=""), {W: registration()})  # fenced: nobody holds it
    assert not unreported(REC.but(state=State.SUCCESS), {W: registration()})
    assert not unreported(REC, {})  # the worker is gone: worker_lost, not this


def test_a_registration_works_unless_it_says_it_does_not() -> None:
    assert works({})
    assert works({"works": True})
    assert not works({"works": False})
