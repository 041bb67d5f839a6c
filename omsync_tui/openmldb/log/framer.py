"""The span path: runs of intact records as payload spans, no Python step per record (§3.3).

This module owns ``SpanFramer`` and ``RecordSpans`` — payload spans in one buffer for
``entries.scan``: the headers of hundreds of blocks walked at once with numpy (the kernels are
``frames.py``), fragmented records joined in place, every CRC checked in one CRC call
(``crcbatch.py``). The framer reads the buffer of the ``LogFileSource`` it is given; anything
unusual ends a run and is left to ``RecordAssembler.read`` (``LogFileReader`` holds both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from omsync_tui.openmldb.log.crcbatch import Scratch, first_bad_crc
from omsync_tui.openmldb.log.format import BLOCK_MASK, BLOCK_SIZE, HEADER_SIZE, LogRead
from omsync_tui.openmldb.log.frames import (
    EMPTY_I64,
    Framed,
    RunStatus,
    SpanPart,
    at_problem,
    concat_frames,
    copy_out,
    frame_window,
)
from omsync_tui.openmldb.log.source import LogFileSource
from omsync_tui.openmldb.spans import I64, SPAN_PAD, U8


@dataclass(frozen=True, slots=True)
class RecordSpans:
    """Up to N records as payload spans in one buffer (``LogFileReader.read_spans``).

    Record i's payload is ``data[starts[i]:ends[i]]`` (``data`` carries ``SPAN_PAD`` bytes after
    the last payload, for ``entries.scan``); ``offsets[i]`` is its file offset, and the resume
    point after it ``offsets[i + 1]`` (``end`` for the last). ``stop`` is the non-record outcome met
    when no record could be returned, already consumed like any ``read()`` result.
    """

    data: U8
    starts: I64
    ends: I64
    offsets: I64
    end: int
    stop: LogRead | None = None

    def __len__(self) -> int:
        return len(self.offsets)

    def payload(self, i: int) -> bytes:
        return self.data[int(self.starts[i]) : int(self.ends[i])].tobytes()

    def payloads(self) -> list[bytes]:
        return [self.payload(i) for i in range(len(self))]

    def resume_after(self, i: int) -> int:
        return int(self.offsets[i + 1]) if i + 1 < len(self.offsets) else self.end


def empty_spans(end: int, stop: LogRead | None) -> RecordSpans:
    return RecordSpans(np.zeros(SPAN_PAD, dtype=np.uint8), EMPTY_I64, EMPTY_I64, EMPTY_I64, end, stop)


class SpanFramer:
    """Payload spans of intact records in a ``LogFileSource``'s buffer, no Python step per record.

    The headers of a window of blocks are walked at once, "k-th record of every block" per numpy
    step, since every block starts on a record boundary: first the continuation fragment a block
    may start with (LAST, or a block-filling MIDDLE), then its FULL records, then what it ends with
    (a trailer, or a FIRST fragment reaching the block end). Blocks whose ends and starts chain up
    as a writer lays them out are taken whole; at the first block that does not, the damage rule
    decides that one spot (``frames.at_problem``). All physical records' CRCs are checked in one
    CRC call (``crcbatch``); the run ends before the first mismatch.
    """

    def __init__(self, source: LogFileSource) -> None:
        self._source = source
        self._per_block = 24.0  # records per block seen so far: sizes the next window
        self._crc_scratch: Scratch | None = None

    def scan(self, pos: int, max_records: int) -> tuple[RunStatus, SpanPart | None, int]:
        """Frame intact records from file offset ``pos`` (buffered): (why it stopped, spans, resume)."""
        source = self._source
        buf = source.buf
        base = source.base
        i0 = pos - base
        limit = len(buf)
        if limit - i0 < HEADER_SIZE and limit - i0 < BLOCK_SIZE - (i0 & BLOCK_MASK):
            return RunStatus.NEED_DATA, None, pos
        u32 = np.ndarray(shape=(limit - 3,), dtype="<u4", buffer=buf, strides=(1,))
        try:
            frames, status, blocks = self._frame_spans(buf, u32, i0, limit, max_records)
            heads, starts, ends, moves, phys = concat_frames(frames)
            kept = min(len(heads), max_records)
            if kept < len(heads):
                status = RunStatus.ANOMALY
            resume = int(ends[kept - 1]) if kept else 0
            if source.verify and kept:
                if self._crc_scratch is None:
                    self._crc_scratch = Scratch()
                bad = first_bad_crc(buf, u32, phys, kept, self._crc_scratch)
                if bad < kept:
                    # A run cut at a damaged record resumes at that record's header (past a block
                    # trailer before it, if any), where read() reports it.
                    kept, status, resume = bad, RunStatus.ANOMALY, int(heads[bad])
        finally:
            del u32  # the buffer must not stay exported: LogFileSource.fill resizes it
        if not kept:
            return status, None, pos
        if blocks:
            self._per_block = max(0.1, kept / blocks)
        part = copy_out(buf, base, i0, resume, heads[:kept], starts[:kept], ends[:kept], moves, kept)
        if part[0].base is not None:
            source.shared = True  # the spans are a view of the buffer: it must not be resized
        return status, part, base + resume

    def _frame_spans(
        self, buf: bytearray, u32: npt.NDArray[np.uint32], i0: int, limit: int, max_records: int
    ) -> tuple[list[Framed], RunStatus, int]:
        """Records from buffer index ``i0`` window by window: (frames, status, blocks walked)."""
        frames: list[Framed] = []
        count = 0
        at = i0
        blocks = 0
        while count < max_records:
            blk0 = at >> 12
            avail = -(-(limit - (blk0 << 12)) // BLOCK_SIZE)
            if at >= limit or avail <= 0:
                return frames, RunStatus.NEED_DATA, blocks
            nb = min(avail, max(4, int((max_records - count) / self._per_block * 1.1) + 2))
            blocks += nb
            framed, problem = frame_window(u32, at, limit, blk0, nb)
            frames.append(framed)
            count += len(framed.heads)
            if problem < 0:
                at = (blk0 + nb) << 12
                continue
            status, chain, at = at_problem(buf, problem, limit)
            if chain is None:
                if status != RunStatus.GO_ON:
                    return frames, status, blocks
                continue  # a trailer: go on at the next block
            frames.append(chain)
            count += 1
        return frames, RunStatus.ANOMALY, blocks


__all__ = ["RecordSpans", "SpanFramer", "empty_spans"]
