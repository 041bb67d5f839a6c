"""The client sends a frame's head and attachment with sendmsg, not joined: partial sends, timeouts."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from omsync_tui.rpc.client import _send_all


class CountingSocket(socket.socket):
    """A socket that counts its sendmsg calls."""

    calls = 0

    def sendmsg(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CountingSocket.calls += 1
        return super().sendmsg(*args, **kwargs)


def small_buffers(a: socket.socket, b: socket.socket) -> None:
    # small kernel buffers, so a 1 MiB attachment takes many sendmsg calls, each sending part of it
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)


def test_parts_arrive_whole_and_in_order_across_partial_sends() -> None:
    head, attachment = b"PRPC" + os.urandom(60), os.urandom(1 << 20)
    plain, b = socket.socketpair()
    a = CountingSocket(fileno=plain.detach())
    small_buffers(a, b)
    got = bytearray()

    def read_slowly() -> None:
        while len(got) < len(head) + len(attachment):
            chunk = b.recv(3000)
            if not chunk:
                return
            got.extend(chunk)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    with a, b:
        _send_all(a, (head, attachment), time.monotonic() + 30)
        reader.join(30)
    assert bytes(got) == head + attachment
    assert CountingSocket.calls > 1  # the kernel took it in parts, and the loop went on from each


def test_an_empty_attachment_sends_the_head_only() -> None:
    a, b = socket.socketpair()
    with a, b:
        _send_all(a, (b"head", b""), time.monotonic() + 5)
        a.shutdown(socket.SHUT_WR)
        assert b.recv(100) == b"head"
        assert b.recv(100) == b""


def test_a_peer_that_stops_reading_times_out_at_the_deadline() -> None:
    a, b = socket.socketpair()
    small_buffers(a, b)
    with a, b:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            _send_all(a, (b"head", bytes(1 << 20)), t0 + 0.3)
        assert time.monotonic() - t0 < 5
