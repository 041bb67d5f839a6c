"""The config of omsync's clients (``omsync task``, ``omsync tui``, ``omsync collector list``).

``client.toml`` in omsync's config dirs (``~/.config/omsync/client.toml``, then
``/etc/xdg/omsync/client.toml``), ``OMSYNC_CLIENT__<KEY>`` environment variables, and command-line
flags above both. ``omsync config show`` prints the resolved values and where each came from.

Stdlib only, like the rest of ``omsync_tui.core``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omsync_tui.core.collector_config import parse_endpoint
from omsync_tui.core.config import ConfigRoot, ConfigValueError


@dataclass(frozen=True, slots=True)
class ClientSection:
    """``[client]``: where the synctool is and how to talk to it."""

    synctool: str | None = None
    """The synctool's ``host:port`` (any one: followers name the leader). Below ``--synctool`` and
    ``OMSYNC_SYNCTOOL``; when unset, clients discover it through ``zk``."""

    zk: str | None = None
    """ZooKeeper hosts of the cluster, to discover the synctool when ``synctool`` is unset."""

    zk_root: str = "/openmldb"
    """The cluster's root znode."""

    auth_token: str | None = field(default=None, repr=False)
    """The synctools' auth token, for create, delete and retry."""

    def __post_init__(self) -> None:
        if self.synctool is not None:
            try:
                parse_endpoint(self.synctool)
            except ValueError as e:
                raise ConfigValueError("synctool", str(e)) from None
        if not self.zk_root.startswith("/"):
            raise ConfigValueError("zk_root", f"{self.zk_root!r} must start with '/'")


@dataclass(frozen=True, slots=True)
class ClientConfig(ConfigRoot):
    client: ClientSection
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    origins: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)
