"""What a run tells its reporter, as it happens; the scheduler never prints."""

from __future__ import annotations

from typing import IO, NamedTuple, Optional, Tuple, Union

from dagrun.planner import Plan
from dagrun.result import RunResult
from dagrun.state import StageStatus

try:
    from typing import Protocol
except ImportError:  # pragma: no cover - Python < 3.8
    from typing_extensions import Protocol  # type: ignore[assignment]


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


class Reporter(Protocol):
    """Receives every event, always from the thread that called `run`. A reporter that holds
    output back may also have a `tick()` method, called between events a few times a second. A
    reporter that draws on the terminal has a `show_output(text)` method, called from any thread
    with whole lines that stages wrote and that must not be written behind its back."""

    def handle(self, event: Event) -> None: ...


class NullReporter:
    def handle(self, event: Event) -> None:
        pass


class Fanout:
    """Hands each event to several reporters; `close` closes those that can be closed, then
    `closing` (a file the reporters wrote to)."""

    def __init__(self, *reporters: Reporter, closing: Optional[IO[str]] = None) -> None:
        self.reporters = reporters
        self.closing = closing
        shows = [show for show in (getattr(r, "show_output", None) for r in reporters) if show is not None]
        if shows:
            self.show_output = shows[0]  # one terminal: the first reporter that draws on it

    def handle(self, event: Event) -> None:
        for reporter in self.reporters:
            reporter.handle(event)

    def tick(self) -> None:
        for reporter in self.reporters:
            tick = getattr(reporter, "tick", None)
            if tick is not None:
                tick()

    def close(self) -> None:
        for reporter in self.reporters:
            close = getattr(reporter, "close", None)
            if close is not None:
                close()
        if self.closing is not None:
            self.closing.close()
