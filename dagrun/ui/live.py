"""The live terminal view, drawn with rich: running stages, counts and a bar; the only module that
imports rich, so commands that do not draw it start faster."""

from __future__ import annotations

import threading
import time
from typing import Dict, List, Mapping, Optional, TextIO

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

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

MAX_RUNNING_ROWS = 8  # more running stages are counted, not listed
MAX_LINES_PER_FLUSH = 12  # finished-stage lines printed per refresh; the rest are counted
FLUSH_INTERVAL = 0.1
_STYLES = {"ok": "green", "fail": "bold red", "dim": "dim", "bold": "bold", "": ""}


class LiveReporter(Reporter):
    """Finished stages scroll above; below, a live panel of what runs now and how far the run is.

    Stage output that reaches the console (`show_output`, from the run's capture of descriptors 1
    and 2) is printed above the panel, whole lines at a time, by the same lock that draws it, so it
    garbles neither the panel nor other stages' lines, and is never erased by a redraw."""

    shows_output = True

    def __init__(self, console: Console, state_path: str = "", refresh_per_second: float = 8) -> None:
        self.console = console
        self.state_path = state_path
        self._lock = threading.Lock()
        self._running: Dict[str, float] = {}
        self._spinners: Dict[str, Spinner] = {}
        self._total = 0
        self._succeeded = 0
        self._failed = 0
        self._already = 0
        self._stopping: Optional[str] = None
        self._started = time.time()
        # With durations from earlier runs: the estimated run time, shrunk as the expected work is done.
        self._estimate: Optional[float] = None
        self._expected: Mapping[str, float] = {}
        self._work_total = self._work_left = 0.0
        self._pending: List[Text] = []
        self._output: List[str] = []  # stage output waiting for the next refresh
        self._hidden_ok = 0
        self._last_flush = 0.0
        # rich's own refresh thread and redirection let a print from another thread slip between
        # a frame's cursor reset and its drawing; here every write to the console holds one lock.
        self._out = threading.RLock()
        self._live = Live(
            self,
            console=console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._period = 1.0 / refresh_per_second
        self._stop_refresh = threading.Event()
        self._refresher: Optional[threading.Thread] = None

    def stage_started(self, event: StageStarted) -> None:
        with self._lock:
            self._running[event.name] = event.time

    def stage_finished(self, event: StageFinished) -> None:
        self._finished(event)

    def run_started(self, event: RunStarted) -> None:
        self._total = len(event.plan.to_run)
        self._already = len(event.plan.done)
        self._started = event.time
        self._estimate = event.plan.estimate(event.workers)
        if self._estimate is not None and event.plan.expected is not None:
            self._expected = event.plan.expected
            self._work_total = self._work_left = sum(self._expected.get(n, 0.0) for n in event.plan.to_run)
        where = f" · state in {self.state_path}" if self.state_path else ""
        # User text (a path may hold `[/]`) is never read as markup.
        self.print(
            Text.assemble(
                ("dagrun", "bold"),
                f" {self._total} to run, {self._already} already done, {event.workers} workers{where}",
            )
        )
        for note in event.notes:
            self.print(Text(f"note: {note}", style="yellow"))
        self._start_live()

    def stage_retrying(self, event: StageRetrying) -> None:
        with self._lock:
            self._pending.append(Text.assemble(("↻ ", "yellow"), (event.name, "yellow"), f" {retry_text(event)}"))
        self._flush()

    def run_stopping(self, event: RunStopping) -> None:
        with self._lock:
            self._stopping = event.reason

    def run_finished(self, event: RunFinished) -> None:
        self.close()
        summary = Text("\n")
        for style, text in summary_lines(event.result):  # one print: 10,000 would take seconds
            summary.append(text + "\n", style=_STYLES[style] or None)
        summary.rstrip()
        self.print(summary)

    def _finished(self, event: StageFinished) -> None:
        with self._lock:
            self._work_left -= self._expected.get(event.name, 0.0)
            self._running.pop(event.name, None)
            self._spinners.pop(event.name, None)
            if event.status is StageStatus.SUCCESS:
                self._succeeded += 1
                if len(self._pending) < MAX_LINES_PER_FLUSH:
                    self._pending.append(
                        Text.assemble(("✓ ", "green"), event.name, (f" {duration(event.duration)}", "dim"))
                    )
                else:
                    self._hidden_ok += 1
            else:
                self._failed += 1
                self._pending.append(
                    Text.assemble(
                        ("✗ ", "bold red"),
                        (event.name, "bold red"),
                        (f" {duration(event.duration)} ", "dim"),
                        last_line(event.error or ""),
                    )
                )
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL or event.status is not StageStatus.SUCCESS:
            self._flush()
            self._last_flush = now

    def show_output(self, text: str) -> None:
        """Whole lines that stages wrote, from any thread: printed above the panel at the next
        refresh, so megabytes cost one redraw per refresh, not one per line."""
        with self._lock:
            self._output.append(text)

    def _flush(self) -> None:
        """Print what waits: stage output first, then the lines of the stages that finished after
        writing it. Every refresh does this, so no line is held back for long."""
        with self._out:
            with self._lock:
                output, self._output = self._output, []
                lines, self._pending = self._pending, []
                hidden, self._hidden_ok = self._hidden_ok, 0
            if output:
                self.print(Text("".join(output).rstrip("\n")))
            if hidden:
                lines.append(Text(f"✓ {plural(hidden, 'more stage')} succeeded", style="green"))
            if lines:
                self.print(Text("\n").join(lines))  # one redraw for the lot

    def print(self, text: Text) -> None:
        """Print above the panel; the only way anything reaches the console while it is drawn."""
        with self._out:
            self.console.print(text, highlight=False, soft_wrap=True)

    def _start_live(self) -> None:
        with self._out:
            self._live.start(refresh=True)
        self._refresher = threading.Thread(target=self._refresh_loop, name="dagrun-live", daemon=True)
        self._refresher.start()

    def _refresh_loop(self) -> None:
        while not self._stop_refresh.wait(self._period):
            self._flush()
            with self._out:
                self._live.refresh()

    def close(self) -> None:
        """Stop the live panel and restore the terminal; safe to call twice."""
        self._stop_refresh.set()
        if self._refresher is not None:
            self._refresher.join()
            self._refresher = None
        with self._out:
            self._flush()
            self._live.stop()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        with self._lock:
            now = time.time()
            running = sorted(self._running.items(), key=lambda kv: kv[1])
            table = Table.grid(padding=(0, 1))
            for name, started in running[:MAX_RUNNING_ROWS]:
                spinner = self._spinners.get(name)
                if spinner is None:  # made for the rows shown only
                    spinner = self._spinners[name] = Spinner("dots", style="cyan")
                table.add_row(spinner, Text(name, style="bold"), Text(duration(now - started), style="dim"))
            if len(running) > MAX_RUNNING_ROWS:
                table.add_row("", Text(f"and {len(running) - MAX_RUNNING_ROWS} more running", style="dim"), "")
            finished = self._succeeded + self._failed
            waiting = self._total - finished - len(running)
            counts = Text.assemble(
                (f" {finished}/{self._total} ", "bold"),
                (f"✓ {self._succeeded} ", "green"),
                (f"✗ {self._failed} ", "red" if self._failed else "dim"),
                (f"running {len(running)} · waiting {waiting} · {duration(now - self._started)}", "dim"),
                (self._eta(), "dim"),
            )
            bar = Table.grid(padding=(0, 0))
            bar.add_row(ProgressBar(total=max(self._total, 1), completed=finished, width=30), counts)
            parts: List[RenderableType] = [table, bar]
            if self._stopping:
                parts.append(Text(f"stopping: {self._stopping}", style="yellow"))
        yield Group(*parts)

    def _eta(self) -> str:
        """' · about 12s left', by earlier runs' durations; nothing on a first run."""
        if self._estimate is None or self._work_total <= 0:
            return ""
        return f" · about {duration(max(self._estimate * self._work_left / self._work_total, 0.0))} left"


def live_reporter(out: TextIO, state_path: str = "") -> LiveReporter:
    """`--progress live`: the view on the terminal that `out` writes to."""
    return LiveReporter(Console(file=out), state_path)
