"""``omsync doctor`` against real processes: all green, a missing collector, no ZooKeeper."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers.cli import omsync
from helpers.collectorproc import CollectorProcess, free_port
from helpers.synctoolproc import SynctoolProcess
from helpers.waiting import wait_until

from omsync_tui.openmldb.zkpaths import ZkPaths
from omsync_tui.sandbox.cluster import SandboxCluster
from omsync_tui.sandbox.datagen import preset_spec
from omsync_tui.sandbox.state import SandboxConfig

TABLETS = ("127.0.0.1:10921", "127.0.0.2:10921")


def test_doctor_all_ok_then_a_collector_missing(
    tmp_path: Path, zk: Any, zk_hosts: str, procs: list[Any]
) -> None:
    cluster = SandboxCluster.create(tmp_path / "sb", zk, SandboxConfig(zk_hosts, tablets=TABLETS))
    cluster.register_tablets()
    cluster.create_table(preset_spec("mixed", "db", "t", partition_num=2, storage="memory"))
    collectors: list[CollectorProcess] = []
    for tablet in TABLETS:
        host = tablet.split(":")[0]
        roots = tuple(cluster.tablet_root(tablet, s) for s in ("memory", "ssd", "hdd"))
        c = CollectorProcess(
            tmp_path, zk_hosts=zk_hosts, roots=roots, host=host, datadir=tmp_path / f"c-{host}"
        )
        procs.append(c)
        collectors.append(c.start())
    s = SynctoolProcess(tmp_path, zk_hosts=zk_hosts)
    procs.append(s)
    s.start()
    wait_until(s.leading, 20, "leader")
    root = cluster.tablet_root(TABLETS[0], "memory")
    dest = str(tmp_path / "out")
    common = [
        "--zk",
        zk_hosts,
        "--dest",
        dest,
        "--datadir",
        str(tmp_path / "c-new"),
        "--tablet-root",
        str(root),
    ]

    out = omsync("doctor", *common, "-o", "json")
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema_version"] == 1 and doc["ok"] is True
    checks = {c["name"]: c for c in doc["checks"]}
    assert set(doc["checks"][0]) == {"name", "status", "detail", "hint"}
    assert [c for c in doc["checks"] if c["status"] != "ok"] == []
    for name in (
        "zookeeper",
        "cluster root",
        "collector on 127.0.0.1",
        "collector on 127.0.0.2",
        f"collector {collectors[1].endpoint} answers",
        "synctool",
        "destination (synctool)",
        "destination (write from this host)",
        f"same filesystem {root}",
        "endpoints routable",
    ):
        assert name in checks, (name, sorted(checks))
    assert not (tmp_path / "c-new").exists()  # doctor creates nothing
    assert not list((tmp_path / "out" / "_omsync").glob("probe-*"))

    # a collector goes away: once its ephemeral node is gone, doctor names its host
    gone = collectors[1]
    gone.stop()
    wait_until(lambda: zk.exists(ZkPaths().collector(gone.endpoint)) is None, 15, "collector node gone")
    out = omsync("doctor", "--zk", zk_hosts, "--synctool", s.endpoint)
    assert out.returncode == 1, out.stdout + out.stderr
    failed = [line for line in out.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and "127.0.0.2" in failed[0] and "fix:" in failed[0], out.stdout
    assert any(line.startswith("ok") and "127.0.0.1" in line for line in out.stdout.splitlines())


def test_doctor_unreachable_zookeeper() -> None:
    dead = f"127.0.0.1:{free_port()}"
    out = omsync("doctor", "--zk", dead, "--timeout", "1")
    assert out.returncode == 1
    assert out.stdout.startswith("FAIL  zookeeper:") and dead in out.stdout and "fix:" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
