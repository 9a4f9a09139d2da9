"""Plans: what runs, what is done, batches and priorities."""

from __future__ import annotations

from dagrun.core.plan import make_plan
from dagrun.core.status import StageStatus
from dagrun.stagesfile.reader import parse_pipeline

from .conftest import SEED

S, F, P, R = StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.PENDING, StageStatus.RUNNING
PIPE = parse_pipeline(SEED, "stages.yaml")


def test_everything_runs_on_a_fresh_state() -> None:
    plan = make_plan(PIPE, {n: P for n in PIPE.names})
    assert set(plan.to_run) == set(PIPE.names) and plan.done == ()
    assert plan.batches == [["Lint", "Test"], ["Coverage"], ["Docs", "Benchmark"]]


def test_only_stages_that_have_not_succeeded_run() -> None:
    state = {"Lint": S, "Test": S, "Coverage": F, "Docs": P, "Benchmark": R}
    plan = make_plan(PIPE, state)
    assert plan.to_run == ("Coverage", "Docs", "Benchmark")
    assert plan.done == ("Lint", "Test")
    assert plan.why("Lint") == "done"
    assert plan.why("Coverage") == "will run (failed last time)"
    assert "stopped" in plan.why("Benchmark")
    assert plan.why("Docs") == "will run"


def test_priority_is_the_longest_chain_behind_a_stage() -> None:
    plan = make_plan(PIPE, {n: P for n in PIPE.names})
    assert plan.priority["Test"] > plan.priority["Lint"]
    assert plan.priority == {"Test": 3, "Coverage": 2, "Lint": 2, "Docs": 1, "Benchmark": 1}
