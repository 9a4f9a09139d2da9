"""The run history behind `dagrun status`, and the time estimates of `plan` and the live view."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import List

import pytest
from click.testing import CliRunner
from rich.console import Console

import dagrun
from dagrun.cli import cli
from dagrun.core.events import RunStarted, StageFinished, StageStarted
from dagrun.core.plan import make_plan
from dagrun.core.status import StageStatus
from dagrun.execution.signals import StopRequest
from dagrun.store import history
from dagrun.store.history import read_history
from dagrun.store.paths import StatePaths
from dagrun.ui.live import LiveReporter

from .test_runner import make_jobs

S, F, P = StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.PENDING
ALL = ["Lint", "Test", "Coverage", "Docs", "Benchmark"]


def test_each_execution_is_recorded_and_status_reports_the_latest(pipe: dagrun.Pipeline) -> None:
    before = time.time()
    dagrun.run(pipe, make_jobs(ALL, [], fail=("Coverage",)))
    dagrun.run(pipe, make_jobs(ALL, []))
    records = list(read_history(pipe.path.parent / "state.yml"))
    assert [r.stage for r in records].count("Coverage") == 2
    assert [r.stage for r in records].count("Lint") == 1
    reports = {r.name: r for r in dagrun.status(pipe)}
    assert set(reports) == set(ALL)
    coverage = reports["Coverage"]
    assert coverage.state is S and coverage.runs == 2
    assert coverage.last is not None and coverage.last.outcome == "SUCCESS" and coverage.last.error is None
    first = next(r for r in records if r.stage == "Coverage")
    assert first.outcome == "FAILED" and first.error == "RuntimeError: Coverage broke"
    for r in records:
        assert before <= r.start <= r.end <= time.time() and r.duration >= 0 and r.attempt == 1


def test_a_stopped_run_records_the_running_stages_as_stopped(pipe: dagrun.Pipeline) -> None:
    stop = StopRequest()
    jobs = make_jobs(ALL, [], Test=lambda: (stop.request(2), time.sleep(0.5)))  # type: ignore[func-returns-value]
    result = dagrun.run(pipe, jobs, dagrun.RunOptions(workers=1), stop=stop)
    assert result.interrupted_by == 2
    outcomes = {r.stage: r.outcome for r in read_history(pipe.path.parent / "state.yml")}
    assert outcomes.get("Test") == "STOPPED"


def test_the_history_is_bounded_and_damaged_lines_are_skipped(
    pipe: dagrun.Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "MAX_BYTES", 2000)
    path = StatePaths(pipe.path.parent / "state.yml").history
    path.write_text('not json\n["Lint", "x"]\n')
    for _ in range(20):
        dagrun.reset(pipe)
        dagrun.run(pipe, make_jobs(ALL, []))
    assert path.stat().st_size <= 2000
    records = list(read_history(pipe.path.parent / "state.yml"))
    assert records and all(r.stage in ALL for r in records)
    assert records[-1].end >= records[0].end


def test_a_history_that_cannot_be_written_costs_only_history(pipe: dagrun.Pipeline) -> None:
    StatePaths(pipe.path.parent / "state.yml").history.mkdir()  # a folder where the file should be
    assert dagrun.run(pipe, make_jobs(ALL, [])).ok
    assert [r.runs for r in dagrun.status(pipe)] == [0] * 5


def test_status_on_the_command_line_as_a_table_and_as_json(seed: Path) -> None:
    runner = CliRunner()
    stages = str(seed / "stages.yaml")
    assert (
        runner.invoke(cli, ["run", stages, "--jobs", "jobs", "--progress", "quiet"], env={"FAIL": "Docs"}).exit_code
        == 1
    )
    table = runner.invoke(cli, ["status", stages])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].endswith("5 stages; 4 SUCCESS, 1 FAILED")
    assert lines[1].split() == ["STAGE", "STATE", "LAST", "RUN", "FINISHED", "RUNS", "NOTES"]
    docs = next(line for line in lines if line.strip().startswith("Docs"))
    assert "FAILED" in docs and "RuntimeError: Docs was told to fail" in docs and docs.split()[5] == "1"
    doc = json.loads(runner.invoke(cli, ["status", stages, "--json"]).output)
    assert doc["schema"] == 1
    by_name = {s["name"]: s for s in doc["stages"]}
    assert by_name["Docs"]["state"] == "FAILED" and by_name["Docs"]["runs"] == 1
    assert by_name["Docs"]["last"]["outcome"] == "FAILED"
    assert by_name["Docs"]["last"]["error"] == "RuntimeError: Docs was told to fail"
    assert by_name["Lint"]["last"]["error"] is None


def test_the_estimate_schedules_by_earlier_durations(tmp_path: Path) -> None:
    pipeline = dagrun.Pipeline.from_dict({"A": [], "B": ["A"], "C": []}, tmp_path / "s.yaml")
    state = dict.fromkeys(pipeline.names, P)
    assert make_plan(pipeline, state).estimate(2) is None  # never measured
    plan = make_plan(pipeline, state, {"A": 2.0, "B": 1.0, "C": 3.0})
    assert plan.estimate(1) == pytest.approx(6.0)
    assert plan.estimate(2) == pytest.approx(3.0)  # C beside A then B


def test_plan_and_the_live_view_give_a_time_from_earlier_runs(pipe: dagrun.Pipeline) -> None:
    dagrun.run(pipe, make_jobs(ALL, []))
    dagrun.reset(pipe)
    plan = dagrun.plan(pipe)
    assert plan.estimate(2) is not None
    from dagrun.ui.text import plan_lines

    assert "expected to take about" in plan_lines(plan, "state.yml", workers=2)[1]
    reporter = LiveReporter(Console(file=io.StringIO(), force_terminal=True, width=100))
    assert plan.expected is not None
    reporter.handle(RunStarted(plan, 2, time.time()))
    try:
        first = reporter._eta()
        assert first.startswith(" · about ") and first.endswith(" left")
        for name in ALL:
            reporter.handle(StageStarted(name, time.time()))
            reporter.handle(StageFinished(name, S, plan.expected[name], time.time()))
        assert reporter._eta() == " · about 0.00s left"
    finally:
        reporter.close()
    assert make_plan(pipe, dict.fromkeys(ALL, P)).estimate(2) is None


def test_no_estimate_is_shown_on_a_first_run(pipe: dagrun.Pipeline) -> None:
    from dagrun.ui.text import plan_lines

    lines: List[str] = plan_lines(dagrun.plan(pipe), "state.yml", workers=2)
    assert not any("expected to take" in line for line in lines)
