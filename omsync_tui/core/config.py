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

A daemon's schema lives in its own module (the collector's: ``omsync_tui.core.collector_config``);
OpenMLDB gflags files are read by ``omsync_tui.core.gflags``, Java properties files by
``omsync_tui.core.javaprops``.

Stdlib only: the collector's host stays light and the TUI can show config without daemons.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from omsync_tui.core.errors import UsageError
from omsync_tui.core.gflags import abs_path, flag_name_value, gflags_base_dir, parse_gflags, split_list
from omsync_tui.core.javaprops import read_properties

ENV_PREFIX = "OMSYNC_"
TRUE_WORDS = frozenset({"true", "1", "yes", "on", "t", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "f", "n"})
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # no "nan", "inf", "1_0"


class ConfigValueError(ValueError):
    """A section's ``__post_init__`` rejects ``key``; the loader adds where the value came from."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True, slots=True)
class Setting:
    """One value from one source, before type checking."""

    section: str
    key: str
    value: object
    origin: str  # for messages: "conf/collector.toml:12 [collector] max_pack_size"
    base_dir: Path | None = None  # relative paths are relative to it (None: the working directory)


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """One property of a Java properties file (the last one, when a key repeats)."""

    key: str
    value: str
    where: str  # "conf/synctool.properties:3"
    base_dir: Path  # where the file's relative paths point


# -- roots -----------------------------------------------------------------------------------


class ConfigRoot:
    """Base of a daemon's config: its dataclass fields are sections plus the three below."""

    __slots__ = ()
    GFLAGS_IGNORED: ClassVar[Mapping[str, str]] = {}
    """OpenMLDB flags recognised but not used, with the reason (a note, not a warning)."""
    PROPERTIES_IGNORED: ClassVar[Mapping[str, str]] = {}
    """Java properties recognised but not used, with the reason (a note, not a warning)."""

    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    origins: tuple[tuple[str, str], ...]

    @classmethod
    def derived_settings(cls, values: Mapping[str, object]) -> tuple[list[Setting], list[str]]:
        """Settings read from files named by ``values`` ("section.key" → explicit value), and notes."""
        return [], []

    @classmethod
    def combine_properties(
        cls, props: Mapping[str, PropertyValue]
    ) -> tuple[list[Setting], list[str], list[str]]:
        """Settings built from several properties (keys whose ``property`` metadata is a tuple),
        with notes and warnings; ``props`` maps every property of the file to its last value."""
        return [], [], []

    def check(self) -> list[str]:
        """Warnings about a loaded config that is valid but probably not what was meant."""
        return []

    def origin(self, name: str) -> str:
        """Where ``"section.key"`` came from (a file:line, a variable, "default")."""
        return dict(self.origins).get(name, "default")


# -- the loader ------------------------------------------------------------------------------

R = TypeVar("R", bound=ConfigRoot)


class _BadValue(Exception):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


@dataclass(frozen=True, slots=True)
class _Key:
    section: str
    key: str
    type: Any
    default: object  # MISSING when required
    gflag: str | None
    prop: str | tuple[str, ...] | None  # a tuple: built by the root's combine_properties

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def env(self) -> str:
        return f"{ENV_PREFIX}{self.section.upper()}__{self.key.upper()}"


class _Schema:
    def __init__(self, cls: type[ConfigRoot]) -> None:
        self.sections: dict[str, type] = {}
        self.keys: dict[str, dict[str, _Key]] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            tp = typing.get_type_hints(cls)[f.name]
            if not (isinstance(tp, type) and is_dataclass(tp)):
                continue
            self.sections[f.name] = tp
            hints = typing.get_type_hints(tp)
            self.keys[f.name] = {
                k.name: _Key(
                    f.name,
                    k.name,
                    hints[k.name],
                    k.default,
                    k.metadata.get("gflag"),
                    k.metadata.get("property"),
                )
                for k in fields(tp)
            }
        every = [k for keys in self.keys.values() for k in keys.values()]
        self.gflags = {k.gflag: k for k in every if k.gflag}
        self.properties = {k.prop: k for k in every if isinstance(k.prop, str)}
        self.combined = {p for k in every if isinstance(k.prop, tuple) for p in k.prop}

    def key(self, section: str, key: str, origin: str) -> _Key:
        if section not in self.keys:
            raise UsageError(
                f"{origin}: unknown section [{section}]", hint=f"valid sections: {', '.join(self.keys)}"
            )
        if key not in self.keys[section]:
            raise UsageError(
                f"{origin}: unknown key {key!r} in [{section}]", hint=self.valid_keys(section, key)
            )
        return self.keys[section][key]

    def valid_keys(self, section: str, near: str) -> str:
        valid = list(self.keys[section])
        close = difflib.get_close_matches(near, valid, n=1)
        return (
            f"did you mean {close[0]!r}? " if close else ""
        ) + f"valid keys of [{section}]: {', '.join(valid)}"


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
    schema = _Schema(cls)
    notes: list[str] = []
    warnings: list[str] = []
    layers: list[tuple[str, list[Setting]]] = [("defaults", _from_mapping(schema, defaults, "default"))]
    if flagfile is not None:
        layers.append(("flagfile", _from_gflags(schema, cls, Path(flagfile), notes, warnings)))
    if properties is not None:
        layers.append(("properties", _from_properties(schema, cls, Path(properties), notes, warnings)))
    if toml_path is not None:
        layers.append(("toml", _from_toml(schema, Path(toml_path))))
    layers.append(("env", _from_env(schema, os.environ if env is None else env, warnings)))
    layers.append(("overrides", _from_mapping(schema, overrides, "command line")))

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


def _typed(schema: _Schema, s: Setting) -> tuple[Setting, object]:
    key = schema.key(s.section, s.key, s.origin)
    try:
        return s, _coerce(key.type, s.value, s.base_dir)
    except _BadValue as e:
        default = "" if key.default in (MISSING, None, ()) else f" (default: {_show(key.default)})"
        raise UsageError(
            f"{s.origin}: {key.name} must be {e.expected}, not {s.value!r}",
            hint=f"set {key.name} to {e.expected}{default}",
        ) from None


def _from_mapping(schema: _Schema, mapping: Mapping[str, object] | None, origin: str) -> list[Setting]:
    out: list[Setting] = []
    for name, value in (mapping or {}).items():
        if isinstance(value, Mapping) and "." not in name:
            out += _from_mapping(schema, {f"{name}.{k}": v for k, v in value.items()}, origin)
            continue
        if value is None:
            continue
        section, _, key = name.partition(".")
        schema.key(section, key, f"{origin} {name}")
        out.append(Setting(section, key, value, f"{origin} {name}"))
    return out


def _from_env(schema: _Schema, env: Mapping[str, str], warnings: list[str]) -> list[Setting]:
    out: list[Setting] = []
    for var, value in sorted(env.items()):
        if not var.upper().startswith(ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX) :].lower()
        section, sep, key = rest.partition("__")
        if not sep:
            near = [s for s in schema.keys if rest.startswith(s + "_")]
            if near:
                warnings.append(f"environment {var} ignored: write {ENV_PREFIX}{near[0].upper()}__<KEY>")
            continue
        if section not in schema.keys:
            continue  # another daemon's section
        if key not in schema.keys[section]:
            warnings.append(f"environment {var} ignored: {schema.valid_keys(section, key)}")
            continue
        out.append(Setting(section, key, value, f"environment {var}"))
    return out


def _from_toml(schema: _Schema, path: Path) -> list[Setting]:
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist", hint="check the --config path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read config file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from None
    lines = text.splitlines()
    base = Path(os.path.abspath(path)).parent
    out: list[Setting] = []
    for section, table in data.items():
        where = f"{path}:{_toml_line(lines, section, None) or 1}"
        if not isinstance(table, dict):
            raise UsageError(
                f"{where}: {section!r} must be a [section]", hint=f"sections: {', '.join(schema.keys)}"
            )
        for key, value in table.items():
            origin = f"{path}:{_toml_line(lines, section, key) or '?'} [{section}] {key}"
            schema.key(section, key, origin)
            out.append(Setting(section, key, value, origin, base))
    return out


def _toml_line(lines: list[str], section: str, key: str | None) -> int | None:
    """Line number of ``[section]`` or of ``key =`` inside it (simple layouts; None if not found)."""
    current = None
    for no, line in enumerate(lines, 1):
        s = line.strip()
        if s.startswith("[") and not s.startswith("[[") and "]" in s:
            current = s[1 : s.index("]")].strip().strip("\"'")
            if key is None and current == section:
                return no
        elif (
            key is not None and current == section and re.match(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=", line)
        ):
            return no
    return None


def _from_gflags(
    schema: _Schema, cls: type[ConfigRoot], path: Path, notes: list[str], warnings: list[str]
) -> list[Setting]:
    flags, skipped = parse_gflags(path)
    warnings += skipped
    known = set(schema.gflags) | set(cls.GFLAGS_IGNORED)
    out: list[Setting] = []
    for flag in flags:
        name, value = flag_name_value(flag, known)
        if name in schema.gflags:
            key = schema.gflags[name]
            if value is None:
                if key.type is not bool:
                    raise UsageError(f"{flag.where}: --{name} needs a value", hint=f"write --{name}=VALUE")
                value = "true"
            out.append(
                Setting(key.section, key.key, value, f"{flag.where} --{name}", gflags_base_dir(flag.path))
            )
        elif name in cls.GFLAGS_IGNORED:
            notes.append(f"{flag.where}: --{name} not used: {cls.GFLAGS_IGNORED[name]}")
        else:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            warnings.append(
                f"{flag.where}: unknown flag --{name} ignored"
                + (f" (did you mean --{close[0]}?)" if close else "")
            )
    return out


def _from_properties(
    schema: _Schema, cls: type[ConfigRoot], path: Path, notes: list[str], warnings: list[str]
) -> list[Setting]:
    base = gflags_base_dir(path)
    props = read_properties(path)
    known = sorted({*schema.properties, *schema.combined, *cls.PROPERTIES_IGNORED})
    out: list[Setting] = []
    for p in props:
        where = f"{path}:{p.line}"
        if p.key in schema.properties:
            key = schema.properties[p.key]
            out.append(Setting(key.section, key.key, p.value, f"{where} {p.key}", base))
        elif p.key in schema.combined:
            continue  # combine_properties below
        elif p.key in cls.PROPERTIES_IGNORED:
            notes.append(f"{where}: {p.key} not used: {cls.PROPERTIES_IGNORED[p.key]}")
        else:
            close = difflib.get_close_matches(p.key, known, n=1)
            warnings.append(
                f"{where}: unknown property {p.key} ignored"
                + (f" (did you mean {close[0]}?)" if close else "")
            )
    last = {p.key: PropertyValue(p.key, p.value, f"{path}:{p.line}", base) for p in props}
    combined, more_notes, more_warnings = cls.combine_properties(last)
    notes += more_notes
    warnings += more_warnings
    return out + combined


# -- type coercion ---------------------------------------------------------------------------


def _coerce(tp: Any, raw: object, base: Path | None) -> object:
    """``raw`` (TOML value, string from env/flags, or a typed value) as ``tp``; _BadValue if not."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        return _coerce(inner, raw, base)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        if isinstance(raw, str):
            if raw.strip().startswith("["):
                try:
                    raw = tomllib.loads(f"v = {raw}")["v"]
                except tomllib.TOMLDecodeError:
                    raise _BadValue(f"a list ({raw!r} is not a TOML array)") from None
            else:
                raw = split_list(raw)
        if not isinstance(raw, list | tuple):
            raise _BadValue(f"a list of {_describe(item)}")
        return tuple(_coerce(item, x, base) for x in raw)
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        word = raw.strip().lower() if isinstance(raw, str) else None
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise _BadValue("true or false")
    if tp is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw.strip(), 10)
            except ValueError:
                pass
        raise _BadValue("an integer")
    if tp is float:
        number: float | None = None
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            number = float(raw)
        elif isinstance(raw, str) and _NUMBER.fullmatch(raw.strip()):
            number = float(raw.strip())
        if number is None or not math.isfinite(number):
            raise _BadValue("a number")
        return number
    if tp is str:
        if isinstance(raw, str):
            return raw.strip()
        raise _BadValue("a string (quote it)")
    if tp is Path:
        if isinstance(raw, str | Path) and str(raw).strip():
            return abs_path(str(raw).strip(), base)
        raise _BadValue("a path (a non-empty string)")
    raise TypeError(f"config type {tp!r} is not supported")  # a programming error, not a user's


def _describe(tp: Any) -> str:
    return {bool: "true/false", int: "integers", float: "numbers", str: "strings", Path: "paths"}.get(
        tp, str(tp)
    )
