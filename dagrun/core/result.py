"""What a run did: each stage's outcome, what was blocked or not started, and the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Dict, NamedTuple, Optional, Tuple

from dagrun.core.status import StageStatus, State

EXIT_OK = 0
EXIT_FAILED = 1


class StageOutcome(NamedTuple):
    """One per stage that ran (a named tuple: made once per stage, on the hot path)."""

    name: str
    status: StageStatus  # SUCCESS or FAILED
    duration: float  # seconds
    error: Optional[str] = None  # the traceback, for a failure
    start: float = 0.0  # wall clock, seconds since the epoch, when it was started
    end: float = 0.0  # and when its outcome was recorded
    attempt: int = 1  # more than 1 after retries


@dataclass(frozen=True)
class RunResult:
    """The outcome of `run`; `exit_code` is what the command line exits with."""

    outcomes: Dict[str, StageOutcome]  # the stages that ran, in the order they finished
    done: Tuple[str, ...]  # already SUCCESS before the run, as in the Plan
    blocked: Dict[str, str]  # stage -> the failed stage upstream that kept it from running
    not_started: Tuple[str, ...]  # stopped by --fail-fast or an interrupt before they could start
    interrupted_by: Optional[int]  # the signal that stopped the run
    elapsed: float
    stopped: Tuple[str, ...] = ()  # running when the run was interrupted; left to finish on their own
    stopped_started: Dict[str, float] = field(default_factory=dict)  # when each of those started
    retried: Tuple[StageOutcome, ...] = ()  # failed attempts that were followed by another
    log_tails: Dict[str, Tuple[str, Tuple[str, ...]]] = field(default_factory=dict)  # failed: log path, last lines
    state: State = field(default_factory=dict)  # state.yml as the run left it
    code_changed: Tuple[str, ...] = ()  # succeeded, not run again, but their code changed since

    # Kept once computed (the result does not change): the summary, the exit code and the hints
    # each ask, and with many stages each asking was a walk over every outcome.
    @cached_property
    def failed(self) -> Tuple[str, ...]:
        return tuple(n for n, o in self.outcomes.items() if o.status is StageStatus.FAILED)

    @cached_property
    def succeeded(self) -> Tuple[str, ...]:
        return tuple(n for n, o in self.outcomes.items() if o.status is StageStatus.SUCCESS)

    @property
    def ok(self) -> bool:
        return self.interrupted_by is None and not (self.failed or self.blocked or self.not_started or self.stopped)

    @property
    def exit_code(self) -> int:
        """0 all done; 1 a stage failed or was blocked; 128 + signal number when interrupted."""
        if self.interrupted_by is not None:
            return 128 + self.interrupted_by
        return EXIT_OK if self.ok else EXIT_FAILED


def signal_name(signum: int) -> str:
    try:
        import signal  # here: `dagrun plan` never needs it, and start-up counts

        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def last_line(error: str) -> str:
    """What an error says in one line: the exception, after its traceback."""
    lines = error.strip().splitlines()
    return lines[-1] if lines else ""
