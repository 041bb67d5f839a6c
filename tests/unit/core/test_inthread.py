"""InThread: a call in a thread of its own, its value or its exception collected later."""

from __future__ import annotations

import threading

import pytest

from omsync_tui.core.inthread import InThread


def test_result_is_the_value_every_time() -> None:
    gate = threading.Event()

    def slow() -> int:
        gate.wait(10)
        return 42

    work = InThread(slow, "t-slow")
    gate.set()
    assert work.result() == 42
    assert work.result() == 42


def test_result_raises_in_the_callers_thread() -> None:
    def broken() -> None:
        raise ValueError("no DataNode took the block")

    work = InThread(broken, "t-broken")
    work.join()  # join does not raise
    for _ in range(2):
        with pytest.raises(ValueError, match="no DataNode"):
            work.result()


def test_it_runs_in_a_named_daemon_thread() -> None:
    seen: list[threading.Thread] = []
    InThread(lambda: seen.append(threading.current_thread()), "omsync-describe").join()
    assert seen[0].name == "omsync-describe" and seen[0].daemon and seen[0] is not threading.main_thread()
