"""kazoo's exceptions as omsync errors: the one translation every ZooKeeper user goes through.

A missing znode is a ``NotFoundError`` that suggests checking ``zk_root_path``; refused access,
a closed client, a lost connection or session, and any other kazoo error are ``ClusterError``\\ s.
Anything that is not kazoo's passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kazoo.exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    NoAuthError,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError

from omsync_tui.core.errors import ClusterError, NotFoundError
from omsync_tui.openmldb.zkpaths import ROOT_HINT

CONNECT_HINT = "is ZooKeeper reachable? check zk_cluster and that the ensemble is up"


@contextmanager
def zk_errors(path: str) -> Iterator[None]:
    """Translate kazoo's exceptions raised while working on ``path`` into omsync errors."""
    try:
        yield
    except NoNodeError:
        raise NotFoundError(f"znode {path} does not exist", hint=ROOT_HINT) from None
    except NoAuthError as exc:
        raise ClusterError(
            f"ZooKeeper refused access to {path} (no auth)",
            hint="the cluster uses an ACL: configure zk_cert (addauth digest) like OpenMLDB's --zk_cert",
        ) from exc
    except ConnectionClosedError as exc:
        raise ClusterError(f"the ZooKeeper client was closed before reading {path}") from exc
    except SessionExpiredError as exc:
        raise ClusterError(f"ZooKeeper session expired while reading {path}", hint=CONNECT_HINT) from exc
    except (ConnectionLoss, OperationTimeoutError, KazooTimeoutError) as exc:
        raise ClusterError(f"lost the ZooKeeper connection while reading {path}", hint=CONNECT_HINT) from exc
    except KazooException as exc:
        raise ClusterError(f"ZooKeeper error on {path}: {type(exc).__name__} {exc}".rstrip()) from exc
