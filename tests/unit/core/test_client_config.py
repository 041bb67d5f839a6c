"""The clients' config (client.toml, OMSYNC_CLIENT__*) and ``omsync config show``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.daemonproc import free_port

from omsync_tui.core.client_config import ClientConfig
from omsync_tui.core.config import load_config
from omsync_tui.core.errors import UsageError


def omsync(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OMSYNC_", "XDG_"))}
    clean.update(XDG_CONFIG_HOME=str(home / "config"), HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-m", "omsync_tui.cli.main", *args],
        capture_output=True,
        text=True,
        env=clean,
        timeout=60,
    )


def test_precedence_env_over_toml(tmp_path: Path) -> None:
    toml = tmp_path / "client.toml"
    toml.write_text('[client]\nsynctool = "10.0.0.1:8848"\nzk = "zk1:2181"\n')
    cfg = load_config(ClientConfig, toml_path=toml, env={"OMSYNC_CLIENT__SYNCTOOL": "10.0.0.2:8848"})
    assert cfg.client.synctool == "10.0.0.2:8848" and cfg.origin("client.synctool").startswith("environment")
    assert cfg.client.zk == "zk1:2181" and "client.toml" in cfg.origin("client.zk")


def test_bad_values_name_the_key(tmp_path: Path) -> None:
    toml = tmp_path / "client.toml"
    toml.write_text('[client]\nsynctool = "nohost"\n')
    with pytest.raises(UsageError, match="synctool"):
        load_config(ClientConfig, toml_path=toml, env={})


def test_config_show_and_the_task_commands_read_client_toml(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    (tmp_path / "config" / "omsync").mkdir(parents=True)
    (tmp_path / "config" / "omsync" / "client.toml").write_text(
        f'[client]\nsynctool = "{dead}"\nauth_token = "s3"\n'
    )
    out = omsync("config", "show", home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"client.synctool = {dead}" in out.stdout and "client.toml" in out.stdout
    assert "client.auth_token = ***" in out.stdout and "s3" not in out.stdout
    out = omsync("task", "status", home=tmp_path)
    assert out.returncode == 4 and dead in out.stderr, out.stderr
    out = omsync("config", "show", "nothing", home=tmp_path)
    assert out.returncode == 2 and "client, collector or synctool" in out.stderr
