"""Where omsync keeps its files by default: platformdirs' directories, never ``/tmp``.

OpenMLDB defaults its collector's work dir to ``/tmp/data_collector``: progress and hard links
are lost when ``/tmp`` is cleaned. omsync asks platformdirs instead:

=============  ==========================================  =================================
               user (default)                              system (``system=True``, services)
=============  ==========================================  =================================
data           ``~/.local/share/omsync``                   ``/var/lib/omsync``
logs           ``~/.local/state/omsync/log``               ``/var/log/omsync``
config         ``~/.config/omsync``                        ``/etc/xdg/omsync``
=============  ==========================================  =================================

(Linux paths; ``XDG_*`` variables move the user ones.) The values feed ``load_config``'s
``defaults``: they rank below every explicit setting.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import PlatformDirs

APP_NAME = "omsync"


def omsync_dirs() -> PlatformDirs:
    """platformdirs for omsync; ``multipath`` so site config dirs list every XDG_CONFIG_DIRS entry."""
    return PlatformDirs(APP_NAME, appauthor=False, multipath=True)


def data_dir(*, system: bool = False) -> Path:
    """Persistent state: collector work dirs and progress, the synctool's local state."""
    dirs = omsync_dirs()
    if system:
        # site_state_dir (/var/lib/<app>) arrived in platformdirs 4.x; site_data_dir is read-only data
        state = getattr(dirs, "site_state_dir", None)
        return Path(state) if isinstance(state, str) else Path("/var/lib") / APP_NAME
    return Path(dirs.user_data_dir)


def log_dir(*, system: bool = False) -> Path:
    dirs = omsync_dirs()
    if system:
        site_log = getattr(dirs, "site_log_dir", None)
        return Path(site_log) if isinstance(site_log, str) else Path("/var/log") / APP_NAME
    return Path(dirs.user_log_dir)


def config_dirs() -> tuple[Path, ...]:
    """Where config files are looked for, first match wins: the user's dir, then the system's."""
    dirs = omsync_dirs()
    return (Path(dirs.user_config_dir), *(Path(p) for p in dirs.site_config_dir.split(":") if p))


def find_config_file(name: str) -> Path | None:
    """The first ``name`` (e.g. ``collector.toml``) in ``config_dirs()``, or None."""
    for d in config_dirs():
        if (d / name).is_file():
            return d / name
    return None


def collector_defaults(*, system: bool = False) -> dict[str, dict[str, object]]:
    """``defaults`` for ``load_config(CollectorConfig, ...)``: the paths platformdirs decides."""
    return {
        "collector": {"datadir": data_dir(system=system) / "collector"},
        "log": {"dir": log_dir(system=system) / "collector"},
    }


def synctool_defaults(*, system: bool = False) -> dict[str, dict[str, object]]:
    """``defaults`` for ``load_config(SynctoolConfig, ...)``: the paths platformdirs decides."""
    return {
        "synctool": {"datadir": data_dir(system=system) / "synctool"},
        "log": {"dir": log_dir(system=system) / "synctool"},
    }
