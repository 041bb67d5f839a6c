"""Columns of serialized ``openmldb.api.LogEntry`` messages, read with numpy over a whole batch (§2.2, §3.5).

This module owns ``scan_entries``: given one buffer and the spans of N serialized LogEntries in it,
it returns the columns the collector needs — ``log_index``, ``ts`` (and whether it is present),
``method_type``, the span of ``value`` and whether a dimension with idx 0 is present — without a
protobuf object per entry. It walks "field k of every entry" at once: each step decodes one tag
and one varint per entry still active, vectorised (8 bytes at a time through an unaligned u64
view; longer varints in a second pass), so the cost is a few dozen numpy calls per field, not per
entry. Dimensions (and the deprecated TSDimensions) are walked the same way, as a second batch of
messages.

The walker is a validator as well as a reader: anything it does not handle exactly as the
protobuf runtime does — group wire types, malformed or overlong varints, field numbers 0 or tags
beyond 32 bits, a known field with an unexpected wire type, a ``method_type`` outside the enum,
truncated fields — marks that entry *irregular*. ``resolve_irregular`` parses those with protobuf
and fills their columns from the parsed message (or reports the first that does not parse), so the
result never differs from parsing every entry with protobuf. Regular entries are the ones the
runtime is certain to parse into exactly these columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from omsync_tui.openmldb.proto import tablet_pb2

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]

#: Bytes a buffer handed to ``scan_entries`` must carry after its last payload (u64 reads).
SPAN_PAD = 16

PUT = 1
DELETE = 2

_u64 = np.uint64
_HI = _u64(0x8080808080808080)
_LO7 = _u64(0x7F7F7F7F7F7F7F7F)
_ONE = _u64(1)
_M32 = _u64(0xFFFFFFFF)

# wire types
_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5

# LogEntry field -> expected wire type (-1: unknown field, any skippable wire type)
_ENTRY_WIRE = np.full(16, -1, dtype=np.int8)
for _f, _w in ((1, 0), (2, 0), (3, 2), (4, 2), (5, 0), (6, 2), (7, 0), (8, 2), (9, 0), (10, 2)):
    _ENTRY_WIRE[_f] = _w
# Dimension {1 key string, 2 idx uint32}; TSDimension {1 ts uint64, 2 idx uint32}
_DIM_WIRE = np.full(16, -1, dtype=np.int8)
_DIM_WIRE[1], _DIM_WIRE[2] = 2, 0
_TSDIM_WIRE = np.full(16, -1, dtype=np.int8)
_TSDIM_WIRE[1], _TSDIM_WIRE[2] = 0, 0

_bitcount = getattr(np, "bitwise_count", None)


@dataclass(frozen=True, slots=True)
class EntryColumns:
    """What the collector reads of N LogEntries; entry i's payload is ``data[start[i]:end[i]]``.

    ``value_start``/``value_end`` delimit ``value`` in ``data`` (equal when absent: an empty
    value). ``method`` is 1 (put, also when absent) or 2 (delete). ``index0``: a Dimension with
    idx 0 (an absent idx is 0). ``irregular`` entries have unreliable columns until
    ``resolve_irregular`` fills them.
    """

    data: U8
    start: I64
    end: I64
    log_index: U64
    ts: U64
    has_ts: Bools
    method: npt.NDArray[np.uint8]
    value_start: I64
    value_end: I64
    index0: Bools
    irregular: Bools

    def __len__(self) -> int:
        return len(self.start)

    def payload(self, i: int) -> bytes:
        return self.data[int(self.start[i]) : int(self.end[i])].tobytes()

    def entry(self, i: int) -> tablet_pb2.LogEntry:
        """Entry ``i`` parsed by protobuf (for the few rows that need every field, e.g. deletes)."""
        return tablet_pb2.LogEntry.FromString(self.payload(i))

    def value(self, i: int) -> bytes:
        return self.data[int(self.value_start[i]) : int(self.value_end[i])].tobytes()

    def take(self, lo: int, hi: int | None = None) -> EntryColumns:
        """Entries ``lo:hi`` (views, no copy)."""
        s = slice(lo, hi)
        return EntryColumns(
            self.data,
            self.start[s],
            self.end[s],
            self.log_index[s],
            self.ts[s],
            self.has_ts[s],
            self.method[s],
            self.value_start[s],
            self.value_end[s],
            self.index0[s],
            self.irregular[s],
        )


def padded(data: bytes | bytearray | memoryview) -> U8:
    """``data`` copied into an array with ``SPAN_PAD`` zero bytes after it."""
    out = np.zeros(len(data) + SPAN_PAD, dtype=np.uint8)
    out[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return out


def spans_of(payloads: list[bytes]) -> tuple[U8, I64, I64]:
    """One padded buffer holding ``payloads`` and their spans."""
    lengths = np.fromiter((len(p) for p in payloads), dtype=np.int64, count=len(payloads))
    end = np.cumsum(lengths)
    return padded(b"".join(payloads)), end - lengths, end


def gather_buffer(data: U8, starts: I64, ends: I64) -> bytes | memoryview:
    """``data[starts[i]:ends[i]]`` for every i, concatenated: as bytes or as a view of the array it
    was made in (no copy to bytes). Spans may come in any order and may overlap.

    Each span is copied as whole words of the largest size in ``_WORDS`` it can hold, the last word
    ending at the span's end (so it overlaps the word before it, with the same bytes): per span a
    handful of fixed-size copies in one numpy gather and one scatter, instead of a per-byte mask.
    """
    n = len(starts)
    if n < 16:
        with memoryview(data) as mv:  # type: ignore[arg-type]
            return b"".join([mv[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)])
    lengths = ends - starts
    to = np.cumsum(lengths) - lengths
    out = np.empty(int(to[-1] + lengths[-1]), dtype=np.uint8)
    longest = int(lengths.max())
    below = longest + 1  # spans shorter than this are still to copy
    for size in _WORDS:
        if size >= below or size > longest:
            continue
        if int(lengths.min()) >= size and below > longest:
            _copy_words(data, out, starts, to, lengths, size)
        else:
            pick = np.flatnonzero((lengths >= size) & (lengths < below))
            if len(pick):
                _copy_words(data, out, starts[pick], to[pick], lengths[pick], size)
        below = size
    return out.data


#: Word sizes of ``gather_buffer``, largest first; 1 copies what is left byte by byte.
_WORDS = (64, 16, 4, 1)


def _copy_words(data: U8, out: U8, starts: I64, to: I64, lengths: I64, size: int) -> None:
    """Copy ``data[starts[i]:starts[i] + lengths[i]]`` to ``out[to[i]:...]``; every length >= size."""
    count = (lengths + (size - 1)) // size
    first = np.cumsum(count) - count
    words = int(first[-1] + count[-1])
    dst = np.repeat(to - size * first, count)
    dst += np.arange(0, size * words, size, dtype=np.int64)
    src = dst + np.repeat(starts - to, count)
    last = first + count - 1
    dst[last] = to + lengths - size
    src[last] = starts + lengths - size
    word = np.dtype(np.uint8) if size == 1 else np.dtype((np.void, size))
    source = np.ndarray((len(data) - size + 1,), dtype=word, buffer=data, strides=(1,))
    target = np.ndarray((len(out) - size + 1,), dtype=word, buffer=out, strides=(1,))
    target[dst] = source[src]


def _u64_view(data: U8) -> U64:
    """Unaligned little-endian u64 at every byte offset of ``data`` (no copy)."""
    view: U64 = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    return view


# 7-byte varints read from ``w >> 8`` (the byte after a one-byte tag): per length L, the high bits
# that must be set (bytes 0..L-2) and clear (byte L-1), and the 7-bit groups to keep.
_STOP_MASK = [0] + [sum(0x80 << (8 * k) for k in range(n)) for n in range(1, 8)]
_STOP_WANT = [0] + [sum(0x80 << (8 * k) for k in range(n - 1)) for n in range(1, 8)]
_GROUPS = [0] + [sum(0x7F << (8 * k) for k in range(n)) for n in range(1, 8)]


def _compact(x: U64, nbytes: int) -> U64:
    """Squeeze the 7-bit groups of ``x`` (one per byte, high bits clear) into one integer."""
    if nbytes > 1:
        x = (x & _u64(0x007F007F007F007F)) | ((x & _u64(0x7F007F007F007F00)) >> _u64(1))
    if nbytes > 2:
        x = (x & _u64(0x00003FFF00003FFF)) | ((x & _u64(0x3FFF00003FFF0000)) >> _u64(2))
    if nbytes > 4:
        x = (x & _u64(0x000000000FFFFFFF)) | ((x & _u64(0x0FFFFFFF00000000)) >> _u64(4))
    return x


def _bytes_to(low: U64) -> I64:
    """For ``low`` = the high bit of byte k (k = 0..7, as 2**(8k+7)): k + 1."""
    if _bitcount is not None:
        count: I64 = (_bitcount(low - _ONE).astype(np.int64) + 1) >> 3
        return count
    # numpy < 2: 2**(8k+7) is exact in a float64, whose exponent is then 8k+8
    exp: I64 = np.frexp(low.astype(np.float64))[1].astype(np.int64) >> 3
    return exp


def _varints(w8: U64, pos: I64, w: U64) -> tuple[U64, I64, Bools]:
    """Varints at ``pos`` (``w`` = the 8 bytes there): value, length, bad (> 10 bytes or > 64 bits)."""
    stop = ~w & _HI
    low = stop & (~stop + _ONE)  # lowest byte with the high bit clear; 0 if none in 8
    x = _compact(w & ((low << _ONE) - _ONE) & _LO7, 8)
    length = _bytes_to(low)
    bad = np.zeros(len(w), dtype=np.bool_)
    long = low == 0
    if long.any():  # 9 or 10 bytes (values >= 2**56: rare)
        k = np.flatnonzero(long)
        w2 = w8[pos[k] + 8]
        b8 = w2 & _u64(0xFF)
        b9 = (w2 >> _u64(8)) & _u64(0xFF)
        nine = b8 < 0x80
        ten = ~nine & (b9 <= 1)
        x[k] |= ((b8 & _u64(0x7F)) << _u64(56)) | np.where(ten, b9 << _u64(63), _u64(0))
        length[k] = np.where(nine, 9, 10)
        bad[k] = ~(nine | ten)
    return x, length, bad


@dataclass(slots=True)
class _Step:
    """One field of each message in ``rec``: what the field handlers see."""

    rec: I64 | slice  # which messages (a slice: all of them, in order)
    field: int | npt.NDArray[np.int64]  # an int when every message holds the same field here
    value: U64 | None  # varint fields: the value
    body: I64  # length-delimited fields: where the bytes start
    nxt: I64  # position after the field


def _uniform(tag: int, w: U64, pos: I64, end: I64, expect: npt.NDArray[np.int8]) -> _Step | None:
    """The step when every message holds the one-byte ``tag`` here; None if anything is unusual.

    The varint after the tag is read from the same 8 bytes as the tag (up to 7 bytes: values
    below 2**49), with the length of the first message checked for all at once.
    """
    wire, field = tag & 7, tag >> 3
    want = int(expect[field]) if field < len(expect) else -1
    if field == 0 or (want >= 0 and want != wire):
        return None
    if wire in (_I64, _I32):
        nxt = pos + (9 if wire == _I64 else 5)
        return None if (nxt > end).any() else _Step(slice(None), field, None, pos, nxt)
    if wire != _VARINT and wire != _LEN:
        return None
    v = w >> _u64(8)
    first = int(v[0])
    nbytes = 1
    while first & 0x80 and nbytes < 7:
        first >>= 8
        nbytes += 1
    length: I64 | int = 1 + nbytes
    if nbytes == 1 and not (v & _u64(0x80)).any():
        value = v & _u64(0x7F)
    elif not ((v & _u64(_STOP_MASK[nbytes])) != _u64(_STOP_WANT[nbytes])).any():
        value = _compact(v & _u64(_GROUPS[nbytes]), nbytes)
    else:  # lengths differ: find each one's last byte
        stop = ~v & _u64(0x0080808080808080)
        low = stop & (~stop + _ONE)
        if not low.all():
            return None  # 8 bytes or more
        value = _compact(v & ((low << _ONE) - _ONE) & _LO7, 7)
        length = _bytes_to(low) + 1
    body = pos + length
    if wire == _VARINT:
        if (body > end).any():
            return None
        return _Step(slice(None), field, value, body, body)
    nxt = body + value.view(np.int64)  # value < 2**49: no overflow
    if (nxt > end).any():
        return None
    return _Step(slice(None), field, None, body, nxt)


def _general(w8: U64, w: U64, pos: I64, end: I64, expect: npt.NDArray[np.int8]) -> tuple[_Step, Bools]:
    """The step for messages with any mix of tags; also returns which ones it cannot read."""
    tag = w & _u64(0xFF)
    if (tag & _u64(0x80)).any():
        tag, taglen, odd = _varints(w8, pos, w)
        odd |= (tag > _M32) | (tag < 8)
    else:
        taglen = np.ones(len(pos), dtype=np.int64)
        odd = tag < 8
    tag_i = tag.astype(np.int64)
    wire = tag_i & 7
    field = tag_i >> 3
    body = pos + taglen
    # A tag running past the message (up to 10 bytes) leaves it odd whatever follows: read the
    # varint after it no further out than the message end, within the padding.
    at = np.minimum(body, end)
    value, vlen, vbad = _varints(w8, at, w8[at])
    odd |= body > end
    room = end - body
    odd |= (wire == _SGROUP) | (wire == _EGROUP) | (wire > _I32)
    nxt = np.where(wire == _I64, body + 8, np.where(wire == _I32, body + 4, body + vlen))
    is_len = wire == _LEN
    odd |= vbad & (is_len | (wire == _VARINT))
    # a length must fit what is left; compare before adding (a length can be ~2**64)
    too_long = is_len & ((vlen > room) | (value > (room - vlen).clip(0).astype(np.uint64)))
    odd |= too_long
    body = np.where(is_len, body + vlen, body)
    nxt = np.where(is_len & ~too_long, body + value.astype(np.int64), nxt)
    odd |= nxt > end
    small = (field >= 0) & (field < len(expect))  # tags past 2**63 turn negative: odd anyway
    want = np.where(small, expect[np.where(small, field, 0)], -1)
    odd |= (want >= 0) & (want != wire)
    return _Step(slice(None), field, value, body, nxt), odd


def _walk(
    w8: U64,
    pos: I64,
    end: I64,
    expect: npt.NDArray[np.int8],
    bad: Bools,
    handle: Callable[[_Step], None],
) -> None:
    """Walk the fields of the messages ``[pos, end)`` in step, calling ``handle`` per field.

    Messages are grouped by the first byte of their tag at each step; a group is read with
    ``_uniform`` when it can be, else with ``_general``. Messages the walker cannot read exactly
    are marked in ``bad`` (indexed like ``pos``) and leave the walk.
    """
    rec: I64 | None = None  # None: all messages, in order
    live = pos < end
    if not live.all():
        rec = np.flatnonzero(live)
        pos, end = pos[rec], end[rec]
    while len(pos):
        w = w8[pos]
        tag = w & _u64(0xFF)
        t0 = int(tag[0])
        groups: list[tuple[int, I64 | None]]
        if (tag == t0).all():
            groups = [(t0, None)]
        else:
            present = np.flatnonzero(np.bincount(tag.astype(np.intp), minlength=256))
            groups = [(int(t), np.flatnonzero(tag == t)) for t in present]
        nxt = pos if len(groups) == 1 else np.empty_like(pos)
        for t, sub in groups:
            g_w, g_pos, g_end = (w, pos, end) if sub is None else (w[sub], pos[sub], end[sub])
            step = _uniform(t, g_w, g_pos, g_end, expect) if t < 0x80 else None
            odd = None
            if step is None:
                step, odd = _general(w8, g_w, g_pos, g_end, expect)
            g_rec = rec if sub is None else (sub if rec is None else rec[sub])
            if odd is not None and odd.any():
                bad[np.flatnonzero(odd) if g_rec is None else g_rec[odd]] = True
                keep = ~odd
                g_nxt = np.where(odd, g_end, step.nxt)  # leaves the walk
                field = step.field
                step = _Step(
                    np.flatnonzero(keep) if g_rec is None else g_rec[keep],
                    field[keep] if isinstance(field, np.ndarray) else field,
                    None if step.value is None else step.value[keep],
                    step.body[keep],
                    step.nxt[keep],
                )
            else:
                step.rec = slice(None) if g_rec is None else g_rec
                g_nxt = step.nxt
            handle(step)
            if sub is None:
                nxt = g_nxt
            else:
                nxt[sub] = g_nxt
        live = nxt < end
        if live.all():
            pos = nxt
        else:
            k = np.flatnonzero(live)
            rec = k if rec is None else rec[k]
            pos, end = nxt[k], end[k]


class _EntryFields:
    """Field handler for LogEntry walks: stores the columns, collects dimension submessages."""

    def __init__(self, n: int) -> None:
        self.log_index = np.zeros(n, dtype=np.uint64)
        self.ts = np.zeros(n, dtype=np.uint64)
        self.has_ts = np.zeros(n, dtype=np.bool_)
        self.method = np.ones(n, dtype=np.uint8)
        self.method_bad = np.zeros(n, dtype=np.bool_)
        self.value_start = np.zeros(n, dtype=np.int64)
        self.value_end = np.zeros(n, dtype=np.int64)
        self.subs: list[tuple[I64 | slice, I64, I64, bool]] = []  # (entries, start, end, TSDimension?)

    def __call__(self, s: _Step) -> None:
        f = s.field
        if isinstance(f, int):
            self._one(f, s.rec, s.value, s.body, s.nxt)
            return
        for k in np.unique(f).tolist():
            m = f == k
            rec = np.flatnonzero(m) if isinstance(s.rec, slice) else s.rec[m]
            self._one(k, rec, None if s.value is None else s.value[m], s.body[m], s.nxt[m])

    def _one(self, field: int, rec: I64 | slice, value: U64 | None, body: I64, nxt: I64) -> None:
        if field == 2:
            assert value is not None
            self.log_index[rec] = value
        elif field == 4:
            self.value_start[rec] = body
            self.value_end[rec] = nxt
        elif field == 5:
            assert value is not None
            self.ts[rec] = value
            self.has_ts[rec] = True
        elif field == 6:
            self.subs.append((rec, body, nxt, False))
        elif field == 7:
            assert value is not None
            ok = (value == PUT) | (value == DELETE)
            self.method[rec] = np.where(ok, value, 1).astype(np.uint8)
            if not ok.all():  # closed enum: protobuf keeps other values as unknown fields
                self.method_bad[np.flatnonzero(~ok) if isinstance(rec, slice) else rec[~ok]] = True
        elif field == 8:
            self.subs.append((rec, body, nxt, True))


class _DimFields:
    """Field handler for Dimension / TSDimension walks: the last idx of each (absent: 0)."""

    def __init__(self, n: int) -> None:
        self.idx = np.zeros(n, dtype=np.uint64)

    def __call__(self, s: _Step) -> None:
        if isinstance(s.field, int):
            if s.field == 2:
                assert s.value is not None
                self.idx[s.rec] = s.value
            return
        m = s.field == 2
        if m.any():
            assert s.value is not None
            rec = np.flatnonzero(m) if isinstance(s.rec, slice) else s.rec[m]
            self.idx[rec] = s.value[m]


def scan_entries(data: U8, start: I64, end: I64) -> EntryColumns:
    """The columns of the LogEntries at ``data[start[i]:end[i]]`` (``data`` padded, see ``SPAN_PAD``)."""
    n = len(start)
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    irregular = np.zeros(n, dtype=np.bool_)
    index0 = np.zeros(n, dtype=np.bool_)
    fields = _EntryFields(n)
    if n:
        if len(data) < int(end.max()) + SPAN_PAD:
            raise ValueError("scan_entries needs SPAN_PAD bytes after the last payload")
        w8 = _u64_view(data)
        _walk(w8, start, end, _ENTRY_WIRE, irregular, fields)
        irregular |= fields.method_bad
        for is_ts in (False, True):
            subs = [s for s in fields.subs if s[3] is is_ts]
            if not subs:
                continue
            owner = np.concatenate([np.arange(n) if isinstance(s[0], slice) else s[0] for s in subs])
            s_start = np.concatenate([s[1] for s in subs])
            s_end = np.concatenate([s[2] for s in subs])
            sub_bad = np.zeros(len(owner), dtype=np.bool_)
            dims = _DimFields(len(owner))
            _walk(w8, s_start, s_end, _TSDIM_WIRE if is_ts else _DIM_WIRE, sub_bad, dims)
            if sub_bad.any():
                irregular[owner[sub_bad]] = True
            if not is_ts:
                index0[owner[(dims.idx & _M32) == 0]] = True  # uint32: protobuf truncates
    return EntryColumns(
        data,
        start,
        end,
        fields.log_index,
        fields.ts,
        fields.has_ts,
        fields.method,
        fields.value_start,
        fields.value_end,
        index0,
        irregular,
    )


def resolve_irregular(cols: EntryColumns) -> tuple[EntryColumns, int, DecodeError | None]:
    """Fill the columns of irregular entries from protobuf parses.

    Returns (columns with no irregular entry, -1, None), or — when an entry does not parse as a
    LogEntry — the columns of the entries before the first such one, its index and the error.
    """
    bad = np.flatnonzero(cols.irregular)
    if not len(bad):
        return cols, -1, None
    parsed: list[tuple[int, tablet_pb2.LogEntry]] = []
    failed, error = -1, None
    for i in bad.tolist():
        try:
            parsed.append((i, tablet_pb2.LogEntry.FromString(cols.payload(i))))
        except DecodeError as exc:
            failed, error = i, exc
            break
    log_index = cols.log_index.copy()
    ts = cols.ts.copy()
    has_ts = cols.has_ts.copy()
    method = cols.method.copy()
    value_start = cols.value_start.copy()
    value_end = cols.value_end.copy()
    index0 = cols.index0.copy()
    extra: list[bytes] = []
    at = len(cols.data) - SPAN_PAD
    for i, e in parsed:
        log_index[i] = e.log_index
        ts[i] = e.ts
        has_ts[i] = e.HasField("ts")
        method[i] = e.method_type
        value = e.value
        value_start[i], value_end[i] = at, at + len(value)
        at += len(value)
        extra.append(value)
        index0[i] = any(d.idx == 0 for d in e.dimensions)
    data = cols.data
    if any(extra):
        data = np.concatenate((data[: len(data) - SPAN_PAD], np.frombuffer(b"".join(extra), np.uint8)))
        data = np.concatenate((data, np.zeros(SPAN_PAD, dtype=np.uint8)))
    out = EntryColumns(
        data,
        cols.start,
        cols.end,
        log_index,
        ts,
        has_ts,
        method,
        value_start,
        value_end,
        index0,
        np.zeros(len(cols), dtype=np.bool_),
    )
    if failed >= 0:
        out = out.take(0, failed)
    return out, failed, error


__all__ = [
    "DELETE",
    "PUT",
    "SPAN_PAD",
    "EntryColumns",
    "gather_buffer",
    "padded",
    "resolve_irregular",
    "scan_entries",
    "spans_of",
]
