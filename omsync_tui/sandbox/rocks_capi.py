"""A ctypes binding of the RocksDB C API in the ``librocksdb.so`` that aimrocks ships.

This module owns finding and loading that library, the prototypes of the C functions the sandbox
calls, the process-wide ``KeyTSComparator`` (a Python callback RocksDB calls through ctypes),
``errptr`` slots turned into omsync errors, and releasing a DB's handles and options.
:mod:`omsync_tui.sandbox.rocks_writer` is its one user.

aimrocks' Python API cannot build an OpenMLDB disk table (no checkpoints), hence the C API. A
ctypes callback costs microseconds — ~14 µs each on RocksDB's background threads, which must
create a Python thread state per call — which is why the writer keeps comparisons off them.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from omsync_tui.core.errors import FormatError, NotFoundError, OmsyncError
from omsync_tui.openmldb.snapshot.diskkeys import COMPARATOR_NAME, compare_keys

_vp = ctypes.c_void_p
_size = ctypes.c_size_t
_uchar = ctypes.c_ubyte

_CompareFn = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _vp, _size, _vp, _size)
_NameFn = ctypes.CFUNCTYPE(_vp, _vp)
_DestructorFn = ctypes.CFUNCTYPE(None, _vp)

# name -> (restype, argtypes). Errors come back through a char** as malloc'ed strings, so that
# argument is a plain pointer: c_char_p would copy the text and lose what must be freed.
_PROTOTYPES: dict[str, tuple[Any, list[Any]]] = {
    "rocksdb_free": (None, [_vp]),
    "rocksdb_comparator_create": (_vp, [_vp, _DestructorFn, _CompareFn, _NameFn]),
    "rocksdb_options_create": (_vp, []),
    "rocksdb_options_destroy": (None, [_vp]),
    "rocksdb_options_set_comparator": (None, [_vp, _vp]),
    "rocksdb_options_set_create_if_missing": (None, [_vp, _uchar]),
    "rocksdb_options_set_create_missing_column_families": (None, [_vp, _uchar]),
    "rocksdb_options_set_disable_auto_compactions": (None, [_vp, ctypes.c_int]),
    "rocksdb_list_column_families": (
        ctypes.POINTER(ctypes.c_char_p),
        [_vp, ctypes.c_char_p, ctypes.POINTER(_size), _vp],
    ),
    "rocksdb_list_column_families_destroy": (None, [ctypes.POINTER(ctypes.c_char_p), _size]),
    "rocksdb_open_column_families": (
        _vp,
        [
            _vp,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.POINTER(_vp),
            ctypes.POINTER(_vp),
            _vp,
        ],
    ),
    "rocksdb_column_family_handle_destroy": (None, [_vp]),
    "rocksdb_close": (None, [_vp]),
    "rocksdb_writeoptions_create": (_vp, []),
    "rocksdb_writeoptions_destroy": (None, [_vp]),
    "rocksdb_writeoptions_disable_WAL": (None, [_vp, ctypes.c_int]),
    "rocksdb_writebatch_create": (_vp, []),
    "rocksdb_writebatch_destroy": (None, [_vp]),
    "rocksdb_writebatch_delete_range_cf": (
        None,
        [_vp, _vp, ctypes.c_char_p, _size, ctypes.c_char_p, _size],
    ),
    "rocksdb_write": (None, [_vp, _vp, _vp, _vp]),
    "rocksdb_flushoptions_create": (_vp, []),
    "rocksdb_flushoptions_destroy": (None, [_vp]),
    "rocksdb_flushoptions_set_wait": (None, [_vp, _uchar]),
    "rocksdb_flush_cf": (None, [_vp, _vp, _vp, _vp]),
    "rocksdb_envoptions_create": (_vp, []),
    "rocksdb_envoptions_destroy": (None, [_vp]),
    "rocksdb_sstfilewriter_create": (_vp, [_vp, _vp]),
    "rocksdb_sstfilewriter_open": (None, [_vp, ctypes.c_char_p, _vp]),
    "rocksdb_sstfilewriter_put": (None, [_vp, ctypes.c_char_p, _size, ctypes.c_char_p, _size, _vp]),
    "rocksdb_sstfilewriter_finish": (None, [_vp, _vp]),
    "rocksdb_sstfilewriter_destroy": (None, [_vp]),
    "rocksdb_ingestexternalfileoptions_create": (_vp, []),
    "rocksdb_ingestexternalfileoptions_destroy": (None, [_vp]),
    "rocksdb_ingestexternalfileoptions_set_move_files": (None, [_vp, _uchar]),
    "rocksdb_ingest_external_file_cf": (None, [_vp, _vp, ctypes.POINTER(ctypes.c_char_p), _size, _vp, _vp]),
    "rocksdb_checkpoint_object_create": (_vp, [_vp, _vp]),
    "rocksdb_checkpoint_create": (None, [_vp, ctypes.c_char_p, ctypes.c_uint64, _vp]),
    "rocksdb_checkpoint_object_destroy": (None, [_vp]),
}


def _compare_cb(_state: int | None, a: int | None, alen: int, b: int | None, blen: int) -> int:
    return compare_keys(
        ctypes.string_at(a, alen) if a and alen else b"",
        ctypes.string_at(b, blen) if b and blen else b"",
    )


_NAME_BUF = ctypes.create_string_buffer(COMPARATOR_NAME)
# RocksDB keeps raw pointers to these for as long as any DB lives: module-level, never freed.
_COMPARE = _CompareFn(_compare_cb)
_NAME = _NameFn(lambda _state: ctypes.addressof(_NAME_BUF))
_DESTRUCTOR = _DestructorFn(lambda _state: None)


class Rocks:
    """The loaded library plus the one KeyTSComparator shared by every DB of the process."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.comparator: int = lib.rocksdb_comparator_create(None, _DESTRUCTOR, _COMPARE, _NAME)


_ROCKS: Rocks | None = None


def load_rocks() -> Rocks:
    """The process's one :class:`Rocks`: the library is found, loaded and prototyped on first use."""
    global _ROCKS
    if _ROCKS is None:
        try:
            import aimrocks  # loads the library first, so ctypes gets the very same copy
        except ImportError as exc:
            raise NotFoundError(
                "aimrocks is not installed: the sandbox needs its librocksdb.so to write disk tables",
                hint="install omsync's dependencies (pip install aimrocks==0.5.2)",
            ) from exc
        lib_dir = Path(aimrocks.__file__).parent
        found = sorted(lib_dir.glob("librocksdb*.so*")) + sorted(lib_dir.glob("librocksdb*.dylib"))
        if not found:
            raise NotFoundError(
                f"{lib_dir}: aimrocks ships no librocksdb shared library",
                hint="reinstall it: pip install --force-reinstall aimrocks==0.5.2",
            )
        lib = ctypes.CDLL(str(found[0]))
        for name, (restype, argtypes) in _PROTOTYPES.items():
            try:
                fn = getattr(lib, name)
            except AttributeError as exc:
                raise NotFoundError(
                    f"{found[0]}: RocksDB C API function {name} is missing",
                    hint="this aimrocks build does not export RocksDB's C API; use aimrocks 0.5.2",
                ) from exc
            fn.restype = restype
            fn.argtypes = argtypes
        _ROCKS = Rocks(lib)
    return _ROCKS


class ErrorSlot:
    """A ``char*`` slot for RocksDB's ``errptr`` arguments."""

    def __init__(self, lib: ctypes.CDLL, where: str) -> None:
        self._lib = lib
        self._where = where
        self.slot = _vp()
        self.ref = ctypes.addressof(self.slot)

    def check(self, action: str) -> None:
        """Raise (and free) the error RocksDB left in the slot by ``action``, if any."""
        if not self.slot.value:
            return
        text = (ctypes.string_at(self.slot.value) or b"").decode("utf-8", "replace")
        self._lib.rocksdb_free(self.slot.value)
        self.slot.value = None
        if text.startswith(("Invalid argument", "Corruption")):
            hint = None
            if "comparator" in text.lower():
                hint = "this directory holds a RocksDB that was not written with KeyTSComparator"
            raise FormatError(f"RocksDB {action} failed: {text}", path=self._where, hint=hint)
        raise OmsyncError(f"{self._where}: RocksDB {action} failed: {text}")


def release_db(lib: ctypes.CDLL, db: int, handles: list[int], owned: list[tuple[str, int]]) -> None:
    """Destroy ``handles``, close ``db`` (0: never opened), then call each ``(destructor, pointer)``."""
    for handle in handles:
        lib.rocksdb_column_family_handle_destroy(handle)
    if db:
        lib.rocksdb_close(db)
    for destroy, ptr in owned:
        getattr(lib, destroy)(ptr)
