"""The synctool's event journal under ``events/`` (``EventJournal``, held by ``store.Store``).

One ``Event`` per change of state, in sequential znodes; the newest ``max_events`` are kept.
``Store`` writes a subtask's new state and its event in one transaction: it asks the journal to
add its part to the transaction (``add_to``) and hands back what the transaction created
(``added``), so the journal's bookkeeping stays the journal's.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

from kazoo.exceptions import NoNodeError

from omsync_tui.core.errors import OmsyncError
from omsync_tui.services.synctool.model import Event
from omsync_tui.services.synctool.syncpaths import SyncPaths, get_many
from omsync_tui.services.zk.errors import zk_errors

# The store's logger: moving the journal out of store.py must not change where its messages go.
log = logging.getLogger("omsync.synctool.store")

EVENT_PREFIX = "e-"


class EventJournal:
    """Append, trim and read the event journal on one kazoo client (the store's)."""

    def __init__(self, client: Any, paths: SyncPaths, max_events: int) -> None:
        self.client = client  # kazoo has no type hints
        self.paths = paths
        self.max_events = max_events
        self._ready = False  # events/ is known to exist
        self._oldest: int | None = None  # sequence number of the oldest event kept, if known

    def add_to(self, txn: Any, event: Event) -> None:
        """Add the event's creation to ``txn`` (a kazoo transaction of the change it records)."""
        self._ensure()
        txn.create(f"{self.paths.events}/{EVENT_PREFIX}", event.to_json(), sequence=True)

    def added(self, created: str) -> None:
        """A transaction of ``add_to`` created ``created``: trim the journal behind it."""
        self._trim(created)

    def lost(self) -> None:
        """``events/`` was deleted by hand (a transaction of ``add_to`` failed on it)."""
        self._ready = False

    def add(self, event: Event) -> None:
        self._ensure()
        with zk_errors(self.paths.events):
            try:
                created = self.client.create(
                    f"{self.paths.events}/{EVENT_PREFIX}", event.to_json(), sequence=True
                )
            except NoNodeError:  # deleted by hand since
                self.client.ensure_path(self.paths.events)
                created = self.client.create(
                    f"{self.paths.events}/{EVENT_PREFIX}", event.to_json(), sequence=True
                )
        self._trim(created)

    def record(self, event: Event) -> None:
        """``add`` after the change it records is stored: a failure is logged, not raised."""
        try:
            self.add(event)
        except OmsyncError as exc:
            log.warning("could not journal %s → %s of tid %s: %s", event.old, event.new, event.tid, exc)

    def _ensure(self) -> None:
        if not self._ready:
            with zk_errors(self.paths.events):
                self.client.ensure_path(self.paths.events)
            self._ready = True

    def _trim(self, created: str) -> None:
        """Delete the oldest events beyond ``max_events`` (best effort).

        Sequence numbers grow by one per event created, so while the span from the oldest kept
        event to the newest is within ``max_events`` nothing needs listing.
        """
        newest = int(created.rsplit(EVENT_PREFIX, 1)[1])
        if self._oldest is not None and newest - self._oldest < self.max_events:
            return
        try:
            with zk_errors(self.paths.events):
                names = sorted(
                    n for n in self.client.get_children(self.paths.events) if n.startswith(EVENT_PREFIX)
                )
                excess, kept = names[: -self.max_events], names[-self.max_events :]
                pending = [self.client.delete_async(f"{self.paths.events}/{n}") for n in excess]
                for result in pending:
                    with suppress(NoNodeError):  # another synctool trimmed it
                        result.get()
            self._oldest = int(kept[0][len(EVENT_PREFIX) :]) if kept else None
        except (OmsyncError, ValueError) as exc:
            log.debug("could not trim the event journal: %s", exc)

    def events(self, *, tid: int | None = None, limit: int = 200) -> list[Event]:
        """The newest ``limit`` events (of task ``tid`` if given), newest last."""
        if limit <= 0:
            return []
        with zk_errors(self.paths.events):
            try:
                names = self.client.get_children(self.paths.events)
            except NoNodeError:
                return []
        names = sorted((n for n in names if n.startswith(EVENT_PREFIX)), reverse=True)
        found: list[Event] = []
        chunk = limit if tid is None else max(limit, 200)
        for start in range(0, len(names), chunk):
            paths = [f"{self.paths.events}/{n}" for n in names[start : start + chunk]]
            for path, got in get_many(self.client, paths):
                if got is None:
                    continue
                try:
                    event = Event.from_json(got[0], path)
                except OmsyncError as exc:
                    log.debug("skipping %s", exc)
                    continue
                if tid is None or event.tid == tid:
                    found.append(event)
                    if len(found) == limit:
                        return found[::-1]
        return found[::-1]
