"""The library entry point: run a pipeline under the state-file lock, from start to saved state."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from dagrun.core.memory import gc_paused
from dagrun.core.pipeline import Pipeline
from dagrun.core.plan import Plan, make_plan, pipeline_declares
from dagrun.core.status import StageStatus, State
from dagrun.errors import JobsError, UsageError
from dagrun.store.durations import load_durations, save_durations, weights
from dagrun.store.history import RunInfo, StageReport, read_history, save_history, stage_reports
from dagrun.store.lock import RunLock
from dagrun.store.owner import check_owner, claim
from dagrun.store.paths import real_state_path
from dagrun.store.state_store import StateStore, read_state, reset_state

if TYPE_CHECKING:
    from dagrun.core.events import Reporter
    from dagrun.core.result import RunResult
    from dagrun.execution.executors.base import StagePool
    from dagrun.execution.signals import StopRequest
    from dagrun.jobs.loading import Job
    from dagrun.store.fresh import Records

STATE_FILE_NAME = "state.yml"


def default_state_path(pipeline: Pipeline) -> Path:
    """state.yml beside the stages file."""
    return pipeline.path.parent / STATE_FILE_NAME


def state_file(pipeline: Pipeline, given: Optional[Union[str, Path]] = None) -> Path:
    """The state file of `pipeline` (`given`, or state.yml beside its stages file), absolute and with
    links resolved: every file of one state (the lock, the journal, the logs, the history) is named
    from this one path, so a link to a state file can never bypass the lock of a run that uses it.
    Refuses, before anything is written, a path that is not a file dagrun could replace (a device,
    a folder, a FIFO), a name too long for its side files, and a state that another stages file in
    the same folder keeps (StateError)."""
    shown = str(given or default_state_path(pipeline))
    path = real_state_path(shown)
    check_owner(path, pipeline.path, shown)
    return path


def plan(
    pipeline: Pipeline,
    state_path: Optional[Union[str, Path]] = None,
    *,
    targets: Iterable[str] = (),
    force: Iterable[str] = (),
    jobs: Optional[Dict[str, Job]] = None,
    rerun_changed: bool = False,
) -> Plan:
    """What `run` would do now; reads the state without taking the lock or writing anything. With
    `jobs`, the plan knows which succeeded stages' code has changed since."""
    path = state_file(pipeline, state_path)
    state = read_state(path, pipeline.names)
    changed = _changed_code(path, state, jobs) if jobs is not None else ()
    outdated = _outdated(pipeline, state, path)
    return _plan(pipeline, state, load_durations(path), targets, force, changed, rerun_changed, outdated)


def _plan(
    pipeline: Pipeline,
    state: State,
    known: Dict[str, float],
    targets: Iterable[str],
    force: Iterable[str],
    changed: Tuple[str, ...],
    rerun_changed: bool,
    outdated: Mapping[str, str],
) -> Plan:
    """The plan for `plan` and `run` alike: durations from earlier runs (if any) as weights, the
    stages whose code `changed` forced when asked to rerun them, and the `outdated` ones."""
    expected = weights(known, pipeline.names) if known else None
    force = (*force, *changed) if rerun_changed else tuple(force)
    return make_plan(pipeline, state, expected, targets=targets, force=force, changed=changed, outdated=outdated)


def _outdated(pipeline: Pipeline, state: State, path: Path, records: Optional[Records] = None) -> Dict[str, str]:
    """The succeeded stages whose inputs, outputs or params no longer match their last success, and
    why; only stages that declare them are looked at (by stat, reading only files whose size or
    time changed). With `records` (a run, under the lock), the records of stages whose files were
    only touched are saved with their new times."""
    declaring = [s for s in pipeline.stages.values() if s.declares and state[s.name] is StageStatus.SUCCESS]
    if not declaring:
        return {}
    from dagrun.store.fresh import Records, why_stale  # here: only stages that declare files need it

    touched: Set[str] = set()
    with gc_paused():
        saving = records is not None
        records = records or Records(path)
        base = pipeline.path.resolve().parent
        found = {s.name: why_stale(s, records.get(s.name), base, touched) for s in declaring}
    stale = {name: why for name, why in found.items() if why is not None}
    for name in sorted(touched - set(stale)) if saving else ():
        records.append(name, records.latest[name])
    return stale


def _changed_code(
    path: Path, state: State, jobs: Dict[str, Job], recorded: Optional[Dict[str, str]] = None
) -> Tuple[str, ...]:
    from dagrun.jobs.fingerprints import changed, load_fingerprints  # only with jobs to compare

    return tuple(changed(state, jobs, load_fingerprints(path) if recorded is None else recorded))


@dataclass(frozen=True)
class RunOptions:
    """How `run` runs a pipeline; every field has the command line's default."""

    state_path: Optional[Union[str, Path]] = None  # default: state.yml beside the stages file
    workers: Optional[int] = None  # stages at once; default: one per CPU
    executor: Union[str, StagePool] = "thread"  # a name in EXECUTORS, or a pool the caller made and closes
    executor_options: Mapping[str, Optional[str]] = field(default_factory=dict)  # e.g. {"address": ...} for dask
    fail_fast: bool = False  # start nothing new after a failure
    timeout: Optional[float] = None  # seconds; a stage running longer fails
    targets: Sequence[str] = ()  # only these and what they need
    force: Sequence[str] = ()  # run these and their downstream even if they succeeded
    rerun_changed: bool = False  # also run the succeeded stages whose code changed since
    logs: bool = False  # stage output to .dagrun/logs instead of this process's stdout and stderr


def run(
    pipeline: Pipeline,
    jobs: Dict[str, Job],
    options: Optional[RunOptions] = None,
    *,
    reporter: Optional[Reporter] = None,
    stop: Optional[StopRequest] = None,
) -> RunResult:
    """Run every stage that has not succeeded yet and return what happened.

    Holds the state file's lock for the whole run (LockHeldError if another run has it); each
    outcome is in the state the moment it happens. `reporter` hears every event, in this thread.
    In the main thread, SIGINT, SIGTERM and SIGHUP stop the run promptly (or `stop`, from any
    thread): nothing new starts, running stages are stopped as far as the executor can and
    recorded as not run, and the state is saved. Raises DagrunError subclasses for bad input."""
    # The run machinery is imported here: `dagrun plan`, `status`, `reset` and `mark` never need it,
    # and it is half of their start-up (docs/performance.md).
    from dagrun.core.events import Reporter, RunFinished
    from dagrun.execution.capture import FdCapture, StageOutput
    from dagrun.execution.children import children_now, descendants, stop_processes
    from dagrun.execution.executors import make_pool
    from dagrun.execution.fresh import RecordingPool
    from dagrun.execution.scheduler import execute
    from dagrun.execution.signals import StopRequest, stop_on_signals
    from dagrun.jobs.fingerprints import load_fingerprints, save_fingerprints, sources_newer
    from dagrun.store.paths import StatePaths

    options = options or RunOptions()
    workers, executor, timeout, logs = options.workers, options.executor, options.timeout, options.logs
    if timeout is not None and timeout <= 0:
        raise UsageError(f"the timeout must be a positive number of seconds, not {timeout:g}")
    targets, force = pipeline.check_names(options.targets), pipeline.check_names(options.force)
    can_run = pipeline.upstream(targets) if targets else pipeline.stages  # only these need a function
    missing = [name for name in pipeline.names if name in can_run and not callable(jobs.get(name))]
    if missing:
        raise JobsError(f"no function given for {len(missing)} stage(s): {', '.join(missing[:10])}")
    path = state_file(pipeline, options.state_path)
    reporter = reporter or Reporter()
    stop = stop or StopRequest()
    with RunLock(path):
        started = time.time()
        claim(path, pipeline.path)
        store = StateStore.open(path, pipeline.names)
        notes: Tuple[str, ...] = ()
        if store.dropped_damaged_journal:
            notes = (
                f"the journal a crashed run left beside {path.name} ended in a damaged record, which was "
                "ignored; a stage it recorded may run again",
            )
        known = load_durations(path)
        recorded = load_fingerprints(path)
        changed = _changed_code(path, store.state, jobs, recorded) if options.rerun_changed else ()
        records: Optional[Records] = None
        if pipeline_declares(pipeline):
            from dagrun.store.fresh import Records

            records = Records(path)
        outdated = _outdated(pipeline, store.state, path, records)
        work = _plan(pipeline, store.state, known, targets, force, changed, options.rerun_changed, outdated)
        if work.cleared:  # before anything runs: a crash must not leave their old SUCCESS standing
            store.record({name: StageStatus.PENDING for name in work.cleared})
            store.check()
        try:
            # Failures are kept in the logs even when output is shown instead (`logs` off), and a
            # stage about to run has no log from an earlier run to be mistaken for its latest.
            stage_logs = StageOutput(StatePaths(path).logs, pipeline.names)
            stage_logs.clear(work.to_run)
            show = reporter.show_output if reporter.shows_output else None
            capture = FdCapture(show, stage_logs if logs else None) if (logs or show is not None) else None
            children_before = children_now()
            if capture is not None:
                capture.start()
            try:
                if isinstance(executor, str):
                    pool_logs = stage_logs if logs else None
                    pool = make_pool(executor, jobs, workers, logs=pool_logs, options=options.executor_options)
                else:
                    pool = executor
                info = RunInfo(started, pool.workers, executor if isinstance(executor, str) else type(pool).__name__)
                runner = pool
                if records is not None:
                    runner = RecordingPool(pool, pipeline.stages, records, pipeline.path.resolve().parent)
                try:
                    with stop_on_signals(stop):
                        result = execute(
                            work,
                            store,
                            reporter,
                            runner,
                            fail_fast=options.fail_fast,
                            timeout=timeout,
                            stop=stop,
                            notes=notes,
                            logs=stage_logs,
                            drain_output=capture.drain if capture is not None else lambda: None,
                        )
                finally:
                    if pool is not executor:
                        pool.close(abandon=stop.requested)
                    if stop.requested:  # a stop stops every program the run's stages started
                        stop_processes(p for p in descendants([os.getpid()]) if p not in children_before)
            finally:
                if capture is not None:
                    capture.stop()
        except BaseException:
            store.abandon()  # the journal keeps every recorded outcome for the next run
            raise
        store.close()
        if records is not None:
            records.compact(pipeline.names)
        if logs and result.failed:
            paths = {name: stage_logs.path(name) for name in result.failed}
            tails = {name: (str(p), tuple(stage_logs.output_tail(name))) for name, p in paths.items()}
            result = replace(result, log_tails=tails)
        save_history(path, result, time.time(), info)
        save_fingerprints(path, recorded, result.succeeded, jobs, pipeline.names)
        # Estimates come from successes only: a stage that failed at once says nothing of its time.
        succeeded = [(name, o.duration) for name, o in result.outcomes.items() if o.status is StageStatus.SUCCESS]
        if succeeded:
            known.update(succeeded)
            save_durations(path, known, pipeline.names)
    if not work.to_run and not options.rerun_changed and sources_newer(path, jobs):
        result = replace(result, code_changed=_changed_code(path, store.state, jobs, recorded))
    result = replace(result, state=store.state)
    reporter.handle(RunFinished(result, time.time()))
    return result


def status(
    pipeline: Pipeline, state_path: Optional[Union[str, Path]] = None, jobs: Optional[Dict[str, Job]] = None
) -> List[StageReport]:
    """Each stage's state with its latest execution from the run history, and why a stage that
    succeeded would run again (its inputs, outputs or params); with `jobs`, also whether its code
    changed since it succeeded. Reads, never writes."""

    path = state_file(pipeline, state_path)
    state = read_state(path, pipeline.names)
    changed = _changed_code(path, state, jobs) if jobs is not None else None
    stale: Mapping[str, str] = {}
    if pipeline_declares(pipeline):  # else nothing can be stale, and status makes no plan
        stale = make_plan(pipeline, state, outdated=_outdated(pipeline, state, path)).stale
    return stage_reports(state, read_history(path), changed, stale)


def report(pipeline: Pipeline, state_path: Optional[Union[str, Path]] = None, run: Optional[int] = None) -> str:
    """One run from the history as a self-contained HTML page: the latest, or run number `run`
    (counted back from the latest when negative: -1 is the latest). Reads, never writes."""
    from dagrun.store.history import read_runs
    from dagrun.ui.report import report_page

    path = state_file(pipeline, state_path)
    runs = read_runs(path)
    if not runs:
        raise UsageError(f"no run is recorded beside {path.name} yet", hint="`dagrun run` first; then report")
    if run is None:
        chosen = runs[-1]
    elif run < 0:
        if -run > len(runs):
            raise UsageError(f"the history beside {path.name} keeps {len(runs)} run(s), not {-run}")
        chosen = runs[run]
    else:
        found = [r for r in runs if r.number == run]
        if not found:
            kept = f"run {runs[0].number}" if len(runs) == 1 else f"runs {runs[0].number} to {runs[-1].number}"
            raise UsageError(f"no run {run} in the history beside {path.name}: it keeps {kept}")
        chosen = found[-1]
    return report_page(pipeline, runs, chosen, read_state(path, pipeline.names), str(pipeline.path))


def reset(
    pipeline: Pipeline,
    state_path: Optional[Union[str, Path]] = None,
    *,
    stages: Iterable[str] = (),
    only: bool = False,
    failed: bool = False,
) -> Optional[State]:
    """Clear stages back to null, under the lock: every stage; or the named `stages` and their
    downstream (just them with `only`); or, with `failed`, every FAILED stage. Returns the cleared
    stages' statuses before, or None when the whole state file was unreadable and was replaced."""
    names = pipeline.check_names(stages)
    path = state_file(pipeline, state_path)

    def choose(state: State) -> Tuple[str, ...]:
        chosen = set(pipeline.names)
        if names:
            chosen = set(names) if only else set(pipeline.downstream(names))
        if failed:
            chosen &= {name for name, status in state.items() if status is StageStatus.FAILED}
        return tuple(name for name in pipeline.names if name in chosen)

    with RunLock(path):
        claim(path, pipeline.path)
        return reset_state(path, pipeline.names, None if not (names or failed) else choose)


def _record_as_they_are(pipeline: Pipeline, path: Path, names: List[str]) -> None:
    """A stage marked SUCCESS by hand is up to date with its inputs, outputs and params as they are
    now; without a record it would be stale at once. Its declared outputs must exist."""
    if not names:
        return
    from dagrun.store.fresh import Records, make_record, missing_outputs, snapshot

    base = pipeline.path.resolve().parent
    for name in names:
        missing = missing_outputs(pipeline.stages[name], base)
        if missing:
            raise UsageError(
                f"{name} cannot be marked SUCCESS: its declared output {missing[0]} does not exist",
                hint="make the outputs first, or mark it FAILED",
            )
    records = Records(path)
    for name in names:
        stage = pipeline.stages[name]
        records.append(name, make_record(stage, base, snapshot(base, stage.inputs)))


def mark(
    pipeline: Pipeline,
    stages: Iterable[str],
    status: StageStatus,
    state_path: Optional[Union[str, Path]] = None,
    *,
    ignore_needs: bool = False,
) -> State:
    """Record stages as SUCCESS or FAILED by hand, for work done outside dagrun; under the lock.

    Refuses (UsageError) a stage whose dependencies are not SUCCESS, counting the stages marked
    SUCCESS together, unless `ignore_needs`. A stage that declares inputs, outputs or params and is
    marked SUCCESS is recorded as up to date with them as they are now (its outputs must exist).
    Returns the marked stages' statuses before."""

    names = pipeline.check_names(stages)
    if status not in (StageStatus.SUCCESS, StageStatus.FAILED):
        raise UsageError(f"a stage can be marked SUCCESS or FAILED, not {status.text}", hint="use `dagrun reset`")
    path = state_file(pipeline, state_path)
    with RunLock(path):
        claim(path, pipeline.path)
        store = StateStore.open(path, pipeline.names)
        try:
            state = store.state
            if not ignore_needs:
                succeeded = {n for n, s in state.items() if s is StageStatus.SUCCESS}
                if status is StageStatus.SUCCESS:
                    succeeded |= set(names)
                for name in names:
                    for dep in pipeline.stages[name].needs:
                        if dep not in succeeded:
                            raise UsageError(
                                f"{name} needs {dep}, which is not SUCCESS ({state[dep].text})",
                                hint=f"run or mark {dep} first, or mark anyway (--ignore-needs)",
                            )
            before = {name: state[name] for name in names}
            if status is StageStatus.SUCCESS:
                _record_as_they_are(pipeline, path, [n for n in names if pipeline.stages[n].declares])
            store.record({name: status for name in names})
            store.check()
        except BaseException:
            store.abandon()
            raise
        store.close()
    return before
