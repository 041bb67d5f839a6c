"""Numpy kernels of the span path (``framer.py``): log records of many blocks framed at once.

Every 4 KiB block starts on a record boundary, so "the k-th record of every block" is one numpy
step (``_walk_blocks``); ``frame_window`` frames a window of blocks that way, with the fragment a
block may start with (LAST, or a block-filling MIDDLE) and the one it may end with (FIRST), and
says where the blocks stop chaining up as a writer lays them out. The walk takes only what the
damage rule (``assembler.judge_physical``) would call an intact FULL record, CRCs aside (they are
checked for the whole run at once, ``crcbatch``); ``at_problem`` asks the rule itself about the
one spot where the walk stopped. ``copy_out`` makes fragmented payloads contiguous in the copy
``entries.scan`` reads. No Python step per record.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from omsync_tui.openmldb.log.assembler import PhysKind, judge_physical
from omsync_tui.openmldb.log.format import BLOCK_MASK, BLOCK_SIZE, HEADER_SIZE, MAX_FRAGMENT, RecordType
from omsync_tui.openmldb.spans import I64, SPAN_PAD, U8

EMPTY_I64 = np.zeros(0, dtype=np.int64)
# plain ints: an IntEnum member lookup costs a Python call in the numpy loops below
_FULL, _FIRST, _MIDDLE, _LAST = (
    int(t) for t in (RecordType.FULL, RecordType.FIRST, RecordType.MIDDLE, RecordType.LAST)
)


#: (data, starts, ends, offsets) of the records one ``SpanFramer.scan`` call framed (``RecordSpans``).
SpanPart = tuple[U8, I64, I64, I64]


class RunStatus(IntEnum):
    """How a framing run over the buffer ended; from ``at_problem``, whether it goes on."""

    GO_ON = 0  # at_problem only: a trailer skipped or a fragmented record taken
    NEED_DATA = 1  # the buffer ends inside a record: read on
    ANOMALY = 2  # something only ``RecordAssembler.read`` may judge: the run ends before it


@dataclass(slots=True)
class Framed:
    """Records framed in one window, file order, buffer coordinates.

    A fragmented record's payload is made contiguous in the copied buffer by shifting its FIRST
    and MIDDLE payloads right over the 7-byte headers that follow them (``moves``: byte range,
    shift, record); ``starts``/``ends`` are the payload spans after those moves. ``phys`` lists
    every physical record (header, payload end, record) for the CRC check.
    """

    heads: I64
    starts: I64
    ends: I64
    moves: tuple[I64, I64, I64, I64]  # lo, hi, shift, record (window-local)
    phys: tuple[I64, I64, I64]  # header, end, record (window-local)


def no_moves() -> tuple[I64, I64, I64, I64]:
    return EMPTY_I64, EMPTY_I64, EMPTY_I64, EMPTY_I64


def frame_window(u32: npt.NDArray[np.uint32], at: int, limit: int, blk0: int, nb: int) -> tuple[Framed, int]:
    """The records of blocks ``blk0 .. blk0+nb-1`` from buffer index ``at``, and where they stop.

    Returns the records and the position of the first thing that does not chain up as a writer
    lays records out (-1 if every block does and the last one closes): records from there on are
    left out, ``at_problem`` looks at it.
    """
    top = len(u32) - 1
    bstart = np.arange(blk0, blk0 + nb, dtype=np.int64) << 12
    bend = bstart + BLOCK_SIZE
    lim = np.minimum(bend, limit)
    full = lim == bend
    # the continuation fragment a block may start with
    w = u32[np.minimum(bstart + 3, top)]
    ln = ((w >> 8) & 0xFFFF).astype(np.int64)
    lt = w >> 24
    lend = bstart + HEADER_SIZE + ln
    has = bstart + HEADER_SIZE <= lim
    lead_last = has & (lt == _LAST) & (lend <= lim)
    lead_mid = has & full & (lt == _MIDDLE) & (ln == MAX_FRAGMENT)
    if at != bstart[0]:
        lead_last[0] = lead_mid[0] = False
    cont = lead_last | lead_mid
    walk_from = np.where(lead_last, lend, np.where(lead_mid, bend, bstart))
    if at != bstart[0]:
        walk_from[0] = at
    heads_m, ends_m, stops = _walk_blocks(u32, walk_from, lim)
    # what each block ends with
    w = u32[np.minimum(stops + 3, top)]
    tn = ((w >> 8) & 0xFFFF).astype(np.int64)
    closed = full & (stops + HEADER_SIZE > bend) & ~lead_mid
    tail_first = full & (stops + HEADER_SIZE <= bend) & ((w >> 24) == _FIRST)
    tail_first &= stops + HEADER_SIZE + tn == bend
    opens = tail_first | lead_mid
    after_open = np.zeros(nb, dtype=np.bool_)
    after_open[1:] = opens[:-1]
    good = (closed | tail_first | lead_mid) & (cont == after_open)
    firsts = np.flatnonzero(tail_first)
    bad = np.flatnonzero(~good)
    problem = -1
    if len(bad):
        q = int(bad[0])
        if q and opens[q - 1] and not lead_last[q]:  # a fragmented record that does not go on
            problem = int(stops[firsts[np.searchsorted(firsts, q - 1, "right") - 1]])
        elif cont[q] and not (q and opens[q - 1]):  # a continuation without a FIRST
            problem = int(bstart[q])
        else:
            problem = int(stops[q])
    elif opens[nb - 1]:  # a fragmented record runs past the window
        problem = int(stops[firsts[-1]])
    # fragmented records: FIRST in block b, MIDDLE blocks, LAST at the start of block c
    lasts = np.flatnonzero(lead_last)
    if problem >= 0:
        firsts = firsts[stops[firsts] < problem]
    c = lasts[np.searchsorted(lasts, firsts, "right")] if len(firsts) else EMPTY_I64
    chain_start = np.full(nb, -1, dtype=np.int64)
    chain_end = np.full(nb, -1, dtype=np.int64)
    chain_start[firsts] = stops[firsts] + HEADER_SIZE * (1 + c - firsts)
    chain_end[firsts] = lend[c]
    chain_head = np.full(nb, -1, dtype=np.int64)
    chain_head[firsts] = stops[firsts]
    heads_all = np.concatenate((heads_m, chain_head[:, None]), axis=1).ravel()
    ends_all = np.concatenate((ends_m, chain_end[:, None]), axis=1).ravel()
    take = heads_all >= 0
    if problem >= 0:
        take &= heads_all < problem
    heads = heads_all[take]
    ends = ends_all[take]
    starts = heads + HEADER_SIZE
    moves = no_moves()
    phys = (heads, ends, np.arange(len(heads), dtype=np.int64))
    if len(firsts):
        phys = _physical(heads, heads_m, ends_m, bstart, bend, lend, lead_last, cont, stops, firsts, problem)
        rec = np.searchsorted(heads, stops[firsts])
        starts[rec] = chain_start[firsts]
        mids = np.flatnonzero(lead_mid)
        if problem >= 0:
            mids = mids[bstart[mids] < problem]
        owner = firsts[np.searchsorted(firsts, mids) - 1] if len(mids) else EMPTY_I64
        mid_rec = np.searchsorted(heads, stops[owner])
        mid_c = lasts[np.searchsorted(lasts, mids, "right")] if len(mids) else EMPTY_I64
        moves = (
            np.concatenate((stops[firsts] + HEADER_SIZE, bstart[mids] + HEADER_SIZE)),
            np.concatenate((bend[firsts], bend[mids])),
            np.concatenate((HEADER_SIZE * (c - firsts), HEADER_SIZE * (mid_c - mids))),
            np.concatenate((rec, mid_rec)),
        )
    return Framed(heads, starts, ends, moves, phys), problem


def _physical(
    heads: I64,
    heads_m: I64,
    ends_m: I64,
    bstart: I64,
    bend: I64,
    lend: I64,
    lead_last: npt.NDArray[np.bool_],
    cont: npt.NDArray[np.bool_],
    stops: I64,
    firsts: I64,
    problem: int,
) -> tuple[I64, I64, I64]:
    """The physical records of a window's records in file order: (header, end, record).

    Per block: the continuation fragment it starts with, its FULL records, the FIRST fragment it
    ends with — one row each, so the rows read in order are the file order.
    """
    nb, k = heads_m.shape
    lead = cont.copy()
    if problem >= 0:
        lead &= bstart < problem
    first_ok = np.zeros(nb, dtype=np.bool_)
    first_ok[firsts] = True
    rows_h = np.full((nb, k + 2), -1, dtype=np.int64)
    rows_e = np.empty((nb, k + 2), dtype=np.int64)
    owner = np.empty((nb, k + 2), dtype=np.int64)  # the header of the record a fragment belongs to
    rows_h[:, 0] = np.where(lead, bstart, -1)
    rows_e[:, 0] = np.where(lead_last, lend, bend)
    leads = np.flatnonzero(lead)
    owner[leads, 0] = stops[firsts[np.searchsorted(firsts, leads) - 1]]  # the last FIRST before
    rows_h[:, 1 : k + 1] = heads_m
    rows_e[:, 1 : k + 1] = ends_m
    owner[:, 1 : k + 1] = heads_m
    rows_h[:, k + 1] = np.where(first_ok, stops, -1)
    rows_e[:, k + 1] = bend
    owner[:, k + 1] = stops
    flat = rows_h.ravel()
    keep = flat >= 0
    if problem >= 0:
        keep &= flat < problem
    return flat[keep], rows_e.ravel()[keep], np.searchsorted(heads, owner.ravel()[keep])


def at_problem(buf: bytearray, pos: int, limit: int) -> tuple[RunStatus, Framed | None, int]:
    """What ends a window's run at buffer index ``pos``: (status, a record to take, where to go on).

    The damage rule (``judge_physical``, CRCs aside) decides: bytes not all there are
    ``RunStatus.NEED_DATA``; a trailer is skipped (``GO_ON``); a FIRST..LAST record laid out as a
    writer does and all buffered (one running past the window) is taken (``GO_ON``); anything
    else is ``RunStatus.ANOMALY``, left to ``RecordAssembler.read``.
    """
    bend = (pos | BLOCK_MASK) + 1
    kind, end, t, _ = judge_physical(buf, pos, limit, bend, verify=False)
    if kind == PhysKind.TRAILER:
        return RunStatus.GO_ON, None, bend
    if kind == PhysKind.WAIT:
        return RunStatus.NEED_DATA, None, pos
    if kind != PhysKind.OK or t != _FIRST or end != bend:
        return RunStatus.ANOMALY, None, pos
    status, j, parts = _fragments(buf, pos, limit)
    if status != RunStatus.GO_ON:
        return status, None, pos
    m = len(parts)
    one = np.zeros(1, dtype=np.int64)
    lo = np.array([h + HEADER_SIZE for h, _ in parts[:-1]], dtype=np.int64)
    hi = np.array([h + HEADER_SIZE + n for h, n in parts[:-1]], dtype=np.int64)
    shift = HEADER_SIZE * np.arange(m - 1, 0, -1, dtype=np.int64)
    framed = Framed(
        one + pos,
        one + pos + HEADER_SIZE * m,
        one + j,
        (lo, hi, shift, np.zeros(m - 1, dtype=np.int64)),
        (
            np.array([h for h, _ in parts], dtype=np.int64),
            np.array([h + HEADER_SIZE + n for h, n in parts], dtype=np.int64),
            np.zeros(m, dtype=np.int64),
        ),
    )
    return RunStatus.GO_ON, framed, j


def concat_frames(
    frames: list[Framed],
) -> tuple[I64, I64, I64, tuple[I64, I64, I64, I64], tuple[I64, I64, I64]]:
    """One record list out of the windows' (record indexes made global)."""
    if len(frames) == 1:
        f = frames[0]
        return f.heads, f.starts, f.ends, f.moves, f.phys
    if not frames:
        return EMPTY_I64, EMPTY_I64, EMPTY_I64, no_moves(), (EMPTY_I64, EMPTY_I64, EMPTY_I64)
    shift = np.cumsum([0] + [len(f.heads) for f in frames[:-1]])
    cat = np.concatenate
    m = [cat([f.moves[k] for f in frames]) for k in range(3)]
    p = [cat([f.phys[k] for f in frames]) for k in range(2)]
    return (
        cat([f.heads for f in frames]),
        cat([f.starts for f in frames]),
        cat([f.ends for f in frames]),
        (m[0], m[1], m[2], cat([f.moves[3] + k for f, k in zip(frames, shift, strict=True)])),
        (p[0], p[1], cat([f.phys[2] + k for f, k in zip(frames, shift, strict=True)])),
    )


def copy_out(
    buf: bytearray,
    base: int,
    lo: int,
    hi: int,
    heads: I64,
    starts: I64,
    ends: I64,
    moves: tuple[I64, I64, I64, I64],
    kept: int,
) -> SpanPart:
    """The payloads of ``buf[lo:hi]`` as spans; fragmented payloads joined there (``Framed``).

    The data is a view of the buffer from ``lo`` on — ``LogFileReader`` never resizes a buffer,
    it reads into a new one — unless fewer than ``SPAN_PAD`` bytes follow ``hi``: then a padded
    copy. Bytes before the resume point are never read again, so joining fragments in place is
    safe.
    """
    src = np.frombuffer(buf, dtype=np.uint8)
    if len(buf) - hi >= SPAN_PAD:
        data = src[lo:]
    else:
        size = hi - lo
        data = np.zeros(size + SPAN_PAD, dtype=np.uint8)
        data[:size] = src[lo:hi]
    del src
    m_lo, m_hi, m_shift, m_rec = moves
    if len(m_rec):
        if m_rec.max() >= kept:
            m = m_rec < kept
            m_lo, m_hi, m_shift = m_lo[m], m_hi[m], m_shift[m]
        lengths = m_hi - m_lo
        total = int(lengths.sum())
        if total:
            first = np.cumsum(lengths) - lengths
            idx = np.repeat(m_lo - lo - first, lengths) + np.arange(total, dtype=np.int64)
            data[idx + np.repeat(m_shift, lengths)] = data[idx]
    return data, starts - lo, ends - lo, heads + base


def _walk_blocks(u32: npt.NDArray[np.uint32], first: I64, lim: I64) -> tuple[I64, I64, I64]:
    """FULL records of many blocks at once, each block walked from ``first`` up to ``lim``.

    Returns the records' headers and payload ends as (blocks x steps) matrices, -1 where a block
    has fewer records, and where each block's walk stopped (a header that is not an intact FULL
    record, or fewer than 7 bytes left).
    """
    nb = len(first)
    ids = np.arange(nb, dtype=np.int64)
    pos = first
    stops = np.empty(nb, dtype=np.int64)
    top = len(u32) - 1
    steps: list[tuple[I64, I64, I64]] = []
    while len(ids):
        w = u32[np.minimum(pos + 3, top)]
        e = pos + HEADER_SIZE + ((w >> 8) & 0xFFFF).astype(np.int64)
        ok = (pos + HEADER_SIZE <= lim) & ((w >> 24) == _FULL) & (e <= lim)
        if not ok.all():
            stops[ids[~ok]] = pos[~ok]
            ids, pos, e, lim = ids[ok], pos[ok], e[ok], lim[ok]
            if not len(ids):
                break
        steps.append((ids, pos, e))
        pos = e
    heads = np.full((nb, len(steps)), -1, dtype=np.int64)
    ends = np.full((nb, len(steps)), -1, dtype=np.int64)
    for k, (i, p, e) in enumerate(steps):
        heads[i, k] = p
        ends[i, k] = e
    return heads, ends, stops


def _fragments(buf: bytearray, i: int, limit: int) -> tuple[RunStatus, int, list[tuple[int, int]]]:
    """The FIRST..LAST record whose intact FIRST fragment at buffer index ``i`` ends its block.

    Returns (``GO_ON``, end, [(header, payload length) per fragment]) when every fragment is intact
    by the damage rule (CRCs aside) and laid out as a writer does (MIDDLE fragments fill their
    block), else (``NEED_DATA`` or ``ANOMALY``, -1, []).
    """
    j = (i | BLOCK_MASK) + 1
    parts = [(i, j - i - HEADER_SIZE)]
    while True:
        kind, e, t, _ = judge_physical(buf, j, limit, j + BLOCK_SIZE, verify=False)
        if kind == PhysKind.WAIT:
            return RunStatus.NEED_DATA, -1, []
        n = e - j - HEADER_SIZE
        if kind != PhysKind.OK or not (t == _LAST or (t == _MIDDLE and n == MAX_FRAGMENT)):
            return RunStatus.ANOMALY, -1, []
        parts.append((j, n))
        j = e
        if t == _LAST:
            return RunStatus.GO_ON, j, parts


__all__ = [
    "EMPTY_I64",
    "Framed",
    "RunStatus",
    "SpanPart",
    "at_problem",
    "concat_frames",
    "copy_out",
    "frame_window",
]
