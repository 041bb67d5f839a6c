"""The catalog of an ``iceberg://`` destination and the FileIO its tables use (issue 17).

``catalog_for`` loads a pyiceberg catalog from the URI's properties, one per catalog and
settings in a process (each holds a connection pool). ``OmsyncFileIO`` is pyarrow's FileIO with
``hdfs://``/``viewfs://`` through ``hdfs.py``'s client (hdfs-native, bounded, no JVM) and an
``s3://`` warehouse through the filesystem omsync opens from its URI; pyiceberg builds FileIOs
from string properties only, so the ``[hdfs]`` settings travel as JSON in ``omsync.hdfs`` and
the warehouse in ``omsync.warehouse``. ``FAILURES`` is what pyiceberg and the I/O beneath it
raise, for the one place each caller turns them into ``DestinationError``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import (
    NamespaceAlreadyExistsError,
    NoSuchNamespaceError,
    NoSuchPropertyException,
    NotInstalledError,
    ResolveError,
    RESTError,
    TableAlreadyExistsError,
    ValidationError,
    ValidationException,
)
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.typedef import Properties
from sqlalchemy.exc import SQLAlchemyError

from omsync_tui.core import desturi
from omsync_tui.core.synctool_config import HdfsSection
from omsync_tui.services.sinks import hdfs
from omsync_tui.services.sinks.destination import DestinationError, cause_of, open_destination
from omsync_tui.services.sinks.iceberg.url import IcebergUri

# what pyiceberg raises (it has no base class of its own) and the I/O beneath it
FAILURES = (
    RESTError,
    ValidationError,
    ValidationException,
    NoSuchNamespaceError,
    NamespaceAlreadyExistsError,
    TableAlreadyExistsError,
    NoSuchPropertyException,
    NotInstalledError,
    ResolveError,
    SQLAlchemyError,
    OSError,
    ValueError,
    pa.ArrowException,
)


def settings_json(settings: HdfsSection) -> str:
    return json.dumps(
        {f.name: str(v) for f in fields(settings) if (v := getattr(settings, f.name)) is not None}
    )


def settings_from(text: str) -> HdfsSection:
    raw = json.loads(text) if text else {}
    kw: dict[str, Any] = {}
    for f in fields(HdfsSection):
        if f.name in raw:
            default = getattr(HdfsSection(), f.name)
            kw[f.name] = int(raw[f.name]) if isinstance(default, int) else raw[f.name]
            if "dir" in f.name or "keytab" in f.name or "cache" in f.name:
                kw[f.name] = Path(raw[f.name])
    return HdfsSection(**kw)


class OmsyncFileIO(PyArrowFileIO):
    """pyarrow's FileIO, with ``hdfs://``/``viewfs://`` through omsync's hdfs-native client and
    the warehouse's own scheme through the filesystem omsync opens for it (an ``s3://`` warehouse
    with its ``endpoint_override=``, region and credentials, as for an ``s3://`` destination)."""

    def __init__(self, properties: Properties = {}) -> None:  # noqa: B006  # pyiceberg's signature
        super().__init__(properties)

    def _initialize_fs(self, scheme: str, netloc: str | None = None) -> pafs.FileSystem:
        if scheme in hdfs.SCHEMES:
            return hdfs.hdfs_filesystem(
                f"{scheme}://{netloc or ''}", settings_from(self.properties.get("omsync.hdfs", ""))
            )
        warehouse = self.properties.get("omsync.warehouse", "")
        if scheme == "s3" and desturi.scheme(warehouse) == "s3":
            return open_destination(warehouse).fs
        return super()._initialize_fs(scheme, netloc)


_CATALOGS: dict[tuple[str, ...], Catalog] = {}
_CATALOGS_LOCK = threading.Lock()


def catalog_for(uri: IcebergUri, settings: HdfsSection) -> Catalog:
    """One catalog object per catalog and settings in a process (each holds a connection pool)."""
    props = {
        **uri.properties,
        "type": uri.catalog,
        "py-io-impl": f"{OmsyncFileIO.__module__}.{OmsyncFileIO.__qualname__}",
        "omsync.hdfs": settings_json(settings),
        "omsync.warehouse": uri.warehouse,
    }
    key = (uri.name, *sorted(f"{k}={v}" for k, v in props.items()))
    with _CATALOGS_LOCK:
        found = _CATALOGS.get(key)
        if found is None:
            try:
                found = _CATALOGS[key] = load_catalog(uri.name, **props)
            except FAILURES as exc:
                raise DestinationError(
                    f"cannot open the {uri.catalog} catalog {props.get('uri', '')!r}: {cause_of(exc)}",
                    hint="check uri= (sqlite:////abs/catalog.db for the embedded catalog) and warehouse=",
                ) from None
        return found
