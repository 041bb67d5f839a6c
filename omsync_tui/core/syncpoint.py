"""Positions in a partition's data: where a sync continues (DESIGN §3, reference §1.4).

A ``SyncPoint`` is inclusive: the row or entry it names is the next one to send.

* ``BINLOG`` — ``offset`` is a binlog ``log_index``.
* ``SNAPSHOT`` — a position inside one *pinned* snapshot: ``snapshot`` names it (empty = the one
  current when the task starts), ``ordinal`` counts the index-0 rows already passed (unique, so a
  point never means two places), and for disk snapshots ``pk``/``ts`` let a reader seek there
  instead of walking ``ordinal`` rows again. ``SyncPoint.start()`` is the beginning of it all.

Stdlib only: the wire form (``data_sync.SyncPoint``) is built in the rpc/service layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    SNAPSHOT = "snapshot"
    BINLOG = "binlog"


@dataclass(frozen=True, slots=True)
class SyncPoint:
    phase: Phase
    offset: int = 0
    snapshot: str = ""
    ordinal: int = 0
    pk: bytes | None = None
    ts: int | None = None

    @classmethod
    def start(cls) -> SyncPoint:
        """The beginning of a partition: its current snapshot, then the binlog after it."""
        return cls(Phase.SNAPSHOT)

    @classmethod
    def binlog(cls, offset: int) -> SyncPoint:
        return cls(Phase.BINLOG, offset=offset)

    def __str__(self) -> str:
        if self.phase is Phase.BINLOG:
            return f"binlog@{self.offset}"
        where = f"#{self.ordinal}"
        if self.pk is not None:
            where += f" (pk {self.pk!r}, ts {self.ts})"
        return f"snapshot {self.snapshot or '<current>'}{where}"
