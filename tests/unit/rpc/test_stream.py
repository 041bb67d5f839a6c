"""``rpc.stream.Stream`` over a real loopback socket pair: reads of every size across chunk
boundaries, large reads straight into their buffer, a peer closing mid-read, backpressure."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable

import pytest

from omsync_tui.rpc.stream import Stream

LIMIT = 64 * 1024


def run(scenario: Callable[[Stream, socket.socket], Awaitable[None]]) -> None:
    """Run ``scenario(stream, peer)``: ``stream`` serves one end of a socket pair, ``peer`` is the
    other end (blocking; write to it from a thread so the loop keeps reading)."""

    async def main() -> None:
        ours, peer = socket.socketpair()
        ours.setblocking(False)
        _transport, stream = await asyncio.get_running_loop().connect_accepted_socket(
            lambda: Stream(LIMIT), ours
        )
        try:
            await asyncio.wait_for(scenario(stream, peer), 20)
        finally:
            stream.abort()
            peer.close()

    asyncio.run(main())


async def send(peer: socket.socket, data: bytes) -> None:
    await asyncio.to_thread(peer.sendall, data)


def test_reads_of_every_size_return_the_bytes_in_order() -> None:
    data = os.urandom(3 * 1024 * 1024)
    sizes = [1, 11, 4096, 40_000, 200_000, 1, 1_500_000, 7, LIMIT, LIMIT // 2 + 1]
    sizes.append(len(data) - sum(sizes))

    async def scenario(stream: Stream, peer: socket.socket) -> None:
        sender = asyncio.create_task(send(peer, data))
        got = [await stream.readexactly(n) for n in sizes]
        await sender
        assert [len(g) for g in got] == sizes
        assert b"".join(got) == data

    run(scenario)


def test_a_large_read_keeps_what_was_staged_before_it() -> None:
    head, body = b"HEADER--", os.urandom(LIMIT * 8)

    async def scenario(stream: Stream, peer: socket.socket) -> None:
        await send(peer, head + body[:1000])  # staged together with the header
        assert await stream.readexactly(len(head)) == head
        while stream.buffered < 1000:
            await asyncio.sleep(0.01)
        sender = asyncio.create_task(send(peer, body[1000:]))
        got = await stream.readexactly(len(body))
        await sender
        assert isinstance(got, bytearray) and got == body

    run(scenario)


@pytest.mark.parametrize("size", [100, LIMIT * 4], ids=["staged", "large"])
def test_a_peer_closing_inside_a_read_gives_what_came(size: int) -> None:
    part = os.urandom(size // 2)

    async def scenario(stream: Stream, peer: socket.socket) -> None:
        await send(peer, part)
        peer.shutdown(socket.SHUT_WR)
        with pytest.raises(asyncio.IncompleteReadError) as info:
            await stream.readexactly(size)
        assert info.value.partial == part and info.value.expected == size
        assert await stream.read(10) == b""  # at the end: empty, at once

    run(scenario)


def test_read_returns_what_is_there_and_writes_reach_the_peer() -> None:
    async def scenario(stream: Stream, peer: socket.socket) -> None:
        await send(peer, b"abc")
        assert await stream.read(1024) == b"abc"
        stream.write(b"answer")
        await stream.drain()
        assert await asyncio.to_thread(peer.recv, 100) == b"answer"

    run(scenario)


def test_a_full_staging_buffer_pauses_reading_until_the_reader_catches_up() -> None:
    data = os.urandom(LIMIT * 64)  # far more than the kernel's socket buffers hold

    async def scenario(stream: Stream, peer: socket.socket) -> None:
        peer.settimeout(0.5)
        sent = 0
        try:  # nobody reads: the stream stops taking bytes, so the peer's sends block
            while sent < len(data):
                sent += await asyncio.to_thread(peer.send, data[sent : sent + 65536])
        except TimeoutError:
            pass
        assert sent < len(data), "the stream kept reading with its buffer full"
        assert stream.buffered <= LIMIT
        peer.settimeout(None)
        sender = asyncio.create_task(send(peer, data[sent:]))
        got = [await stream.readexactly(1000) for _ in range(len(data) // 1000)]
        got.append(await stream.readexactly(len(data) % 1000))
        await sender
        assert b"".join(got) == data

    run(scenario)
