"""Every module imports on its own (no import cycles), and the fast paths stay free of rich."""

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


def test_public_names_are_the_documented_objects_even_after_every_module_is_imported() -> None:
    code = (
        "import importlib, types, dagrun\n"
        f"for m in {MODULES!r}: importlib.import_module(m)\n"
        "bad = [n for n in dagrun.__all__ if isinstance(getattr(dagrun, n), types.ModuleType)]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
