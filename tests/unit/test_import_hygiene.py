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
    mods = loaded_after(
        "import omsync_tui.core.errors, omsync_tui.core.config, omsync_tui.core.gflags, "
        "omsync_tui.core.collector_config"
    )
    third_party = {
        m
        for m in mods
        if m.split(".")[0] in {"kazoo", "pyarrow", "numpy", "textual", "typer", "google", "cramjam", "crc32c"}
    }
    assert third_party == set()


# (module, on the collector's path: must not load pyarrow either)
LAYERS = [
    ("omsync_tui.openmldb.log.format", True),
    ("omsync_tui.openmldb.log.assembler", True),
    ("omsync_tui.openmldb.log.blob", True),
    ("omsync_tui.openmldb.log.framer", True),
    ("omsync_tui.openmldb.log.frames", True),
    ("omsync_tui.openmldb.log.crcbatch", True),
    ("omsync_tui.openmldb.spans", True),
    ("omsync_tui.openmldb.entries.pbwalk", True),
    ("omsync_tui.openmldb.entries.scan", True),
    ("omsync_tui.openmldb.log.reader", True),
    ("omsync_tui.openmldb.binlog.files", True),
    ("omsync_tui.openmldb.binlog.reader", True),
    ("omsync_tui.openmldb.snapshot.memory", True),
    ("omsync_tui.rpc.server", True),
    ("omsync_tui.rpc.client", True),
    ("omsync_tui.services.collector.pack", True),
    ("omsync_tui.services.collector.packer", True),
    ("omsync_tui.services.collector.clients", True),
    ("omsync_tui.services.collector.failures", True),
    ("omsync_tui.services.collector.daemon", True),
    ("omsync_tui.services.collector.registration", True),
    ("omsync_tui.openmldb.row.codec", False),
    ("omsync_tui.openmldb.metadata", False),
    ("omsync_tui.openmldb.zkpaths", False),
    ("omsync_tui.sandbox.cluster", False),
    ("omsync_tui.services.inspect", False),
]


@pytest.mark.parametrize(("module", "collector_path"), LAYERS)
def test_formats_and_services_never_load_ui(module: str, collector_path: bool) -> None:
    mods = loaded_after(f"import {module}")
    assert "textual" not in mods
    assert "typer" not in mods
    if collector_path:
        assert "pyarrow" not in mods


def test_cli_entry_point_is_light() -> None:
    mods = loaded_after("import omsync_tui.cli.main")
    assert "pyarrow" not in mods
    assert "textual" not in mods
    assert "kazoo" not in mods


def test_collector_command_never_loads_pyarrow_or_textual() -> None:
    """``omsync collector --check`` resolves its config and builds nothing heavy (tablet hosts)."""
    code = (
        "import sys, json\n"
        "from omsync_tui.cli import main\n"
        "sys.argv = ['omsync', 'collector', '--help']\n"
        "try:\n    main.app()\nexcept SystemExit:\n    pass\n"
        "import omsync_tui.services.collector.daemon\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    mods = {m.split(".")[0] for m in json.loads(out.splitlines()[-1])}
    assert "pyarrow" not in mods and "textual" not in mods


def test_screens_never_load_kazoo_or_pyarrow() -> None:
    mods = loaded_after("import omsync_tui.screens.app")
    assert "kazoo" not in mods and "pyarrow" not in mods


def test_tui_command_module_is_light() -> None:
    mods = loaded_after("import omsync_tui.cli.tui_cmd")
    assert not {"textual", "kazoo", "pyarrow"} & mods
