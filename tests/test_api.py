"""The public API: what `dagrun` exports is what docs/api.md lists, and its examples run."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import dagrun

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_is_listed_once_and_resolves() -> None:
    tree = ast.parse((ROOT / "dagrun" / "_public.py").read_text())
    listed = [alias.asname for node in tree.body if isinstance(node, ast.ImportFrom) for alias in node.names]
    assert None not in listed  # `import x as x`: what type checkers take for a re-export
    assert len(listed) == len(set(listed))
    assert set(dagrun.__all__) == {"__version__", *listed}
    assert sorted(dir(dagrun)) == sorted(dagrun.__all__)
    for name in dagrun.__all__:
        assert getattr(dagrun, name) is not None


def test_star_import_and_unknown_names() -> None:
    code = (
        "from dagrun import *\n"
        "import dagrun\n"
        "assert run is dagrun.run and Reporter is dagrun.Reporter\n"
        "try:\n    dagrun.no_such_name\nexcept AttributeError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "module 'dagrun' has no attribute 'no_such_name'\n"


def test_the_command_line_does_not_import_the_public_api_module() -> None:
    code = "import sys\nfrom dagrun.cli import main\nsys.argv = ['dagrun', '--help']\n" + (
        "try:\n    main()\nexcept SystemExit:\n    pass\nprint('dagrun._public' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines()[-1] == "False", out.stderr


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
