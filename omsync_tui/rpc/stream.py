"""``Stream``: one accepted connection as an asyncio ``BufferedProtocol`` — reads and writes.

asyncio's ``StreamReader`` copies every chunk the socket gives into a growing ``bytearray`` and
copies again to hand a frame out: for a 4 MiB SendData that was ~5 ms of the loop thread per
frame, most of the synctool's receive cost. Here the socket reads straight into memory that
stays the caller's:

- a large ``readexactly(n)`` (over half the staging buffer) allocates the ``bytearray`` it
  returns and the transport ``recv_into``\\s it directly, after the bytes already staged;
- everything else (headers, small frames, HTTP) goes through a fixed staging buffer of
  ``limit`` bytes. When it is full and nobody reads, the transport is paused (backpressure).

Writes go to the transport; ``drain()`` waits while the transport is over its high-water mark.
Only the event loop's thread may use a ``Stream``.
"""

from __future__ import annotations

import asyncio

_MIN_FREE = 4096  # a read into the staging buffer gets at least this much room


class Stream(asyncio.BufferedProtocol):
    def __init__(self, limit: int) -> None:
        self._staging = bytearray(max(limit, 2 * _MIN_FREE))
        self._start = 0  # unread bytes are _staging[_start:_end]
        self._end = 0
        self._target: memoryview | None = None  # a large read in progress
        self._got = 0  # bytes of _target filled
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._transport: asyncio.Transport | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._lost: BaseException | None = None

    # -- protocol callbacks (the event loop calls these) ------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._target is not None:
            return self._target[self._got :]
        if len(self._staging) - self._end < _MIN_FREE:
            self._compact()
        return memoryview(self._staging)[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        if self._target is not None:
            self._got += nbytes
            if self._got == len(self._target):
                self._wake()
            return
        self._end += nbytes
        self._wake()
        if len(self._staging) - (self._end - self._start) < _MIN_FREE and not self._reading_paused:
            assert self._transport is not None
            self._transport.pause_reading()  # staged bytes nobody reads: stop taking more
            self._reading_paused = True

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return True  # keep the transport: answers to calls already read may still go out

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._lost = exc if exc is not None else ConnectionResetError("connection closed")
        self._wake()
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_exception(self._lost)
        self._drain_waiters.clear()
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()

    # -- reading ------------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        return self._end - self._start

    async def readexactly(self, n: int) -> bytes:
        """``n`` bytes; ``asyncio.IncompleteReadError`` (with what came) if the peer closes first.

        A large read returns a ``bytearray`` (it is read into in place); treat it as ``bytes``.
        """
        if n <= self.buffered:
            return self._take(n)
        if n > len(self._staging) // 2:
            return await self._read_large(n)
        while self.buffered < n:
            if self._eof:
                partial = self._take(self.buffered)
                raise asyncio.IncompleteReadError(partial, n)
            await self._wait()
        return self._take(n)

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes as soon as there are any; ``b""`` once the peer has closed."""
        while not self.buffered and not self._eof:
            await self._wait()
        return self._take(min(n, self.buffered))

    def _take(self, n: int) -> bytes:
        out = bytes(memoryview(self._staging)[self._start : self._start + n])
        self._start += n
        if self._start == self._end:
            self._start = self._end = 0
        self._resume()
        return out

    async def _read_large(self, n: int) -> bytes:
        out = bytearray(n)
        have = self.buffered
        out[:have] = self._staging[self._start : self._end]
        self._start = self._end = 0
        self._target, self._got = memoryview(out), have
        self._resume()
        try:
            while self._got < n:
                if self._eof:
                    raise asyncio.IncompleteReadError(bytes(out[: self._got]), n)
                await self._wait()
        finally:
            self._target = None
        return out  # type: ignore[return-value]  # a bytearray: see readexactly

    def _compact(self) -> None:
        live = self._end - self._start
        if self._start:
            self._staging[:live] = self._staging[self._start : self._end]
            self._start, self._end = 0, live

    def _resume(self) -> None:
        if self._reading_paused and len(self._staging) - self.buffered >= _MIN_FREE:
            self._reading_paused = False
            if self._transport is not None and not self._transport.is_closing():
                self._transport.resume_reading()

    async def _wait(self) -> None:
        assert self._waiter is None, "one reader at a time"
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- writing and closing ------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport holds more than its high-water mark of unsent bytes."""
        if self._lost is not None:
            raise self._lost
        if not self._writing_paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        await waiter

    def is_closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def close(self) -> None:
        """Close once the unsent bytes are out (``wait_closed`` waits for that)."""
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Close now, dropping unsent bytes."""
        if self._transport is not None:
            self._transport.abort()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def get_extra_info(self, name: str) -> object:
        return None if self._transport is None else self._transport.get_extra_info(name)
