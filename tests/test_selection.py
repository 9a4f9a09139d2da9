"""Choosing what runs: targets, --force, --dry-run, selective reset, and mark."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import List, Set

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dagrun
from dagrun.core.status import StageStatus
from dagrun.errors import UsageError
from dagrun.store.state_store import read_state

from .conftest import ran
from .support import invoke
from .test_runner import DAGS, make_jobs

S, F, P = StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.PENDING
ALL = ["Lint", "Test", "Coverage", "Docs", "Benchmark"]


def state(pipe: dagrun.Pipeline) -> dict:
    return read_state(pipe.path.parent / "state.yml", pipe.names)


def test_targets_run_only_themselves_and_their_upstream(pipe: dagrun.Pipeline) -> None:
    log: List[str] = []
    result = dagrun.run(pipe, make_jobs(ALL, log), dagrun.RunOptions(targets=["Docs"]))
    assert result.ok and result.exit_code == 0
    assert sorted(log) == ["Coverage", "Docs", "Lint", "Test"]
    assert state(pipe) == {"Lint": S, "Test": S, "Coverage": S, "Docs": S, "Benchmark": P}
    # Upstream that already succeeded is not redone.
    log.clear()
    assert dagrun.run(pipe, make_jobs(ALL, log), dagrun.RunOptions(targets=["Benchmark"])).ok
    assert log == ["Benchmark"]


def test_unknown_stage_names_are_refused_with_a_suggestion(pipe: dagrun.Pipeline) -> None:
    with pytest.raises(UsageError, match=r"no stage 'Dcos' in .*stages.yaml \(did you mean 'Docs'\?\)"):
        dagrun.run(pipe, make_jobs(ALL, []), dagrun.RunOptions(targets=["Dcos"]))
    with pytest.raises(UsageError, match="no stage 'Nope'"):
        dagrun.run(pipe, make_jobs(ALL, []), dagrun.RunOptions(force=["Nope"]))
    with pytest.raises(UsageError, match="no stage 'Nope'"):
        dagrun.reset(pipe, stages=["Nope"])
    with pytest.raises(UsageError, match=r"no stage 'BENCHMARK' in .*stages.yaml \(did you mean 'Benchmark'\?\)"):
        dagrun.run(
            pipe, make_jobs(ALL, []), dagrun.RunOptions(targets=["BENCHMARK"])
        )  # as stages file and jobs hints do
    assert not (pipe.path.parent / "state.yml").exists()


def test_force_reruns_a_stage_and_everything_downstream(pipe: dagrun.Pipeline) -> None:
    assert dagrun.run(pipe, make_jobs(ALL, [])).ok
    log: List[str] = []
    result = dagrun.run(pipe, make_jobs(ALL, log), dagrun.RunOptions(force=["Coverage"]))
    assert result.ok
    assert sorted(log) == ["Benchmark", "Coverage", "Docs"]
    plan = dagrun.plan(pipe, force=["Coverage"])
    assert plan.why("Coverage") == "will run (forced)"
    assert plan.why("Docs") == "will run (downstream of forced Coverage)"
    assert plan.why("Lint") == "done"


def test_a_forced_stage_that_fails_leaves_no_stale_success_downstream(pipe: dagrun.Pipeline) -> None:
    assert dagrun.run(pipe, make_jobs(ALL, [])).ok
    result = dagrun.run(pipe, make_jobs(ALL, [], fail=("Coverage",)), dagrun.RunOptions(force=["Coverage"]))
    assert result.exit_code == 1
    assert state(pipe) == {"Lint": S, "Test": S, "Coverage": F, "Docs": P, "Benchmark": P}


def test_force_with_targets_stays_within_the_targets(pipe: dagrun.Pipeline) -> None:
    assert dagrun.run(pipe, make_jobs(ALL, [])).ok
    log: List[str] = []
    assert dagrun.run(pipe, make_jobs(ALL, log), dagrun.RunOptions(targets=["Docs"], force=["Test"])).ok
    assert sorted(log) == ["Coverage", "Docs", "Test"]
    assert state(pipe)["Benchmark"] is P  # downstream of Test, not rerun: no longer SUCCESS


def test_plan_says_why_a_stage_is_left_out(pipe: dagrun.Pipeline) -> None:
    plan = dagrun.plan(pipe, targets=["Coverage"])
    assert plan.to_run == ("Test", "Coverage")
    assert plan.why("Docs") == "not needed for the targets"
    assert plan.why("Test") == "will run"


def test_reset_clears_a_stage_and_its_downstream_or_only_it_or_the_failed(pipe: dagrun.Pipeline) -> None:
    assert dagrun.run(pipe, make_jobs(ALL, [])).ok
    dagrun.reset(pipe, stages=["Coverage"])
    assert state(pipe) == {"Lint": S, "Test": S, "Coverage": P, "Docs": P, "Benchmark": P}
    assert dagrun.run(pipe, make_jobs(ALL, [], fail=("Docs",))).exit_code == 1
    dagrun.reset(pipe, stages=["Test"], only=True)
    assert state(pipe) == {"Lint": S, "Test": P, "Coverage": S, "Docs": F, "Benchmark": S}
    dagrun.reset(pipe, failed=True)
    assert state(pipe) == {"Lint": S, "Test": P, "Coverage": S, "Docs": P, "Benchmark": S}
    dagrun.reset(pipe)
    assert set(state(pipe).values()) == {P}


def test_mark_records_a_state_by_hand_and_checks_dependencies(pipe: dagrun.Pipeline) -> None:
    dagrun.mark(pipe, ["Lint"], S)
    with pytest.raises(UsageError, match=r"Coverage needs Test, which is not SUCCESS"):
        dagrun.mark(pipe, ["Coverage"], S)
    assert state(pipe)["Coverage"] is P
    dagrun.mark(pipe, ["Coverage", "Test"], S)  # together, in dependency order
    dagrun.mark(pipe, ["Docs"], F)
    assert state(pipe) == {"Lint": S, "Test": S, "Coverage": S, "Docs": F, "Benchmark": P}
    dagrun.reset(pipe)
    dagrun.mark(pipe, ["Benchmark"], S, ignore_needs=True)
    assert state(pipe)["Benchmark"] is S
    log: List[str] = []
    assert dagrun.run(pipe, make_jobs(ALL, log)).ok
    assert "Benchmark" not in log


@settings(max_examples=40, deadline=None)
@given(DAGS, st.sets(st.integers(min_value=0, max_value=24), max_size=3), st.sets(st.integers(0, 24), max_size=4))
def test_random_targets_run_exactly_their_unfinished_upstream(
    raw: List[List[int]], picks: Set[int], done: Set[int]
) -> None:
    spec = {f"s{i}": sorted({f"s{j}" for j in deps if j < i}) for i, deps in enumerate(raw)}
    targets = [f"s{i}" for i in sorted(picks) if i < len(raw)] or ["s0"]
    with tempfile.TemporaryDirectory() as folder:
        pipe = dagrun.Pipeline.from_dict(spec, Path(folder) / "s.yaml")
        succeeded = [f"s{i}" for i in sorted(done) if i < len(raw)]
        dagrun.mark(pipe, succeeded, S, ignore_needs=True)
        log: List[str] = []
        assert dagrun.run(pipe, make_jobs(list(spec), log), dagrun.RunOptions(targets=targets)).ok
        final = read_state(Path(folder) / "state.yml", pipe.names)
    upstream: Set[str] = set()
    todo = list(targets)
    while todo:
        name = todo.pop()
        if name not in upstream:
            upstream.add(name)
            todo += spec[name]
    assert set(log) == upstream - set(succeeded)
    assert len(log) == len(set(log))
    assert {n for n, s in final.items() if s is S} == upstream | set(succeeded)


# The command line.


def test_cli_targets_follow_the_stages_file(in_seed: Path) -> None:
    result = invoke("run", "stages.yaml", "Coverage", "--jobs", "jobs", "--progress", "plain")
    assert result.exit_code == 0, result.output
    assert sorted(ran(in_seed)) == ["Coverage", "Test"]
    bad = invoke("run", "stages.yaml", "Covrage", "--jobs", "jobs")
    assert bad.exit_code == 2 and "did you mean 'Coverage'" in bad.output


def test_cli_dry_run_prints_the_plan_and_runs_nothing(in_seed: Path) -> None:
    invoke("run", "stages.yaml", "Test", "--jobs", "jobs", "--progress", "quiet")
    before = (in_seed / "state.yml").read_bytes()
    (in_seed / "ran.log").unlink()
    result = invoke("run", "--jobs", "jobs", "--dry-run", "--force", "Test")
    assert result.exit_code == 0, result.output
    assert "dry run: nothing was run" in result.output
    assert "Test       will run (forced)" in result.output
    assert "Coverage   will run (downstream of forced Test)" in result.output
    assert not ran(in_seed) and (in_seed / "state.yml").read_bytes() == before


def test_cli_reset_and_mark(in_seed: Path) -> None:
    assert invoke("run", "--jobs", "jobs", "--progress", "quiet").exit_code == 0
    reset = invoke("reset", "stages.yaml", "Coverage")
    assert reset.exit_code == 0, reset.output
    assert "cleared 3 stages SUCCESS (Coverage, Docs, Benchmark)" in reset.output
    assert invoke("reset", "stages.yaml", "Test", "--only").output.endswith("cleared 1 stage SUCCESS (Test)\n")
    refused = invoke("mark", "stages.yaml", "Coverage", "--as", "success")
    assert refused.exit_code == 2 and "Coverage needs Test, which is not SUCCESS" in refused.output
    assert "--ignore-needs" in refused.output
    assert invoke("mark", "stages.yaml", "Test", "Coverage", "--as", "success").exit_code == 0
    assert invoke("mark", "stages.yaml", "Docs", "--failed").exit_code == 0  # the older spelling
    assert (in_seed / "state.yml").read_text() == (
        "Lint: SUCCESS\nTest: SUCCESS\nCoverage: SUCCESS\nDocs: FAILED\nBenchmark: null\n"
    )
    assert invoke("reset", "--failed").output.endswith("cleared 1 stage FAILED (Docs)\n")
    neither = invoke("mark", "stages.yaml", "Docs")
    assert neither.exit_code == 2 and "--as success or --as failed" in neither.output


def test_a_target_run_needs_functions_only_for_the_stages_it_can_run(in_seed: Path) -> None:
    (in_seed / "partial_jobs.py").write_text("def Lint():\n    pass\n")  # no Test, Coverage, Docs, Benchmark
    ok = invoke("run", "stages.yaml", "Lint", "--jobs", "partial_jobs", "--progress", "plain")
    assert ok.exit_code == 0, ok.output
    refused = invoke("run", "stages.yaml", "Coverage", "--jobs", "partial_jobs", "--progress", "plain")
    assert refused.exit_code == 2 and "Test" in refused.output and "Coverage" in refused.output
    assert "Docs" not in refused.output  # not needed for the target: not asked for
    pipeline = dagrun.load_pipeline(in_seed / "stages.yaml")
    result = dagrun.run(pipeline, {"Lint": lambda: None}, dagrun.RunOptions(targets=["Lint"]))
    assert result.ok
