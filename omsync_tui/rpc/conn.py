"""What the two protocol handlers (``baidu_conn``, ``http_conn``) share: the ``Connection`` they
read and write, and ``CallHost``, the part of ``RpcServer`` they may use (lookup, auth, limits,
the worker pool). Keeping this narrow lets each protocol live in its own module without reaching
into the server's internals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from omsync_tui.rpc.dispatch import Outcome
from omsync_tui.rpc.service import Method, Routes, Service
from omsync_tui.rpc.stream import Stream

T = TypeVar("T")

READ_CHUNK = 256 * 1024


@dataclass(eq=False)
class Connection:
    """One accepted connection, owned by the event loop thread."""

    peer: str
    stream: Stream
    auth: bytes | None = None
    """baidu_std: the last ``authentication_data`` seen on this connection."""
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, data: bytes) -> None:
        """Write one whole frame / response; silently nothing once the connection is closing."""
        # One frame per write under a lock: frames of concurrent responses never interleave.
        async with self.write_lock:
            if self.stream.is_closing():
                return
            self.stream.write(data)
            await self.stream.drain()


class CallHost(Protocol):
    """The server as the protocol handlers see it."""

    log: logging.Logger
    routes: Routes
    max_body_size: int
    max_inflight_per_connection: int

    def lookup(self, service_name: str, method_name: str) -> tuple[Service, Method] | Outcome:
        """The method, or an ENOSERVICE / ENOMETHOD answer."""
        ...

    def authorize(self, mutating: bool, token: bytes | None, what: str) -> Outcome | None:
        """An ERPCAUTH answer when ``what`` needs the server's token and ``token`` is not it."""
        ...

    def busy(self) -> Outcome | None:
        """An ELIMIT answer when the server already has ``max_pending`` calls."""
        ...

    async def in_pool(self, fn: Callable[..., T], *args: Any) -> T | None:
        """Run ``fn(*args)`` in the worker pool; ``None`` when the server is stopping."""
        ...

    def track(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run a call as a task that stop() lets finish after reading has stopped."""
        ...
