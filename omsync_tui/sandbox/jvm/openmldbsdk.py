"""OpenMLDB's released Java SDK run against a cluster: the sandbox's strongest check of realism.

``openmldbsdk/SdkList.java`` (omsync's own) connects OpenMLDB's ``SqlClusterExecutor`` from
Maven Central (``openmldb-jdbc`` + ``openmldb-native``, the C++ SDK through JNI: what OpenMLDB's
SyncTool builds) to a cluster's ZooKeeper and prints its databases, tables, schemas, ``show table
status`` and ``show components`` as JSON. ``prepare()`` builds it once (``hdfsbuild``'s build:
Maven writes the classpath, javac compiles the main) and unpacks the SDK's native library beside
it, so every run loads it from there instead of copying 712 MB to ``/tmp`` first.

    python -m omsync_tui.sandbox.jvm.openmldbsdk prepare
    python -m omsync_tui.sandbox.jvm.openmldbsdk list --zk 127.0.0.1:2181 --root /openmldb
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omsync_tui.core.errors import ClusterError, OmsyncError
from omsync_tui.sandbox.jvm.hdfsbuild import INSTALL_HINT, JavaBuild, JavaProgram, build_program, jdk_tool

PROGRAM = JavaProgram(
    main_class="SdkList",
    source_dir=Path(__file__).resolve().with_name("openmldbsdk"),
    cache_env="OMSYNC_OPENMLDBSDK_CACHE",
    cache_name="openmldbsdk",
    purpose="OpenMLDB's Java SDK probe",
    jars="OpenMLDB's SDK jars (openmldb-jdbc, openmldb-native: ~210 MB)",
    prepare_command="python -m omsync_tui.sandbox.jvm.openmldbsdk prepare",
)
NATIVE_LIBRARY = "libsql_jsdk.so"
_NATIVE_JAR = "openmldb-native-"


@dataclass(frozen=True)
class SdkBuild:
    """The built probe, and the directory holding the SDK's unpacked native library."""

    build: JavaBuild
    native_dir: Path

    def command(self, zk_cluster: str, zk_path: str) -> list[str]:
        java = jdk_tool("java")
        if java is None:
            raise ClusterError("cannot run OpenMLDB's SDK: no java on PATH (or JAVA_HOME)", hint=INSTALL_HINT)
        return [
            java,
            # System.loadLibrary finds it here; otherwise the SDK copies it out of its jar first
            f"-Djava.library.path={self.native_dir}",
            "-cp",
            self.build.classpath,
            PROGRAM.main_class,
            zk_cluster,
            zk_path,
        ]


def prepare(*, cache: str | os.PathLike[str] | None = None) -> SdkBuild:
    """Build the probe (first time: Maven downloads ~210 MB) and unpack the native library once."""
    build = build_program(PROGRAM, cache=cache)
    native_dir = build.directory / "native"
    library = native_dir / NATIVE_LIBRARY
    if not library.is_file():
        jar = next((j for j in build.jars if j.name.startswith(_NATIVE_JAR)), None)
        if jar is None:
            raise ClusterError(
                f"no {_NATIVE_JAR}*.jar on the classpath of {build.directory}",
                hint=f"the pom is {PROGRAM.source_dir / 'pom.xml'}",
            )
        native_dir.mkdir(exist_ok=True)
        partial = native_dir / f"{NATIVE_LIBRARY}.tmp"
        with zipfile.ZipFile(jar) as archive, archive.open(NATIVE_LIBRARY) as src, open(partial, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        partial.replace(library)
    return SdkBuild(build, native_dir)


@dataclass(frozen=True)
class SdkView:
    """What OpenMLDB's SDK saw of a cluster (``SdkList``'s JSON), and its log lines."""

    document: dict[str, Any]
    stderr: str

    @property
    def databases(self) -> list[str]:
        return list(self.document["databases"])

    @property
    def tables(self) -> list[dict[str, Any]]:
        return list(self.document["tables"])

    @property
    def table_status(self) -> list[dict[str, str]]:
        return list(self.document["table_status"])

    @property
    def components(self) -> list[dict[str, str]]:
        return list(self.document["components"])


def list_cluster(zk_cluster: str, zk_path: str, *, timeout: float = 120.0) -> SdkView:
    """Run ``SdkList`` against a cluster; ClusterError with the SDK's own words when it fails."""
    sdk = prepare()
    try:
        proc = subprocess.run(
            sdk.command(zk_cluster, zk_path),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(
            f"OpenMLDB's SDK did not finish listing {zk_cluster}{zk_path} within {timeout:g} s",
            hint="is the cluster's nameserver answering? (omsync sandbox up starts one)",
        ) from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ClusterError(
            f"OpenMLDB's SDK failed on {zk_cluster}{zk_path} (exit {proc.returncode}):\n{tail}",
            hint="its W/E lines name the call that failed; docs/openmldb-peer.md lists what it needs",
        )
    return SdkView(json.loads(proc.stdout), proc.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m omsync_tui.sandbox.jvm.openmldbsdk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="build the probe (downloads OpenMLDB's SDK from Maven Central)")
    listing = sub.add_parser("list", help="print what OpenMLDB's SDK sees of a cluster, as JSON")
    listing.add_argument("--zk", required=True, help="ZooKeeper hosts (host:port[,...][/chroot])")
    listing.add_argument("--root", default="/openmldb", help="OpenMLDB's zk_root_path")
    ns = parser.parse_args(argv)
    try:
        if ns.command == "prepare":
            sdk = prepare()
            print(f"OpenMLDB SDK probe built in {sdk.build.directory}")
        else:
            print(json.dumps(list_cluster(ns.zk, ns.root).document, indent=2))
    except OmsyncError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
