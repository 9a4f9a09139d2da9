"""Decide what a run will do: which stages are done, which will run, in what batches and priority."""

from __future__ import annotations

import heapq
import os
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

from dagrun.core.graph import levels, remaining_work
from dagrun.core.pipeline import Pipeline
from dagrun.core.status import StageStatus, State


def default_workers() -> int:
    """One stage per CPU, like `make -j$(nproc)`; raise it for stages that mostly wait."""
    return os.cpu_count() or 1


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
    expected: Optional[Mapping[str, float]] = None  # seconds per stage, from earlier runs; None if never measured
    changed: FrozenSet[str] = frozenset()  # succeeded, but with other code than the jobs module has now
    stale: Mapping[str, str] = field(default_factory=dict)  # succeeded, but runs again: stage -> why, in words

    def estimate(self, workers: int) -> Optional[float]:
        """Seconds the stages to run would take with `workers`, by their durations in earlier runs and
        in the order a run starts them; None when no stage was ever timed."""
        if self.expected is None:
            return None
        expected = self.expected
        pending = set(self.to_run)
        waiting = {n: sum(1 for d in self.pipeline.stages[n].needs if d in pending) for n in self.to_run}
        dependents = self.pipeline.dependents()
        rank = {name: i for i, name in enumerate(self.to_run)}
        ready = [(-self.priority[n], rank[n], n) for n in self.to_run if not waiting[n]]
        heapq.heapify(ready)
        running: List[Tuple[float, str]] = []
        now = 0.0
        while ready or running:
            while ready and len(running) < workers:
                name = heapq.heappop(ready)[2]
                heapq.heappush(running, (now + expected.get(name, 0.0), name))
            now, name = heapq.heappop(running)
            for other in dependents[name]:
                if other in waiting:
                    waiting[other] -= 1
                    if not waiting[other]:
                        heapq.heappush(ready, (-self.priority[other], rank[other], other))
        return now

    @property
    def batches(self) -> List[List[str]]:
        """Every stage, grouped into batches that can run in parallel (for display: computed
        when asked, since a run does not need it)."""
        return levels(self.pipeline.needs(), self.pipeline.order)

    @property
    def cleared(self) -> Tuple[str, ...]:
        """Stages whose SUCCESS the run clears first: downstream of a forced stage, they would
        otherwise claim to be up to date with work that is being redone."""
        return tuple(name for name in self.pipeline.order if name in self.forced or name in self.stale)

    def why(self, name: str) -> str:
        """A few words on what happens to a stage, for `dagrun plan`."""
        root = self.forced.get(name)
        forced = "forced" if root == name else f"downstream of forced {root}"
        if self.selected is not None and name not in self.selected:
            return f"not needed for the targets; cleared ({forced})" if root else "not needed for the targets"
        if root is not None:
            return f"will run ({forced}{', its code changed' if name in self.changed else ''})"
        if name in self.stale:
            return f"will run ({self.stale[name]})"
        status = self.state[name]
        if status is StageStatus.SUCCESS:
            return "done, but its code changed since (--rerun-changed runs it)" if name in self.changed else "done"
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
    changed: Iterable[str] = (),
    outdated: Mapping[str, str] = {},
) -> Plan:
    """Every stage that has not succeeded runs, after its dependencies; those run longest-chain-first.

    With `targets`, only they and their upstream are considered. The `force`d stages and everything
    downstream of them run even if they succeeded. `weights` are the expected durations of stages
    (1 each when unknown). Raises UsageError for a name that is not a stage.

    `outdated` are the succeeded stages whose inputs, outputs or params no longer match their last
    success (stage -> why). They run again, and so does what they lead to: every stage downstream
    of them, and a stage that declares inputs, outputs or params whenever a stage it needs runs."""
    targets, force = pipeline.check_names(targets), pipeline.check_names(force)
    selected = pipeline.upstream(targets) if targets else None
    forced: Dict[str, str] = {}
    for root in force:
        forced.update((name, root) for name in pipeline.downstream([root]) if name not in forced or name == root)
    stale = _stale(pipeline, state, selected, forced, outdated) if outdated or pipeline_declares(pipeline) else {}
    to_run = tuple(
        name
        for name in pipeline.order
        if (selected is None or name in selected)
        and (state[name] is not StageStatus.SUCCESS or name in forced or name in stale)
    )
    will_run = set(to_run)
    done = tuple(
        name
        for name in pipeline.order
        if state[name] is StageStatus.SUCCESS and name not in will_run and (selected is None or name in selected)
    )
    dependents = pipeline.dependents()
    if len(to_run) < len(pipeline.stages):  # only what runs is work still behind a stage
        pending = set(to_run)
        dependents = {n: [d for d in dependents[n] if d in pending] for n in to_run}
    work = remaining_work(to_run, dependents, weights)
    return Plan(pipeline, dict(state), to_run, done, work, selected, forced, weights, frozenset(changed), stale)


def pipeline_declares(pipeline: Pipeline) -> bool:
    return any(stage.declares for stage in pipeline.stages.values())


def _stale(
    pipeline: Pipeline,
    state: State,
    selected: Optional[FrozenSet[str]],
    forced: Mapping[str, str],
    outdated: Mapping[str, str],
) -> Dict[str, str]:
    """The succeeded stages that run again, and why, in dependency order: staleness flows downstream."""
    stale: Dict[str, str] = {}
    for name in pipeline.order:
        if (selected is not None and name not in selected) or state[name] is not StageStatus.SUCCESS:
            continue
        if name in forced:
            continue
        if name in outdated:
            stale[name] = outdated[name]
            continue
        stage = pipeline.stages[name]
        for dep in stage.needs:
            runs = dep in forced or dep in stale or state[dep] is not StageStatus.SUCCESS
            if runs and (dep in stale or stage.declares):
                stale[name] = f"{dep} ran again"
                break
    return stale
