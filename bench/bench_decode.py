"""Row decoding throughput: vectorised ``decode_batch`` against the scalar ``decode_row``.

Run by ``make bench`` as ``.venv/bin/python bench/bench_decode.py [--rows N]``. Builds ~1 M rows of a
10-column mixed table with ``encode_row`` (a pool of distinct rows repeated, to keep setup short),
then measures, single core:

* ``decode_batch`` over the whole buffer in chunks of 64 Ki rows with known offsets (the binlog
  path, where each LogEntry value is one row);
* ``split_rows`` + ``decode_batch`` per ~1 MiB attachment (the SendData path);
* the scalar ``decode_row`` on a subset.

Goals: ≥ 3 M rows/s vectorised and ≥ 20× the scalar decoder.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyarrow as pa
from mixed_table import COLUMNS, row_pool

from omsync_tui.openmldb.row.batch import decode_batch
from omsync_tui.openmldb.row.codec import decode_row, split_rows
from omsync_tui.openmldb.schema import TableSchema

CHUNK_ROWS = 64 * 1024
ATTACHMENT_BYTES = 1 << 20
GOAL_ROWS_PER_S = 3_000_000
GOAL_RATIO = 20.0


def build(rows: int, distinct: int, unicode_share: float = 0.1) -> tuple[bytes, np.ndarray, np.ndarray]:
    pool = row_pool(distinct, unicode_share)
    repeats = -(-rows // distinct)
    encoded = (pool * repeats)[:rows]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=rows)
    offsets = np.zeros(rows, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return b"".join(encoded), offsets, lengths


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def attachments(offsets: np.ndarray, lengths: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) byte ranges of consecutive rows of at most ~1 MiB, like collector packs."""
    ends = offsets + lengths
    cuts = [0]
    while cuts[-1] < len(offsets):
        limit = int(offsets[cuts[-1]]) + ATTACHMENT_BYTES
        cuts.append(max(cuts[-1] + 1, int(np.searchsorted(ends, limit, side="right"))))
    return [(int(offsets[a]), int(ends[b - 1])) for a, b in itertools.pairwise(cuts)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=20_000)
    parser.add_argument("--scalar-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--unicode-share", type=float, default=0.1, help="share of strings with non-ASCII characters"
    )
    args = parser.parse_args()
    pa.set_cpu_count(1)  # single core: Arrow's take/validate must not use a thread pool
    pa.set_io_thread_count(1)

    t0 = time.perf_counter()
    buf, offsets, lengths = build(args.rows, args.distinct, args.unicode_share)
    schema = TableSchema.from_columns(COLUMNS)
    view = memoryview(buf)
    n = len(offsets)
    mb = len(buf) / 1e6
    print(f"setup: {n:,} rows, {mb:.1f} MB ({len(buf) / n:.1f} B/row), {time.perf_counter() - t0:.1f} s")

    # correctness spot check before timing anything
    sample = decode_batch(view, schema, offsets=offsets[:2000], lengths=lengths[:2000]).to_pylist()
    for i in range(0, 2000, 97):
        scalar = decode_row(view[offsets[i] : offsets[i] + lengths[i]], COLUMNS)
        if isinstance(scalar[7], int):
            scalar[7] = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=scalar[7])
        got = [sample[i][c.name] for c in COLUMNS]
        assert got[:4] + got[6:] == scalar[:4] + scalar[6:], (i, got, scalar)

    def chunked() -> None:
        for a in range(0, n, CHUNK_ROWS):
            decode_batch(
                view, schema, offsets=offsets[a : a + CHUNK_ROWS], lengths=lengths[a : a + CHUNK_ROWS]
            )

    packs = attachments(offsets, lengths)

    def per_attachment() -> None:
        for a, b in packs:
            decode_batch(view[a:b], schema)

    t_split = best_of(args.repeat, lambda: split_rows(view))
    t_vec = best_of(args.repeat, chunked)
    t_att = best_of(args.repeat, per_attachment)

    k = min(args.scalar_rows, n)
    slices = [view[o : o + ln] for o, ln in zip(offsets[:k].tolist(), lengths[:k].tolist(), strict=True)]
    t_scalar = best_of(1, lambda: [decode_row(s, COLUMNS) for s in slices])

    vec_rps = n / t_vec
    att_rps = n / t_att
    scalar_rps = k / t_scalar

    def line(label: str, rows_per_s: float, seconds: float, megabytes: float | None = None) -> None:
        rate = f"  {megabytes / seconds:7.1f} MB/s" if megabytes is not None else ""
        print(f"{label:42s}: {rows_per_s / 1e6:7.3f} M rows/s{rate}  ({seconds:.3f} s)")

    line("split_rows", n / t_split, t_split)
    line("decode_batch, 64 Ki-row chunks", vec_rps, t_vec, mb)
    line(f"split_rows+decode_batch, {len(packs)} ~1 MiB packs", att_rps, t_att, mb)
    line(f"decode_row (scalar), {k:,} rows", scalar_rps, t_scalar)
    ratio = vec_rps / scalar_rps
    print(f"{'ratio vectorised / scalar':42s}: {ratio:7.1f}x  (with split_rows: {att_rps / scalar_rps:.1f}x)")
    ok = vec_rps >= GOAL_ROWS_PER_S and ratio >= GOAL_RATIO
    verdict = "met" if ok else "NOT met"
    print(f"goals (>= {GOAL_ROWS_PER_S / 1e6:.0f} M rows/s, >= {GOAL_RATIO:.0f}x scalar): {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
