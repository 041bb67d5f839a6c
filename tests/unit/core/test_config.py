"""Config: precedence, sources, OpenMLDB flags files, the shipped examples (STYLE rule 8)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

from omsync_tui.core.collector_config import (
    CollectorConfig,
    CollectorSection,
    LogSection,
    TabletSection,
    ZooKeeperSection,
    parse_endpoint,
)
from omsync_tui.core.config import load_config
from omsync_tui.core.errors import UsageError
from omsync_tui.core.gflags import parse_gflags, read_tablet_flags
from omsync_tui.services import paths

REPO = Path(__file__).resolve().parents[3]
SHIPPED_TOML = REPO / "conf" / "collector.toml"
SHIPPED_FLAGS = REPO / "conf" / "data_collector.flags"
SECTIONS: dict[str, type] = {
    "collector": CollectorSection,
    "zookeeper": ZooKeeperSection,
    "tablet": TabletSection,
    "log": LogSection,
}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def minimal(tmp_path: Path) -> dict[str, Any]:
    """What a collector needs besides its sources: required keys, defaults under tmp_path."""
    return {
        "collector": {"endpoint": "10.0.0.1:8888", "datadir": tmp_path / "data"},
        "zookeeper": {"hosts": "zk:2181"},
        "tablet": {"root_paths": [str(tmp_path / "db")]},
        "log": {"dir": tmp_path / "logs"},
    }


def warnings_of(cfg: CollectorConfig) -> list[str]:
    """Warnings other than the one every tmp_path datadir draws (tested on its own)."""
    return [w for w in cfg.warnings if "temporary directory" not in w]


def load(tmp_path: Path, **kw: Any) -> CollectorConfig:
    kw.setdefault("env", {})
    kw.setdefault("defaults", minimal(tmp_path))
    return load_config(CollectorConfig, **kw)


# -- precedence ------------------------------------------------------------------------------


def _sources(tmp_path: Path) -> dict[str, Any]:
    """zookeeper.hosts set differently at every level."""
    tablet = write(
        tmp_path / "rel" / "conf" / "tablet.flags", "--zk_cluster=from-tablet:2181\n--db_root_path=./db\n"
    )
    return {
        "defaults": {**minimal(tmp_path), "zookeeper": {"hosts": "from-defaults:2181"}},
        "tablet": tablet,
        "flagfile": write(tmp_path / "dc.flags", "--zk_cluster=from-flags:2181\n"),
        "toml_path": write(tmp_path / "c.toml", '[zookeeper]\nhosts = "from-toml:2181"\n'),
        "env": {"OMSYNC_ZOOKEEPER__HOSTS": "from-env:2181"},
        "overrides": {"zookeeper.hosts": "from-cli:2181"},
    }


LEVELS = ["defaults", "tablet", "flagfile", "toml_path", "env", "overrides"]


@pytest.mark.parametrize(
    ("top", "origin"),
    [
        ("defaults", "default zookeeper.hosts"),
        ("tablet", "tablet.flags:1 --zk_cluster"),
        ("flagfile", "dc.flags:1 --zk_cluster"),
        ("toml_path", "c.toml:2 [zookeeper] hosts"),
        ("env", "environment OMSYNC_ZOOKEEPER__HOSTS"),
        ("overrides", "command line zookeeper.hosts"),
    ],
)
def test_each_level_overrides_the_one_below(tmp_path: Path, top: str, origin: str) -> None:
    src = _sources(tmp_path)
    kw: dict[str, Any] = {"env": {}, "defaults": src["defaults"], "overrides": {}}
    for level in LEVELS[1 : LEVELS.index(top) + 1]:
        if level == "tablet":
            kw["overrides"]["tablet.flagfile"] = src["tablet"]
        elif level == "overrides":
            kw["overrides"].update(src["overrides"])
        else:
            kw[level] = src[level]
    cfg = load_config(CollectorConfig, **kw)
    winner = {"toml_path": "toml", "overrides": "cli", "flagfile": "flags"}.get(top, top)
    assert cfg.zookeeper.hosts == f"from-{winner}:2181"
    assert cfg.origin("zookeeper.hosts").endswith(origin)


def test_dataclass_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    assert cfg.collector.max_pack_size == 1024 * 1024
    assert cfg.collector.request_timeout_ms == 20000
    assert (cfg.collector.sync_task_short_interval_ms, cfg.collector.sync_task_long_interval_ms) == (
        0,
        5000,
    )
    assert cfg.collector.verify_crc is True
    assert cfg.collector.auth_token is None
    assert cfg.collector.bind == cfg.collector.endpoint == "10.0.0.1:8888"
    assert cfg.collector.bind_address == ("10.0.0.1", 8888)
    assert cfg.zookeeper.root_path == "/openmldb"
    assert cfg.zookeeper.session_timeout_ms == 10000
    assert cfg.tablet.binlog_name_length == 8
    assert cfg.log.level == "info"
    assert cfg.origin("collector.max_pack_size") == "default"
    assert warnings_of(cfg) == [] and cfg.notes == ()


def test_toml_wins_over_flagfile_and_says_so(tmp_path: Path) -> None:
    flags = write(tmp_path / "dc.flags", "--max_pack_size=2048\n--request_timeout_ms=7000\n")
    toml = write(tmp_path / "c.toml", "[collector]\nmax_pack_size = 4096\nrequest_timeout_ms = 7000\n")
    cfg = load(tmp_path, flagfile=flags, toml_path=toml)
    assert cfg.collector.max_pack_size == 4096
    assert cfg.collector.request_timeout_ms == 7000
    [note] = [n for n in cfg.notes if "max_pack_size" in n]
    assert "4096" in note and "2048" in note and f"{flags}:1" in note
    assert not any("request_timeout_ms" in n for n in cfg.notes)  # same value: nothing to say


def test_overrides_accept_nested_mappings_and_skip_none(tmp_path: Path) -> None:
    cfg = load(
        tmp_path, overrides={"collector": {"max_pack_size": 10, "auth_token": None}, "log.level": "DEBUG"}
    )
    assert cfg.collector.max_pack_size == 10
    assert cfg.collector.auth_token is None
    assert cfg.log.level == "debug"
    with pytest.raises(UsageError, match="unknown key 'max_pak_size'"):
        load(tmp_path, overrides={"collector.max_pak_size": 1})


def test_a_bad_value_is_an_error_even_when_overridden(tmp_path: Path) -> None:
    toml = write(tmp_path / "c.toml", '[collector]\nmax_pack_size = "big"\n')
    with pytest.raises(UsageError, match=r"c\.toml:2 \[collector\] max_pack_size"):
        load(tmp_path, toml_path=toml, overrides={"collector.max_pack_size": 5})


# -- environment -----------------------------------------------------------------------------


def test_env_values_are_parsed_by_type(tmp_path: Path) -> None:
    env = {
        "OMSYNC_COLLECTOR__MAX_PACK_SIZE": " 2097152 ",
        "OMSYNC_COLLECTOR__VERIFY_CRC": "0",
        "OMSYNC_COLLECTOR__AUTH_TOKEN": "s3cret",
        "OMSYNC_COLLECTOR__BIND": "0.0.0.0:9999",
        "OMSYNC_TABLET__ROOT_PATHS": "/a, /b,,/c",
        "OMSYNC_LOG__DIR": "relative/logs",
        "PATH": "/usr/bin",
    }
    cfg = load(tmp_path, env=env)
    assert cfg.collector.max_pack_size == 2097152
    assert cfg.collector.verify_crc is False
    assert cfg.collector.auth_token == "s3cret"
    assert cfg.collector.bind_address == ("0.0.0.0", 9999)
    assert cfg.collector.endpoint == "10.0.0.1:8888"
    assert cfg.tablet.root_paths == (Path("/a"), Path("/b"), Path("/c"))
    assert cfg.log.dir == Path.cwd() / "relative" / "logs"
    assert cfg.origin("collector.max_pack_size") == "environment OMSYNC_COLLECTOR__MAX_PACK_SIZE"


@pytest.mark.parametrize(("word", "value"), [("true", True), ("FALSE", False), ("1", True), ("no", False)])
def test_env_bool_words(tmp_path: Path, word: str, value: bool) -> None:
    assert load(tmp_path, env={"OMSYNC_COLLECTOR__VERIFY_CRC": word}).collector.verify_crc is value


def test_env_list_as_toml_array_keeps_commas_in_paths(tmp_path: Path) -> None:
    cfg = load(tmp_path, env={"OMSYNC_TABLET__ROOT_PATHS": '["/data/a,b", "/data/c"]'})
    assert cfg.tablet.root_paths == (Path("/data/a,b"), Path("/data/c"))


def test_env_empty_optional_is_unset(tmp_path: Path) -> None:
    cfg = load(tmp_path, overrides={"collector.auth_token": "x"}, env={})
    assert cfg.collector.auth_token == "x"
    cfg = load(tmp_path, env={"OMSYNC_COLLECTOR__AUTH_TOKEN": ""})
    assert cfg.collector.auth_token is None


def test_env_bad_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as e:
        load(tmp_path, env={"OMSYNC_COLLECTOR__VERIFY_CRC": "maybe"})
    assert "OMSYNC_COLLECTOR__VERIFY_CRC" in str(e.value)
    assert "true or false" in str(e.value)


def test_env_mistakes_are_warnings_and_other_sections_are_ignored(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        env={
            "OMSYNC_COLLECTOR__MAX_PAK_SIZE": "1",
            "OMSYNC_COLLECTOR_ENDPOINT": "1.2.3.4:1",
            "OMSYNC_SYNCTOOL__PORT": "8848",
        },
    )
    assert cfg.collector.endpoint == "10.0.0.1:8888"
    text = "\n".join(warnings_of(cfg))
    assert "OMSYNC_COLLECTOR__MAX_PAK_SIZE ignored: did you mean 'max_pack_size'?" in text
    assert "OMSYNC_COLLECTOR_ENDPOINT ignored: write OMSYNC_COLLECTOR__<KEY>" in text
    assert "SYNCTOOL" not in text


# -- TOML ------------------------------------------------------------------------------------


def test_toml_typo_names_the_key_and_the_valid_keys(tmp_path: Path) -> None:
    toml = write(tmp_path / "c.toml", '[collector]\nendpoint = "1.2.3.4:5"\n\nmax_pak_size = 5\n')
    with pytest.raises(UsageError) as e:
        load(tmp_path, toml_path=toml)
    assert f"{toml}:4" in str(e.value)
    assert "unknown key 'max_pak_size' in [collector]" in str(e.value)
    assert e.value.hint is not None
    assert "did you mean 'max_pack_size'?" in e.value.hint
    for key in ("endpoint", "bind", "datadir", "auth_token", "verify_crc"):
        assert key in e.value.hint


def test_toml_unknown_section_and_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"unknown section \[colector\]") as e:
        load(tmp_path, toml_path=write(tmp_path / "a.toml", "[colector]\nendpoint = 'x:1'\n"))
    assert e.value.hint is not None and "collector" in e.value.hint
    with pytest.raises(UsageError, match="must be a \\[section\\]"):
        load(tmp_path, toml_path=write(tmp_path / "b.toml", "endpoint = 'x:1'\n"))


@pytest.mark.parametrize(
    ("body", "line", "expected"),
    [
        ("[collector]\n# c\nmax_pack_size = '1MiB'\n", 3, "an integer"),
        ("[collector]\nverify_crc = 1\n", 2, "true or false"),
        ("[zookeeper]\n\n\nhosts = 2181\n", 4, "a string"),
        ("[tablet]\nroot_paths = '/a'\n[tablet.x]\n", None, None),
        ("[tablet]\nroot_paths = [1, 2]\n", 2, "a path"),
    ],
)
def test_toml_wrong_type_names_file_line_and_key(
    tmp_path: Path, body: str, line: int | None, expected: str | None
) -> None:
    toml = write(tmp_path / "c.toml", body)
    with pytest.raises(UsageError) as e:
        load(tmp_path, toml_path=toml)
    if line is None:  # a sub-table is not a key of [tablet]
        assert "unknown key 'x' in [tablet]" in str(e.value)
        return
    assert str(e.value).startswith(f"{toml}:{line} [")
    assert expected in str(e.value)


def test_toml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not valid TOML"):
        load(tmp_path, toml_path=write(tmp_path / "c.toml", "[collector\n"))
    with pytest.raises(UsageError, match="does not exist"):
        load(tmp_path, toml_path=tmp_path / "nope.toml")


def test_toml_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    toml = write(
        tmp_path / "etc" / "c.toml", "[collector]\ndatadir = '../state'\n[tablet]\nroot_paths = ['db']\n"
    )
    cfg = load(tmp_path, toml_path=toml)
    assert cfg.collector.datadir == tmp_path / "state"
    assert cfg.tablet.root_paths == (tmp_path / "etc" / "db",)


def test_out_of_range_values_name_their_origin(tmp_path: Path) -> None:
    toml = write(tmp_path / "c.toml", "[collector]\nendpoint = '0.0.0.0:8888'\n")
    with pytest.raises(UsageError, match=r"c\.toml:2 \[collector\] endpoint: collector\.endpoint: .*bind"):
        load(tmp_path, toml_path=toml)
    with pytest.raises(UsageError, match=r"OMSYNC_COLLECTOR__MAX_PACK_SIZE.*64 MiB"):
        load(tmp_path, env={"OMSYNC_COLLECTOR__MAX_PACK_SIZE": str(64 << 20)})
    with pytest.raises(UsageError, match="root_path"):
        load(tmp_path, overrides={"zookeeper.root_path": "openmldb"})
    with pytest.raises(UsageError, match=r"log\.level"):
        load(tmp_path, overrides={"log.level": "loud"})


def test_required_keys(tmp_path: Path) -> None:
    defaults = minimal(tmp_path)
    del defaults["collector"]["endpoint"]
    with pytest.raises(UsageError, match=r"collector\.endpoint is required") as e:
        load(tmp_path, defaults=defaults)
    assert e.value.hint is not None
    assert "OMSYNC_COLLECTOR__ENDPOINT" in e.value.hint and "--endpoint" in e.value.hint
    defaults = minimal(tmp_path)
    del defaults["tablet"]
    with pytest.raises(UsageError, match=r"tablet\.root_paths.*tablet\.flagfile"):
        load(tmp_path, defaults=defaults)


# -- gflags files ----------------------------------------------------------------------------


def test_gflags_forms(tmp_path: Path) -> None:
    flags = write(
        tmp_path / "dc.flags",
        "# comment\n"
        "\n"
        "  --endpoint=10.1.1.1:7777  \n"
        '-zk_cluster="zk1:2181,zk2:2181"\n'
        "--nobinlog_enable_crc\n"
        "--log_level='warning'\n"
        "--max_pack_size=100\n"
        "--max_pack_size=200\n",
    )
    cfg = load(tmp_path, flagfile=flags)
    assert cfg.collector.endpoint == "10.1.1.1:7777"
    assert cfg.zookeeper.hosts == "zk1:2181,zk2:2181"
    assert cfg.collector.verify_crc is False
    assert cfg.log.level == "warning"
    assert cfg.collector.max_pack_size == 200  # later lines win, as in gflags
    assert cfg.origin("collector.max_pack_size") == f"{flags}:8 --max_pack_size"
    bare = write(tmp_path / "b.flags", "--binlog_enable_crc\n")
    assert (
        load(tmp_path, flagfile=bare, overrides={"collector.verify_crc": None}).collector.verify_crc is True
    )


def test_gflags_unknown_and_unused_flags(tmp_path: Path) -> None:
    flags = write(
        tmp_path / "dc.flags",
        "--role=data_collector\n--thread_pool_size=16\n--max_pak_size=5\n--frobnicate=1\nconf/x.flags\n",
    )
    cfg = load(tmp_path, flagfile=flags)
    notes = "\n".join(cfg.notes)
    assert f"{flags}:1: --role not used" in notes
    assert f"{flags}:2: --thread_pool_size not used" in notes
    warnings = "\n".join(cfg.warnings)
    assert f"{flags}:3: unknown flag --max_pak_size ignored (did you mean --max_pack_size?)" in warnings
    assert f"{flags}:4: unknown flag --frobnicate ignored" in warnings
    assert f"{flags}:5: 'conf/x.flags' is not a flag" in warnings


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--max_pack_size=lots", "--max_pack_size.*must be an integer"),
        ("--request_timeout_ms=", "request_timeout_ms must be an integer"),
        ("--binlog_enable_crc=perhaps", "true or false"),
        ("--endpoint", "--endpoint needs a value"),
        ("--endpoint 1.2.3.4:5", "cannot read"),
    ],
)
def test_gflags_wrong_values_name_file_line_and_flag(tmp_path: Path, line: str, message: str) -> None:
    flags = write(tmp_path / "dc.flags", f"# first\n{line}\n")
    with pytest.raises(UsageError, match=message) as e:
        load(tmp_path, flagfile=flags)
    assert str(e.value).startswith(f"{flags}:2")


def test_gflags_nested_flagfile_and_relative_paths(tmp_path: Path) -> None:
    release = tmp_path / "release"
    write(release / "conf" / "common.flags", "--zk_cluster=nested:2181\n")
    flags = write(
        release / "conf" / "dc.flags",
        "--flagfile=conf/common.flags\n--collector_datadir=./data_collector\n--openmldb_log_dir=logs\n",
    )
    cfg = load(tmp_path, flagfile=flags)
    assert cfg.zookeeper.hosts == "nested:2181"
    assert cfg.origin("zookeeper.hosts") == f"{release / 'conf' / 'common.flags'}:1 --zk_cluster"
    assert cfg.collector.datadir == release / "data_collector"  # the release dir, as start.sh runs there
    assert cfg.log.dir == release / "logs"
    loop = write(tmp_path / "loop.flags", f"--flagfile={tmp_path / 'loop.flags'}\n")
    with pytest.raises(UsageError, match="nested more than"):
        parse_gflags(loop)


def test_gflags_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load(tmp_path, flagfile=tmp_path / "nope.flags")


# -- the tablet's flags file -----------------------------------------------------------------

TABLET_FLAGS = """\
# tablet.conf
--endpoint=10.0.0.1:10921
--role=tablet
--zk_cluster=zk-a:2181,zk-b:2181
--zk_root_path=/cluster1
--binlog_name_length=10
--db_root_path=./db,/ssd0/db
--hdd_root_path=./db_hdd
#--ssd_root_path=./db_ssd
"""


def test_read_tablet_flags(tmp_path: Path) -> None:
    path = write(tmp_path / "openmldb" / "conf" / "tablet.flags", TABLET_FLAGS)
    tf = read_tablet_flags(path)
    release = tmp_path / "openmldb"
    assert tf.endpoint == "10.0.0.1:10921"
    assert tf.db_root_paths == (release / "db", Path("/ssd0/db"))
    assert tf.ssd_root_paths == ()
    assert tf.hdd_root_paths == (release / "db_hdd",)
    assert tf.root_paths == (release / "db", Path("/ssd0/db"), release / "db_hdd")
    assert (tf.zk_cluster, tf.zk_root_path, tf.binlog_name_length) == ("zk-a:2181,zk-b:2181", "/cluster1", 10)
    assert tf.where["hdd_root_path"] == f"{path}:8"
    bad = write(tmp_path / "bad.flags", "--binlog_name_length=eight\n")
    with pytest.raises(UsageError, match=f"{re.escape(str(bad))}:1: --binlog_name_length"):
        read_tablet_flags(bad)


def test_tablet_flagfile_fills_what_is_not_set(tmp_path: Path) -> None:
    path = write(tmp_path / "openmldb" / "conf" / "tablet.flags", TABLET_FLAGS)
    defaults = minimal(tmp_path)
    del defaults["tablet"], defaults["zookeeper"]
    toml = write(tmp_path / "c.toml", f"[tablet]\nflagfile = '{path}'\n")
    cfg = load(tmp_path, toml_path=toml, defaults=defaults)
    release = tmp_path / "openmldb"
    assert cfg.tablet.root_paths == (release / "db", Path("/ssd0/db"), release / "db_hdd")
    assert cfg.tablet.endpoint == "10.0.0.1:10921"
    assert cfg.tablet.binlog_name_length == 10
    assert (cfg.zookeeper.hosts, cfg.zookeeper.root_path) == ("zk-a:2181,zk-b:2181", "/cluster1")
    assert cfg.origin("tablet.binlog_name_length") == f"{path}:6 --binlog_name_length"
    assert any("tablet root paths from" in n for n in cfg.notes)
    assert warnings_of(cfg) == []


def test_explicit_settings_beat_the_tablet_flagfile_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "conf" / "tablet.flags", TABLET_FLAGS)
    explicit = {
        "tablet.flagfile": path,
        "tablet.root_paths": [str(tmp_path / "db")],
        "tablet.binlog_name_length": 8,
        "collector.endpoint": "10.0.0.2:8888",
    }
    cfg = load(tmp_path, overrides=explicit)
    assert cfg.tablet.root_paths == (tmp_path / "db",)
    assert cfg.tablet.binlog_name_length == 8
    text = "\n".join(warnings_of(cfg))
    assert "tablet.binlog_name_length = 8 (command line tablet.binlog_name_length) differs from 10" in text
    assert "tablet.root_paths" in text
    assert "collector.endpoint host '10.0.0.2' differs from the tablet's '10.0.0.1'" in text


# -- the shipped examples --------------------------------------------------------------------


def test_shipped_toml_loads_with_documented_defaults(tmp_path: Path) -> None:
    cfg = load_config(CollectorConfig, toml_path=SHIPPED_TOML, env={}, defaults=paths.collector_defaults())
    assert cfg.collector.endpoint == "127.0.0.1:8888"
    assert cfg.zookeeper.hosts == "127.0.0.1:2181"
    assert cfg.tablet.root_paths == (Path("/opt/openmldb/db"), Path("/opt/openmldb/db_hdd"))
    assert cfg.collector.datadir == paths.data_dir() / "collector"
    assert cfg.log.dir == paths.log_dir() / "collector"
    assert cfg.notes == () and cfg.warnings == ()


def _toml_lines_by_section(text: str) -> dict[str, dict[str, str]]:
    """section → key → the value as written, active or commented out (``# key = value``)."""
    out: dict[str, dict[str, str]] = {}
    section = ""
    for line in text.splitlines():
        if m := re.fullmatch(r"\[(\w+)\]", line.strip()):
            section = m.group(1)
            out[section] = {}
        elif m := re.fullmatch(r"#? ?(\w+) = (.+)", line.strip()):
            out[section][m.group(1)] = m.group(2)
    return out


def test_shipped_toml_lists_every_key_with_its_default() -> None:
    shown = _toml_lines_by_section(SHIPPED_TOML.read_text())
    assert set(shown) == set(SECTIONS)
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            assert f.name in shown[section], f"[{section}] {f.name} missing from conf/collector.toml"
            if f.default not in (dataclasses.MISSING, None, ()):
                value = tomllib.loads(f"v = {shown[section][f.name]}")["v"]
                assert value == f.default, f"[{section}] {f.name}: the example shows {value!r}"
            gflag = f.metadata.get("gflag")
            if gflag:
                assert f"--{gflag}" in SHIPPED_TOML.read_text()


def test_every_config_field_has_a_docstring() -> None:
    for cls in SECTIONS.values():
        body = ast.parse(inspect.getsource(cls)).body[0]
        assert isinstance(body, ast.ClassDef)
        documented = set()
        for stmt, after in zip(body.body, body.body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
            ):
                documented.add(stmt.target.id)
        assert documented == {f.name for f in dataclasses.fields(cls)}, cls.__name__


def test_shipped_flags_file_migrates(tmp_path: Path) -> None:
    cfg = load_config(
        CollectorConfig,
        flagfile=SHIPPED_FLAGS,
        env={},
        defaults=paths.collector_defaults(),
        overrides={"tablet.root_paths": [str(tmp_path / "db")]},
    )
    release = REPO  # conf/ lives in the repository root: its parent is the "release" dir
    assert cfg.collector.endpoint == "127.0.0.1:8888"
    assert (cfg.zookeeper.hosts, cfg.zookeeper.root_path) == ("127.0.0.1:2181", "/openmldb")
    assert cfg.collector.datadir == release / "data_collector"
    assert cfg.log.dir == release / "logs"
    assert cfg.log.level == "info"
    assert cfg.collector.max_pack_size == 1024 * 1024
    # the flags file's datadir is relative to the checkout: a checkout under /tmp (CI clones,
    # scratch dirs) rightly earns the "temporary directory" warning, nothing else may appear
    expected = (1,) if str(release).startswith(("/tmp/", "/var/tmp/", tempfile.gettempdir() + "/")) else ()
    assert tuple(1 for _ in cfg.warnings) == expected
    assert all("temporary directory" in w for w in cfg.warnings)
    assert [n.split(": ", 1)[1] for n in cfg.notes] == [
        "--enable_status_service not used: omsync always serves /status"
    ]


def test_shipped_flags_file_keys_are_openmldb_release_keys() -> None:
    flags, warnings = parse_gflags(SHIPPED_FLAGS)
    assert warnings == []
    assert [f.name for f in flags] == [
        "endpoint",
        "enable_status_service",
        "zk_cluster",
        "zk_root_path",
        "collector_datadir",
        "openmldb_log_dir",
        "log_level",
    ]


# -- defaults and odds -----------------------------------------------------------------------


def under_tmp(p: Path) -> bool:
    return p == Path("/tmp") or Path("/tmp") in p.parents


@pytest.mark.parametrize("system", [False, True])
def test_default_paths_are_never_under_tmp(system: bool) -> None:
    defaults = paths.collector_defaults(system=system)
    for value in (defaults["collector"]["datadir"], defaults["log"]["dir"]):
        assert isinstance(value, Path) and value.is_absolute()
        assert not under_tmp(value), value
    assert all(not under_tmp(d) for d in paths.config_dirs())
    for f in dataclasses.fields(CollectorSection) + dataclasses.fields(LogSection):
        assert "/tmp" not in str(f.default)


def test_config_file_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert paths.config_dirs()[0] == tmp_path / "cfg" / "omsync"
    toml = write(tmp_path / "cfg" / "omsync" / "collector.toml", "")
    assert paths.find_config_file("collector.toml") == toml


def test_datadir_under_tmp_is_a_warning(tmp_path: Path) -> None:
    cfg = load(tmp_path, overrides={"collector.datadir": "/tmp/data_collector"})
    assert any("collector.datadir /tmp/data_collector" in w for w in cfg.warnings)


def test_config_is_frozen_and_hides_secrets(tmp_path: Path) -> None:
    cfg = load(tmp_path, overrides={"collector.auth_token": "s3cret", "zookeeper.auth": "u:pw"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.collector.max_pack_size = 1  # type: ignore[misc]
    assert "s3cret" not in repr(cfg) and "u:pw" not in repr(cfg)
    assert (cfg.collector.auth_token, cfg.zookeeper.auth) == ("s3cret", "u:pw")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.2.3.4:80", ("1.2.3.4", 80)), ("[::1]:8888", ("::1", 8888)), ("host.example:1", ("host.example", 1))],
)
def test_parse_endpoint(text: str, expected: tuple[str, int]) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize("text", ["1.2.3.4", ":80", "h:0", "h:65536", "::1:80", "h:x"])
def test_parse_endpoint_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(text)
