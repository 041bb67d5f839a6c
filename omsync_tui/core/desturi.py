"""A destination as text, before anything opens it: its scheme, and what a relative path means.

The synctool opens a task's destination in its own process, so a bare relative path
(``out/t``) would land relative to the synctool's working directory — a place the person who
typed it cannot see and which changes with how the daemon was started. The synctool therefore
refuses one (``refuse_relative``, at ``task create`` and ``GET /api/v1/destination``); a client
makes it absolute against its own working directory first and says so (``on_client``), which
is what ``omsync task create`` and ``omsync doctor`` do. Tasks stored before this rule keep
their destination as stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from omsync_tui.core.errors import UsageError

ABSOLUTE_HINT = (
    "give an absolute path (/data/offline/t or file:///data/offline/t) or a URI "
    "(hdfs://namenode:8020/dir, s3://bucket/prefix); `omsync task create` makes a relative path "
    "absolute against the directory it is run in"
)


def scheme(text: str) -> str:
    """``hdfs`` of ``hdfs://nn/dir``, lower case; ``""`` for a bare path."""
    return text.split("://", 1)[0].lower() if "://" in text else ""


def is_relative(text: str) -> bool:
    """A bare path that does not start at ``/`` (``out/t``, ``./t``, ``~/t``)."""
    t = text.strip()
    return bool(t) and not scheme(t) and not t.startswith("/")


def refuse_relative(text: str) -> None:
    """UsageError for a bare relative path, naming it and the fix; nothing for anything else."""
    if is_relative(text):
        raise UsageError(
            f"destination {text.strip()!r} is a relative path: the synctool would take it relative "
            "to its own working directory",
            hint=ABSOLUTE_HINT,
        )


@dataclass(frozen=True, slots=True)
class ClientDestination:
    """A destination as a client sends it: ``uri``, and ``note`` when it was made absolute."""

    uri: str
    note: str = ""


def on_client(text: str, cwd: str | None = None) -> ClientDestination:
    """``text`` with a bare relative path made absolute against ``cwd`` (default: this process's
    working directory; ``~`` is the user's home), and a note saying so."""
    t = text.strip()
    if not is_relative(t):
        return ClientDestination(t)
    expanded = os.path.expanduser(t)
    absolute = os.path.normpath(os.path.join(cwd if cwd is not None else os.getcwd(), expanded))
    return ClientDestination(absolute, f"{t!r} is relative: using {absolute} (from this working directory)")
