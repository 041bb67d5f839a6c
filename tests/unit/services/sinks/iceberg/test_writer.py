"""``IcebergWriter``: files per day partition in one commit, its temporaries, and a clear error
where pyiceberg is not installed (as in omsync.pyz)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
from helpers.iceberg import ARROW, COLUMNS, B, rows, uri_of, writer

from omsync_tui.services.sinks.destination import Destination, open_destination
from omsync_tui.services.sinks.iceberg import table as iceberg
from omsync_tui.services.sinks.readback import audit, list_files, remove_temporaries


def test_without_pyiceberg_an_iceberg_destination_says_how_to_install_it(tmp_path: Path) -> None:
    # a real interpreter in which pyiceberg cannot be imported (as in omsync.pyz)
    code = (
        "import sys; sys.modules['pyiceberg'] = None\n"
        "from omsync_tui.core.errors import UsageError\n"
        "from omsync_tui.services.sinks.destination import open_destination\n"
        "from omsync_tui.services.sinks.readback import list_pids\n"
        f"dest = open_destination({uri_of(tmp_path)!r})\n"
        "try:\n"
        "    list_pids(dest)\n"
        "except UsageError as exc:\n"
        "    print(exc.message); print(exc.hint)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "need pyiceberg, which is not installed" in done.stdout
    assert "pip install 'omsync[iceberg]'" in done.stdout


DAY_MS = 86_400_000


def day_rows(days: list[int | None]) -> pa.RecordBatch:
    n = len(days)
    ts = [None if d is None else d * DAY_MS + 3_600_000 + i for i, d in enumerate(days)]
    return pa.record_batch(
        [
            pa.array(range(n), pa.int64()),
            pa.array([f"n{i}" for i in range(n)]),
            pa.array(ts, pa.timestamp("ms")),
            pa.array([1] * n, pa.int16()),
        ],
        schema=ARROW,
    )


def test_partition_by_day_writes_a_file_per_day_in_one_commit(tmp_path: Path) -> None:
    dest = open_destination(uri_of(tmp_path, extra="&partition=day(ts)"))
    table = iceberg.table_of(dest)
    t = table.ensure(COLUMNS, "db.t", 7)
    assert [(f.name, str(f.transform)) for f in t.spec().fields] == [
        ("omsync_pid", "identity"),
        ("ts_day", "day"),
    ]
    w = writer(dest, 0)
    w.append(day_rows([20000, 20001, 20000]), B(1), B(4))
    w.append(day_rows([20002, None]), B(4), B(6))  # a NULL timestamp: the null partition
    done = w.commit()
    assert done is not None and (done.first, done.next, done.rows) == (B(1), B(6), 5)
    loaded = table.load()
    assert loaded is not None
    assert table.pid_files(loaded, 0).files == 4
    assert len(list_files(dest, 0)) == 1  # one commit, one range
    got = loaded.scan(row_filter="ts >= '2024-10-04T00:00:00' and ts < '2024-10-05T00:00:00'").to_arrow()
    assert got.num_rows == 2  # day 20000 is 2024-10-04: two of the rows
    assert loaded.scan().to_arrow().num_rows == 5
    assert audit(dest, 0, expect_rows=5).ok
    for k in range(3):  # compaction keeps one file per day
        w = writer(dest, 0)
        w.append(day_rows([20000, 20001]), B(6 + 2 * k), B(8 + 2 * k))
        assert w.commit() is not None
    assert table.compact(0) == 8  # days 20000 and 20001: 4 files each
    loaded = table.load()
    assert loaded is not None and table.pid_files(loaded, 0).files == 4
    assert loaded.scan().to_arrow().num_rows == 11


def test_temporaries_of_the_data_directory_are_removed(dest: Destination) -> None:
    w = writer(dest, 3)
    w.append(rows(1, 5), B(1), B(6))  # open, never committed: a crash leaves its temporary
    tmp = list((Path(dest.root) / "data" / "pid=3").glob("_tmp-*"))
    assert len(tmp) == 1
    assert remove_temporaries(dest, 3) == 1
    assert not tmp[0].exists()
