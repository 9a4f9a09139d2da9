"""The public API: what `dagrun` exports is what docs/api.md lists, and its examples run."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import dagrun

ROOT = Path(__file__).resolve().parent.parent


def test_the_exports_and_the_names_for_type_checkers_agree() -> None:
    tree = ast.parse((ROOT / "dagrun" / "__init__.py").read_text())
    checked = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for sub in node.body
        if isinstance(sub, ast.ImportFrom)
        for alias in sub.names
    }
    assert checked == set(dagrun.__all__) - {"__version__"}
    for name in dagrun.__all__:
        assert getattr(dagrun, name) is not None


def test_every_export_is_in_docs_api_md() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    missing = [name for name in dagrun.__all__ if name != "__version__" and f"`{name}" not in text]
    assert missing == []


def test_the_examples_in_docs_api_md_run(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)
    assert len(blocks) == 2
    (tmp_path / "stages.yaml").write_text("Lint: []\nTest: []\nDocs: [Lint, Test]\n")
    (tmp_path / "foo_jobs.py").write_text("def Lint(): pass\ndef Test(): pass\ndef Docs(): pass\n")
    code = blocks[0] + blocks[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-2:] == ["0 ('Lint', 'Test', 'Docs') () {}", "['Docs', 'Lint']"]
    assert (tmp_path / "state.yml").read_text() == "Lint: SUCCESS\nTest: SUCCESS\nDocs: SUCCESS\n"
