"""The Synctools screen's cells (``omsync_tui/screens/synctools.py``) and its rows/s per synctool."""

from __future__ import annotations

from rich.text import Text

from omsync_tui.screens.data import RateTracker
from omsync_tui.screens.synctools import COLUMNS, synctool_cells
from omsync_tui.services.cluster import SynctoolInfo

BASE = SynctoolInfo("127.0.0.1:7181", "follower", "0.9.0", True, 2, 2, 1000, 0.4)


def cell(s: SynctoolInfo, column: str, rate: float = 0.0) -> object:
    return synctool_cells(s, rate)[[key for _, key in COLUMNS].index(column)]


def test_a_report_older_than_a_few_seconds_is_marked_late() -> None:
    assert str(cell(BASE, "heartbeat")) == "0s ago"
    late = cell(SynctoolInfo("e", "follower", "", True, 0, 0, 0, 12.0), "heartbeat")
    assert isinstance(late, Text) and str(late) == "⚠ 12s ago" and late.style == "yellow"
    assert str(cell(SynctoolInfo("e", "follower", "", True, 0, 0, 0, None), "heartbeat")) == "never"


def test_a_synctool_that_takes_no_subtasks_says_so_in_its_role() -> None:
    assert str(cell(BASE, "role")) == "follower"
    assert str(cell(SynctoolInfo("e", "leader", "", False, 0, 0, 0, 0.1), "role")) == "leader · no work"


def test_subtasks_assigned_but_not_yet_taken_up_stand_out() -> None:
    assert cell(BASE, "held") == "2"
    waiting = cell(SynctoolInfo("e", "follower", "", True, 3, 1, 0, 0.1), "held")
    assert isinstance(waiting, Text) and str(waiting) == "1" and waiting.style == "yellow"


def test_rows_per_second_per_synctool_from_its_rows_received() -> None:
    rates = RateTracker(window_s=30)
    assert rates.update_counts(10.0, {"a": 1000, "b": 0}) == {"a": 0.0, "b": 0.0}
    assert rates.update_counts(12.0, {"a": 5000, "b": 600}) == {"a": 2000.0, "b": 300.0}
    assert cell(BASE, "rate", 2000.0) == "2,000"
    # "a" restarted on the same endpoint (its count began again: no negative rate); "b" is gone
    assert rates.update_counts(14.0, {"a": 10}) == {"a": 0.0}
    assert rates.update_counts(16.0, {"a": 410, "b": 100}) == {"a": 200.0, "b": 0.0}
