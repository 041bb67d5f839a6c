"""``omsync sandbox`` driven by hand, as real processes: up, tables, writes, snapshots, down."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

from helpers.cli import omsync
from helpers.waiting import wait_until

from omsync_tui.sandbox.state import SandboxConfig


def ok(*args: str) -> str:
    proc = omsync(*args)
    assert proc.returncode == 0, f"omsync {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def test_a_session_at_the_shell(tmp_path: Path, zk: Any, zk_hosts: str) -> None:
    d = ["--dir", str(tmp_path / "sb")]
    assert "sandbox up" in ok("sandbox", "up", *d, "--zk", zk_hosts, "--binlog-max-kb", "8")
    try:
        again = omsync("sandbox", "up", *d, "--zk", zk_hosts)
        assert again.returncode == 2 and "already up" in again.stderr
        # the background process holds the tablets' ephemeral znodes, as live tablets do
        assert sorted(zk.get_children("/openmldb/nodes")) == ["127.0.0.1:10921", "127.0.0.2:10921"]

        assert "tid 1" in ok("sandbox", "create-table", *d, "db.t", "--partitions", "2")
        dup = omsync("sandbox", "create-table", *d, "db.t")
        assert dup.returncode == 2 and "already exists" in dup.stderr
        assert "rows 0..499" in ok("sandbox", "write", *d, "db.t", "--rows", "500")
        assert "snapshot" in ok("sandbox", "snapshot", *d, "db.t")
        out = ok("sandbox", "write", *d, "db.t", "--rate", "400", "--duration", "1.5")
        written = int(out.split("wrote ")[1].split()[0])
        assert written > 0
        ok("sandbox", "delete", *d, "db.t", "user003-delta")
        assert "schema version 2" in ok("sandbox", "alter", *d, "db.t", "--add-column", "city:varchar")
        ok("sandbox", "restart-tablet", *d, "db.t")
        ok("sandbox", "write", *d, "db.t", "--rows", "50")
        status = ok("sandbox", "status", *d)
        assert f"rows written {550 + written}" in status and "schema v2" in status

        truth = [json.loads(line) for line in ok("sandbox", "truth", *d, "db.t").splitlines()]
        assert {r["pid"] for r in truth} == {0, 1}
        # the binlog part of the truth is what inspect shows from MANIFEST.offset + 1, pid by pid
        parts = [Path(line.strip()) for line in status.splitlines() if line.startswith("         ")]
        for pid, part in enumerate(parts):
            offset = int(
                next(line for line in status.splitlines() if f"pid {pid} " in line)
                .split(" offset ")[1]
                .split()[0]
            )
            shown = [
                json.loads(line)
                for line in ok(
                    "inspect", "binlog", str(part / "binlog"), "-o", "jsonl", "--from", str(offset + 1)
                ).splitlines()
            ]
            puts = [r["values"] for r in shown if r["method"] == "put" and r["dimensions"][0][0] == 0]
            assert puts == [r["values"] for r in truth if r["pid"] == pid and r["log_index"] > offset]
            # without --from inspect starts at the oldest binlog the tablet kept
            everything = ok("inspect", "binlog", str(part / "binlog"), "-o", "jsonl").splitlines()
            assert json.loads(everything[0])["log_index"] <= offset + 1

        missing = omsync("sandbox", "write", *d, "db.nope")
        assert missing.returncode == 4 and "no table 'db.nope'" in missing.stderr
        bad = omsync("sandbox", "alter", *d, "db.t", "--add-column", "city")
        assert bad.returncode == 2 and "NAME:TYPE" in bad.stderr
    finally:
        assert "stopped" in ok("sandbox", "down", *d)
    wait_until(lambda: zk.get_children("/openmldb/nodes") == [], timeout=15)
    assert "no sandbox running" in ok("sandbox", "down", *d)


def test_up_starts_and_down_stops_its_own_zookeeper(tmp_path: Path) -> None:
    d = ["--dir", str(tmp_path / "sb")]
    ok("sandbox", "up", *d)
    config = SandboxConfig.load(tmp_path / "sb")
    host, port = config.zk_hosts.split(":")
    assert host == "127.0.0.1"
    try:
        assert "tid 1" in ok("sandbox", "create-table", *d, "db.t", "--storage", "ssd")
        ok("sandbox", "write", *d, "db.t", "--rows", "20")
    finally:
        ok("sandbox", "down", *d)

    wait_until(lambda: _refused(int(port)), timeout=15)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False


def test_commands_without_a_sandbox_say_how_to_make_one(tmp_path: Path) -> None:
    proc = omsync("sandbox", "status", "--dir", str(tmp_path / "none"))
    assert proc.returncode == 4
    assert "no sandbox at" in proc.stderr and "omsync sandbox up" in proc.stderr


def test_down_cleans_up_after_a_killed_serve_process(tmp_path: Path) -> None:
    base = tmp_path / "sb"
    ok("sandbox", "up", "--dir", str(base))
    port = int(SandboxConfig.load(base).zk_hosts.split(":")[1])
    serve_pid = json.loads((base / "sandbox" / "serve.json").read_text())["pid"]
    os.kill(serve_pid, signal.SIGKILL)  # its ZooKeeper lives on in its own session
    wait_until(
        lambda: (
            not Path(f"/proc/{serve_pid}/cmdline").exists()
            or Path(f"/proc/{serve_pid}/cmdline").read_bytes() == b""
        ),
        timeout=10,
    )
    assert "stopped" in ok("sandbox", "down", "--dir", str(base))
    wait_until(lambda: _refused(port), timeout=15)
