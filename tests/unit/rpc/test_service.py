"""``Routes``: which methods of a route need the server's auth token."""

from __future__ import annotations

import pytest

from omsync_tui.core.errors import UsageError
from omsync_tui.rpc.service import HttpRequest, RouteResult, Routes


def ok(_r: HttpRequest) -> RouteResult:
    return 200, "text/plain", b"ok"


def test_mutating_names_the_methods_that_need_the_token() -> None:
    routes = Routes().add("/api/v1/tasks", ok, methods=("GET", "POST"), mutating=("post",))
    route = routes.find("/api/v1/tasks")
    assert route is not None
    assert (route.needs_token("GET"), route.needs_token("HEAD"), route.needs_token("POST")) == (
        False,
        False,
        True,
    )


def test_mutating_true_guards_every_method_and_false_none() -> None:
    routes = (
        Routes()
        .add("/a", ok, methods=("GET", "DELETE"), mutating=True)
        .add("/b", ok, methods=("GET", "POST"))
    )
    a, b = routes.find("/a"), routes.find("/b")
    assert a is not None and b is not None
    assert a.needs_token("GET") and a.needs_token("HEAD") and a.needs_token("DELETE")
    assert not b.needs_token("GET") and not b.needs_token("POST")


def test_a_guarded_method_the_route_does_not_serve_is_refused() -> None:
    with pytest.raises(UsageError, match=r"mutating methods \['DELETE'\] are not served"):
        Routes().add("/a", ok, methods=("GET",), mutating=("DELETE",))
