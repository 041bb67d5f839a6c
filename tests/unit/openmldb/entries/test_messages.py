"""LogEntries of payload spans parsed in one call equal one ``FromString`` per payload."""

from __future__ import annotations

import random

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from omsync_tui.openmldb.entries.messages import parse_spans
from omsync_tui.openmldb.proto import tablet_pb2
from omsync_tui.openmldb.spans import padded

# Payload lengths around every varint width of the length prefix (1 to 4 bytes).
VALUE_SIZES = [0, 1, 100, 120, 127, 128, 16_370, 16_383, 16_384, 20_000, (1 << 21) + 5]


def spread(payloads: list[bytes], rng: random.Random) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The payloads in one padded buffer with junk bytes between them, and their spans."""
    parts: list[bytes] = []
    starts, ends = [], []
    pos = 0
    for p in payloads:
        junk = rng.randbytes(rng.choice([0, 0, 3, 7]))
        parts += [junk, p]
        pos += len(junk)
        starts.append(pos)
        pos += len(p)
        ends.append(pos)
    return padded(b"".join(parts)), np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(0, 40))
def test_one_parse_equals_one_fromstring_per_payload(seed: int, count: int) -> None:
    rng = random.Random(seed)
    entries = []
    for i in range(count):
        e = tablet_pb2.LogEntry(log_index=i + 1, ts=rng.randint(0, 2**40))
        size = rng.choice(VALUE_SIZES[:-1]) if rng.random() < 0.9 else rng.randint(0, 300)
        e.value = rng.randbytes(max(0, size - 20))
        for idx in range(rng.randint(0, 2)):
            e.dimensions.add(key=f"k{rng.randint(0, 99)}", idx=idx)
        entries.append(e)
    payloads = [e.SerializeToString() for e in entries]
    got = parse_spans(*spread(payloads, rng))
    assert list(got) == [tablet_pb2.LogEntry.FromString(p) for p in payloads] == entries


def test_a_payload_of_more_than_two_mib_takes_a_four_byte_length() -> None:
    big = tablet_pb2.LogEntry(log_index=7, value=b"v" * VALUE_SIZES[-1])
    small = tablet_pb2.LogEntry(log_index=8)
    got = parse_spans(*spread([big.SerializeToString(), small.SerializeToString()], random.Random(1)))
    assert list(got) == [big, small]


def test_a_payload_that_is_not_a_log_entry_raises() -> None:
    good = tablet_pb2.LogEntry(log_index=1).SerializeToString()
    with pytest.raises(DecodeError):
        parse_spans(*spread([good, b"\xff\xfe not a log entry"], random.Random(2)))
