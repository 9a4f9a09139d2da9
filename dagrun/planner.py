"""Decide what a run will do: which stages are done, which will run, in what batches and priority."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from dagrun.graph import levels, remaining_work
from dagrun.spec import Pipeline
from dagrun.state import StageStatus, State


@dataclass(frozen=True)
class Plan:
    """What `run` would do with this pipeline and state; `plan` renders it, `run` executes it."""

    pipeline: Pipeline
    state: State
    to_run: Tuple[str, ...]  # in a topological order
    done: Tuple[str, ...]
    priority: Dict[str, float]  # for stages to run: the longest chain of work still behind each

    @property
    def batches(self) -> List[List[str]]:
        """Every stage, grouped into batches that can run in parallel (for display: computed
        when asked, since a run does not need it)."""
        needs = {name: stage.needs for name, stage in self.pipeline.stages.items()}
        return levels(needs, self.pipeline.order)

    def why(self, name: str) -> str:
        """A few words on what happens to a stage, for `dagrun plan`."""
        status = self.state[name]
        if status is StageStatus.SUCCESS:
            return "done"
        if status is StageStatus.FAILED:
            return "will run (failed last time)"
        if status is StageStatus.RUNNING:
            return "will run (a run stopped while it was running)"
        return "will run"


def make_plan(pipeline: Pipeline, state: State, weights: Optional[Mapping[str, float]] = None) -> Plan:
    """Every stage that has not succeeded runs, after its dependencies; those run longest-chain-first.

    `weights` are the expected durations of stages (1 each when unknown)."""
    to_run = tuple(name for name in pipeline.order if state[name] is not StageStatus.SUCCESS)
    done = tuple(name for name in pipeline.order if state[name] is StageStatus.SUCCESS)
    dependents = pipeline.dependents()
    pending = set(to_run)
    work = remaining_work(to_run, {n: [d for d in dependents[n] if d in pending] for n in to_run}, weights)
    return Plan(pipeline, dict(state), to_run, done, work)
