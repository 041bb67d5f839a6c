"""Value coercion for the config loader: one raw value as the type its key declares.

``coerce`` turns what a source gave — a TOML value, a string from the environment, a gflags or
properties file, or an already typed value from the command line or ``defaults`` — into
``bool``, ``int``, ``float``, ``str``, ``Path``, ``X | None`` or ``tuple[X, ...]``, or raises
``BadValue`` naming what was expected. The loader (``omsync_tui.core.config``) turns that into a
``UsageError`` that names the source and the key; this module knows nothing about sources.

Stdlib only, like the rest of ``omsync_tui.core``.
"""

from __future__ import annotations

import math
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from omsync_tui.core.gflags import abs_path, split_list

TRUE_WORDS = frozenset({"true", "1", "yes", "on", "t", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "f", "n"})
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # no "nan", "inf", "1_0"


class BadValue(Exception):
    """A value that is not of its key's type; ``expected`` says what would be ("an integer")."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def coerce(tp: Any, raw: object, base: Path | None) -> object:
    """``raw`` (TOML value, string from env/flags, or a typed value) as ``tp``; BadValue if not."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        return coerce(inner, raw, base)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        if isinstance(raw, str):
            if raw.strip().startswith("["):
                try:
                    raw = tomllib.loads(f"v = {raw}")["v"]
                except tomllib.TOMLDecodeError:
                    raise BadValue(f"a list ({raw!r} is not a TOML array)") from None
            else:
                raw = split_list(raw)
        if not isinstance(raw, list | tuple):
            raise BadValue(f"a list of {_describe(item)}")
        return tuple(coerce(item, x, base) for x in raw)
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        word = raw.strip().lower() if isinstance(raw, str) else None
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise BadValue("true or false")
    if tp is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw.strip(), 10)
            except ValueError:
                pass
        raise BadValue("an integer")
    if tp is float:
        number: float | None = None
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            number = float(raw)
        elif isinstance(raw, str) and _NUMBER.fullmatch(raw.strip()):
            number = float(raw.strip())
        if number is None or not math.isfinite(number):
            raise BadValue("a number")
        return number
    if tp is str:
        if isinstance(raw, str):
            return raw.strip()
        raise BadValue("a string (quote it)")
    if tp is Path:
        if isinstance(raw, str | Path) and str(raw).strip():
            return abs_path(str(raw).strip(), base)
        raise BadValue("a path (a non-empty string)")
    raise TypeError(f"config type {tp!r} is not supported")  # a programming error, not a user's


def _describe(tp: Any) -> str:
    return {bool: "true/false", int: "integers", float: "numbers", str: "strings", Path: "paths"}.get(
        tp, str(tp)
    )
