"""A new task's ``_omsync/table.json``: written up to the close at create, closed in a thread,
in place before any partition commits; a task taken over gets it back if a crash lost it."""

from __future__ import annotations

from pathlib import Path

import pytest

from omsync_tui.services.sinks.destination import (
    Destination,
    DestinationError,
    begin_json,
    open_destination,
    read_json,
)
from omsync_tui.services.synctool.newtask import TABLE_JSON, Description


@pytest.fixture
def dest(tmp_path: Path) -> Destination:
    return open_destination(str(tmp_path / "out"))


def omsync_dir(dest: Destination) -> list[str]:
    return sorted(p.name for p in Path(dest.root, "_omsync").iterdir())


def test_begin_json_is_a_temporary_until_finished(dest: Destination) -> None:
    finish = begin_json(dest, TABLE_JSON, {"tid": 1})
    names = omsync_dir(dest)
    assert len(names) == 1 and names[0].startswith("_tmp-")
    assert read_json(dest, TABLE_JSON) is None
    finish()
    assert omsync_dir(dest) == ["table.json"]
    assert read_json(dest, TABLE_JSON) == {"tid": 1}


def test_begin_json_refuses_at_once(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DestinationError, match="cannot write to"):
        begin_json(open_destination(str(tmp_path / "file")), TABLE_JSON, {})


def test_description_closes_in_a_thread(dest: Destination) -> None:
    described = Description(dest, {"tid": 2}, begin_json(dest, TABLE_JSON, {"tid": 2}))
    described.ensure()
    assert read_json(dest, TABLE_JSON) == {"tid": 2}
    assert omsync_dir(dest) == ["table.json"]
    described.ensure()  # once in place, nothing more is written
    assert omsync_dir(dest) == ["table.json"]


def test_description_written_again_when_its_close_failed(dest: Destination) -> None:
    def failing() -> None:
        raise DestinationError("cannot write to the destination: the NameNode went away")

    described = Description(dest, {"tid": 3}, failing)
    described.ensure()
    assert read_json(dest, TABLE_JSON) == {"tid": 3}


def test_description_failing_twice_raises_and_tries_again_later(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    broken = open_destination(str(tmp_path / "file"))

    def failing() -> None:
        raise DestinationError("cannot write to the destination")

    described = Description(broken, {"tid": 4}, failing)
    with pytest.raises(DestinationError, match="cannot write to"):
        described.ensure()
    (tmp_path / "file").unlink()  # the destination is fixed: the next commit writes it
    described.ensure()
    assert read_json(open_destination(str(tmp_path / "file")), TABLE_JSON) == {"tid": 4}


def test_description_of_a_task_taken_over(dest: Destination) -> None:
    Description(dest, {"tid": 5}, None).ensure()  # a crash lost it: written again
    assert read_json(dest, TABLE_JSON) == {"tid": 5}
    Description(dest, {"tid": 6, "later": True}, None).ensure()  # in place: left as it is
    assert read_json(dest, TABLE_JSON) == {"tid": 5}
