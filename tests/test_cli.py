"""The command line, through click's test runner: exit codes, messages, no tracebacks."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List

import pytest
from click.testing import CliRunner

from dagrun import __version__
from dagrun.cli import cli
from dagrun.core.status import StageStatus
from dagrun.store.lock import RunLock

from .conftest import ran
from .support import invoke


def test_version_and_help_document_exit_codes() -> None:
    assert invoke("--version").output.strip() == f"dagrun, version {__version__}"
    help_text = invoke("--help").output
    assert "Exit codes:" in help_text and "130" in help_text
    assert "run" in help_text and "plan" in help_text and "reset" in help_text
    run_help = invoke("run", "--help").output
    assert "--workers" in run_help and "CPUs" in run_help and "--fail-fast" in run_help


def test_run_plan_reset_with_the_default_stages_file(in_seed: Path) -> None:
    result = invoke("run", "--jobs", "jobs", "--progress", "plain")
    assert result.exit_code == 0, result.output
    assert sorted(ran(in_seed)) == ["Benchmark", "Coverage", "Docs", "Lint", "Test"]
    assert "5 succeeded" in result.output
    plan = invoke("plan")
    assert "5 done, 0 will run" in plan.output
    reset = invoke("reset")
    assert reset.exit_code == 0
    assert "cleared 5 stages SUCCESS (Lint, Test, Coverage, Docs, Benchmark)" in reset.output
    assert "0 done, 5 will run" in invoke("plan").output
    assert "nothing to clear" in invoke("reset").output


def test_a_failure_exits_1_and_the_rerun_resumes(in_seed: Path) -> None:
    failed = invoke("run", "stages.yaml", "--jobs", "jobs.py", "--progress", "plain", env={"FAIL": "Coverage"})
    assert failed.exit_code == 1, failed.output
    assert "RuntimeError: Coverage was told to fail" in failed.output
    (in_seed / "ran.log").unlink()
    resumed = invoke("run", "stages.yaml", "-J", "jobs", "--progress", "quiet")
    assert resumed.exit_code == 0
    assert sorted(ran(in_seed)) == ["Benchmark", "Coverage", "Docs"]
    assert resumed.output == ""


def test_state_option_puts_the_state_elsewhere(in_seed: Path) -> None:
    assert invoke("run", "--jobs", "jobs", "--state", "out/custom.yml", "--progress", "quiet").exit_code == 2
    (in_seed / "out").mkdir()
    assert invoke("run", "--jobs", "jobs", "--state", "out/custom.yml", "--progress", "quiet").exit_code == 0
    assert (in_seed / "out" / "custom.yml").read_text().count("SUCCESS") == 5
    assert not (in_seed / "state.yml").exists()


@pytest.mark.parametrize(
    "files, args, code, fragments",
    [
        ({}, ["run", "missing.yaml", "--jobs", "jobs"], 2, ["missing.yaml: no such stages file"]),
        ({"stages.yaml": "a: [b]\nb: [a]\n"}, ["plan"], 2, ["stages.yaml:1: the stages form a cycle: a -> b -> a"]),
        ({"stages.yaml": "Lint: [Tst]\nTest: []\n"}, ["run", "--jobs", "jobs"], 2, ["did you mean 'Test'"]),
        ({"state.yml": "Lint: MAYBE\n"}, ["run", "--jobs", "jobs"], 2, ["state.yml", "dagrun reset"]),
        ({}, ["run", "--jobs", "nowhere_jobs"], 2, ["cannot find the jobs module 'nowhere_jobs'"]),
        ({"jobs.py": "def Lint(): pass\n"}, ["run", "--jobs", "jobs"], 2, ["no usable function for 4 stages"]),
        ({}, ["run"], 2, ["Missing option '--jobs'"]),
        ({}, ["run", "--jobs", "jobs", "-j", "0"], 2, ["0 is not in the range x>=1"]),
    ],
    ids=["missing-file", "cycle", "unknown-dep", "bad-state", "no-module", "no-functions", "no-jobs", "workers-0"],
)
def test_bad_input_is_one_message_and_exit_2_without_traceback(
    in_seed: Path, files: dict, args: List[str], code: int, fragments: List[str]
) -> None:
    for name, text in files.items():
        (in_seed / name).write_text(text)
    state_before = (in_seed / "state.yml").read_bytes() if (in_seed / "state.yml").exists() else None
    result = invoke(*args)
    assert result.exit_code == code
    for fragment in fragments:
        assert fragment in result.output
    assert "Traceback" not in result.output
    assert ran(in_seed) == []
    if state_before is not None:
        assert (in_seed / "state.yml").read_bytes() == state_before


def test_a_held_lock_exits_3_naming_the_holder(in_seed: Path) -> None:
    with RunLock(in_seed / "state.yml"):
        for args in (["run", "--jobs", "jobs"], ["reset"]):
            result = invoke(*args)
            assert result.exit_code == 3
            assert f"in use by another dagrun (pid {os.getpid()}" in result.output


def test_reset_repairs_a_corrupt_state_file(in_seed: Path) -> None:
    (in_seed / "state.yml").write_text("::: not yaml :::\n  - [")
    result = invoke("reset")
    assert result.exit_code == 0 and "missing or unreadable" in result.output
    assert invoke("run", "--jobs", "jobs", "--progress", "quiet").exit_code == 0


def test_a_damaged_journal_left_by_a_crash_is_read_up_to_the_damage_and_reported(in_seed: Path) -> None:
    (in_seed / "state.yml").write_text("Lint: RUNNING\n")
    (in_seed / ".state.yml.journal").write_bytes(b"SUCCESS Lint\n\x00\x00garbage\nSUCCESS Test\n")
    result = invoke("run", "--jobs", "jobs", "--progress", "plain")
    assert result.exit_code == 0
    assert "note: the journal a crashed run left beside state.yml ended in a damaged record" in result.output
    assert sorted(ran(in_seed)) == ["Benchmark", "Coverage", "Docs", "Test"]  # Lint was recorded before the damage


def test_a_full_disk_is_one_message_exit_2_and_the_state_file_intact(
    in_seed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (in_seed / "state.yml").write_text("Lint: SUCCESS\n")
    before = (in_seed / "state.yml").read_bytes()

    def full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    result = invoke("run", "--jobs", "jobs", "--progress", "plain")
    monkeypatch.undo()
    assert result.exit_code == 2
    assert "dagrun: error: " in result.output
    assert "state.yml: cannot write the state file: No space left on device; the previous state is kept" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert (in_seed / "state.yml").read_bytes() == before


def test_executor_options_are_checked_before_anything_runs(in_seed: Path) -> None:
    wrong = invoke("run", "--jobs", "jobs", "--dask-address", "tcp://127.0.0.1:8786")
    assert wrong.exit_code == 2
    assert "dagrun: error: --dask-address is for --executor dask" in wrong.output
    # From the environment it is only a default, and harmless for other executors.
    quiet = invoke("run", "--jobs", "jobs", "--progress", "quiet", env={"DAGRUN_DASK_ADDRESS": "tcp://127.0.0.1:8786"})
    assert quiet.exit_code == 0, quiet.output
    for bad in (["--timeout", "0"], ["--timeout", "-1"], ["--executor", "carrier-pigeon"]):
        result = invoke("run", "--jobs", "jobs", *bad)
        assert result.exit_code == 2 and "Traceback" not in result.output
    assert not ran(in_seed)[5:]  # only the one good run ran anything
    run_help = invoke("run", "--help").output
    assert "--executor" in run_help and "--timeout" in run_help and "DAGRUN_DASK_ADDRESS" in run_help


COMMANDS = ["run", "plan", "status", "logs", "report", "reset", "mark"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=["dagrun", *COMMANDS])
def test_every_command_has_help_that_docs_cli_md_describes(command: list) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and result.output.startswith("Usage: dagrun"), result.output
    docs = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    if command:
        heading = f"## dagrun {command[0]}\n"
        assert heading in docs
        section = docs.split(heading, 1)[1].split("\n## ", 1)[0]
        # every option the help shows is described in the command's section of docs/cli.md
        flags = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", result.output, re.M)) - {"--help"}
        assert flags and sorted(f for f in flags if f not in section) == []


def test_usage_errors_are_dagruns_one_line_with_a_hint_and_exit_2(in_seed: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "--bogus"], prog_name="dagrun")
    assert result.exit_code == 2
    first = result.output.splitlines()[0]  # click's own words differ across its versions
    assert first.startswith("dagrun: error: No such option") and "--bogus" in first
    assert "hint: `dagrun run --help` shows the usage" in result.output
    assert "Usage:" not in result.output


def test_a_stage_name_first_means_the_default_stages_file_in_every_command(in_seed: Path) -> None:
    assert invoke("run", "--jobs", "jobs", "--progress", "quiet").exit_code == 0
    cleared = invoke("reset", "Coverage")
    assert cleared.exit_code == 0 and "cleared" in cleared.output and "Coverage" in cleared.output
    assert invoke("mark", "Coverage", "--as", "success").exit_code == 0
    planned = invoke("plan", "Coverage")
    assert planned.exit_code == 0 and "Docs       not needed for the targets" in planned.output
    assert invoke("mark", "stages.yaml", "Lint", "--success", "--failed").exit_code == 2


def test_the_status_table_lines_up_with_wide_names(tmp_path: Path) -> None:
    from dagrun.store.history import StageReport
    from dagrun.ui.text import columns, status_lines

    reports = [StageReport("データ", StageStatus.PENDING, None, 0), StageReport("Lint", StageStatus.PENDING, None, 0)]
    lines = status_lines(reports, "state.yml")[1:]
    starts = {columns(line[: line.index("null")]) for line in lines[1:]}
    assert len(starts) == 1, lines
