"""The synctool's config: precedence, synctool.properties migration, validation, the shipped files."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from omsync_tui.core.collector_config import CollectorSection, LogSection
from omsync_tui.core.config import load_config
from omsync_tui.core.errors import UsageError
from omsync_tui.core.javaprops import read_properties
from omsync_tui.core.synctool_config import (
    COLLECTOR_HEARTBEAT_S,
    HdfsSection,
    SinkSection,
    SynctoolConfig,
    SynctoolSection,
    ZooKeeperSection,
)
from omsync_tui.services import paths

REPO = Path(__file__).resolve().parents[3]
SHIPPED_TOML = REPO / "conf" / "synctool.toml"
SHIPPED_PROPERTIES = REPO / "conf" / "synctool.properties"
SECTIONS: dict[str, type] = {
    "synctool": SynctoolSection,
    "sink": SinkSection,
    "zookeeper": ZooKeeperSection,
    "log": LogSection,
    "hdfs": HdfsSection,
}
MIB = 1024 * 1024


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def minimal(tmp_path: Path) -> dict[str, Any]:
    """What a synctool needs besides its sources: required keys, paths under tmp_path."""
    return {
        "synctool": {"endpoint": "10.0.0.9:8848", "datadir": tmp_path / "data"},
        "zookeeper": {"hosts": "zk:2181"},
        "log": {"dir": tmp_path / "logs"},
    }


def warnings_of(cfg: SynctoolConfig) -> list[str]:
    """Warnings other than the one every tmp_path datadir draws (tested on its own)."""
    return [w for w in cfg.warnings if "temporary directory" not in w]


def load(tmp_path: Path, **kw: Any) -> SynctoolConfig:
    kw.setdefault("env", {})
    kw.setdefault("defaults", minimal(tmp_path))
    return load_config(SynctoolConfig, **kw)


# -- precedence ------------------------------------------------------------------------------

LEVELS = ["defaults", "properties", "toml_path", "env", "overrides"]


def _sources(tmp_path: Path) -> dict[str, Any]:
    """zookeeper.hosts and synctool.check_period_s set differently at every level."""
    return {
        "defaults": {
            **minimal(tmp_path),
            "zookeeper": {"hosts": "from-defaults:2181"},
            "synctool": {**minimal(tmp_path)["synctool"], "check_period_s": 1},
        },
        "properties": write(
            tmp_path / "synctool.properties",
            "# release\nzookeeper.cluster=from-properties:2181\nsync_task.check_period = 2\n",
        ),
        "toml_path": write(
            tmp_path / "s.toml", '[synctool]\ncheck_period_s = 3\n[zookeeper]\nhosts = "from-toml:2181"\n'
        ),
        "env": {"OMSYNC_ZOOKEEPER__HOSTS": "from-env:2181", "OMSYNC_SYNCTOOL__CHECK_PERIOD_S": "4.5"},
        "overrides": {"zookeeper.hosts": "from-cli:2181", "synctool.check_period_s": 5.25},
    }


@pytest.mark.parametrize(
    ("top", "period", "origin"),
    [
        ("defaults", 1.0, "default zookeeper.hosts"),
        ("properties", 2.0, "synctool.properties:2 zookeeper.cluster"),
        ("toml_path", 3.0, "s.toml:4 [zookeeper] hosts"),
        ("env", 4.5, "environment OMSYNC_ZOOKEEPER__HOSTS"),
        ("overrides", 5.25, "command line zookeeper.hosts"),
    ],
)
def test_each_level_overrides_the_one_below(tmp_path: Path, top: str, period: float, origin: str) -> None:
    src = _sources(tmp_path)
    kw: dict[str, Any] = {"env": {}, "defaults": src["defaults"]}
    for level in LEVELS[1 : LEVELS.index(top) + 1]:
        kw[level] = src[level]
    cfg = load_config(SynctoolConfig, **kw)
    winner = {"toml_path": "toml", "overrides": "cli"}.get(top, top)
    assert cfg.zookeeper.hosts == f"from-{winner}:2181"
    assert cfg.origin("zookeeper.hosts").endswith(origin)
    assert cfg.synctool.check_period_s == period


def test_property_origin_reads_file_line_key(tmp_path: Path) -> None:
    props = write(tmp_path / "synctool.properties", "\n" * 11 + "server.worker_threads=8\n")
    cfg = load(tmp_path, properties=props)
    assert cfg.synctool.workers == 8
    assert cfg.origin("synctool.workers") == f"{props}:12 server.worker_threads"


def test_dataclass_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    s, sink, zk = cfg.synctool, cfg.sink, cfg.zookeeper
    assert s.bind == s.endpoint == "10.0.0.9:8848"
    assert s.bind_address == ("10.0.0.9", 8848)
    assert s.auth_token is None
    assert (s.check_period_s, s.collector_timeout_s, s.init_timeout_s, s.request_timeout_s) == (
        10.0,
        30.0,
        60.0,
        5.0,
    )
    assert (s.max_retries, s.retry_backoff_s, s.workers) == (5, 2.0, 16)
    assert (sink.roll_rows, sink.roll_bytes, sink.commit_seconds) == (5_000_000, 256 * MIB, 60.0)
    assert sink.roll_seconds is None
    assert (sink.memory_per_subtask, sink.memory_total) == (64 * MIB, 512 * MIB)
    assert sink.csv_timezone == "UTC" and cfg.hdfs.hadoop_conf_dir is None
    assert (zk.root_path, zk.session_timeout_ms, zk.auth) == ("/openmldb", 10000, None)
    assert cfg.log.level == "info"
    assert cfg.origin("sink.roll_rows") == "default"
    assert warnings_of(cfg) == [] and cfg.notes == ()


def test_roll_seconds_is_the_old_name_of_commit_seconds(tmp_path: Path) -> None:
    old = write(tmp_path / "old.toml", "[sink]\nroll_seconds = 5\n")
    cfg = load(tmp_path, toml_path=old)
    assert cfg.sink.commit_seconds == 5.0
    assert cfg.origin("sink.commit_seconds") == "sink.roll_seconds (its old name)"
    assert [n for n in cfg.notes if "roll_seconds" in n] == [
        "sink.roll_seconds = 5.0 is the old name of sink.commit_seconds (a file is committed at least "
        "this often): rename it"
    ]
    # the new name, from any source, wins; the loader says the two differ
    cfg = load(tmp_path, toml_path=old, env={"OMSYNC_SINK__COMMIT_SECONDS": "30"})
    assert cfg.sink.commit_seconds == 30.0
    assert any("sink.commit_seconds = 30.0" in w and "5.0" in w for w in cfg.warnings), cfg.warnings


def test_a_small_commit_seconds_warns_in_files_an_hour(tmp_path: Path) -> None:
    cfg = load(tmp_path, overrides={"sink.commit_seconds": "1"})
    assert [w for w in warnings_of(cfg) if "commit_seconds" in w] == [
        "sink.commit_seconds = 1: up to 3,600 files an hour per partition while rows arrive (many small "
        "files, slow to list and read)"
    ]
    assert not [w for w in warnings_of(load(tmp_path)) if "commit_seconds" in w]


def test_toml_wins_over_properties_and_says_so(tmp_path: Path) -> None:
    props = write(tmp_path / "synctool.properties", "request.timeout=7\nserver.worker_threads=4\n")
    toml = write(tmp_path / "s.toml", "[synctool]\nrequest_timeout_s = 9\nworkers = 4\n")
    cfg = load(tmp_path, properties=props, toml_path=toml)
    assert (cfg.synctool.request_timeout_s, cfg.synctool.workers) == (9.0, 4)
    [note] = [n for n in cfg.notes if "request_timeout_s" in n]
    assert "9.0" in note and "7.0" in note and f"{props}:1 request.timeout" in note
    assert not any("workers" in n for n in cfg.notes)  # same value: nothing to say


def test_floats_from_every_source(tmp_path: Path) -> None:
    toml = write(tmp_path / "s.toml", "[synctool]\ncollector_timeout_s = 45\ninit_timeout_s = 90.5\n")
    cfg = load(
        tmp_path,
        toml_path=toml,
        env={"OMSYNC_SINK__COMMIT_SECONDS": " 1.5e2 "},
        overrides={"synctool.retry_backoff_s": "0.25"},
    )
    assert cfg.synctool.collector_timeout_s == 45.0 and isinstance(cfg.synctool.collector_timeout_s, float)
    assert cfg.synctool.init_timeout_s == 90.5
    assert cfg.sink.commit_seconds == 150.0
    assert cfg.synctool.retry_backoff_s == 0.25


@pytest.mark.parametrize("bad", ["soon", "nan", "inf", "", "1_0", "true"])
def test_float_rejects_non_numbers(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UsageError, match=r"OMSYNC_SYNCTOOL__CHECK_PERIOD_S.*must be a number") as e:
        load(tmp_path, env={"OMSYNC_SYNCTOOL__CHECK_PERIOD_S": bad})
    assert e.value.hint is not None and "default: 10.0" in e.value.hint


def test_toml_bool_is_not_a_number(tmp_path: Path) -> None:
    toml = write(tmp_path / "s.toml", "[synctool]\ncheck_period_s = true\n")
    with pytest.raises(UsageError, match=rf"{re.escape(str(toml))}:2 \[synctool\] check_period_s.*a number"):
        load(tmp_path, toml_path=toml)


def test_env_typo_is_a_warning(tmp_path: Path) -> None:
    cfg = load(tmp_path, env={"OMSYNC_SINK__ROLL_ROW": "1", "OMSYNC_COLLECTOR__ENDPOINT": "x"})
    assert any("OMSYNC_SINK__ROLL_ROW ignored: did you mean 'roll_rows'?" in w for w in cfg.warnings)
    assert not any("COLLECTOR" in w for w in cfg.warnings)  # another daemon's section


def test_toml_typo_is_an_error(tmp_path: Path) -> None:
    toml = write(tmp_path / "s.toml", "[sink]\nroll_row = 5\n")
    with pytest.raises(UsageError, match=r"unknown key 'roll_row' in \[sink\]") as e:
        load(tmp_path, toml_path=toml)
    assert e.value.hint is not None and "did you mean 'roll_rows'?" in e.value.hint


# -- synctool.properties ---------------------------------------------------------------------


def test_release_properties_file_migrates_with_an_endpoint_from_elsewhere() -> None:
    cfg = load_config(
        SynctoolConfig,
        properties=SHIPPED_PROPERTIES,
        env={"OMSYNC_SYNCTOOL__ENDPOINT": "10.0.0.9:8848"},
        defaults=paths.synctool_defaults(),
    )
    assert cfg.synctool.endpoint == "10.0.0.9:8848"
    assert cfg.synctool.bind == "0.0.0.0:8848"
    assert cfg.origin("synctool.bind") == (
        f"{SHIPPED_PROPERTIES}:8 server.host, {SHIPPED_PROPERTIES}:9 server.port"
    )
    assert (cfg.zookeeper.hosts, cfg.zookeeper.root_path) == ("0.0.0.0:2181", "/openmldb")
    assert cfg.hdfs.hadoop_conf_dir == Path("/etc/hadoop/conf")
    assert cfg.synctool.datadir == paths.data_dir() / "synctool"  # /tmp/sync_task_progress not carried
    [warning] = cfg.warnings
    assert warning.startswith(f"{SHIPPED_PROPERTIES}:8: server.host = '0.0.0.0' only says where to listen")
    assert "synctool.endpoint must be set" in warning
    assert [n.split(": ", 1)[1] for n in cfg.notes] == [
        "sync_task.progress_path not used: omsync keeps progress in ZooKeeper and in the destination; "
        "its local state goes to synctool.datadir"
    ]


def test_release_properties_file_alone_asks_for_an_endpoint() -> None:
    with pytest.raises(UsageError, match=r"^synctool\.endpoint is required and not set$") as e:
        load_config(SynctoolConfig, properties=SHIPPED_PROPERTIES, env={}, defaults=paths.synctool_defaults())
    hint = e.value.hint
    assert hint is not None
    assert "OMSYNC_SYNCTOOL__ENDPOINT" in hint and "server.host and server.port" in hint
    assert f"{SHIPPED_PROPERTIES}:8: server.host = '0.0.0.0'" in hint  # why the file did not give it


def test_shipped_properties_are_the_release_keys() -> None:
    assert [(p.key, p.value) for p in read_properties(SHIPPED_PROPERTIES)] == [
        ("server.host", "0.0.0.0"),
        ("server.port", "8848"),
        ("zookeeper.cluster", "0.0.0.0:2181"),
        ("zookeeper.root_path", "/openmldb"),
        ("sync_task.progress_path", "/tmp/sync_task_progress"),
        ("hadoop.conf.dir", "/etc/hadoop/conf"),
    ]


@pytest.mark.parametrize(
    ("host", "endpoint"),
    [("10.0.0.7", "10.0.0.7:9000"), ("sync.example", "sync.example:9000"), ("fe80::1", "[fe80::1]:9000")],
)
def test_routable_server_host_gives_the_endpoint(tmp_path: Path, host: str, endpoint: str) -> None:
    props = write(tmp_path / "synctool.properties", f"server.port=9000\nserver.host = {host}\n")
    defaults = minimal(tmp_path)
    del defaults["synctool"]["endpoint"]
    cfg = load(tmp_path, properties=props, defaults=defaults)
    assert cfg.synctool.endpoint == cfg.synctool.bind == endpoint
    assert cfg.origin("synctool.endpoint") == f"{props}:2 server.host, {props}:1 server.port"
    assert warnings_of(cfg) == []


@pytest.mark.parametrize(
    ("host", "bind"), [("0.0.0.0", "0.0.0.0:8848"), ("::", "[::]:8848"), ("", "0.0.0.0:8848")]
)
def test_wildcard_server_host_is_only_bind(tmp_path: Path, host: str, bind: str) -> None:
    props = write(tmp_path / "synctool.properties", f"server.host={host}\nserver.port=8848\n")
    cfg = load(tmp_path, properties=props)
    assert (cfg.synctool.bind, cfg.synctool.endpoint) == (bind, "10.0.0.9:8848")
    assert any("synctool.endpoint must be set" in w for w in cfg.warnings)


def test_server_port_alone_listens_everywhere(tmp_path: Path) -> None:
    props = write(tmp_path / "synctool.properties", "server.port=8848\n")
    cfg = load(tmp_path, properties=props)
    assert cfg.synctool.bind == "0.0.0.0:8848"
    assert cfg.origin("synctool.bind") == f"{props}:1 server.port"
    assert any(w.startswith(f"{props}:1: no server.host") for w in cfg.warnings)


def test_server_host_without_port_is_a_warning(tmp_path: Path) -> None:
    props = write(tmp_path / "synctool.properties", "server.host=10.0.0.7\n")
    cfg = load(tmp_path, properties=props)
    assert cfg.synctool.endpoint == "10.0.0.9:8848"
    assert f"{props}:1: server.host without server.port ignored" in cfg.warnings


@pytest.mark.parametrize("port", ["0", "65536", "http", "", "-1", "８８４８"])
def test_bad_server_port_names_file_and_line(tmp_path: Path, port: str) -> None:
    props = write(tmp_path / "synctool.properties", f"server.host=10.0.0.7\n\nserver.port={port}\n")
    with pytest.raises(UsageError, match=rf"^{re.escape(str(props))}:3: server\.port must be a port number"):
        load(tmp_path, properties=props)


def test_ignored_properties_are_notes_with_reasons(tmp_path: Path) -> None:
    body = "".join(f"{k}=x\n" for k in SynctoolConfig.PROPERTIES_IGNORED)
    props = write(tmp_path / "synctool.properties", body)
    cfg = load(tmp_path, properties=props)
    assert len(cfg.notes) == len(SynctoolConfig.PROPERTIES_IGNORED)
    for no, (key, reason) in enumerate(SynctoolConfig.PROPERTIES_IGNORED.items(), 1):
        assert f"{props}:{no}: {key} not used: {reason}" in cfg.notes
    assert warnings_of(cfg) == []
    for key in ("user", "password"):
        assert "ZooKeeper" in SynctoolConfig.PROPERTIES_IGNORED[key]
    for key in ("data.cache_path", "flink.slots", "rest.port", "high-availability.cluster-id"):
        assert "Flink" in SynctoolConfig.PROPERTIES_IGNORED[key]


def test_unknown_properties_are_warnings_with_file_and_line(tmp_path: Path) -> None:
    props = write(
        tmp_path / "synctool.properties",
        "# test file\nzookeeper.clustr=zk:2181\nstate.backend=rocksdb\nzookeeper.cluster=zk2:2181\n",
    )
    cfg = load(tmp_path, properties=props)
    assert cfg.zookeeper.hosts == "zk2:2181"
    assert f"{props}:2: unknown property zookeeper.clustr ignored (did you mean zookeeper.cluster?)" in (
        cfg.warnings
    )
    assert f"{props}:3: unknown property state.backend ignored" in cfg.warnings


def test_check_period_property_notes_the_old_collector_timeout(tmp_path: Path) -> None:
    props = write(tmp_path / "synctool.properties", "sync_task.check_period=20\n")
    cfg = load(tmp_path, properties=props)
    assert cfg.synctool.check_period_s == 20.0
    assert cfg.synctool.collector_timeout_s == 30.0
    assert any(n.startswith(f"{props}:1: sync_task.check_period also set") for n in cfg.notes)


def test_every_mapped_property(tmp_path: Path) -> None:
    props = write(
        tmp_path / "conf" / "synctool.properties",
        "server.host=10.1.1.1\nserver.port=18848\nserver.worker_threads=32\n"
        "zookeeper.cluster=zk1:2181,zk2:2181\nzookeeper.root_path=/cluster1\nzookeeper.cert=u:pw\n"
        "sync_task.check_period=3\nrequest.timeout=11\nhadoop.conf.dir=./hadoop\n",
    )
    defaults = minimal(tmp_path)
    del defaults["synctool"]["endpoint"], defaults["zookeeper"]
    cfg = load(tmp_path, properties=props, defaults=defaults)
    assert cfg.synctool.endpoint == "10.1.1.1:18848"
    assert cfg.synctool.workers == 32
    assert (cfg.zookeeper.hosts, cfg.zookeeper.root_path, cfg.zookeeper.auth) == (
        "zk1:2181,zk2:2181",
        "/cluster1",
        "u:pw",
    )
    assert (cfg.synctool.check_period_s, cfg.synctool.request_timeout_s) == (3.0, 11.0)
    # relative paths: from the release dir (the parent of conf/), as for OpenMLDB flags files
    assert cfg.hdfs.hadoop_conf_dir == tmp_path / "hadoop"
    assert warnings_of(cfg) == []


def test_repeated_property_later_wins(tmp_path: Path) -> None:
    props = write(tmp_path / "synctool.properties", "request.timeout=1\nrequest.timeout=2\n")
    cfg = load(tmp_path, properties=props)
    assert cfg.synctool.request_timeout_s == 2.0
    assert cfg.origin("synctool.request_timeout_s") == f"{props}:2 request.timeout"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("server.worker_threads=many", r":1 server\.worker_threads: synctool\.workers must be an integer"),
        (
            "sync_task.check_period=soon",
            r":1 sync_task\.check_period: synctool\.check_period_s must be a number",
        ),
        ("zookeeper.root_path=openmldb", r":1 zookeeper\.root_path: zookeeper\.root_path: .*must start"),
        ("zookeeper.cert=nocolon", r":1 zookeeper\.cert: zookeeper\.auth: must be user:password"),
        ("k=\\u00zz", r":1: malformed \\uXXXX"),
    ],
)
def test_bad_property_values_name_file_line_and_key(tmp_path: Path, line: str, message: str) -> None:
    props = write(tmp_path / "synctool.properties", line + "\n")
    with pytest.raises(UsageError, match=re.escape(str(props)) + message):
        load(tmp_path, properties=props)


def test_missing_properties_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"properties file .* does not exist"):
        load(tmp_path, properties=tmp_path / "nope.properties")


def test_properties_and_a_collector_config(tmp_path: Path) -> None:
    """The collector declares no properties: every key of a properties file is unknown to it."""
    from omsync_tui.core.collector_config import CollectorConfig

    props = write(tmp_path / "x.properties", "zookeeper.cluster=zk:2181\n")
    cfg = load_config(
        CollectorConfig,
        properties=props,
        env={},
        defaults={
            "collector": {"endpoint": "10.0.0.1:8888", "datadir": tmp_path / "d"},
            "zookeeper": {"hosts": "zk:2181"},
            "tablet": {"root_paths": [str(tmp_path)]},
            "log": {"dir": tmp_path / "l"},
        },
    )
    assert f"{props}:1: unknown property zookeeper.cluster ignored" in cfg.warnings


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("synctool.endpoint", "10.0.0.9", r"synctool\.endpoint: '10\.0\.0\.9' is not host:port"),
        ("synctool.endpoint", "h:0", r"synctool\.endpoint: .*port must be 1-65535"),
        (
            "synctool.endpoint",
            "0.0.0.0:8848",
            r"synctool\.endpoint: '0\.0\.0\.0:8848' is not an address.*bind",
        ),
        ("synctool.endpoint", "[::]:8848", r"synctool\.endpoint: .*put it in bind"),
        ("synctool.bind", "everywhere", r"synctool\.bind: 'everywhere' is not host:port"),
        ("synctool.check_period_s", 0, r"synctool\.check_period_s: must be greater than 0"),
        ("synctool.collector_timeout_s", -1, r"synctool\.collector_timeout_s: must be greater than 0"),
        ("synctool.init_timeout_s", 0, r"synctool\.init_timeout_s: must be greater than 0"),
        ("synctool.request_timeout_s", 0, r"synctool\.request_timeout_s: must be greater than 0"),
        ("synctool.max_retries", -1, r"synctool\.max_retries: must not be negative"),
        ("synctool.retry_backoff_s", -1, r"synctool\.retry_backoff_s: must be between 0 and 60"),
        ("synctool.retry_backoff_s", 61, r"synctool\.retry_backoff_s: must be between 0 and 60 \(the cap\)"),
        ("synctool.workers", 0, r"synctool\.workers: must be greater than 0"),
        ("synctool.workers", 1.5, r"synctool\.workers must be an integer"),
        ("synctool.datadir", "", r"synctool\.datadir must be a path"),
        ("sink.roll_rows", 0, r"sink\.roll_rows: must be greater than 0"),
        ("sink.roll_bytes", -5, r"sink\.roll_bytes: must be greater than 0"),
        ("sink.commit_seconds", 0, r"sink\.commit_seconds: must be greater than 0"),
        ("sink.commit_seconds", -1, r"sink\.commit_seconds: must be greater than 0, not -1"),
        ("sink.roll_seconds", 0, r"sink\.roll_seconds: must be greater than 0"),
        ("sink.memory_per_subtask", 0, r"sink\.memory_per_subtask: must be greater than 0"),
        ("sink.memory_total", 0, r"sink\.memory_total: must be greater than 0"),
        ("sink.csv_timezone", "Mars/Olympus", r"sink\.csv_timezone: 'Mars/Olympus' is not a known time zone"),
        ("sink.csv_timezone", "../etc", r"sink\.csv_timezone: .*IANA name"),
        ("zookeeper.hosts", " ", r"zookeeper\.hosts: must not be empty"),
        ("zookeeper.root_path", "/openmldb/", r"zookeeper\.root_path: '/openmldb/' must start and not end"),
        ("zookeeper.session_timeout_ms", 0, r"zookeeper\.session_timeout_ms: must be greater than 0"),
        ("zookeeper.auth", "token", r"zookeeper\.auth: must be user:password"),
        ("log.level", "loud", r"log\.level: 'loud' is not one of debug, info, warning, error"),
    ],
)
def test_every_validation_error_names_the_key(tmp_path: Path, key: str, value: object, message: str) -> None:
    with pytest.raises(
        UsageError, match=rf"^command line {re.escape(key)}: {message}|^command line {message}"
    ):
        load(tmp_path, overrides={key: value})


def test_valid_edge_values(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        overrides={
            "synctool.max_retries": 0,
            "synctool.retry_backoff_s": 0,
            "sink.csv_timezone": "Asia/Shanghai",
            "synctool.bind": "[::]:8848",
        },
    )
    assert (cfg.synctool.max_retries, cfg.synctool.retry_backoff_s) == (0, 0.0)
    assert cfg.sink.csv_timezone == "Asia/Shanghai"
    assert cfg.synctool.bind_address == ("::", 8848)


def test_required_keys(tmp_path: Path) -> None:
    defaults = minimal(tmp_path)
    del defaults["zookeeper"]
    with pytest.raises(UsageError, match=r"zookeeper\.hosts is required") as e:
        load(tmp_path, defaults=defaults)
    assert e.value.hint is not None
    assert (
        "OMSYNC_ZOOKEEPER__HOSTS" in e.value.hint and "zookeeper.cluster in a properties file" in e.value.hint
    )
    defaults = minimal(tmp_path)
    del defaults["synctool"]["endpoint"]
    with pytest.raises(UsageError, match=r"synctool\.endpoint is required") as e:
        load(tmp_path, defaults=defaults)
    assert e.value.hint is not None and "server.host and server.port" in e.value.hint


# -- check() warnings ------------------------------------------------------------------------


def test_no_warnings_for_defaults(tmp_path: Path) -> None:
    assert warnings_of(load(tmp_path)) == []


def test_datadir_under_tmp_is_a_warning(tmp_path: Path) -> None:
    cfg = load(tmp_path, overrides={"synctool.datadir": "/tmp/sync_task_progress"})
    [warning] = [w for w in cfg.warnings if "temporary directory" in w]
    assert warning.startswith("synctool.datadir /tmp/sync_task_progress (command line synctool.datadir)")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"synctool.collector_timeout_s": 14.9}, "below 3 × the collectors' default heartbeat (5 s)"),
        ({"sink.roll_bytes": 8 * MIB - 1}, "under 8 MiB: many small files"),
        (
            {"sink.memory_total": 32 * MIB},
            "sink.memory_total = 33554432 is less than sink.memory_per_subtask",
        ),
        (
            {"synctool.bind": "0.0.0.0:9999"},
            "synctool.bind port 9999 differs from synctool.endpoint port 8848",
        ),
    ],
)
def test_doubtful_values_are_warnings(tmp_path: Path, overrides: dict[str, object], expected: str) -> None:
    [warning] = warnings_of(load(tmp_path, overrides=overrides))
    assert expected in warning


def test_warning_thresholds_are_inclusive(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        overrides={
            "synctool.collector_timeout_s": 15,
            "sink.roll_bytes": 8 * MIB,
            "sink.memory_total": 64 * MIB,
            "synctool.bind": "0.0.0.0:8848",
        },
    )
    assert warnings_of(cfg) == []


def test_collector_heartbeat_matches_the_collectors_default() -> None:
    [f] = [f for f in dataclasses.fields(CollectorSection) if f.name == "sync_task_long_interval_ms"]
    assert f.default == COLLECTOR_HEARTBEAT_S * 1000


# -- the shipped examples --------------------------------------------------------------------


def test_shipped_toml_loads_with_documented_defaults() -> None:
    cfg = load_config(SynctoolConfig, toml_path=SHIPPED_TOML, env={}, defaults=paths.synctool_defaults())
    assert cfg.synctool.endpoint == "127.0.0.1:8848"
    assert cfg.zookeeper.hosts == "127.0.0.1:2181"
    assert cfg.synctool.datadir == paths.data_dir() / "synctool"
    assert cfg.log.dir == paths.log_dir() / "synctool"
    assert cfg.notes == () and cfg.warnings == ()


def test_shipped_toml_and_properties_together() -> None:
    cfg = load_config(
        SynctoolConfig,
        toml_path=SHIPPED_TOML,
        properties=SHIPPED_PROPERTIES,
        env={},
        defaults=paths.synctool_defaults(),
    )
    assert cfg.synctool.endpoint == "127.0.0.1:8848"  # the TOML's
    assert cfg.synctool.bind == "0.0.0.0:8848"  # the properties'
    assert cfg.zookeeper.hosts == "127.0.0.1:2181"
    assert any("zookeeper.hosts = 127.0.0.1:2181" in n and "0.0.0.0:2181" in n for n in cfg.notes)


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
    text = SHIPPED_TOML.read_text()
    shown = _toml_lines_by_section(text)
    assert set(shown) == set(SECTIONS)
    for section, cls in SECTIONS.items():
        assert set(shown[section]) == {f.name for f in dataclasses.fields(cls)}, section
        for f in dataclasses.fields(cls):
            if f.default not in (dataclasses.MISSING, None, ()):
                value = tomllib.loads(f"v = {shown[section][f.name]}")["v"]
                assert value == f.default, f"[{section}] {f.name}: the example shows {value!r}"
                assert type(value) is type(f.default), f"[{section}] {f.name}: write {f.default!r}"
            prop = f.metadata.get("property")
            for name in (prop,) if isinstance(prop, str) else prop or ():
                assert f"Replaces {name}" in text or f"+ {name}" in text, name
    for name in SynctoolConfig.PROPERTIES_IGNORED:
        assert name in text, f"{name}: say in conf/synctool.toml that it is not used"


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


# -- defaults and odds -----------------------------------------------------------------------


def _under_tmp(p: Path) -> bool:
    return p == Path("/tmp") or Path("/tmp") in p.parents


@pytest.mark.parametrize("system", [False, True])
def test_default_paths_are_never_under_tmp(system: bool) -> None:
    defaults = paths.synctool_defaults(system=system)
    for value in (defaults["synctool"]["datadir"], defaults["log"]["dir"]):
        assert isinstance(value, Path) and value.is_absolute()
        assert not _under_tmp(value), value
        assert value.name == "synctool"
    for cls in SECTIONS.values():
        for f in dataclasses.fields(cls):
            assert "/tmp" not in str(f.default)


def test_config_is_frozen_and_hides_secrets(tmp_path: Path) -> None:
    cfg = load(tmp_path, overrides={"synctool.auth_token": "s3cret", "zookeeper.auth": "u:pw"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.sink.roll_rows = 1  # type: ignore[misc]
    assert "s3cret" not in repr(cfg) and "u:pw" not in repr(cfg)
    assert (cfg.synctool.auth_token, cfg.zookeeper.auth) == ("s3cret", "u:pw")
