"""Fields of many serialized protobuf messages, walked at once with numpy (``scan.py``'s engine).

``walk`` visits "field k of every message" in step: each step decodes one tag and one varint per
message still active, vectorised (8 bytes at a time through an unaligned u64 view; longer varints
in a second pass), so the cost is a few dozen numpy calls per field, not per message. The caller's
handler gets each step: which messages, which field, the varint value or the bytes' range.

The walker is a validator as well as a reader: anything it does not handle exactly as the
protobuf runtime does — group wire types, malformed or overlong varints, field numbers 0 or tags
beyond 32 bits, a known field with an unexpected wire type (per the caller's table), truncated
fields — marks that message in ``bad`` and drops it from the walk; the caller parses those with
protobuf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from omsync_tui.openmldb.spans import I64, U8

U64 = npt.NDArray[np.uint64]
Bools = npt.NDArray[np.bool_]

_u64 = np.uint64
_HI = _u64(0x8080808080808080)
_LO7 = _u64(0x7F7F7F7F7F7F7F7F)
_ONE = _u64(1)
_M32 = _u64(0xFFFFFFFF)

# wire types
_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5

_bitcount = getattr(np, "bitwise_count", None)


def u64_view(data: U8) -> U64:
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
class Step:
    """One field of each message in ``rec``: what the field handlers see."""

    rec: I64 | slice  # which messages (a slice: all of them, in order)
    field: int | npt.NDArray[np.int64]  # an int when every message holds the same field here
    value: U64 | None  # varint fields: the value
    body: I64  # length-delimited fields: where the bytes start
    nxt: I64  # position after the field


def _uniform(tag: int, w: U64, pos: I64, end: I64, expect: npt.NDArray[np.int8]) -> Step | None:
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
        return None if (nxt > end).any() else Step(slice(None), field, None, pos, nxt)
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
        return Step(slice(None), field, value, body, body)
    nxt = body + value.view(np.int64)  # value < 2**49: no overflow
    if (nxt > end).any():
        return None
    return Step(slice(None), field, None, body, nxt)


def _general(w8: U64, w: U64, pos: I64, end: I64, expect: npt.NDArray[np.int8]) -> tuple[Step, Bools]:
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
    return Step(slice(None), field, value, body, nxt), odd


def walk(
    w8: U64,
    pos: I64,
    end: I64,
    expect: npt.NDArray[np.int8],
    bad: Bools,
    handle: Callable[[Step], None],
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
                step = Step(
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


__all__ = ["U64", "Bools", "Step", "u64_view", "walk"]
