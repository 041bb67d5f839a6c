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

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (``pk`` as hex); unset fields left out."""
        if self.phase is Phase.BINLOG:
            return {"phase": "binlog", "offset": self.offset}
        out: dict[str, object] = {"phase": "snapshot", "snapshot": self.snapshot, "ordinal": self.ordinal}
        if self.pk is not None:
            out["pk"] = self.pk.hex()
        if self.ts is not None:
            out["ts"] = self.ts
        return out

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> SyncPoint:
        """Inverse of ``to_dict``; ValueError naming the field for anything malformed."""
        try:
            phase = Phase(str(d["phase"]))
            if phase is Phase.BINLOG:
                return cls.binlog(int(d["offset"]))  # type: ignore[call-overload]
            pk = d.get("pk")
            ts = d.get("ts")
            return cls(
                phase,
                snapshot=str(d.get("snapshot", "")),
                ordinal=int(d.get("ordinal", 0)),  # type: ignore[call-overload]
                pk=bytes.fromhex(str(pk)) if pk is not None else None,
                ts=int(ts) if ts is not None else None,  # type: ignore[call-overload]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad sync point {d!r}: {exc}") from None

    def key(self) -> tuple[int, str, int]:
        """An order on points of one partition: snapshot rows (by ordinal) before binlog offsets."""
        if self.phase is Phase.BINLOG:
            return (1, "", self.offset)
        return (0, self.snapshot, self.ordinal)

    def __str__(self) -> str:
        if self.phase is Phase.BINLOG:
            return f"binlog@{self.offset}"
        where = f"#{self.ordinal}"
        if self.pk is not None:
            where += f" (pk {self.pk!r}, ts {self.ts})"
        return f"snapshot {self.snapshot or '<current>'}{where}"
