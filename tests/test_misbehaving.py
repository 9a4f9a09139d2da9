"""Stages that misbehave, run by the real command: the runner survives and state is saved."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_dagrun, write

pytestmark = pytest.mark.slow

STAGES = "Bad: []\nAfterBad: [Bad]\nGood: []\n"


def jobs_with(folder: Path, bad_body: str) -> None:
    write(folder, "stages.yaml", STAGES)
    write(
        folder,
        "jobs.py",
        f"import sys, os, threading, time\n\ndef Bad():\n{bad_body}\n\ndef AfterBad(): pass\n\ndef Good(): pass\n",
    )


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("    sys.exit(3)", "SystemExit: 3"),
        ("    raise KeyboardInterrupt", "KeyboardInterrupt"),
        ("    raise GeneratorExit('odd')", "GeneratorExit: odd"),
        ("    os.chdir('/')\n    raise ValueError('moved')", "ValueError: moved"),
    ],
    ids=["sys-exit", "keyboard-interrupt", "base-exception", "chdir"],
)
def test_a_stage_that_exits_or_interrupts_itself_fails_and_the_rest_goes_on(
    tmp_path: Path, body: str, fragment: str
) -> None:
    jobs_with(tmp_path, body)
    out = run_dagrun("run", "--jobs", "jobs", cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert fragment in out.stdout
    assert (tmp_path / "state.yml").read_text() == "Bad: FAILED\nAfterBad: null\nGood: SUCCESS\n"


def test_megabytes_of_output_are_passed_through(tmp_path: Path) -> None:
    jobs_with(tmp_path, "    for i in range(100_000):\n        print('x' * 60, i)")
    out = run_dagrun("run", "--jobs", "jobs", "--show-output", cwd=tmp_path)
    assert out.returncode == 0
    assert out.stdout.count("x" * 60) == 100_000
    assert (tmp_path / "state.yml").read_text() == "Bad: SUCCESS\nAfterBad: SUCCESS\nGood: SUCCESS\n"


@pytest.mark.parametrize("daemon", ["None", "False"], ids=["inherited", "explicitly-non-daemon"])
def test_a_stage_that_leaves_a_thread_running_does_not_keep_dagrun_alive(tmp_path: Path, daemon: str) -> None:
    jobs_with(
        tmp_path, f"    threading.Thread(target=time.sleep, args=(300,), name='sleeper', daemon={daemon}).start()"
    )
    out = run_dagrun("run", "--jobs", "jobs", cwd=tmp_path, timeout=120)  # not the 300 s the thread sleeps
    assert out.returncode == 0
    warned = "not waiting for 1 thread that stages started and left running (sleeper)" in out.stderr
    assert warned == (daemon == "False")  # a thread started in a stage's thread is a daemon like it
    assert (tmp_path / "state.yml").read_text() == "Bad: SUCCESS\nAfterBad: SUCCESS\nGood: SUCCESS\n"
