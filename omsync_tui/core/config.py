"""Typed configuration, loaded once: the generic loader every daemon uses.

A daemon's config is a frozen dataclass (a ``ConfigRoot``) whose fields are sections, each a
frozen dataclass with one attribute docstring per key. ``load_config`` builds it from these
sources, highest first (STYLE rule 8):

1. ``overrides`` — command-line flags (``None`` values = flag not given);
2. ``env`` — ``OMSYNC_<SECTION>__<KEY>``, e.g. ``OMSYNC_COLLECTOR__MAX_PACK_SIZE=2097152``;
3. ``toml_path`` — ``conf/collector.toml``;
4. ``flagfile`` — OpenMLDB's ``data_collector.flags`` (reference §6.1), and ``properties`` —
   the SyncTool's ``synctool.properties`` (reference §6.2), for drop-in migration. TOML wins
   over them, so a deployment can move keys to TOML one at a time; each key the TOML takes over
   from such a file with a different value is listed in ``notes``;
5. derived values — read from files that other settings name (the tablet's flags file, for the
   collector): below every explicit setting; an explicit setting that disagrees is a warning;
6. ``defaults`` (platformdirs paths from ``omsync_tui.services.paths``), then dataclass defaults.

A key's field metadata names what it replaces: ``{"gflag": "zk_cluster"}`` or
``{"property": "zookeeper.cluster"}``. A property metadata that is a tuple of names
(``("server.host", "server.port")``) marks a key built from several properties; the root's
``combine_properties`` builds it.

Strictness follows who wrote the value: an unknown TOML key or section is a ``UsageError``
listing the valid keys (typos are never ignored); an unknown gflag or property is a warning
(OpenMLDB's files carry many flags omsync does not need, and migrated ``synctool.properties``
files carry Flink keys), a known but unused one (``GFLAGS_IGNORED``, ``PROPERTIES_IGNORED``) a
note with the reason; an unknown
``OMSYNC_<SECTION>__<KEY>`` of a known section is a warning (one shell may serve several
daemons). Every value of every source is type-checked, even one a higher source overrides, and
errors name the file and line (or variable) and the key.

Relative paths are made absolute at load time: in TOML against the TOML file's directory; in a
gflags or properties file against the directory OpenMLDB's start scripts run from (the parent
of ``conf/`` when the file lives in a ``conf/`` directory, else the file's own directory); from the
environment or the command line against the working directory.

A daemon's schema lives in its own module (the collector's: ``omsync_tui.core.collector_config``)
and builds on ``ConfigRoot``, ``ConfigValueError``, ``Setting`` and ``PropertyValue``; import them
from here. This module owns the loader: precedence, merging, type-checking every value and
building the sections. The pieces it calls live beside it, so each has one job:
``omsync_tui.core.configbase`` (those shared types, kept apart so the readers need not import the
loader), ``omsync_tui.core.configsources`` (the schema and one reader per source) and
``omsync_tui.core.configvalues`` (coercing one value to its key's type). OpenMLDB gflags files
are read by ``omsync_tui.core.gflags``, Java properties files by ``omsync_tui.core.javaprops``.

Stdlib only: the collector's host stays light and the TUI can show config without daemons.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, replace
from pathlib import Path
from typing import Any, TypeVar

from omsync_tui.core.configbase import ENV_PREFIX, ConfigRoot, ConfigValueError, PropertyValue, Setting
from omsync_tui.core.configsources import (
    Schema,
    from_env,
    from_gflags,
    from_mapping,
    from_properties,
    from_toml,
)
from omsync_tui.core.configvalues import BadValue, coerce
from omsync_tui.core.errors import UsageError

# What schema modules and callers import from here (one import path since the split into
# configbase, configsources and configvalues); mypy strict needs re-exported names listed.
__all__ = [
    "ENV_PREFIX",
    "ConfigRoot",
    "ConfigValueError",
    "PropertyValue",
    "Setting",
    "load_config",
]

R = TypeVar("R", bound=ConfigRoot)


def load_config(
    cls: type[R],
    *,
    toml_path: Path | str | None = None,
    flagfile: Path | str | None = None,
    properties: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
    defaults: Mapping[str, object] | None = None,
) -> R:
    """Build ``cls`` from its sources (module docstring: precedence and strictness).

    ``overrides`` and ``defaults`` map ``"section.key"`` or ``section`` → {key: value}; values may
    be typed or strings. ``env`` defaults to ``os.environ``. Raises ``UsageError``.
    """
    schema = Schema(cls)
    notes: list[str] = []
    warnings: list[str] = []
    layers: list[tuple[str, list[Setting]]] = [("defaults", from_mapping(schema, defaults, "default"))]
    if flagfile is not None:
        layers.append(("flagfile", from_gflags(schema, cls, Path(flagfile), notes, warnings)))
    if properties is not None:
        layers.append(("properties", from_properties(schema, cls, Path(properties), notes, warnings)))
    if toml_path is not None:
        layers.append(("toml", from_toml(schema, Path(toml_path))))
    layers.append(("env", from_env(schema, os.environ if env is None else env, warnings)))
    layers.append(("overrides", from_mapping(schema, overrides, "command line")))

    typed = [(name, [_typed(schema, s) for s in settings]) for name, settings in layers]
    explicit = _merge(typed, notes)
    derived, derived_notes = cls.derived_settings({k: v[0] for k, v in explicit.items()})
    notes += derived_notes
    derived_typed = [_typed(schema, s) for s in derived]
    for setting, value in derived_typed:
        name = f"{setting.section}.{setting.key}"
        if name in explicit and explicit[name][2] != "defaults" and explicit[name][0] != value:
            warnings.append(
                f"{name} = {_show(explicit[name][0])} ({explicit[name][1]}) differs from "
                f"{_show(value)} in {setting.origin}"
            )
    merged = _merge([typed[0], ("derived", derived_typed), *typed[1:]], [])

    sections: dict[str, object] = {}
    for section, keys in schema.keys.items():
        kwargs: dict[str, object] = {}
        for key in keys.values():
            if key.name in merged:
                kwargs[key.key] = merged[key.name][0]
            elif key.default is MISSING:
                ways = f"{key.key} in [{section}] of the TOML file, {key.env}"
                if key.gflag:
                    ways += f", or --{key.gflag} in an OpenMLDB flags file"
                if isinstance(key.prop, str):
                    ways += f", or {key.prop} in a properties file"
                elif key.prop:
                    ways += f", or {' and '.join(key.prop)} in a properties file"
                # a source may have said why it could not give the key (e.g. a 0.0.0.0 host)
                ways += "".join(f"\n{w}" for w in warnings if key.name in w)
                raise UsageError(f"{key.name} is required and not set", hint=f"set {ways}")
        try:
            sections[section] = schema.sections[section](**kwargs)
        except ConfigValueError as e:
            name = f"{section}.{e.key}"
            where = f"{merged[name][1]}: " if name in merged else ""
            raise UsageError(f"{where}{name}: {e.message}") from None
    origins = tuple((name, v[1]) for name, v in sorted(merged.items()))
    make: Any = cls  # a dataclass subclass of ConfigRoot: its sections are keyword arguments
    root = make(**sections, notes=tuple(notes), warnings=tuple(warnings), origins=origins)
    checked: R = replace(root, warnings=(*root.warnings, *root.check()))
    return checked


def _merge(
    layers: list[tuple[str, list[tuple[Setting, object]]]], notes: list[str]
) -> dict[str, tuple[Any, str, str]]:
    """Map "section.key" → (value, origin, layer name) of the highest layer that sets it."""
    out: dict[str, tuple[Any, str, str]] = {}
    for layer, items in layers:
        for setting, value in items:
            name = f"{setting.section}.{setting.key}"
            below = out.get(name)
            if (
                layer == "toml"
                and below is not None
                and below[2] in ("flagfile", "properties")
                and below[0] != value
            ):
                notes.append(
                    f"{name} = {_show(value)} ({setting.origin}) overrides {_show(below[0])} ({below[1]})"
                )
            out[name] = (value, setting.origin, layer)
    return out


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _typed(schema: Schema, s: Setting) -> tuple[Setting, object]:
    key = schema.key(s.section, s.key, s.origin)
    try:
        return s, coerce(key.type, s.value, s.base_dir)
    except BadValue as e:
        default = "" if key.default in (MISSING, None, ()) else f" (default: {_show(key.default)})"
        raise UsageError(
            f"{s.origin}: {key.name} must be {e.expected}, not {s.value!r}",
            hint=f"set {key.name} to {e.expected}{default}",
        ) from None
