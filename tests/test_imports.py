"""The layers: each module imports only from its own layer or those below, there is no import
cycle, and every module imports on its own; the fast paths stay free of rich and of hashlib, whose
OpenSSL costs a run about 3 ms of start-up."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

import dagrun

PACKAGE = Path(dagrun.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


FILES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
MODULES = sorted(m for m in FILES if m not in ("dagrun", "dagrun.__main__"))

# From the bottom up (docs/architecture.md): a module may import from its own layer and those below.
LAYERS = [
    ["dagrun.errors"],
    ["dagrun.core"],
    ["dagrun.store"],
    ["dagrun.stagesfile"],
    ["dagrun.jobs"],
    ["dagrun.execution"],
    ["dagrun.ui"],
    ["dagrun.api"],
    ["dagrun.cli", "dagrun.__main__", "dagrun._public", "dagrun"],
]


def layer(module: str) -> int:
    best = -1
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, rank) if prefix != "dagrun" or module == "dagrun" else best
    assert best >= 0, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return best


def imports(module: str, everywhere: bool = True) -> Set[str]:
    """The dagrun modules that `module` imports: at the top only, or also inside functions and
    under TYPE_CHECKING."""
    tree = ast.parse(FILES[module].read_text())
    nodes = ast.walk(tree) if everywhere else iter(tree.body)
    found: Set[str] = set()
    for node in nodes:
        names: List[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n in FILES}
    return found - {module}


def test_every_module_imports_only_from_its_layer_or_below() -> None:
    upward = [
        f"{module} (layer {layer(module)}) imports {other} (layer {layer(other)})"
        for module in FILES
        for other in sorted(imports(module))
        if layer(other) > layer(module) and other != "dagrun"
    ]
    assert upward == []


def test_no_import_cycles() -> None:
    graph: Dict[str, Set[str]] = {m: imports(m) - {"dagrun"} for m in FILES if m != "dagrun"}
    done: Set[str] = set()

    def visit(module: str, path: List[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for other in sorted(graph.get(module, ())):
            visit(other, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone(module: str) -> None:
    out = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_the_command_line_does_not_import_rich_until_it_draws() -> None:
    code = "import sys, dagrun.cli, dagrun.api, dagrun.ui.plain; print('rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_a_run_does_not_load_hashlib(tmp_path: Path) -> None:
    (tmp_path / "stages.yaml").write_text("A: []\nB: [A]\n")
    (tmp_path / "jobs.py").write_text("def A():\n    pass\n\n\ndef B():\n    pass\n")
    code = (
        "import sys\n"
        "from dagrun.cli import main\n"
        "sys.argv = ['dagrun', 'run', 'stages.yaml', '--jobs', 'jobs.py']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    print('exit', e.code)\n"
        "print(sorted(m for m in sys.modules if 'hashlib' in m))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines()[-2:] == ["exit 0", "[]"], out.stdout + out.stderr
    assert (tmp_path / "state.yml").read_text() == "A: SUCCESS\nB: SUCCESS\n"


def test_public_names_are_the_documented_objects_even_after_every_module_is_imported() -> None:
    code = (
        "import importlib, types, dagrun\n"
        f"for m in {MODULES!r}: importlib.import_module(m)\n"
        "bad = [n for n in dagrun.__all__ if isinstance(getattr(dagrun, n), types.ModuleType)]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
