"""The config loader's schema and its per-source readers.

``Schema`` lists a ``ConfigRoot``'s sections and keys (with the gflag or property each key
replaces) and rejects unknown ones. Each ``from_*`` reader turns one source — a mapping of
overrides or defaults, the environment, a TOML file, an OpenMLDB gflags file, a Java properties
file — into untyped ``Setting`` objects carrying their origin (file:line, variable) and the
directory their relative paths point from. How strict each source is, and why, is part of the
loader's contract and documented with it in ``omsync_tui.core.config``; the readers only
collect notes and warnings, and type checking and precedence happen in the loader.

Stdlib only, like the rest of ``omsync_tui.core``.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from omsync_tui.core.configbase import ENV_PREFIX, ConfigRoot, PropertyValue, Setting
from omsync_tui.core.errors import UsageError
from omsync_tui.core.gflags import flag_name_value, gflags_base_dir, parse_gflags
from omsync_tui.core.javaprops import read_properties


@dataclass(frozen=True, slots=True)
class Key:
    """One key of a section, from its dataclass field and the field's metadata."""

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


class Schema:
    """The sections and keys of a ``ConfigRoot``, indexed by name, gflag and property."""

    def __init__(self, cls: type[ConfigRoot]) -> None:
        self.sections: dict[str, type] = {}
        self.keys: dict[str, dict[str, Key]] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            tp = typing.get_type_hints(cls)[f.name]
            if not (isinstance(tp, type) and is_dataclass(tp)):
                continue
            self.sections[f.name] = tp
            hints = typing.get_type_hints(tp)
            self.keys[f.name] = {
                k.name: Key(
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

    def key(self, section: str, key: str, origin: str) -> Key:
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


def from_mapping(schema: Schema, mapping: Mapping[str, object] | None, origin: str) -> list[Setting]:
    out: list[Setting] = []
    for name, value in (mapping or {}).items():
        if isinstance(value, Mapping) and "." not in name:
            out += from_mapping(schema, {f"{name}.{k}": v for k, v in value.items()}, origin)
            continue
        if value is None:
            continue
        section, _, key = name.partition(".")
        schema.key(section, key, f"{origin} {name}")
        out.append(Setting(section, key, value, f"{origin} {name}"))
    return out


def from_env(schema: Schema, env: Mapping[str, str], warnings: list[str]) -> list[Setting]:
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


def from_toml(schema: Schema, path: Path) -> list[Setting]:
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


def from_gflags(
    schema: Schema, cls: type[ConfigRoot], path: Path, notes: list[str], warnings: list[str]
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


def from_properties(
    schema: Schema, cls: type[ConfigRoot], path: Path, notes: list[str], warnings: list[str]
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
