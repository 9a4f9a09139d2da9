"""What a run tells its reporter, as it happens; the scheduler never prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Tuple, Union

from dagrun.planner import Plan
from dagrun.result import RunResult
from dagrun.state import StageStatus

try:
    from typing import Protocol
except ImportError:  # pragma: no cover - Python < 3.8
    from typing_extensions import Protocol  # type: ignore[assignment]


@dataclass(frozen=True)
class RunStarted:
    plan: Plan
    workers: int
    time: float  # wall clock, seconds since the epoch
    notes: Tuple[str, ...] = ()  # things the user should know before the run, such as a repaired journal


class StageStarted(NamedTuple):
    """Per-stage events are named tuples: immutable like the others, and cheap to make by the
    hundred thousand."""

    name: str
    time: float


class StageFinished(NamedTuple):
    name: str
    status: StageStatus  # SUCCESS or FAILED
    duration: float
    time: float
    error: Optional[str] = None


@dataclass(frozen=True)
class RunStopping:
    """Nothing new will start: a stage failed under --fail-fast, or a signal arrived."""

    reason: str
    running: Tuple[str, ...]
    time: float
    abandon: bool  # True: the running stages are left behind; False: they are waited for


@dataclass(frozen=True)
class RunFinished:
    result: RunResult
    time: float


Event = Union[RunStarted, StageStarted, StageFinished, RunStopping, RunFinished]


class Reporter(Protocol):
    """Receives every event, always from the thread that called `run`."""

    def handle(self, event: Event) -> None: ...


class NullReporter:
    def handle(self, event: Event) -> None:
        pass
