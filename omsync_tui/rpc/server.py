"""``RpcServer``: one TCP port serving baidu_std and HTTP/1.1, told apart by the first 4 bytes
(``PRPC`` → ``baidu_conn``, anything else → ``http_conn``), as brpc does (DESIGN §2).

One asyncio event loop in a background thread owns every socket: it accepts, reads and writes.
Handlers run in a bounded ``ThreadPoolExecutor`` (``workers``), so they may block; the loop never
runs user code, so a slow handler or a peer that stops reading delays only its own connection.
There is no thread per connection or per request. Past ``max_pending`` calls waiting for or
running in the pool, new calls are refused with ELIMIT (HTTP 503).

Bad input never stops the server: each protocol module says what ends a connection and what
only earns an error answer; in every case the other connections are served as before.

Auth: with ``auth_token`` set, methods and routes registered ``mutating=True`` need it, as
baidu_std ``authentication_data`` (once per connection is enough: it is remembered) or as
``Authorization: Bearer <token>``; the others stay open.

``stop()`` stops accepting and reading, lets running calls answer within its timeout, then
closes every connection. A handler still running after that is abandoned (its thread finishes
on its own; its answer goes nowhere).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import logging
import socket
import threading
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, TypeVar

from omsync_tui.core.errors import UsageError
from omsync_tui.rpc import framing
from omsync_tui.rpc.baidu_conn import serve_baidu
from omsync_tui.rpc.conn import READ_CHUNK, Connection
from omsync_tui.rpc.dispatch import Outcome, error_outcome
from omsync_tui.rpc.http_conn import serve_http
from omsync_tui.rpc.service import Method, Routes, Service, ServiceRegistry
from omsync_tui.rpc.stream import Stream

T = TypeVar("T")


class RpcServer:
    """Serve ``services`` (baidu_std + HTTP/JSON) and ``routes`` (HTTP) on one port.

    ``start()`` binds and returns the port (``port=0`` picks a free one); ``stop()`` stops
    accepting, lets running calls finish within its timeout, and closes every connection.
    Usable as a context manager (``with RpcServer(...) as server:``).
    """

    def __init__(
        self,
        bind_host: str,
        port: int,
        services: Iterable[Service] | ServiceRegistry = (),
        routes: Routes | None = None,
        *,
        max_body_size: int = framing.DEFAULT_MAX_BODY_SIZE,
        workers: int = 8,
        max_pending: int | None = None,
        max_inflight_per_connection: int = 32,
        auth_token: str | bytes | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if workers < 1 or max_inflight_per_connection < 1:
            raise UsageError("workers and max_inflight_per_connection must be at least 1")
        self.bind_host = bind_host
        self.requested_port = port
        self.services = services if isinstance(services, ServiceRegistry) else ServiceRegistry(services)
        self.routes = routes if routes is not None else Routes()
        self.max_body_size = max_body_size
        self.workers = workers
        self.max_pending = max_pending if max_pending is not None else workers * 32
        self.max_inflight_per_connection = max_inflight_per_connection
        self._token = auth_token.encode() if isinstance(auth_token, str) else auth_token
        self.log = logger or logging.getLogger("omsync.rpc")
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._listener: socket.socket | None = None
        self._opening: set[asyncio.Task[None]] = set()  # accepted, transport not made yet
        self._connections: dict[Connection, asyncio.Task[None]] = {}
        self._calls: set[asyncio.Task[Any]] = set()
        self._pending = 0  # calls submitted to the pool and not finished; touched by the loop only
        self._closing = False

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise UsageError("the server is not started")
        return self._port

    @property
    def endpoint(self) -> str:
        """``host:port`` as bound (the bind host, not an advertised address)."""
        host = self.bind_host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def start(self) -> int:
        """Bind, start serving in a background thread, return the bound port."""
        if self._thread is not None:
            raise UsageError("the server is already started")
        self._closing = False
        self._executor = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="omsync-rpc")
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        # A daemon thread: a handler stuck past stop()'s timeout must not keep the process alive.
        self._thread = threading.Thread(target=self._run, args=(ready,), name="omsync-rpc-loop", daemon=True)
        self._thread.start()
        try:
            self._port = ready.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        self.log.info("rpc server listening on %s", self.endpoint)
        return self._port

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, give running calls up to ``timeout`` seconds, close all connections."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(timeout), loop)
        try:
            future.result(timeout + 1.0)
        except concurrent.futures.TimeoutError:
            self.log.warning("rpc server on %s did not stop within %.1f s", self.endpoint, timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if self._executor is not None:
            # Handlers still running past the timeout are abandoned; their answers go nowhere.
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._thread = self._loop = self._executor = None
        self.log.info("rpc server on port %s stopped", self._port)

    def __enter__(self) -> RpcServer:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, ready: concurrent.futures.Future[int]) -> None:
        loop = asyncio.new_event_loop()
        try:
            try:
                listener = _listen(self.bind_host, self.requested_port)
            except OSError as exc:
                ready.set_exception(
                    UsageError(
                        f"cannot listen on {self.bind_host}:{self.requested_port}: {exc.strerror or exc}",
                        hint="choose another port or stop the process that holds it",
                    )
                )
                return
            self._loop, self._listener = loop, listener
            loop.add_reader(listener, self._accept, listener)
            ready.set_result(listener.getsockname()[1])
            loop.run_forever()
            loop.run_until_complete(_settle())
        finally:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            loop.close()

    async def _shutdown(self, timeout: float) -> None:
        self._closing = True
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener)
            self._listener.close()
            self._listener = None
        # Connections accepted a moment ago finish opening (and see _closing), never cancelled
        # half-way: a task cancelled before it starts would leave its socket open.
        await asyncio.gather(*self._opening, return_exceptions=True)
        # Stop reading (no new calls) but keep the sockets: calls already running may still answer.
        readers = list(self._connections.values())
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        if self._calls:
            _done, late = await asyncio.wait(set(self._calls), timeout=timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        streams = [conn.stream for conn in self._connections]
        self._connections.clear()
        for stream in streams:
            stream.close()
        if not streams:
            return
        # A peer that stopped reading keeps unsent answers buffered; it gets one second more.
        closing = [asyncio.ensure_future(stream.wait_closed()) for stream in streams]
        _done, stuck = await asyncio.wait(closing, timeout=1.0)
        if stuck:
            for stream in streams:
                stream.abort()
            await asyncio.wait(stuck, timeout=1.0)

    # -- connections ---------------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        """Accept what is waiting (called when the listener is readable).

        Accepting is synchronous and each socket goes straight to a tracked task that stop()
        waits for, so every accepted socket is closed in the end. (On Python 3.11
        asyncio.start_server can drop a connection accepted in the same turn as Server.close()
        without closing its socket, and a cancelled sock_accept() loses the socket it accepted.)
        """
        loop = asyncio.get_running_loop()
        for _ in range(64):  # a burst per wake-up, so a flood of connects cannot starve the loop
            try:
                sock, _address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors and the like: pause accepting briefly
                self.log.warning("accept on %s failed: %s; pausing 0.1 s", self.endpoint, exc)
                loop.remove_reader(listener)
                loop.call_later(0.1, self._resume_accept, listener)
                return
            task = loop.create_task(self._open(sock))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    def _resume_accept(self, listener: socket.socket) -> None:
        if not self._closing and self._listener is listener:
            asyncio.get_running_loop().add_reader(listener, self._accept, listener)

    async def _open(self, sock: socket.socket) -> None:
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _transport, stream = await asyncio.get_running_loop().connect_accepted_socket(
                lambda: Stream(READ_CHUNK), sock
            )
        except OSError as exc:
            sock.close()
            self.log.info("dropping a connection that failed at once: %s", exc)
            return
        if self._closing:
            stream.close()
            return
        conn = Connection(_format_peer(stream.get_extra_info("peername")), stream)
        # Registered before the task runs: stop() closes the writer even if the task never starts.
        self._connections[conn] = asyncio.get_running_loop().create_task(self._serve(conn))

    async def _serve(self, conn: Connection) -> None:
        try:
            try:
                first = await conn.stream.readexactly(4)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    self.log.info("connection from %s closed after %d bytes", conn.peer, len(exc.partial))
                return
            if first == framing.MAGIC:
                await serve_baidu(self, conn)
            else:
                await serve_http(self, conn, first)
        except asyncio.CancelledError:
            pass  # stop(): it closes the connection once the running calls have answered
        except OSError as exc:
            self.log.info("connection from %s failed: %s", conn.peer, exc)
        except Exception:
            self.log.exception("unexpected error on the connection from %s; closing it", conn.peer)
        finally:
            if not self._closing:
                del self._connections[conn]
                conn.stream.close()

    # -- what the protocol modules use (conn.CallHost) -----------------------------------------

    def lookup(self, service_name: str, method_name: str) -> tuple[Service, Method] | Outcome:
        service = self.services.find(service_name)
        if service is None:
            return error_outcome(framing.ENOSERVICE, f"no service named {service_name!r}")
        method = service.methods.get(method_name)
        if method is None:
            return error_outcome(framing.ENOMETHOD, f"{service.full_name} has no method {method_name!r}")
        return service, method

    def authorize(self, mutating: bool, token: bytes | None, what: str) -> Outcome | None:
        if not mutating or self._token is None:
            return None
        if token is None:
            return error_outcome(framing.ERPCAUTH, f"{what} needs the server's auth token; none was sent")
        if hmac.compare_digest(token, self._token):
            return None
        return error_outcome(
            framing.ERPCAUTH, f"{what} needs the server's auth token; the token sent does not match"
        )

    def busy(self) -> Outcome | None:
        if self._pending < self.max_pending:
            return None
        return error_outcome(framing.ELIMIT, f"server busy: {self._pending} calls pending")

    async def in_pool(self, fn: Callable[..., T], *args: Any) -> T | None:
        if self._executor is None or self._closing:
            return None
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except RuntimeError:  # the pool was shut down under us
            return None
        finally:
            self._pending -= 1

    def track(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)
        return task


async def _settle(turns: int = 20) -> None:
    """Close what stop() left behind, so no socket outlives the loop.

    Short tasks get a few turns to finish; the rest (calls past stop()'s timeout) are cancelled,
    and closed transports get one more turn to drop their sockets.
    """
    me = asyncio.current_task()
    for _ in range(turns):
        if all(task.done() or task is me for task in asyncio.all_tasks()):
            break
        await asyncio.sleep(0)
    rest = [task for task in asyncio.all_tasks() if task is not me]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
    await asyncio.sleep(0)


def _listen(host: str, port: int) -> socket.socket:
    """A non-blocking listening socket on ``host:port`` (first address ``host`` resolves to)."""
    family, _type, _proto, _name, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.create_server(address[:2], family=family, backlog=128)
    listener.setblocking(False)
    return listener


def _format_peer(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)
