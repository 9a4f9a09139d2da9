"""The run loop: start each stage the moment its dependencies have succeeded, record every outcome
the moment it happens, and stop promptly when asked.

Deciding happens where a stage finishes: the thread that sees a stage end records the
outcome, releases the stages that needed it and submits the next ones, under one lock, with one
journal write. The thread that called `execute` only relays events to the reporter, keeps state.yml
fresh, and handles stop requests, so no stage waits for it."""

from __future__ import annotations

import heapq
import itertools
import signal
import threading
import time
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple

from dagrun.core.events import Event, Reporter, RunStarted, RunStopping, StageFinished, StageRetrying, StageStarted
from dagrun.core.graph import AcyclicSorter
from dagrun.core.plan import Plan
from dagrun.core.result import RunResult, StageOutcome, signal_name
from dagrun.core.status import StageStatus
from dagrun.execution.calls import CallResult
from dagrun.execution.executors.base import StagePool
from dagrun.execution.signals import StopRequest
from dagrun.store.state_store import StateStore

if TYPE_CHECKING:
    from dagrun.store.logs import StageLogs

POLL_INTERVAL = 0.05  # seconds between the reporter's turns: events reach it in batches


def execute(
    plan: Plan,
    store: StateStore,
    reporter: Reporter,
    pool: StagePool,
    *,
    fail_fast: bool = False,
    timeout: Optional[float] = None,
    stop: Optional[StopRequest] = None,
    clock: Callable[[], float] = time.monotonic,
    notes: Tuple[str, ...] = (),
    logs: Optional[StageLogs] = None,
    drain_output: Callable[[], None] = lambda: None,
) -> RunResult:
    """Run `plan.to_run` in `pool`, at most `pool.workers` at a time, longest remaining chain first.

    A stage is submitted as soon as its last dependency succeeds; a failed stage's descendants never
    start. Each outcome is written to `store` by the thread that saw the stage finish, before any
    stage that needs it is submitted. A stage still running after `timeout` seconds fails, and the
    pool stops it as far as it can. Each failed attempt's error is kept in its log in `logs`, and
    `drain_output` is called before events are relayed, so that what stages wrote on descriptors 1 and
    2 is shown before the lines saying they finished. Call from one thread; the reporter hears events
    in that thread."""
    stop = stop or StopRequest()
    started_at = clock()
    reporter.handle(RunStarted(plan, pool.workers, time.time(), notes + pool.notes))
    run = _Run(plan, store, pool, fail_fast, timeout, clock, logs)
    stop.listen(run.wake.set)
    try:
        run.submit(run.take_ready())
        while True:
            run.wake.wait(min(POLL_INTERVAL, store.seconds_to_snapshot()))
            run.wake.clear()
            run.submit(run.expire() + run.due())
            drain_output()
            for event in run.drain():
                reporter.handle(event)
            reporter.tick()
            run.raise_error()
            store.check()
            if stop.requested or run.finished():
                break
            store.snapshot_if_due()
    except KeyboardInterrupt:  # no handler installed (not the main thread's run, or set up by the caller)
        stop.request(signal.SIGINT)
    if stop.requested:
        stopped = run.abandon()
        reporter.handle(
            RunStopping(f"interrupted by {signal_name(stop.signum or 0)}", tuple(sorted(stopped)), time.time(), True)
        )
        if stopped:
            pool.close(abandon=True)
    drain_output()
    for event in run.drain():
        reporter.handle(event)
    result = _result(plan, run.outcomes, run.running, run.started, stop, clock() - started_at)
    return replace(result, retried=tuple(run.retried))


class _Run:
    """The scheduling state of one run, shared by the threads that complete stages."""

    def __init__(
        self,
        plan: Plan,
        store: StateStore,
        pool: StagePool,
        fail_fast: bool,
        timeout: Optional[float],
        clock: Callable[[], float],
        logs: Optional[StageLogs] = None,
    ) -> None:
        self.plan, self.store, self.pool, self.logs = plan, store, pool, logs
        self.workers, self.fail_fast, self.timeout, self.clock = pool.workers, fail_fast, timeout, clock
        self.stages = plan.pipeline.stages
        # Each attempt of a running stage has a token; an outcome that arrives for an attempt that
        # was already ended (timed out, stopped) finds its token gone and is ignored.
        self.tokens: Dict[str, int] = {}
        self.handles: Dict[int, Any] = {}  # what the pool needs to stop an attempt with a timeout
        self.deadlines: List[Tuple[float, int, str]] = []  # a heap, for timeouts, by token
        self.count = itertools.count()
        self.attempt: Dict[str, int] = {}  # of stages that were retried: the attempt running now
        self.retry_at: List[Tuple[float, str]] = []  # a heap: stages waiting out their retry_delay
        self.retry_error: Dict[str, Tuple[float, Optional[str]]] = {}  # their last attempt's duration, error
        self.retried: List[StageOutcome] = []  # the failed attempts that were followed by another
        self.lock = threading.Lock()  # taken by every thread that sees a stage end
        self.wake = threading.Event()
        self.events: List[Event] = []  # appended under the lock, taken whole by `drain`
        self.running: Set[str] = set()
        self.started: Dict[str, float] = {}  # wall clock, of the running stages
        self.outcomes: Dict[str, StageOutcome] = {}
        self.stopping = False
        self.abandoned = False
        self.error: Optional[BaseException] = None
        self.sorter = AcyclicSorter()  # the pipeline was checked for cycles when it was loaded
        if len(plan.to_run) == len(self.stages):
            for name in plan.to_run:
                self.sorter.add(name, *self.stages[name].needs)
        else:
            pending = set(plan.to_run)  # dependencies that already succeeded are not waited for
            for name in plan.to_run:
                self.sorter.add(name, *(d for d in self.stages[name].needs if d in pending))
        self.sorter.prepare()
        self.rank = {name: i for i, name in enumerate(plan.pipeline.order)}
        self.ready: List[Tuple[float, int, str]] = []

    def take_ready(self) -> List[str]:
        """Pick the first stages to run and record them RUNNING."""
        with self.lock:
            return self._take_ready({})

    def _take_ready(self, changes: Dict[str, StageStatus]) -> List[str]:
        """Under the lock: pick the next stages and record them RUNNING, with `changes` (what just
        finished) in the same journal write."""
        batch: List[str] = []
        if not self.stopping:
            ready, priority, rank = self.ready, self.plan.priority, self.rank
            for name in self.sorter.get_ready():
                heapq.heappush(ready, (-priority[name], rank[name], name))
            free = self.workers - len(self.running)
            while ready and len(batch) < free:
                name = heapq.heappop(ready)[2]
                batch.append(name)
                # One journal write carries what finished and what starts; RUNNING is recorded
                # before the stage can finish, so it never overwrites the outcome.
                changes[name] = StageStatus.RUNNING
        if changes and not self.store.record(changes):
            return []
        if batch:
            now = time.time()
            for name in batch:
                self.running.add(name)
                self.started[name] = now
                self.events.append(StageStarted(name, now))
        return batch

    def submit(self, batch: List[str]) -> None:
        # Outside the lock: a stage that ends at once reports in this very thread.
        start, on_done, tokens, count = self.pool.start, self.on_done, self.tokens, self.count
        for name in batch:
            token = tokens[name] = next(count)
            limit = self._limit(name)
            if limit is not None:
                with self.lock:
                    heapq.heappush(self.deadlines, (self.clock() + limit, token, name))
            handle = start(name, partial(on_done, name, token))
            if limit is not None:
                with self.lock:
                    if tokens.get(name) == token:
                        self.handles[token] = handle
        if not batch:
            with self.lock:
                if not self.running:
                    self.wake.set()

    def on_done(self, name: str, token: int, outcome: CallResult) -> None:
        """In the thread that saw the stage end: record, release its dependents, start the next."""
        try:
            with self.lock:
                if self.abandoned or self.tokens.get(name) != token:  # stopped, or timed out
                    return
                batch = self._end_attempt(name, *outcome)
            self.submit(batch)
        except BaseException as e:  # a callback's exception would be lost; the run loop raises it
            self.error = e
            self.wake.set()

    def _forget(self, name: str) -> None:
        """The attempt running for `name` has ended: its late outcome, if any, is ignored."""
        token = self.tokens.pop(name, None)
        if token is not None and self.handles:
            self.handles.pop(token, None)

    def _limit(self, name: str) -> Optional[float]:
        timeout = self.stages[name].timeout
        return timeout if timeout is not None else self.timeout

    def _end_attempt(self, name: str, status: StageStatus, duration: float, error: Optional[str]) -> List[str]:
        """Under the lock: a failed stage with retries left goes again, now or after its retry_delay
        (keeping its place among the running); any other outcome is final."""
        stage = self.stages[name]
        attempt = self.attempt.get(name, 1)
        if error is not None and self.logs is not None:  # before a retry can write its first line
            self.logs.note_failure(name, error)
        if status is StageStatus.SUCCESS or attempt > stage.retries or self.stopping:
            return self._finish(name, status, duration, error)
        now = time.time()
        self.retried.append(StageOutcome(name, status, duration, error, self.started.get(name, now), now, attempt))
        self.attempt[name] = attempt + 1
        self._forget(name)
        self.events.append(StageRetrying(name, attempt + 1, stage.retries + 1, stage.retry_delay, now, error))
        if stage.retry_delay > 0:
            heapq.heappush(self.retry_at, (self.clock() + stage.retry_delay, name))
            self.retry_error[name] = (duration, error)
            return []
        return self._restart(name)

    def _restart(self, name: str) -> List[str]:
        now = time.time()
        self.started[name] = now
        self.events.append(StageStarted(name, now))
        return [name]

    def due(self) -> List[str]:
        """The stages whose retry_delay is over, to start again; under --fail-fast after a failure,
        they fail instead."""
        batch: List[str] = []
        now = self.clock()
        with self.lock:
            while self.retry_at and (self.retry_at[0][0] <= now or self.stopping):
                name = heapq.heappop(self.retry_at)[1]
                duration, error = self.retry_error.pop(name)
                if self.abandoned:
                    continue
                if self.stopping:
                    batch += self._finish(name, StageStatus.FAILED, duration, error)
                else:
                    batch += self._restart(name)
        return batch

    def _finish(self, name: str, status: StageStatus, duration: float, error: Optional[str]) -> List[str]:
        """Under the lock: record how a stage ended, and pick the stages that can start now."""
        self._forget(name)
        self.running.discard(name)
        now = time.time()
        start = self.started.pop(name, now)
        self.outcomes[name] = StageOutcome(name, status, duration, error, start, now, self.attempt.get(name, 1))
        if status is StageStatus.SUCCESS:
            self.sorter.done(name)
        elif self.fail_fast and not self.stopping:
            self.stopping = True
            reason = f"{name} failed and --fail-fast is on"
            self.events.append(RunStopping(reason, tuple(sorted(self.running)), time.time(), False))
        self.events.append(StageFinished(name, status, duration, now, error))
        return self._take_ready({name: status})

    def expire(self) -> List[str]:
        """Fail the stages that have run past the timeout, ask the pool to stop them, and pick
        the stages that can start in their place."""
        batch: List[str] = []
        late: List[Any] = []
        now = self.clock()
        with self.lock:
            while self.deadlines and self.deadlines[0][0] <= now:
                _, token, name = heapq.heappop(self.deadlines)
                if self.tokens.get(name) != token or self.abandoned:
                    continue
                late.append(self.handles.get(token))
                limit = self._limit(name) or 0.0
                how = "its timeout option" if self.stages[name].timeout is not None else "--timeout"
                error = f"timed out after {limit:g} s ({how}); {self.pool.stopping}"
                batch += self._end_attempt(name, StageStatus.FAILED, limit, error)
        for handle in late:  # outside the lock: stopping may end the stage, in this thread
            self.pool.stop(handle)
        return batch

    def finished(self) -> bool:
        with self.lock:
            return not self.running

    def abandon(self) -> Set[str]:
        """Stop: nothing new starts, and stages still running are recorded as not run. A stage that
        finishes later is ignored, so the result and the state file agree."""
        with self.lock:
            self.stopping = self.abandoned = True
            self.store.release_running(self.running)
            return set(self.running)

    def drain(self) -> List[Event]:
        """The events since the last drain, in order."""
        with self.lock:
            events, self.events = self.events, []
        return events

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


def _result(
    plan: Plan,
    outcomes: Dict[str, StageOutcome],
    running: Set[str],
    started: Dict[str, float],
    stop: StopRequest,
    elapsed: float,
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
    since = {name: started[name] for name in stopped if name in started}
    return RunResult(
        outcomes, plan.done, blocked, tuple(not_started), stop.signum, elapsed, stopped=stopped, stopped_started=since
    )


def _upstream_failure(plan: Plan, name: str, outcomes: Dict[str, StageOutcome], blocked: Dict[str, str]) -> str:
    for dep in plan.pipeline.stages[name].needs:
        outcome = outcomes.get(dep)
        if outcome is not None and outcome.status is StageStatus.FAILED:
            return dep
        if dep in blocked:
            return blocked[dep]
    return ""
