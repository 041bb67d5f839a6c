"""STYLE rule 1 and 3: layers import only what they may, entry points load nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def loaded_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in json.loads(out)} | set(json.loads(out))


def test_core_is_stdlib_only() -> None:
    mods = loaded_after("import omsync_tui.core.errors")
    third_party = {
        m
        for m in mods
        if m.split(".")[0] in {"kazoo", "pyarrow", "numpy", "textual", "typer", "google", "cramjam", "crc32c"}
    }
    assert third_party == set()


@pytest.mark.parametrize(
    "module",
    [
        "omsync_tui.openmldb.logformat",
        "omsync_tui.openmldb.logassembler",
        "omsync_tui.openmldb.logblob",
        "omsync_tui.openmldb.logreader",
        "omsync_tui.openmldb.binlog",
        "omsync_tui.openmldb.binlogreader",
        "omsync_tui.openmldb.rowcodec",
        "omsync_tui.openmldb.metadata",
        "omsync_tui.openmldb.zkpaths",
        "omsync_tui.sandbox.cluster",
        "omsync_tui.services.inspect",
    ],
)
def test_formats_and_services_never_load_ui(module: str) -> None:
    mods = loaded_after(f"import {module}")
    assert "textual" not in mods
    assert "typer" not in mods


@pytest.mark.parametrize(
    "module",
    [
        "omsync_tui.openmldb.logformat",
        "omsync_tui.openmldb.logassembler",
        "omsync_tui.openmldb.logblob",
        "omsync_tui.openmldb.logreader",
        "omsync_tui.openmldb.binlog",
        "omsync_tui.openmldb.binlogreader",
        "omsync_tui.openmldb.memsnapshot",
    ],
)
def test_collector_path_never_loads_pyarrow(module: str) -> None:
    assert "pyarrow" not in loaded_after(f"import {module}")


def test_cli_entry_point_is_light() -> None:
    mods = loaded_after("import omsync_tui.cli.main")
    assert "pyarrow" not in mods
    assert "textual" not in mods
    assert "kazoo" not in mods
