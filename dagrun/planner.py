"""Decide what a run will do: which stages are done, which will run, in what batches and priority."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

from dagrun.graph import levels, remaining_work
from dagrun.spec import Pipeline
from dagrun.state import StageStatus, State


@dataclass(frozen=True)
class Plan:
    """What `run` would do with this pipeline and state; `plan` renders it, `run` executes it."""

    pipeline: Pipeline
    state: State
    to_run: Tuple[str, ...]  # in a topological order
    done: Tuple[str, ...]  # SUCCESS, and not to run again
    priority: Dict[str, float]  # for stages to run: the longest chain of work still behind each
    selected: Optional[FrozenSet[str]] = None  # with targets: they and their upstream; else every stage
    forced: Mapping[str, str] = field(default_factory=dict)  # downstream of --force: stage -> the forced stage

    @property
    def batches(self) -> List[List[str]]:
        """Every stage, grouped into batches that can run in parallel (for display: computed
        when asked, since a run does not need it)."""
        needs = {name: stage.needs for name, stage in self.pipeline.stages.items()}
        return levels(needs, self.pipeline.order)

    @property
    def cleared(self) -> Tuple[str, ...]:
        """Stages whose SUCCESS the run clears first: downstream of a forced stage, they would
        otherwise claim to be up to date with work that is being redone."""
        return tuple(name for name in self.pipeline.order if name in self.forced)

    def why(self, name: str) -> str:
        """A few words on what happens to a stage, for `dagrun plan`."""
        root = self.forced.get(name)
        forced = "forced" if root == name else f"downstream of forced {root}"
        if self.selected is not None and name not in self.selected:
            return f"not needed for the targets; cleared ({forced})" if root else "not needed for the targets"
        if root is not None:
            return f"will run ({forced})"
        status = self.state[name]
        if status is StageStatus.SUCCESS:
            return "done"
        if status is StageStatus.FAILED:
            return "will run (failed last time)"
        if status is StageStatus.RUNNING:
            return "will run (a run stopped while it was running)"
        return "will run"


def make_plan(
    pipeline: Pipeline,
    state: State,
    weights: Optional[Mapping[str, float]] = None,
    targets: Iterable[str] = (),
    force: Iterable[str] = (),
) -> Plan:
    """Every stage that has not succeeded runs, after its dependencies; those run longest-chain-first.

    With `targets`, only they and their upstream are considered. The `force`d stages and everything
    downstream of them run even if they succeeded. `weights` are the expected durations of stages
    (1 each when unknown). Raises UsageError for a name that is not a stage."""
    targets, force = pipeline.check_names(targets), pipeline.check_names(force)
    selected = pipeline.upstream(targets) if targets else None
    forced: Dict[str, str] = {}
    for root in force:
        forced.update((name, root) for name in pipeline.downstream([root]) if name not in forced or name == root)
    to_run = tuple(
        name
        for name in pipeline.order
        if (selected is None or name in selected) and (state[name] is not StageStatus.SUCCESS or name in forced)
    )
    will_run = set(to_run)
    done = tuple(
        name
        for name in pipeline.order
        if state[name] is StageStatus.SUCCESS and name not in will_run and (selected is None or name in selected)
    )
    dependents = pipeline.dependents()
    pending = set(to_run)
    work = remaining_work(to_run, {n: [d for d in dependents[n] if d in pending] for n in to_run}, weights)
    return Plan(pipeline, dict(state), to_run, done, work, selected, forced)
