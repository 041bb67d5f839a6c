"""The Subtasks screen's LAST ERROR column (``omsync_tui/screens/subtasks.py``)."""

from __future__ import annotations

from omsync_tui.screens.subtasks import error_of
from omsync_tui.services.cluster import SubtaskInfo


def sub(state: str, cause: str = "", last_error: str = "") -> SubtaskInfo:
    return SubtaskInfo(
        pid=0, state=state, collector="c", tablet="t", phase="binlog", position="b1", rows=0, bytes=0,
        files=0, uncommitted_rows=0, lag_offsets=0, last_update_age_s=0.0, silent_s=0.0, retries=0,
        cause=cause, last_error=last_error,
    )  # fmt: skip


def test_a_healthy_subtask_taken_over_shows_no_error() -> None:
    # a new leader reassigns every subtask with a cause; that is no fault
    assert error_of(sub("RUNNING", cause="retry")) == ""
    assert error_of(sub("INIT", cause="leader")) == ""


def test_a_troubled_subtask_shows_cause_and_message() -> None:
    assert error_of(sub("FAILED", "destination", "cannot write")) == "destination: cannot write"
    assert error_of(sub("REASSIGNING", "collector_timeout")) == "collector_timeout"


def test_a_running_subtask_keeps_the_message_of_its_last_fault() -> None:
    assert error_of(sub("RUNNING", "retry", "commit failed: x")) == "commit failed: x"
