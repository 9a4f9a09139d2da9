"""Reporters without a terminal: timestamped plain lines for logs and CI, and a quiet one."""

from __future__ import annotations

import time
from typing import List, TextIO

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
from dagrun.ui.text import duration, plural, retry_text, summary_lines

FLUSH_INTERVAL = 0.2  # seconds: a log being followed is never further behind than this


class PlainReporter(Reporter):
    """One line per event, no escape codes: safe for pipes, files and CI logs.

    Lines are written at most every FLUSH_INTERVAL, and at once for failures and the end: a write
    per line would cost more than running a short stage. They wait in a list of our own, not in the
    stream's buffer, which PYTHONUNBUFFERED (common in containers) turns into a write per line."""

    def __init__(self, out: TextIO, state_path: str = "") -> None:
        self.out = out
        self.state_path = state_path
        self._second = -1
        self._stamp = ""
        self._last_flush = 0.0
        self._pending: List[str] = []

    def _line(self, t: float, text: str, urgent: bool = False) -> None:
        # Two lines per stage: the clock and the flush check are written out here, not called.
        second = int(t)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%H:%M:%S", time.localtime(t))
        self._pending.append(f"{self._stamp} {text}\n")
        if urgent or t - self._last_flush >= FLUSH_INTERVAL:
            self._flush()
            self._last_flush = t

    def tick(self) -> None:
        """Between events: write the lines held back, once they are FLUSH_INTERVAL old."""
        if self._pending:
            now = time.time()
            if now - self._last_flush >= FLUSH_INTERVAL:
                self._flush()
                self._last_flush = now

    def _flush(self) -> None:
        if self._pending:
            self.out.write("".join(self._pending))
            self._pending.clear()
        self.out.flush()

    def stage_started(self, event: StageStarted) -> None:
        self._line(event.time, f"start   {event.name}")

    def stage_finished(self, event: StageFinished) -> None:
        if event.status is StageStatus.SUCCESS:
            self._line(event.time, f"ok      {event.name} ({duration(event.duration)})")
        else:
            error = last_line(event.error or "")
            self._line(event.time, f"FAILED  {event.name} ({duration(event.duration)}): {error}", urgent=True)

    def stage_retrying(self, event: StageRetrying) -> None:
        self._line(event.time, f"retry   {event.name} ({retry_text(event)})", urgent=True)

    def run_started(self, event: RunStarted) -> None:
        plan = event.plan
        self._line(
            event.time,
            f"dagrun: {plural(len(plan.to_run), 'stage')} to run, {len(plan.done)} already done, "
            f"{plural(event.workers, 'worker')}" + (f"; state in {self.state_path}" if self.state_path else ""),
        )
        for note in event.notes:
            self._line(event.time, f"note: {note}")
        self._flush()

    def run_stopping(self, event: RunStopping) -> None:
        running = ", ".join(event.running)
        if running:
            running = f"; stopping {running}" if event.abandon else f"; waiting for {running}"
        self._line(event.time, f"stopping: {event.reason}; nothing new will start{running}", urgent=True)

    def run_finished(self, event: RunFinished) -> None:
        self._pending.append("\n" + "\n".join(text for _, text in summary_lines(event.result)) + "\n")
        self._flush()


class QuietReporter(Reporter):
    """Nothing while running; at the end, only failures and the closing line."""

    def __init__(self, out: TextIO, state_path: str = "") -> None:
        self.out = out

    def run_finished(self, event: RunFinished) -> None:
        if not event.result.ok:
            self.out.write("\n".join(text for _, text in summary_lines(event.result)) + "\n")
            self.out.flush()
