"""What a run tells its reporter, as it happens; the scheduler never prints."""

from __future__ import annotations

from typing import IO, NamedTuple, Optional, Tuple, Union

from dagrun.core.plan import Plan
from dagrun.core.result import RunResult
from dagrun.core.status import StageStatus


class RunStarted(NamedTuple):
    """Events are named tuples: immutable, and cheaper than dataclasses both to define (on every
    run's start-up) and to make (the per-stage ones come by the hundred thousand)."""

    plan: Plan
    workers: int
    time: float  # wall clock, seconds since the epoch
    notes: Tuple[str, ...] = ()  # things the user should know before the run, such as a repaired journal


class StageStarted(NamedTuple):
    name: str
    time: float


class StageFinished(NamedTuple):
    name: str
    status: StageStatus  # SUCCESS or FAILED
    duration: float
    time: float
    error: Optional[str] = None


class StageRetrying(NamedTuple):
    """A stage failed and will run again (its `retries` option), after `delay` seconds."""

    name: str
    attempt: int  # the attempt about to start, from 2
    attempts: int  # at most
    delay: float
    time: float
    error: Optional[str]


class RunStopping(NamedTuple):
    """Nothing new will start: a stage failed under --fail-fast, or a signal arrived."""

    reason: str
    running: Tuple[str, ...]
    time: float
    abandon: bool  # True: the running stages are left behind; False: they are waited for


class RunFinished(NamedTuple):
    result: RunResult
    time: float


Event = Union[RunStarted, StageStarted, StageFinished, StageRetrying, RunStopping, RunFinished]


class Reporter:
    """Hears a run as it happens, always in the thread that called `run`: one method per event,
    each doing nothing unless a subclass overrides it.

    `tick` is called between events a few times a second, for reporters that hold output back;
    `close` when the command is done, whatever happened. A reporter that draws on the terminal sets
    `shows_output` and gets, in `show_output`, from any thread, the whole lines that stages wrote
    to descriptors 1 and 2, which must not be written behind its back."""

    shows_output = False

    def handle(self, event: Event) -> None:
        getattr(self, _METHODS[type(event)])(event)

    def run_started(self, event: RunStarted) -> None:
        pass

    def stage_started(self, event: StageStarted) -> None:
        pass

    def stage_retrying(self, event: StageRetrying) -> None:
        pass

    def stage_finished(self, event: StageFinished) -> None:
        pass

    def run_stopping(self, event: RunStopping) -> None:
        pass

    def run_finished(self, event: RunFinished) -> None:
        pass

    def tick(self) -> None:
        pass

    def show_output(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


_METHODS = {
    RunStarted: "run_started",
    StageStarted: "stage_started",
    StageRetrying: "stage_retrying",
    StageFinished: "stage_finished",
    RunStopping: "run_stopping",
    RunFinished: "run_finished",
}


class Fanout(Reporter):
    """Hands each event to several reporters; `close` closes them, then `closing` (a file the
    reporters wrote to)."""

    def __init__(self, *reporters: Reporter, closing: Optional[IO[str]] = None) -> None:
        self.reporters = reporters
        self.closing = closing
        drawing = [r for r in reporters if r.shows_output]
        if drawing:  # one terminal: the first reporter that draws on it
            self.shows_output = True
            self.show_output = drawing[0].show_output  # type: ignore[method-assign]

    def handle(self, event: Event) -> None:
        for reporter in self.reporters:
            reporter.handle(event)

    def tick(self) -> None:
        for reporter in self.reporters:
            reporter.tick()

    def close(self) -> None:
        for reporter in self.reporters:
            reporter.close()
        if self.closing is not None:
            self.closing.close()
