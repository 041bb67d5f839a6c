"""Regenerate omsync_tui/openmldb/proto/*_pb2.py{,i} from the .proto files beside them.

The generated modules are committed so a plain install (and omsync.pyz) needs no protoc.
`python tools/gen_protos.py --check` fails when a committed module differs from what the
.proto files produce; tests/unit/test_protos_in_step.py runs that check.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "omsync_tui" / "openmldb" / "proto"


def generate(out_root: Path) -> list[Path]:
    from grpc_tools import protoc  # dev-only dependency (extra "test")

    protos = sorted(p.relative_to(ROOT).as_posix() for p in PROTO_DIR.glob("*.proto"))
    args = ["protoc", f"-I{ROOT}", f"--python_out={out_root}", f"--pyi_out={out_root}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((out_root / PROTO_DIR.relative_to(ROOT)).glob("*_pb2.py*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        produced = generate(Path(tmp))
        stale = []
        for path in produced:
            target = PROTO_DIR / path.name
            if ns.check:
                if not target.exists() or target.read_bytes() != path.read_bytes():
                    stale.append(target.name)
            else:
                shutil.copyfile(path, target)
    if stale:
        print("generated proto modules are stale: " + ", ".join(stale), file=sys.stderr)
        print("run: make protos", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
