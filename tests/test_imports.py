"""Every module imports on its own (no import cycles), and the fast paths stay free of rich and
of hashlib, whose OpenSSL costs a run about 3 ms of start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dagrun

MODULES = sorted(
    f"dagrun.{p.stem}" for p in Path(dagrun.__file__).parent.glob("*.py") if p.stem not in ("__init__", "__main__")
)


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone(module: str) -> None:
    out = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_the_command_line_does_not_import_rich_until_it_draws() -> None:
    code = "import sys, dagrun.cli, dagrun.runner, dagrun.reporters; print('rich' in sys.modules)"
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
