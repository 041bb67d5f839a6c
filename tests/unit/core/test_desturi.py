"""A destination as text: which paths are relative, the synctool's refusal, a client's resolution."""

from __future__ import annotations

import os

import pytest

from omsync_tui.core.desturi import ClientDestination, is_relative, on_client, refuse_relative
from omsync_tui.core.errors import UsageError


@pytest.mark.parametrize("text", ["out/t", "./t", "../t", "~/t", " t "])
def test_bare_paths_not_starting_at_the_root_are_relative(text: str) -> None:
    assert is_relative(text)


@pytest.mark.parametrize(
    "text", ["/data/t", "file:///data/t", "hdfs://nn:8020/t", "s3://b/p", "viewfs://c/t", ""]
)
def test_absolute_paths_uris_and_nothing_are_not(text: str) -> None:
    assert not is_relative(text)
    refuse_relative(text)  # no error


def test_the_refusal_names_the_path_and_the_fix() -> None:
    with pytest.raises(UsageError, match=r"destination 'out/t' is a relative path") as caught:
        refuse_relative("out/t")
    assert caught.value.hint is not None and "absolute path" in caught.value.hint


def test_a_client_makes_a_relative_path_absolute_against_its_directory_and_says_so() -> None:
    assert on_client("out/../t/", cwd="/home/me") == ClientDestination(
        "/home/me/t", "'out/../t/' is relative: using /home/me/t (from this working directory)"
    )
    home = os.path.expanduser("~")
    assert on_client("~/t", cwd="/elsewhere").uri == os.path.join(home, "t")
    assert on_client(" hdfs://nn:8020/t ") == ClientDestination("hdfs://nn:8020/t")
    assert on_client("/abs") == ClientDestination("/abs")
