"""What a pack is: the ``Pack`` and ``Deletion`` records ``PartitionPacker`` hands out, and the
``Filler`` that accumulates one pack's rows and their sizes up to the size limit.

The filler keeps rows as chunks of bytes plus an array of sizes, so a pack of plain values is
built from a few numpy gathers rather than one Python object per row; only snappy values (sized
only once decompressed) and disk-snapshot rows go through ``add``, one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from omsync_tui.core.syncpoint import SyncPoint
from omsync_tui.openmldb.entries.scan import EntryColumns
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.row.codec import maybe_decompress
from omsync_tui.openmldb.spans import gather_buffer


@dataclass(frozen=True, slots=True)
class Deletion:
    """One dimension of a binlog delete; ``row`` = how many of the pack's rows come before it."""

    log_index: int
    row: int
    idx: int
    key: bytes
    ts: int | None
    end_ts: int | None
    ts_name: str | None


@dataclass(frozen=True, slots=True)
class Pack:
    """One SendData's worth: ``count`` rows concatenated in ``rows``, and where to go on."""

    rows: bytes
    count: int
    next: SyncPoint
    at_end: bool  # the binlog has nothing more right now (FULL mode: the partition is done)
    position: tuple[int, int] | None = None  # binlog (file_index, byte offset) of ``next``
    deletions: tuple[Deletion, ...] = ()
    sizes: bytes = b""  # each row's size, little-endian u32 (SendDataRequest.row_sizes)


class Filler:
    """Accumulates row values up to ``max_bytes``; the first row always fits.

    ``parts`` are chunks of concatenated rows (one per batch on the fast paths), ``count`` rows;
    the rows' sizes are kept in order (arrays from ``take``, ints from ``add`` not yet in one).
    """

    __slots__ = ("_lengths", "_singles", "count", "max_bytes", "parts", "size")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.parts: list[bytes | memoryview] = []
        self.size = 0
        self.count = 0
        self._lengths: list[npt.NDArray[np.uint32]] = []
        self._singles: list[int] = []

    def add(self, value: bytes) -> bool:
        """Take ``value``; False (not taken) when it would overflow a non-empty pack."""
        if self.count and self.size + len(value) > self.max_bytes:
            return False
        self.parts.append(value)
        self._singles.append(len(value))
        self.size += len(value)
        self.count += 1
        return True

    def _flush_singles(self) -> None:
        if self._singles:
            self._lengths.append(np.array(self._singles, dtype=np.uint32))
            self._singles = []

    def fit(self, sizes: npt.NDArray[np.int64]) -> int:
        """How many of rows of ``sizes``, in order, ``add`` would take before the first refusal."""
        if not len(sizes):
            return 0
        over = self.size + np.cumsum(sizes) > self.max_bytes
        if not self.count:
            over[0] = False
        return int(np.argmax(over)) if over.any() else len(sizes)

    def take(self, cols: EntryColumns, rows: npt.NDArray[np.int64], snappy: bool) -> int:
        """Add the values of ``cols`` entries ``rows`` (in order) up to the limit; how many fit.

        Plain values are sized and cut out with numpy; snappy values are decompressed one by one
        (each one's size is known only then), as far as they fit.
        """
        if snappy:
            for k, i in enumerate(rows.tolist()):
                if not self.add(maybe_decompress(cols.value(i), True)):
                    return k
            return len(rows)
        starts, ends = cols.value_start[rows], cols.value_end[rows]
        k = self.fit(ends - starts)
        if k:
            starts, ends = starts[:k], ends[:k]
            self.parts.append(gather_buffer(cols.data, starts, ends))
            lengths = ends - starts
            self._flush_singles()
            self._lengths.append(lengths.astype(np.uint32))
            self.size += int(lengths.sum())
            self.count += k
        return k

    def pack_rows(self) -> bytes:
        """The rows as one bytes object: the parts copied once (gathered views included)."""
        if len(self.parts) == 1 and isinstance(self.parts[0], bytes):
            return self.parts[0]
        return b"".join(self.parts)

    def row_sizes(self) -> bytes:
        """Each row's size as little-endian u32s, in order."""
        self._flush_singles()
        if not self._lengths:
            return b""
        sizes = self._lengths[0] if len(self._lengths) == 1 else np.concatenate(self._lengths)
        return sizes.astype("<u4", copy=False).tobytes()


def deletions_of(entry: tablet_pb2.LogEntry, row: int) -> list[Deletion]:
    """The ``Deletion`` of each dimension of a binlog delete; ``row`` rows of the pack precede it."""
    index = int(entry.log_index)
    ts = int(entry.ts) if entry.HasField("ts") else None
    end_ts = int(entry.end_ts) if entry.HasField("end_ts") else None
    ts_name = entry.ts_name if entry.HasField("ts_name") else None
    dims = entry.dimensions or [tablet_pb2.Dimension(key=entry.pk, idx=0)]
    return [Deletion(index, row, int(d.idx), d.key.encode(), ts, end_ts, ts_name) for d in dims]
