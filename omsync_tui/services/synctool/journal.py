"""The synctool's event journal under ``events/`` (``EventJournal``, a base of ``store.Store``).

One ``Event`` per change of state, in sequential znodes; the newest ``max_events`` are kept.
A mixin rather than an object of its own: ``Store`` writes a subtask's new state and its event in
one transaction (``Store._put_with_event``), so both share one client, one set of paths and the
journal's bookkeeping (``_events_ready``, ``_oldest_event``), which ``Store.__init__`` sets up.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

from kazoo.exceptions import NoNodeError

from omsync_tui.core.errors import OmsyncError
from omsync_tui.openmldb.zkpaths import zk_errors
from omsync_tui.services.synctool.model import Event
from omsync_tui.services.synctool.syncpaths import SyncPaths, get_many

# The store's logger: moving the journal out of store.py must not change where its messages go.
log = logging.getLogger("omsync.synctool.store")

EVENT_PREFIX = "e-"


class EventJournal:
    """Append, trim and read the event journal; ``Store`` provides the attributes declared here."""

    client: Any  # kazoo has no type hints
    paths: SyncPaths
    max_events: int
    _events_ready: bool
    _oldest_event: int | None  # sequence number of the oldest event kept, if known

    def add_event(self, event: Event) -> None:
        self._ensure_events()
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

    def _journal(self, event: Event) -> None:
        """add_event after the change it records is stored: a failure is logged, not raised."""
        try:
            self.add_event(event)
        except OmsyncError as exc:
            log.warning("could not journal %s → %s of tid %s: %s", event.old, event.new, event.tid, exc)

    def _ensure_events(self) -> None:
        if not self._events_ready:
            with zk_errors(self.paths.events):
                self.client.ensure_path(self.paths.events)
            self._events_ready = True

    def _trim(self, created: str) -> None:
        """Delete the oldest events beyond ``max_events`` (best effort).

        Sequence numbers grow by one per event created, so while the span from the oldest kept
        event to the newest is within ``max_events`` nothing needs listing.
        """
        newest = int(created.rsplit(EVENT_PREFIX, 1)[1])
        if self._oldest_event is not None and newest - self._oldest_event < self.max_events:
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
            self._oldest_event = int(kept[0][len(EVENT_PREFIX) :]) if kept else None
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
