"""STYLE rule 1 and 3: layers import only what they may, entry points load nothing heavy."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def loaded_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in json.loads(out)} | set(json.loads(out))


def test_contracts_hold() -> None:
    """The layer rules of pyproject's ``[tool.importlinter]`` (per package: new modules are covered)."""
    linter = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(linter), "--no-cache"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def _module_files() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (REPO / "omsync_tui").rglob("*.py")
        if not p.name.endswith("_pb2.py")
    }


def _imports(path: Path, module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in ``path``."""
    out = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out.append((base, [a.name for a in node.names], node.lineno))
    return out


def test_no_module_takes_another_modules_private_names() -> None:
    """STYLE 17: an ``_underscore`` name is its module's own; what others need is public."""
    files = _module_files()
    taken = [
        f"{files[m].relative_to(REPO)}:{line} takes {name} from {source}"
        for m in files
        for source, names, line in _imports(files[m], m)
        if source in files and source != m
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert taken == []


def test_no_import_cycles() -> None:
    """STYLE 19: modules that import each other (at any depth, lazy imports too) are one concept."""
    files = _module_files()
    graph: dict[str, set[str]] = {m: set() for m in files}
    for m, path in files.items():
        for source, names, _ in _imports(path, m):
            targets = {f"{source}.{n}" for n in names} & files.keys() or ({source} & files.keys())
            graph[m] |= {t for t in targets if t != m and not m.startswith(t + ".")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


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
