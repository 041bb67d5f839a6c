"""Byte spans of a read buffer as numpy arrays: padded buffers, spans of payloads, and their gather.

The numpy readers (``entries.pbwalk`` and ``entries.scan``, ``log.framer``, ``log.crcbatch``) see
a read buffer as one ``uint8`` array and each record or value in it as a (start, end) span. Reads 8
bytes wide at a span's end need ``SPAN_PAD`` bytes of padding after the last one (``padded``).
``gather_buffer`` concatenates spans: how the collector cuts a pack's rows out of its read buffer.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]

#: Bytes a buffer must carry after its last span for 8-byte reads at a span's end (see ``padded``).
SPAN_PAD = 16


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
        if size > longest:
            continue
        if below > longest and int(lengths.min()) >= size:  # every span in one pass
            _copy_words(data, out, starts, to, lengths, size)
            break
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


__all__ = ["I64", "SPAN_PAD", "U8", "gather_buffer", "padded", "spans_of"]
