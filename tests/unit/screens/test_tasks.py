"""The Tasks screen's cells and rows/s: lag as offsets · seconds, rates from rows received."""

from __future__ import annotations

from omsync_tui.screens.data import RateTracker
from omsync_tui.screens.tasks import COLUMNS, task_cells
from omsync_tui.services.cluster import TaskInfo


def task(**kw: object) -> TaskInfo:
    base: dict[str, object] = {
        "tid": 3,
        "name": "shop.events",
        "mode": "continuous",
        "dest": "/offline/shop.events",
        "format": "parquet",
        "state": "RUNNING",
        "partitions": 2,
        "states": {"RUNNING": 2},
        "rows": 0,
        "bytes": 0,
        "files": 0,
        "lag_offsets": 0,
        "last_update_ms": 0,
    }
    base.update(kw)
    return TaskInfo(**base)  # type: ignore[arg-type]


def cell(t: TaskInfo, column: str) -> object:
    keys = [key for _, key in COLUMNS]
    return task_cells(t, 0.0, 0.0)[keys.index(column)]


def test_lag_shows_offsets_and_how_long_the_oldest_waits() -> None:
    assert cell(task(lag_offsets=1234, lag_s=14.4), "lag") == "1,234 · 14s"
    assert cell(task(lag_offsets=0, lag_s=0.0), "lag") == "0"
    assert cell(task(lag_offsets=7), "lag") == "7"  # a synctool that reports no seconds


def test_rows_per_second_count_rows_received_before_their_commit() -> None:
    rates = RateTracker(window_s=30)
    rates.update(100.0, (task(rows_received=1000),))
    # nothing committed yet (rows 0), 5,000 rows more received in 2 s
    assert rates.update(102.0, (task(rows_received=6000),)) == {"shop.events": 2500.0}
    # another synctool took the task: its count starts again, no negative rate
    assert rates.update(104.0, (task(rows_received=10),)) == {"shop.events": 0.0}
    # a synctool that reports no rows received: committed rows count
    older = RateTracker(window_s=30)
    older.update(0.0, (task(rows=100),))
    assert older.update(1.0, (task(rows=400),)) == {"shop.events": 300.0}


def test_a_sparkline_of_each_tasks_rows_per_second() -> None:
    rates = RateTracker(window_s=1)
    for k, received in enumerate((0, 100, 300, 700, 800, 800)):
        rates.update(float(k), (task(rows_received=received), task(name="idle.t")))
    # rates 0, 100, 200, 400, 100, 0 (a window of about one poll), scaled to the largest
    assert rates.trends() == {"shop.events": "▁▃▅█▃▁"}  # an idle task has none
    assert cell(task(), "rate") == "0"
    assert task_cells(task(), 2500.0, 0.0, "▁▃█")[[k for _, k in COLUMNS].index("rate")] == "2,500 ▁▃█"
