"""Regenerate the committed ``*_pb2.py{,i}`` modules from the .proto files beside them.

Every ``.proto`` under ``PROTO_DIRS`` (OpenMLDB's formats, brpc's RpcMeta) is compiled in one
protoc run with the repository root as the import root, so imports and the generated module
names follow the package layout. The generated modules are committed so a plain install (and
omsync.pyz) needs no protoc. ``python tools/gen_protos.py --check`` fails when a committed module
differs from what the .proto files produce; tests/unit/test_protos_in_step.py runs that check.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIRS = (
    ROOT / "omsync_tui" / "openmldb" / "proto",
    ROOT / "omsync_tui" / "rpc" / "proto",
)


def generate(out_root: Path) -> list[Path]:
    """Compile every .proto into ``out_root``; return the produced files relative to it."""
    from grpc_tools import protoc  # dev-only dependency (extra "test")

    protos = sorted(p.relative_to(ROOT).as_posix() for d in PROTO_DIRS for p in d.glob("*.proto"))
    args = ["protoc", f"-I{ROOT}", f"--python_out={out_root}", f"--pyi_out={out_root}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    produced: list[Path] = []
    for proto_dir in PROTO_DIRS:
        out_dir = out_root / proto_dir.relative_to(ROOT)
        produced.extend(p.relative_to(out_root) for p in sorted(out_dir.glob("*_pb2.py*")))
    return produced


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    ns = parser.parse_args()
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        for rel in generate(Path(tmp)):
            fresh, target = Path(tmp) / rel, ROOT / rel
            if ns.check:
                if not target.exists() or target.read_bytes() != fresh.read_bytes():
                    stale.append(rel.as_posix())
            else:
                shutil.copyfile(fresh, target)
    if stale:
        print("generated proto modules are stale: " + ", ".join(stale), file=sys.stderr)
        print("run: make protos", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
