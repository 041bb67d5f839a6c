"""The types a daemon's config schema builds on: ``ConfigRoot`` and the values passed to it.

A schema module (``omsync_tui.core.collector_config`` and its siblings) subclasses ``ConfigRoot``,
raises ``ConfigValueError`` from a section's ``__post_init__``, and returns ``Setting`` objects
from its ``derived_settings`` and ``combine_properties`` hooks, which receive ``PropertyValue``
objects. ``ENV_PREFIX`` begins every ``OMSYNC_<SECTION>__<KEY>`` variable.

These live apart from the loader (``omsync_tui.core.config``) because both the loader and its
per-source readers (``omsync_tui.core.configsources``) need them: here, neither has to import
the other. Import them from ``omsync_tui.core.config``, which re-exports them, so a schema module
depends on one public config module.

Stdlib only, like the rest of ``omsync_tui.core``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

ENV_PREFIX = "OMSYNC_"


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
