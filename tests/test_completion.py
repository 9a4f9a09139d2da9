"""Shell completion for bash, zsh and fish (click's), with stage names from the stages file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List

import pytest

from .conftest import dagrun_cmd


def complete(shell: str, words: str, cword: str, cwd: Path) -> List[str]:
    env = {**os.environ, "_DAGRUN_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
    out = subprocess.run(dagrun_cmd(), cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_shells_get_a_script_that_calls_dagrun_back(shell: str, tmp_path: Path) -> None:
    env = {**os.environ, "_DAGRUN_COMPLETE": f"{shell}_source"}
    out = subprocess.run(dagrun_cmd(), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "_DAGRUN_COMPLETE" in out.stdout
    assert f"{shell}_complete" in out.stdout


def test_commands_and_stage_names_complete_in_bash(seed: Path) -> None:
    assert complete("bash", "dagrun pl", "1", seed) == ["plain,plan"]
    assert complete("bash", "dagrun run stages.yaml Co", "3", seed) == ["plain,Coverage"]
    assert complete("bash", "dagrun run stages.yaml --force B", "4", seed) == ["plain,Benchmark"]
    assert complete("bash", "dagrun reset stages.yaml --only ", "4", seed) == [
        "plain,Lint", "plain,Test", "plain,Coverage", "plain,Docs", "plain,Benchmark",
    ]  # fmt: skip


def test_stage_names_complete_in_zsh_and_fish(seed: Path) -> None:
    assert complete("zsh", "dagrun mark stages.yaml D", "3", seed) == ["plain", "Docs", "_"]
    assert complete("fish", "dagrun plan stages.yaml --force L", "L", seed) == ["plain,Lint"]


def test_no_stages_file_completes_no_stage_names(tmp_path: Path) -> None:
    assert complete("bash", "dagrun run stages.yaml ", "3", tmp_path) == []
    (tmp_path / "stages.yaml").write_text("A: [\n")  # broken: no names, and no error either
    assert complete("bash", "dagrun run stages.yaml ", "3", tmp_path) == []
