"""`dagrun run --events FILE|-`: the run as newline-delimited JSON, for CI systems and tools.

Each line is one object with "event" and "time" (seconds since the epoch); the kinds and their
fields are documented in docs/cli.md and only ever gain fields."""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

from dagrun import __version__
from dagrun.core.events import (
    Reporter,
    RunFinished,
    RunStarted,
    RunStopping,
    StageFinished,
    StageRetrying,
    StageStarted,
)
from dagrun.core.result import last_line
from dagrun.core.status import StageStatus

FLUSH_INTERVAL = 0.2  # seconds: a tool following the stream is never further behind than this


class EventStream(Reporter):
    """A reporter that writes each event as one JSON line to `out`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._last_flush = 0.0

    def _write(self, urgent: bool = False, **fields: Any) -> None:
        self.out.write(json.dumps(fields, separators=(",", ":")) + "\n")
        self._flush_if_due(urgent)

    def tick(self) -> None:
        """Between events: flush the lines held back, once they are FLUSH_INTERVAL old."""
        self._flush_if_due()

    def _flush_if_due(self, urgent: bool = False) -> None:
        now = time.monotonic()
        if urgent or now - self._last_flush >= FLUSH_INTERVAL:
            self.out.flush()
            self._last_flush = now

    def stage_started(self, event: StageStarted) -> None:
        self._write(event="stage_started", time=event.time, stage=event.name)

    def stage_finished(self, event: StageFinished) -> None:
        if event.status is StageStatus.SUCCESS:
            self._write(event="stage_succeeded", time=event.time, stage=event.name, duration=event.duration)
        else:
            self._write(
                urgent=True,
                event="stage_failed",
                time=event.time,
                stage=event.name,
                duration=event.duration,
                error=last_line(event.error or ""),
                traceback=event.error,
            )

    def stage_retrying(self, event: StageRetrying) -> None:
        self._write(
            urgent=True,
            event="stage_retried",
            time=event.time,
            stage=event.name,
            attempt=event.attempt,
            attempts=event.attempts,
            delay=event.delay,
            error=last_line(event.error or ""),
        )

    def run_started(self, event: RunStarted) -> None:
        plan = event.plan
        self._write(
            urgent=True,
            event="run_started",
            time=event.time,
            dagrun=__version__,
            stages_file=str(plan.pipeline.path),
            workers=event.workers,
            to_run=list(plan.to_run),
            why={name: plan.why(name) for name in plan.to_run},
        )
        for name in plan.done:
            self._write(event="stage_skipped", time=event.time, stage=name, reason="already succeeded")

    def run_stopping(self, event: RunStopping) -> None:
        self._write(
            urgent=True, event="run_stopping", time=event.time, reason=event.reason, running=list(event.running)
        )

    def run_finished(self, event: RunFinished) -> None:
        result = event.result
        for name, culprit in result.blocked.items():
            self._write(event="stage_skipped", time=event.time, stage=name, reason=f"blocked by {culprit}")
        for name in result.not_started:
            self._write(event="stage_skipped", time=event.time, stage=name, reason="not started: the run stopped")
        self._write(
            urgent=True,
            event="run_finished",
            time=event.time,
            exit_code=result.exit_code,
            elapsed=result.elapsed,
            succeeded=len(result.succeeded),
            failed=len(result.failed),
            blocked=len(result.blocked),
            stopped=list(result.stopped),
        )
