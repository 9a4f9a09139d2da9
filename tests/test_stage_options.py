"""The mapping form of a stage: needs, retries, retry_delay, timeout, run; the list form stays."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
from click.testing import CliRunner

import dagrun
from dagrun.cli import cli
from dagrun.core.events import StageRetrying
from dagrun.core.status import StageStatus
from dagrun.errors import JobsError, SpecError
from dagrun.jobs.loading import load_jobs
from dagrun.store.history import read_history

from .conftest import write
from .support import Recorder

S, F, P = StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.PENDING

OPTIONS = """\
Lint: []
Test:
Coverage:
  needs: [Test]
  retries: 2
  retry_delay: 0.5
  timeout: 600
  run: foo_jobs:coverage_job
Docs:
  needs: [Coverage, Lint]
Publish: {run: publish}
"""


def test_the_mapping_form_is_read_beside_the_list_form(tmp_path: Path) -> None:
    stages = dagrun.parse_pipeline(OPTIONS, tmp_path / "stages.yaml").stages
    coverage = stages["Coverage"]
    assert coverage.needs == ("Test",) and coverage.retries == 2 and coverage.retry_delay == 0.5
    assert coverage.timeout == 600 and coverage.run == "foo_jobs:coverage_job" and coverage.line == 3
    assert stages["Docs"].needs == ("Coverage", "Lint") and not stages["Docs"].has_options
    assert stages["Publish"].run == "publish" and stages["Publish"].needs == ()
    assert stages["Lint"] == dagrun.Stage("Lint", (), 1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("A:\n  retry: 2\n", "s.yaml:2: stage 'A': unknown option 'retry' (did you mean 'retries'?)"),
        ("A:\n  need: [B]\nB: []\n", "unknown option 'need' (did you mean 'needs'?)"),
        ("A:\n  colour: red\n", "unknown option 'colour'; the options are needs, retries, retry_delay, timeout, run"),
        ("A:\n  retries: -1\n", "retries must be a whole number, 0 or more, not a number (-1)"),
        ("A:\n  retries: yes\n", "retries must be a whole number, 0 or more, not a boolean (yes)"),
        ("A:\n  retries: 1.5\n", "retries must be a whole number"),
        ("A:\n  retry_delay: soon\n", "retry_delay must be a number of seconds, 0 or more, not the string 'soon'"),
        ("A:\n  timeout: 0\n", "timeout must be a number of seconds above 0, not a number (0)"),
        ("A:\n  timeout: .inf\n", "timeout must be a number of seconds above 0"),
        ("A:\n  run: 1bad\n", "run must name a function, 'function' in the jobs module or 'module:function'"),
        ("A:\n  run: [x]\n", "run must name a function"),
        ("A:\n  needs: B\nB: []\n", "dependencies must be a list, not the string 'B'"),
        ("A:\n  needs: [C]\n", "stage 'A' needs 'C', which is not a stage"),
        ("A:\n  timeout: 5\n  timeout: 6\n", "the option 'timeout' is given twice"),
    ],
)
def test_bad_options_are_errors_naming_file_line_and_stage(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        dagrun.parse_pipeline(text, tmp_path / "s.yaml")
    assert message in caught.value.message


JOBS = """\
import os
HERE = os.path.dirname(os.path.abspath(__file__))

def _count(name):
    path = os.path.join(HERE, name + ".count")
    n = int(open(path).read()) + 1 if os.path.exists(path) else 1
    with open(path, "w") as f:
        f.write(str(n))
    return n

def Flaky():
    if _count("Flaky") < 3:
        raise ValueError("not yet")

def Hopeless():
    _count("Hopeless")
    raise ValueError("never")

def Slow():
    import time
    time.sleep(30)

def renamed():
    _count("renamed")

def After():
    pass
"""


def load(tmp_path: Path, stages: str) -> tuple:
    write(tmp_path, "stages.yaml", stages)
    write(tmp_path, "jobs.py", JOBS)
    write(tmp_path, "helpers.py", "def elsewhere():\n    open(__file__ + '.ran', 'w').close()\n")
    pipeline = dagrun.load_pipeline(tmp_path / "stages.yaml")
    return pipeline, load_jobs("jobs", pipeline, cwd=tmp_path)


def count(tmp_path: Path, name: str) -> int:
    return int((tmp_path / f"{name}.count").read_text())


def test_retries_run_a_failing_stage_again_and_the_history_keeps_each_attempt(tmp_path: Path) -> None:
    pipeline, jobs = load(tmp_path, "Flaky: {retries: 2}\nHopeless: {retries: 1}\nAfter: [Flaky]\n")
    recorder = Recorder()
    result = dagrun.run(pipeline, jobs, reporter=recorder)
    assert result.state == {"Flaky": S, "Hopeless": F, "After": S}
    assert count(tmp_path, "Flaky") == 3 and count(tmp_path, "Hopeless") == 2
    assert result.outcomes["Flaky"].attempt == 3 and result.outcomes["Hopeless"].attempt == 2
    retries = [(e.name, e.attempt, e.attempts) for e in recorder.events if isinstance(e, StageRetrying)]
    assert sorted(retries) == [("Flaky", 2, 3), ("Flaky", 3, 3), ("Hopeless", 2, 2)]
    flaky = [(r.attempt, r.outcome) for r in read_history(tmp_path / "state.yml") if r.stage == "Flaky"]
    assert flaky == [(1, "FAILED"), (2, "FAILED"), (3, "SUCCESS")]


def test_retry_delay_waits_between_attempts(tmp_path: Path) -> None:
    pipeline, jobs = load(tmp_path, "Flaky: {retries: 2, retry_delay: 0.3}\n")
    assert dagrun.run(pipeline, jobs).ok
    attempts = [r for r in read_history(tmp_path / "state.yml") if r.stage == "Flaky"]
    assert [r.attempt for r in attempts] == [1, 2, 3]
    for before, after in zip(attempts, attempts[1:]):
        assert after.start - before.end >= 0.29


def test_fail_fast_does_not_wait_for_a_retry(tmp_path: Path) -> None:
    pipeline, jobs = load(tmp_path, "Hopeless: {retries: 5, retry_delay: 30}\nFlaky: []\n")
    result = dagrun.run(pipeline, jobs, dagrun.RunOptions(fail_fast=True, workers=2))
    assert result.state["Hopeless"] is F and result.state["Flaky"] is F
    assert count(tmp_path, "Hopeless") == 1  # waiting out the delays would have run all six attempts


def test_a_stage_timeout_fails_that_stage_only(tmp_path: Path) -> None:
    pipeline, jobs = load(tmp_path, "Slow: {timeout: 0.3}\nAfter: []\n")
    for executor in ("thread", "process"):
        dagrun.reset(pipeline)
        result = dagrun.run(pipeline, jobs, dagrun.RunOptions(executor=executor))
        assert result.state == {"Slow": F, "After": S}
        assert "timed out after 0.3 s (its timeout option)" in (result.outcomes["Slow"].error or "")


def test_run_names_another_function_here_or_in_another_module(tmp_path: Path) -> None:
    stages = "Renamed: {run: renamed}\nOther: {run: 'helpers:elsewhere'}\n"
    for executor in ("thread", "process"):
        pipeline, jobs = load(tmp_path, stages)
        assert dagrun.run(pipeline, jobs, dagrun.RunOptions(executor=executor)).ok
        dagrun.reset(pipeline)
    assert count(tmp_path, "renamed") == 2 and (tmp_path / "helpers.py.ran").exists()


def test_a_run_option_that_names_nothing_is_reported_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(JobsError) as caught:
        load(tmp_path, "A: {run: missing}\nB: {run: 'nowhere:thing'}\nC: {run: 'helpers:nothing'}\n")
    message = caught.value.message
    assert "has no usable function for 3 stages" in message
    assert "A (" in message and "run: missing: no function 'missing'" in message
    assert "run: nowhere:thing: cannot find the jobs module 'nowhere'" in message
    assert "run: helpers:nothing: no function 'nothing'" in message


def test_the_plain_output_says_when_a_stage_runs_again(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "Flaky: {retries: 2}\n")
    write(tmp_path, "jobs.py", JOBS)
    result = CliRunner().invoke(
        cli, ["run", str(tmp_path / "stages.yaml"), "--jobs", str(tmp_path / "jobs.py"), "--progress", "plain"]
    )
    assert result.exit_code == 0, result.output
    lines: Dict[str, int] = {}
    for line in result.output.splitlines():
        lines[line[9:].split(" (")[0]] = lines.get(line[9:].split(" (")[0], 0) + 1
    assert "retry   Flaky (attempt 2 of 3, after: ValueError: not yet)" in result.output
    assert "retry   Flaky (attempt 3 of 3, after: ValueError: not yet)" in result.output
    assert lines["start   Flaky"] == 3
