"""Each stage's output in its own log under .dagrun/logs; a clean console; `dagrun logs`."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

import dagrun
from dagrun.store.logs import StageLogs, clear_logs, log_path, tail

from .conftest import run_dagrun, write

JOBS = """\
import logging, sys, threading

def Quiet():
    pass

def Talk():
    print("talk to stdout")
    print("talk to stderr", file=sys.stderr)
    logging.getLogger("jobs").warning("a warning from Talk")

def Many():
    for i in range(200):
        print("many", i)

def Fails():
    print("working on it")
    print("almost there")
    raise RuntimeError("it broke")

def After():
    pass
"""
STAGES = "Quiet: []\nTalk: []\nMany: []\nFails: []\nAfter: [Fails]\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, "stages.yaml", STAGES)
    write(tmp_path, "jobs.py", JOBS)
    return tmp_path


def logs(folder: Path) -> Path:
    return folder / ".dagrun" / "logs"


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_output_goes_to_each_stages_log_and_the_console_stays_clean(folder: Path, executor: str) -> None:
    out = run_dagrun("run", "--jobs", "jobs", "-x", executor, "-j", "4", "--progress", "plain", cwd=folder)
    assert out.returncode == 1
    console = out.stdout[: out.stdout.index("Summary")] + out.stderr
    for noise in ("talk to", "many 1", "a warning from Talk", "working on it"):
        assert noise not in console
    talk = (logs(folder) / "Talk.log").read_text()
    assert "talk to stdout\n" in talk and "talk to stderr\n" in talk
    assert "WARNING jobs: a warning from Talk" in talk
    assert (logs(folder) / "Many.log").read_text() == "".join(f"many {i}\n" for i in range(200))
    assert not (logs(folder) / "Quiet.log").exists()  # silent stages cost no file
    # The summary shows the end of a failed stage's output, then its error.
    summary = out.stdout[out.stdout.index("Fails failed:") :]
    assert "the last lines of its output" in summary and "Fails.log" in summary
    assert summary.index("almost there") < summary.index("RuntimeError: it broke")
    assert "working on it" not in out.stdout[: out.stdout.index("Summary")]


def test_dagrun_logs_prints_a_stages_latest_log(folder: Path) -> None:
    run_dagrun("run", "--jobs", "jobs", cwd=folder)
    shown = run_dagrun("logs", "stages.yaml", "Fails", cwd=folder)
    assert shown.returncode == 0 and shown.stdout.startswith("working on it\nalmost there\nTraceback")
    assert shown.stdout.endswith('raise RuntimeError("it broke")\nRuntimeError: it broke\n')  # kept after the output
    quiet = run_dagrun("logs", "stages.yaml", "Quiet", cwd=folder)
    assert quiet.returncode == 2 and "Quiet has no log: it printed nothing" in quiet.stderr
    unknown = run_dagrun("logs", "stages.yaml", "Tlak", cwd=folder)
    assert unknown.returncode == 2 and "did you mean 'Talk'" in unknown.stderr
    short = run_dagrun("logs", "Fails", cwd=folder)  # just the stage: stages.yaml is the file
    assert short.returncode == 0 and short.stdout == shown.stdout
    nothing = run_dagrun("logs", cwd=folder)
    assert nothing.returncode == 2 and "name the stage" in nothing.stderr
    # A later run replaces the log of each stage it runs, and keeps the others.
    write(folder, "jobs.py", JOBS.replace('print("working on it")', 'print("second try")'))
    run_dagrun("run", "--jobs", "jobs", cwd=folder)
    assert (logs(folder) / "Fails.log").read_text().startswith("second try\nalmost there\nTraceback")
    assert (logs(folder) / "Talk.log").exists()


def test_show_output_prints_to_the_console_and_keeps_only_failures_in_logs(folder: Path) -> None:
    run_dagrun("run", "--jobs", "jobs", "--progress", "plain", cwd=folder)
    assert (logs(folder) / "Talk.log").exists()
    run_dagrun("reset", cwd=folder)
    out = run_dagrun("run", "--jobs", "jobs", "--show-output", "--progress", "plain", cwd=folder)
    assert "talk to stdout" in out.stdout and "talk to stderr" in out.stderr
    # No log from the earlier run passes for the latest; a failure's traceback is still kept.
    talk = run_dagrun("logs", "Talk", cwd=folder)
    assert talk.returncode == 2 and "Talk has no log" in talk.stderr
    assert (logs(folder) / "Fails.log").read_text().startswith("Traceback (most recent call last):")


def test_retries_append_their_attempts_to_one_log(folder: Path) -> None:
    write(folder, "stages.yaml", "Fails: {retries: 1}\n")
    run_dagrun("run", "--jobs", "jobs", cwd=folder)
    text = (logs(folder) / "Fails.log").read_text()
    first, second = text.split("--- attempt 2 ---\n")
    for attempt in (first, second):  # each attempt's output, then its traceback
        assert attempt.startswith("working on it\nalmost there\nTraceback (most recent call last):\n")
        assert attempt.endswith("RuntimeError: it broke\n")


def test_threads_printing_at_once_each_reach_their_own_log(tmp_path: Path) -> None:
    names = [f"S{i}" for i in range(8)]
    pipeline = dagrun.Pipeline.from_dict({n: [] for n in names}, tmp_path / "s.yaml")
    barrier = threading.Barrier(8, timeout=10)

    def job(name: str):  # type: ignore[no-untyped-def]
        def run() -> None:
            barrier.wait()  # all eight print at the same time
            for i in range(300):
                print(name, i)
                sys.stderr.write(f"{name} err {i}\n")

        return run

    stdout = sys.stdout
    result = dagrun.run(pipeline, {n: job(n) for n in names}, dagrun.RunOptions(workers=8, logs=True))
    assert result.ok and sys.stdout is stdout  # restored
    for n in names:
        text = (tmp_path / ".dagrun" / "logs" / f"{n}.log").read_text()
        lines = text.splitlines()
        assert sorted(lines) == sorted([f"{n} {i}" for i in range(300)] + [f"{n} err {i}" for i in range(300)])


def test_log_file_names_and_helpers(tmp_path: Path) -> None:
    assert log_path(tmp_path, "Lint", ["Lint", "Test"]) == tmp_path / "Lint.log"
    both = [log_path(tmp_path, n, ["Lint", "lint"]) for n in ("Lint", "lint")]
    assert len({p.name.lower() for p in both}) == 2  # apart on a case-blind file system too
    (tmp_path / "Lint.log").write_text("old\n")
    (tmp_path / "Test.log").write_text("keep\n")
    clear_logs(tmp_path, ["Lint"])
    assert not (tmp_path / "Lint.log").exists() and (tmp_path / "Test.log").exists()
    (tmp_path / "Long.log").write_text("".join(f"{i}\n" for i in range(100)))
    assert tail(tmp_path / "Long.log", 3) == ["97", "98", "99"]
    assert tail(tmp_path / "missing.log") == []
    logs = StageLogs(tmp_path, ["Lint"])
    assert logs.attempt("Lint") == 1 and logs.attempt("Lint") == 2
