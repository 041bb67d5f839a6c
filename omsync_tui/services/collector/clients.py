"""The connections a collector's SendData calls go over: ``ThreadClients`` and the ``Send`` signature.

Each worker thread keeps its own persistent connection per synctool endpoint, so concurrent tasks
never share one. ``SyncTask`` and ``TaskManager`` take any callable of the ``Send`` signature;
``ThreadClients.send`` is the default.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from omsync_tui.openmldb.proto import data_sync_pb2
from omsync_tui.rpc.client import BaiduStdClient

SYNCTOOL = "openmldb.datasync.SyncTool"


class ThreadClients:
    """One persistent baidu_std connection per (worker thread, synctool endpoint)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[BaiduStdClient] = []
        self._lock = threading.Lock()

    def get(self, endpoint: str, timeout: float) -> BaiduStdClient:
        clients: dict[str, BaiduStdClient] | None = getattr(self._local, "clients", None)
        if clients is None:
            clients = self._local.clients = {}
        client = clients.get(endpoint)
        if client is None:
            # OpenMLDB's C++ collector sends no authentication_data to the SyncTool
            client = clients[endpoint] = BaiduStdClient(endpoint, timeout=timeout, auth=None)
            with self._lock:
                self._all.append(client)
        return client

    def send(
        self, endpoint: str, request: data_sync_pb2.SendDataRequest, attachment: bytes, timeout: float
    ) -> data_sync_pb2.SendDataResponse:
        response, _ = self.get(endpoint, timeout).call(
            SYNCTOOL,
            "SendData",
            request,
            data_sync_pb2.SendDataResponse,
            attachment=attachment,
            timeout=timeout,
        )
        return response

    def close(self) -> None:
        with self._lock:
            for client in self._all:
                client.close()
            self._all.clear()


Send = Callable[[str, data_sync_pb2.SendDataRequest, bytes, float], data_sync_pb2.SendDataResponse]
