"""The run loop: start each stage the moment its dependencies have succeeded, record every outcome
the moment it happens, and stop promptly when asked."""

from __future__ import annotations

import heapq
import queue
import signal
import time
from concurrent.futures import Executor, Future
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

from dagrun.events import Reporter, RunStarted, RunStopping, StageFinished, StageStarted
from dagrun.graph import TopologicalSorter
from dagrun.jobs import Job, user_traceback
from dagrun.plan import Plan
from dagrun.result import RunResult, StageOutcome, signal_name
from dagrun.signals import StopRequest
from dagrun.state import StageStatus
from dagrun.store import StateStore

_Done = Tuple[str, StageStatus, float, Optional[str]]  # name, status, duration, traceback


def run_stage(name: str, job: Job) -> Tuple[StageStatus, float, Optional[str]]:
    """Call one stage's function; any exception, SystemExit and KeyboardInterrupt included, fails it."""
    start = time.perf_counter()
    try:
        job()
    except BaseException as e:
        return StageStatus.FAILED, time.perf_counter() - start, user_traceback(e, skip=1)
    return StageStatus.SUCCESS, time.perf_counter() - start, None


def execute(
    plan: Plan,
    jobs: Dict[str, Job],
    store: StateStore,
    reporter: Reporter,
    executor: Executor,
    workers: int,
    *,
    fail_fast: bool = False,
    stop: Optional[StopRequest] = None,
    clock: Callable[[], float] = time.monotonic,
    notes: Tuple[str, ...] = (),
) -> RunResult:
    """Run `plan.to_run` on `executor`, at most `workers` at a time, longest remaining chain first.

    A stage is submitted as soon as its last dependency succeeds; a failed stage's descendants never
    start. Each outcome is written to `store` by the thread that saw the stage finish, before the
    scheduler hears of it, so no dependent can start before its dependency's success is recorded."""
    stop = stop or StopRequest()
    started_at = clock()
    reporter.handle(RunStarted(plan, workers, time.time(), notes))
    needs = {name: plan.pipeline.stages[name].needs for name in plan.to_run}
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for name in plan.to_run:
        sorter.add(name, *(d for d in needs[name] if d in needs))
    sorter.prepare()
    rank = {name: i for i, name in enumerate(plan.pipeline.order)}
    ready: List[Tuple[float, int, str]] = []
    finished: queue.SimpleQueue[Optional[_Done]] = queue.SimpleQueue()
    stop.listen(lambda: finished.put(None))  # wake the loop at once
    running: Set[str] = set()
    outcomes: Dict[str, StageOutcome] = {}
    stopping: Optional[str] = None

    def on_done(name: str, future: Future[Tuple[StageStatus, float, Optional[str]]]) -> None:
        # Runs in the thread that completed the future: record first, then tell the loop.
        if future.cancelled():
            return
        try:
            status, duration, error = future.result()
        except BaseException as e:  # the executor itself failed to run the stage
            status, duration, error = StageStatus.FAILED, 0.0, user_traceback(e)
        if store.record({name: status}):
            finished.put((name, status, duration, error))

    def finish(item: _Done) -> None:
        nonlocal stopping
        name, status, duration, error = item
        running.discard(name)
        outcomes[name] = StageOutcome(name, status, duration, error)
        if status is StageStatus.SUCCESS:
            sorter.done(name)
        elif fail_fast and stopping is None:
            stopping = f"{name} failed and --fail-fast is on"
            reporter.handle(RunStopping(stopping, tuple(running), time.time(), abandon=False))
        reporter.handle(StageFinished(name, status, duration, time.time(), error))

    try:
        while True:
            if stopping is None and stop.requested:
                stopping = f"interrupted by {signal_name(stop.signum or 0)}"
                reporter.handle(RunStopping(stopping, tuple(running), time.time(), abandon=True))
            if stopping is None:
                for name in sorter.get_ready():
                    heapq.heappush(ready, (-plan.priority[name], rank[name], name))
                _start(ready, running, workers, jobs, store, reporter, executor, on_done)
            if not running or stop.requested:
                break
            try:
                # Wake when state.yml is due, so it never lags the journal by much over the interval.
                item = finished.get(timeout=max(0.01, store.seconds_to_snapshot()))
            except queue.Empty:
                store.snapshot_if_due()
                continue
            if item is not None:  # None: a stop request woke the loop
                finish(item)
            for item in _drain(finished):  # stages that finished together are handled together
                finish(item)
            store.check()
            store.snapshot_if_due()
    except KeyboardInterrupt:  # no handler installed (not the main thread's run, or set up by the caller)
        stop.request(signal.SIGINT)
    # Stages that finished just as the run stopped keep their outcome, in the result as in the store.
    for item in _drain(finished):
        if item[0] in running:
            finish(item)
    if running:
        # Abandoned, not failed: a later run starts them again. A stage that finished meanwhile
        # keeps the outcome its thread recorded.
        store.release_running(running)
        executor.shutdown(wait=False, cancel_futures=True)
    return _result(plan, outcomes, running, stop, clock() - started_at)


def _drain(finished: queue.SimpleQueue[Optional[_Done]]) -> Iterator[_Done]:
    while not finished.empty():
        item = finished.get_nowait()
        if item is not None:
            yield item


def _start(
    ready: List[Tuple[float, int, str]],
    running: Set[str],
    workers: int,
    jobs: Dict[str, Job],
    store: StateStore,
    reporter: Reporter,
    executor: Executor,
    on_done: Callable[[str, Future[Tuple[StageStatus, float, Optional[str]]]], None],
) -> None:
    batch: List[str] = []
    while ready and len(running) + len(batch) < workers:
        batch.append(heapq.heappop(ready)[2])
    if not batch:
        return
    # RUNNING is recorded before the stages can finish, so it never overwrites their outcome.
    store.record({name: StageStatus.RUNNING for name in batch})
    now = time.time()
    for name in batch:
        running.add(name)
        reporter.handle(StageStarted(name, now))
        future = executor.submit(run_stage, name, jobs[name])
        future.add_done_callback(lambda f, name=name: on_done(name, f))  # type: ignore[misc]


def _result(
    plan: Plan, outcomes: Dict[str, StageOutcome], running: Set[str], stop: StopRequest, elapsed: float
) -> RunResult:
    blocked: Dict[str, str] = {}
    not_started: List[str] = []
    for name in plan.to_run:
        if name in outcomes or name in running:
            continue
        culprit = _upstream_failure(plan, name, outcomes, blocked)
        if culprit:
            blocked[name] = culprit
        else:
            not_started.append(name)
    stopped = tuple(name for name in plan.to_run if name in running)
    return RunResult(outcomes, plan.done, blocked, tuple(not_started), stop.signum, elapsed, stopped=stopped)


def _upstream_failure(plan: Plan, name: str, outcomes: Dict[str, StageOutcome], blocked: Dict[str, str]) -> str:
    for dep in plan.pipeline.stages[name].needs:
        outcome = outcomes.get(dep)
        if outcome is not None and outcome.status is StageStatus.FAILED:
            return dep
        if dep in blocked:
            return blocked[dep]
    return ""
