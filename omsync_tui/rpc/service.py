"""What an ``RpcServer`` serves: protobuf services (written once, reachable over baidu_std and
HTTP/JSON) and plain HTTP routes (``/status``, ``/healthz``, ``/metrics``, ``/api/v1/...``).

A method handler is ``handler(request, attachment, ctx) -> (response, attachment)``. It runs in
the server's worker pool, so it may block; it reports failures by raising an ``OmsyncError``
(``UsageError`` → bad request, ``NotFoundError`` → not found, anything else → internal error).
Over HTTP the attachment is always empty both ways: JSON has no place for it, so methods that
need one (SendData) are only useful over baidu_std.

Services are found by full name (``openmldb.datasync.SyncTool``, what the C++ collector sends) and
by short name (``SyncTool``, what brpc-java sends); two services with one short name are refused.

A route handler takes an ``HttpRequest`` and returns ``(status, content_type, body)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from google.protobuf.message import Message

from omsync_tui.core.errors import UsageError

Protocol = Literal["baidu_std", "http"]


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is calling and how; handed to every method handler."""

    peer: str
    """The caller's ``host:port``."""
    protocol: Protocol
    """``"baidu_std"`` or ``"http"``."""
    service: str
    """The service's full name (whatever name the caller used)."""
    method: str
    """The method's name."""
    auth_token: bytes | None
    """The token the caller presented: baidu_std ``authentication_data`` (remembered per
    connection), or the HTTP ``Authorization: Bearer`` value; ``None`` when it sent none."""
    correlation_id: int | None = None
    """baidu_std only: the request's correlation id."""
    log_id: int | None = None
    """baidu_std only: the caller's ``log_id`` when it sent one (for log lines)."""


Handler = Callable[[Any, bytes, CallContext], tuple[Message, bytes]]
"""``handler(request, attachment, ctx) -> (response, attachment)``; request is ``request_type``."""


@dataclass(frozen=True, slots=True)
class Method:
    """One RPC method of a ``Service``."""

    name: str
    request_type: type[Message]
    response_type: type[Message]
    handler: Handler
    mutating: bool = False
    """Requires the server's auth token, when one is configured."""


class Service:
    """A named set of methods, e.g. ``Service("openmldb.datasync.SyncTool")``."""

    def __init__(self, full_name: str, methods: Iterable[Method] = ()) -> None:
        if not full_name or "/" in full_name or full_name.startswith(".") or full_name.endswith("."):
            raise UsageError(f"bad service name {full_name!r}")
        self.full_name = full_name
        self.short_name = full_name.rsplit(".", 1)[-1]
        self._methods: dict[str, Method] = {}
        for method in methods:
            self._add(method)

    def add(
        self,
        name: str,
        request_type: type[Message],
        response_type: type[Message],
        handler: Handler,
        *,
        mutating: bool = False,
    ) -> Service:
        """Register a method; returns the service so registrations can be chained."""
        self._add(Method(name, request_type, response_type, handler, mutating))
        return self

    def _add(self, method: Method) -> None:
        if not method.name or "/" in method.name:
            raise UsageError(f"bad method name {method.name!r} in {self.full_name}")
        if method.name in self._methods:
            raise UsageError(f"method {method.name} registered twice in {self.full_name}")
        self._methods[method.name] = method

    @property
    def methods(self) -> Mapping[str, Method]:
        return self._methods

    def __repr__(self) -> str:
        return f"Service({self.full_name!r}, methods={sorted(self._methods)})"


class ServiceRegistry:
    """Services by full and by short name."""

    def __init__(self, services: Iterable[Service] = ()) -> None:
        self._by_name: dict[str, Service] = {}
        self._services: list[Service] = []
        for service in services:
            self.add(service)

    def add(self, service: Service) -> None:
        for name in {service.full_name, service.short_name}:
            if name in self._by_name:
                raise UsageError(f"service name {name!r} of {service.full_name} is already registered")
        self._by_name[service.full_name] = service
        self._by_name[service.short_name] = service
        self._services.append(service)

    def find(self, name: str) -> Service | None:
        """The service called ``name`` (full or short), if any."""
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[Service]:
        return iter(self._services)

    def __len__(self) -> int:
        return len(self._services)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A plain HTTP request as a route handler sees it."""

    method: str
    """Upper case: ``"GET"``, ``"POST"``, ..."""
    path: str
    """The target's path, without the query string (percent-encoding kept)."""
    query: str
    """The raw query string, without ``?`` (``urllib.parse.parse_qs`` it if needed)."""
    headers: Mapping[str, str]
    """Header names lower-cased; a repeated header's values joined by ``", "``."""
    body: bytes
    peer: str
    auth_token: bytes | None
    """The ``Authorization: Bearer`` value, when sent."""


RouteResult = tuple[int, str, bytes]
RouteHandler = Callable[[HttpRequest], RouteResult]
"""``handler(request) -> (status, content_type, body)``."""


@dataclass(frozen=True, slots=True)
class Route:
    """One plain HTTP route (see ``Routes.add``)."""

    path: str
    handler: RouteHandler
    methods: frozenset[str] = field(default=frozenset({"GET"}))
    prefix: bool = False
    """Match every path under ``path`` (which then should end with ``/``)."""
    mutating: frozenset[str] = frozenset()
    """The methods that require the server's auth token, when one is configured."""

    def needs_token(self, method: str) -> bool:
        """Whether a ``method`` call (HEAD counts as GET) needs the server's auth token."""
        return ("GET" if method == "HEAD" else method) in self.mutating


class Routes:
    """Plain HTTP routes: exact paths first, then the longest matching prefix."""

    def __init__(self) -> None:
        self._exact: dict[str, Route] = {}
        self._prefixes: list[Route] = []

    def add(
        self,
        path: str,
        handler: RouteHandler,
        *,
        methods: Iterable[str] = ("GET",),
        prefix: bool = False,
        mutating: bool | Iterable[str] = False,
    ) -> Routes:
        """Register ``handler`` for ``path``; returns self so registrations can be chained.

        ``mutating``: ``True`` when every method of the route needs the server's auth token, or
        the methods that do (``("POST", "DELETE")`` beside an open GET).
        """
        if not path.startswith("/"):
            raise UsageError(f"route path must start with '/': {path!r}")
        verbs = frozenset(m.upper() for m in methods)
        if isinstance(mutating, bool):
            guarded = verbs if mutating else frozenset()
        else:
            guarded = frozenset(m.upper() for m in mutating)
        if not guarded <= verbs:
            raise UsageError(f"route {path}: mutating methods {sorted(guarded - verbs)} are not served")
        route = Route(path, handler, verbs, prefix, guarded)
        if prefix:
            if any(r.path == path for r in self._prefixes):
                raise UsageError(f"prefix route {path} registered twice")
            self._prefixes.append(route)
            self._prefixes.sort(key=lambda r: len(r.path), reverse=True)
        else:
            if path in self._exact:
                raise UsageError(f"route {path} registered twice")
            self._exact[path] = route
        return self

    def find(self, path: str) -> Route | None:
        route = self._exact.get(path)
        if route is not None:
            return route
        for candidate in self._prefixes:
            if path.startswith(candidate.path):
                return candidate
        return None


def text_route(text: Callable[[], str], status: int = 200) -> RouteHandler:
    """A route answering ``text()`` as UTF-8 plain text (``/status``, ``/healthz``)."""

    def handle(_request: HttpRequest) -> RouteResult:
        return status, "text/plain; charset=utf-8", text().encode()

    return handle


def prometheus_route(registry: Any = None) -> RouteHandler:
    """A ``/metrics`` route exposing a prometheus_client registry (the default one if ``None``)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    source = REGISTRY if registry is None else registry

    def handle(_request: HttpRequest) -> RouteResult:
        return 200, CONTENT_TYPE_LATEST, generate_latest(source)

    return handle
