"""The library entry point: run a pipeline under the state-file lock, from start to saved state."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Optional, Tuple, Union

from dagrun.lock import RunLock
from dagrun.planner import Plan, make_plan
from dagrun.store import read_state, reset_state

if TYPE_CHECKING:  # `plan` and `reset` need none of these; `run` imports them when called
    from dagrun.events import Reporter
    from dagrun.executors import StagePool
    from dagrun.jobs import Job
    from dagrun.result import RunResult
    from dagrun.signals import StopRequest
    from dagrun.spec import Pipeline
    from dagrun.state import State

STATE_FILE_NAME = "state.yml"


def default_state_path(pipeline: Pipeline) -> Path:
    """state.yml beside the stages file."""
    return pipeline.path.parent / STATE_FILE_NAME


def _state_path(pipeline: Pipeline, state_path: Optional[Union[str, Path]]) -> Path:
    # Absolute from the start: a stage that calls os.chdir() must not move the state file.
    return Path(os.path.abspath(state_path or default_state_path(pipeline)))


def plan(pipeline: Pipeline, state_path: Optional[Union[str, Path]] = None) -> Plan:
    """What `run` would do now; reads the state without taking the lock or writing anything."""
    path = _state_path(pipeline, state_path)
    return make_plan(pipeline, read_state(path, pipeline.names))


def run(
    pipeline: Pipeline,
    jobs: Dict[str, Job],
    *,
    state_path: Optional[Union[str, Path]] = None,
    workers: Optional[int] = None,
    fail_fast: bool = False,
    reporter: Optional[Reporter] = None,
    executor: Union[str, StagePool] = "thread",
    dask_address: Optional[str] = None,
    timeout: Optional[float] = None,
    stop: Optional[StopRequest] = None,
) -> RunResult:
    """Run every stage that has not succeeded yet and return what happened.

    `executor` is "thread", "process" or "dask" (at `dask_address`, or a local cluster), or a pool
    made by the caller, which the caller then closes. A stage running longer than `timeout` seconds
    fails. Holds the state file's lock for the whole run (LockHeldError if another run has it). In
    the main thread, SIGINT, SIGTERM and SIGHUP stop the run promptly: nothing new starts, running
    stages are stopped as far as the executor can and recorded as not run, and the state is saved.
    Raises DagrunError subclasses for bad input."""
    from dagrun.durations import load_durations, save_durations, weights
    from dagrun.events import NullReporter, RunFinished
    from dagrun.executors import make_pool
    from dagrun.scheduler import execute
    from dagrun.signals import StopRequest, stop_on_signals
    from dagrun.store import StateStore

    missing = [name for name in pipeline.names if not callable(jobs.get(name))]
    if missing:
        from dagrun.errors import JobsError

        raise JobsError(f"no function given for {len(missing)} stage(s): {', '.join(missing[:10])}")
    if timeout is not None and timeout <= 0:
        from dagrun.errors import UsageError

        raise UsageError(f"the timeout must be a positive number of seconds, not {timeout:g}")
    path = _state_path(pipeline, state_path)
    reporter = reporter or NullReporter()
    stop = stop or StopRequest()
    with RunLock(path):
        store = StateStore.open(path, pipeline.names)
        notes: Tuple[str, ...] = ()
        if store.dropped_damaged_journal:
            notes = (
                f"the journal a crashed run left beside {path.name} ended in a damaged record, which was "
                "ignored; a stage it recorded may run again",
            )
        known = load_durations(path)
        try:
            if isinstance(executor, str):
                pool = make_pool(executor, jobs, workers, dask_address=dask_address)
            else:
                pool = executor
            try:
                with stop_on_signals(stop):
                    result = execute(
                        make_plan(pipeline, store.state, weights(known, pipeline.names)),
                        store,
                        reporter,
                        pool,
                        fail_fast=fail_fast,
                        timeout=timeout,
                        stop=stop,
                        notes=notes,
                    )
            finally:
                if pool is not executor:
                    pool.close(abandon=stop.requested)
        except BaseException:
            store.abandon()  # the journal keeps every recorded outcome for the next run
            raise
        store.close()
        if result.outcomes:
            known.update((name, o.duration) for name, o in result.outcomes.items())
            save_durations(path, known, pipeline.names)
    result = replace(result, state=store.state)
    reporter.handle(RunFinished(result, time.time()))
    return result


def reset(pipeline: Pipeline, state_path: Optional[Union[str, Path]] = None) -> Optional[State]:
    """Clear every stage's status, under the lock; returns the state before (None if unreadable)."""
    path = _state_path(pipeline, state_path)
    with RunLock(path):
        return reset_state(path, pipeline.names)
