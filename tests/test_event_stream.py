"""`dagrun run --events FILE|-`: one JSON object per line, for CI systems and tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

from click.testing import CliRunner

from dagrun.cli import cli

from .conftest import run_dagrun


def events_of(text: str) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_run_with_a_failure_as_events_in_a_file(seed: Path) -> None:
    stages = str(seed / "stages.yaml")
    runner = CliRunner()
    runner.invoke(cli, ["run", stages, "Test", "--jobs", "jobs", "--progress", "quiet"])  # Test is done
    out = seed / "events.jsonl"
    result = runner.invoke(
        cli, ["run", stages, "--jobs", "jobs", "--events", str(out), "--progress", "plain"], env={"FAIL": "Coverage"}
    )
    assert result.exit_code == 1
    assert "FAILED  Coverage" in result.output  # the progress is still shown
    events = events_of(out.read_text())
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert all(isinstance(e["time"], float) for e in events)
    assert events[0]["to_run"] == ["Lint", "Coverage", "Docs", "Benchmark"] and events[0]["workers"] >= 1
    by = {(e["event"], e.get("stage")): e for e in events}
    assert by[("stage_skipped", "Test")]["reason"] == "already succeeded"
    assert ("stage_started", "Lint") in by and by[("stage_succeeded", "Lint")]["duration"] >= 0
    failed = by[("stage_failed", "Coverage")]
    assert failed["error"] == "RuntimeError: Coverage was told to fail" and "Traceback" in failed["traceback"]
    assert by[("stage_skipped", "Docs")]["reason"] == "blocked by Coverage"
    assert by[("stage_skipped", "Benchmark")]["reason"] == "blocked by Coverage"
    assert events[-1]["exit_code"] == 1 and events[-1]["succeeded"] == 1 and events[-1]["failed"] == 1
    assert events[-1]["blocked"] == 2


def test_events_on_stdout_send_the_progress_to_stderr(seed: Path) -> None:
    result = run_dagrun("run", "--jobs", "jobs", "--events", "-", "--progress", "plain", cwd=seed)
    assert result.returncode == 0, result.stdout + result.stderr
    events = events_of(result.stdout)  # every line of stdout is an event
    assert [e["event"] for e in events].count("stage_succeeded") == 5
    assert "5 succeeded" in result.stderr


def test_an_events_file_that_cannot_be_written_is_a_usage_error(seed: Path) -> None:
    result = CliRunner().invoke(cli, ["run", str(seed / "stages.yaml"), "--jobs", "jobs", "--events", str(seed)])
    assert result.exit_code == 2
    assert f"cannot write the events file {seed}" in result.output
    assert not (seed / "ran.log").exists()
