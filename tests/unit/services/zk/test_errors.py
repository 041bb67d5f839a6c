"""kazoo's exceptions as omsync errors (``zk_errors``)."""

from __future__ import annotations

import pytest
from kazoo.exceptions import ConnectionLoss, NoAuthError, NoNodeError, SessionExpiredError

from omsync_tui.core.errors import ClusterError, NotFoundError
from omsync_tui.openmldb.zkpaths import ROOT_HINT
from omsync_tui.services.zk.errors import CONNECT_HINT, zk_errors


def test_missing_node_is_not_found_suggesting_the_root() -> None:
    with (
        pytest.raises(NotFoundError, match="znode /openmldb/x does not exist") as err,
        zk_errors("/openmldb/x"),
    ):
        raise NoNodeError()
    assert err.value.hint == ROOT_HINT


@pytest.mark.parametrize(
    ("kazoo_error", "message", "hint"),
    [
        (ConnectionLoss(), "lost the ZooKeeper connection while reading /a", CONNECT_HINT),
        (SessionExpiredError(), "ZooKeeper session expired while reading /a", CONNECT_HINT),
    ],
)
def test_lost_connection_or_session_is_a_cluster_error(
    kazoo_error: Exception, message: str, hint: str
) -> None:
    with pytest.raises(ClusterError, match=message) as err, zk_errors("/a"):
        raise kazoo_error
    assert err.value.hint == hint and err.value.__cause__ is kazoo_error


def test_refused_access_names_the_acl() -> None:
    with pytest.raises(ClusterError, match="refused access to /a") as err, zk_errors("/a"):
        raise NoAuthError()
    assert err.value.hint is not None and "zk_cert" in err.value.hint


def test_zk_errors_passes_other_exceptions_through() -> None:
    with pytest.raises(KeyError), zk_errors("/x"):
        raise KeyError("not kazoo's")
