"""Task vocabulary shared by the synctool, the CLI and the TUI: modes, formats, subtask states.

Subtask life (DESIGN §4)::

    INIT ─▶ RUNNING ─▶ SUCCESS                       (FULL mode, at the binlog's end)
      │        │  ▲
      │        ▼  │
      │     REASSIGNING ─────▶ FAILED                (retry budget spent, or a terminal cause)
      └────────────────────────▶ FAILED              (INIT timed out past its budget too)

FAILED keeps its cause and survives restarts; only ``task retry`` (or the retry budget while
REASSIGNING) leaves it. The table task's state is derived from its subtasks (``task_state``).

Stdlib only.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Mode(StrEnum):
    """How much of a table a task copies (``data_sync.SyncMode`` 0/1/2)."""

    FULL = "full"  # snapshot + binlog up to its end, then SUCCESS
    INCREMENTAL = "incremental"  # rows with ts >= start_ts, forever
    CONTINUOUS = "continuous"  # snapshot + binlog, forever

    @property
    def wire(self) -> int:
        return {Mode.FULL: 0, Mode.INCREMENTAL: 1, Mode.CONTINUOUS: 2}[self]

    @classmethod
    def from_wire(cls, value: int) -> Mode:
        try:
            return (cls.FULL, cls.INCREMENTAL, cls.CONTINUOUS)[value]
        except IndexError:
            raise ValueError(f"unknown sync mode {value} (0 full, 1 incremental, 2 continuous)") from None

    @classmethod
    def parse(cls, text: str) -> Mode:
        """``full``/``incremental``/``continuous``, OpenMLDB's ``kFull``-style names, or 0/1/2."""
        t = text.strip()
        aliases = {
            "0": cls.FULL,
            "kfull": cls.FULL,
            "1": cls.INCREMENTAL,
            "kincrementalbytimestamp": cls.INCREMENTAL,
            "incremental-by-timestamp": cls.INCREMENTAL,
            "2": cls.CONTINUOUS,
            "kfullandcontinuous": cls.CONTINUOUS,
            "full-and-continuous": cls.CONTINUOUS,
        }
        mode = aliases.get(t.lower()) or next((m for m in cls if m.value == t.lower()), None)
        if mode is None:
            raise ValueError(f"unknown mode {text!r}: use full, incremental or continuous")
        return mode


class Format(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"  # the original SyncTool's rendering (reference §4.8)


class State(StrEnum):
    INIT = "INIT"
    RUNNING = "RUNNING"
    REASSIGNING = "REASSIGNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"

    @property
    def final(self) -> bool:
        return self in (State.SUCCESS, State.FAILED)


TRANSITIONS: dict[State, frozenset[State]] = {
    State.INIT: frozenset({State.RUNNING, State.REASSIGNING, State.FAILED, State.SUCCESS}),
    State.RUNNING: frozenset({State.REASSIGNING, State.SUCCESS, State.FAILED}),
    State.REASSIGNING: frozenset({State.RUNNING, State.INIT, State.FAILED}),
    State.SUCCESS: frozenset(),
    State.FAILED: frozenset({State.REASSIGNING}),  # an explicit retry
}


def can_move(old: State, new: State) -> bool:
    return old == new or new in TRANSITIONS[old]


class TaskState(StrEnum):
    """A table task, derived from its subtasks."""

    RUNNING = "RUNNING"
    FAILED = "FAILED"  # at least one subtask FAILED
    SUCCEEDED = "SUCCEEDED"  # every subtask SUCCESS (FULL mode)


def task_state(states: Iterable[State]) -> TaskState:
    s = list(states)
    if any(x is State.FAILED for x in s):
        return TaskState.FAILED
    if s and all(x is State.SUCCESS for x in s):
        return TaskState.SUCCEEDED
    return TaskState.RUNNING
