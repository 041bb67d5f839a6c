"""The built ``omsync.pyz``: every subcommand's ``--help``, and a short real sync run through it.

The archive is built once per session into a temporary directory (``zipapp/build.py``, what
``make zipapp`` runs) and started with a plain ``python3`` and a fresh HOME, so it unpacks itself
to ``~/.cache/omsync/pyz`` as on a machine without a virtualenv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.collectorproc import free_port
from helpers.waiting import wait_until

from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.state import SandboxConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    sys.path.insert(0, str(ROOT / "zipapp"))
    from build import build

    out = build(tmp_path_factory.mktemp("zipapp") / "omsync.pyz")
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["HOME"] = str(home)
    return out, env


def python3() -> str:
    """A Python outside the virtualenv when there is one (the point of a zipapp)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if Path(candidate).exists():
            return candidate
    return sys.executable


def run(
    pyz: tuple[Path, dict[str, str]], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    path, env = pyz
    return subprocess.run(
        [python3(), str(path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("command", ["collector", "synctool", "task", "tui", "inspect", "sandbox", "version"])
def test_every_subcommand_answers_help(pyz: tuple[Path, dict[str, str]], command: str) -> None:
    out = run(pyz, command, "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage" in out.stdout
    assert (Path(pyz[1]["HOME"]) / ".cache" / "omsync" / "pyz").is_dir()


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        p.kill()
        p.wait(10)


def test_a_short_real_sync_through_the_zipapp(
    pyz: tuple[Path, dict[str, str]],
    tmp_path: Path,
    zk: Any,
    zk_hosts: str,
    procs: list[subprocess.Popen[str]],
) -> None:
    cluster = SandboxCluster.create(
        tmp_path / "sb", zk, SandboxConfig(zk_hosts, tablets=("127.0.0.1:10921",))
    )
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    cluster.write("db.t", 200)
    path, env = pyz
    collector, synctool = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    roots = ",".join(str(cluster.tablet_root("127.0.0.1:10921", s)) for s in ("memory",))
    common = ["--zk", zk_hosts]
    for args in (
        [
            "collector",
            "--endpoint",
            collector,
            "--tablet-root",
            roots,
            "--datadir",
            str(tmp_path / "c"),
            *common,
        ],
        ["synctool", "--endpoint", synctool, *common],
    ):
        procs.append(
            subprocess.Popen(
                [python3(), str(path), *args, "--log-dir", str(tmp_path / "log")],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        )

    def leader() -> bool:
        try:
            with urllib.request.urlopen(f"http://{synctool}/api/v1/status", timeout=2) as r:
                return bool(json.loads(r.read()).get("role") == "leader")
        except OSError:
            return False

    wait_until(leader, 60, "the zipapp's synctool leads")
    wait_until(
        lambda: bool(zk.exists(f"/openmldb/sync_tool/collector/{collector}")), 60, "collector registered"
    )
    dest = tmp_path / "out"
    out = run(pyz, "task", "create", "db.t", "--dest", str(dest), "--synctool", synctool)
    assert out.returncode == 0, out.stderr
    out = run(pyz, "task", "wait", "db.t", "--timeout", "60", "--synctool", synctool)
    assert out.returncode == 0, out.stderr + out.stdout
    out = run(pyz, "task", "verify", "db.t", "--synctool", synctool, "-o", "json")
    assert out.returncode == 0 and json.loads(out.stdout)["verify"]["ok"]
    rows = sum(len(v) for v in cluster.expected_full_sync("db.t").values())
    import pyarrow.dataset as ds

    assert ds.dataset(dest, format="parquet", partitioning="hive").count_rows() == rows
