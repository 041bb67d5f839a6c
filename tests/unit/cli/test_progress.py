"""task wait's progress: the bar, the FULL line with its estimate, and how it reaches stderr."""

from __future__ import annotations

import io

from omsync_tui.cli.progress import Progress, RowRate, bar, duration, full_line


def test_bar_and_duration() -> None:
    assert bar(0.0) == "[" + "." * 24 + "]   0%"
    assert bar(0.5) == "[" + "#" * 12 + "." * 12 + "]  50%"
    assert bar(1.7) == "[" + "#" * 24 + "] 100%"  # an estimate exceeded: full, not more
    assert (duration(4.4), duration(75), duration(3 * 3600 + 120)) == ("4s", "1m15s", "3h02m")


def test_full_line_with_and_without_an_estimate() -> None:
    line, done = full_line("db.t", 500_000, 400_000, 2_000_000, 250_000.0)
    assert line == (
        "db.t: 500,000 rows received, 400,000 in committed files of ~2,000,000 (25%), "
        "250,000 rows/s, ~6s to go"
    )
    assert done == 0.25
    line, done = full_line("db.t", 10, 0, None, 0.0)
    assert (line, done) == ("db.t: 10 rows received, 0 in committed files, 0 rows/s", None)
    assert "to go" not in full_line("db.t", 10, 0, 100, 0.0)[0]  # no rate yet: no time to go


def test_row_rate_over_a_window_and_restarts() -> None:
    r = RowRate(window_s=10)
    assert r.update(0.0, 0) == 0.0
    assert r.update(2.0, 1000) == 500.0
    assert r.update(20.0, 10_000) == (10_000 - 1000) / 18  # the 0 s sample fell out of the window
    assert r.update(21.0, 5) == 0.0  # a smaller count (another synctool took over) starts again


def test_a_terminal_gets_one_line_redrawn_in_place() -> None:
    out = io.StringIO()
    p = Progress(out, tty=True)
    p.show("db.t: 10 rows received", 0.25)
    p.show("db.t: 20", None)
    p.end()
    text = out.getvalue()
    assert text.startswith("\r[######" + "." * 18 + "]  25% db.t: 10 rows received")
    # the shorter line overwrites the longer one completely, then the line is left
    second = text.split("\r")[2]
    assert second.startswith("db.t: 20") and second.rstrip("\n").strip() == "db.t: 20" and text.endswith("\n")


def test_a_log_gets_lines_on_change_at_most_every_2_s_and_at_least_every_10_s() -> None:
    out = io.StringIO()
    now = [0.0]
    p = Progress(out, tty=False, clock=lambda: now[0])
    p.show("a")  # the first at once
    now[0] = 1.0
    p.show("b")  # changed, but within 2 s: not yet
    now[0] = 2.5
    p.show("b")
    now[0] = 5.0
    p.show("b")  # unchanged: quiet
    now[0] = 12.6
    p.show("b")  # 10 s of quiet: a sign of life
    p.end()  # nothing to leave on a log
    assert out.getvalue() == "a\nb\nb\n"
