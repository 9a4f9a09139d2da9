"""What users see: plan text, plain lines, the summary, and the live view (asserted as text)."""

from __future__ import annotations

import io
import re
import sys
import threading
import time
from pathlib import Path
from typing import List

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

import dagrun
from dagrun.core.events import RunStarted, StageFinished, StageStarted
from dagrun.core.plan import make_plan
from dagrun.core.status import StageStatus
from dagrun.ui.live import LiveReporter
from dagrun.ui.plain import PlainReporter, QuietReporter
from dagrun.ui.text import duration, plan_lines, summary_lines

from .conftest import SEED

ESCAPE = re.compile(r"\x1b\[")


def fail(name: str) -> None:
    raise ValueError(f"{name} is broken")


def seed_result(tmp_path: Path, reporter: object, failing: str = "Coverage") -> dagrun.RunResult:
    pipe = dagrun.parse_pipeline(SEED, tmp_path / "stages.yaml")
    jobs = {n: (lambda n=n: fail(n)) if n == failing else (lambda n=n: print(f"{n} says hi")) for n in pipe.names}
    return dagrun.run(pipe, jobs, reporter=reporter)  # type: ignore[arg-type]


def test_durations_read_naturally() -> None:
    assert duration(0.1234) == "0.12s"
    assert duration(75) == "1m15s"
    assert duration(3725) == "1h02m05s"


def test_plan_lines_show_batches_and_what_will_happen(tmp_path: Path) -> None:
    pipe = dagrun.parse_pipeline(SEED, tmp_path / "stages.yaml")
    state = {n: StageStatus.PENDING for n in pipe.names}
    state.update(Lint=StageStatus.SUCCESS, Coverage=StageStatus.FAILED)
    text = "\n".join(plan_lines(make_plan(pipe, state), "state.yml"))
    assert "5 stages in 3 batches; 1 done, 4 will run (state: state.yml)" in text
    assert re.search(r"batch 1\n  \[done\] Lint +done\n  \[run \] Test +will run", text)
    assert re.search(r"\[run \] Coverage +will run \(failed last time\)  after Test", text)


def test_plain_lines_are_timestamped_and_free_of_escape_codes(tmp_path: Path) -> None:
    out = io.StringIO()
    result = seed_result(tmp_path, PlainReporter(out, "state.yml"))
    text = out.getvalue()
    assert not ESCAPE.search(text)
    assert re.search(r"^\d\d:\d\d:\d\d dagrun: 5 stages to run, 0 already done", text, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d start   Lint$", text, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d ok      Lint \(\d+\.\d\ds\)$", text, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d FAILED  Coverage \(.*\): ValueError: Coverage is broken$", text, re.M)
    assert "blocked  Docs" in text and "(Coverage failed upstream)" in text
    assert "Coverage failed:\n    Traceback (most recent call last):" in text
    assert "2 succeeded, 1 failed, 2 blocked in" in text
    assert result.exit_code == 1


def test_summary_shows_the_tail_of_long_tracebacks(tmp_path: Path) -> None:
    pipe = dagrun.Pipeline.from_dict({"Deep": []}, tmp_path / "s.yaml")

    def ping(n: int) -> None:
        pong(n - 1) if n else bottom()

    def pong(n: int) -> None:
        ping(n - 1)

    def bottom() -> None:
        raise OSError("bottom")

    result = dagrun.run(pipe, {"Deep": lambda: ping(40)})
    lines = [text for _, text in summary_lines(result)]
    assert "    ..." in lines
    assert "    OSError: bottom" in lines
    assert len(lines) < 30


def test_quiet_prints_nothing_on_success_and_the_failure_otherwise(tmp_path: Path) -> None:
    out = io.StringIO()
    pipe = dagrun.Pipeline.from_dict({"A": []}, tmp_path / "s.yaml")
    dagrun.run(pipe, {"A": lambda: None}, reporter=QuietReporter(out))
    assert out.getvalue() == ""
    (tmp_path / "state.yml").unlink()
    dagrun.run(pipe, {"A": lambda: fail("A")}, reporter=QuietReporter(out))
    assert "A failed:" in out.getvalue() and "ValueError: A is broken" in out.getvalue()


def test_nothing_to_do_says_so(tmp_path: Path) -> None:
    pipe = dagrun.Pipeline.from_dict({"A": []}, tmp_path / "s.yaml")
    dagrun.run(pipe, {"A": lambda: None})
    out = io.StringIO()
    dagrun.run(pipe, {"A": lambda: None}, reporter=PlainReporter(out))
    assert "Nothing to do: all 1 stage already succeeded." in out.getvalue()


def live_console(out: io.StringIO) -> Console:
    return Console(file=out, force_terminal=True, color_system=None, width=100)


def test_live_view_prints_finished_stages_stage_output_and_the_summary(tmp_path: Path) -> None:
    out = io.StringIO()
    stdout = sys.stdout
    result = seed_result(tmp_path, LiveReporter(live_console(out), "state.yml"))
    assert sys.stdout is stdout  # restored
    text = out.getvalue()
    assert "dagrun 5 to run, 0 already done" in text
    assert "✓ Lint" in text and "✗ Coverage" in text
    assert "Lint says hi" in text  # stage output went above the panel, not to the real stdout
    assert "Summary" in text and "2 succeeded, 1 failed, 2 blocked" in text
    assert result.exit_code == 1


def test_a_finished_stages_line_is_printed_on_the_next_refresh_not_the_next_event(tmp_path: Path) -> None:
    out = io.StringIO()
    reporter = LiveReporter(live_console(out), refresh_per_second=50)
    pipe = dagrun.Pipeline.from_dict({"First": [], "Second": []}, tmp_path / "s.yaml")
    plan = make_plan(pipe, {n: StageStatus.PENDING for n in pipe.names})
    now = time.time()
    reporter.handle(RunStarted(plan, 2, now))
    for name in ("First", "Second"):
        reporter.handle(StageStarted(name, now))
    # Two stages finish together; no event comes after them for as long as the test waits.
    reporter.handle(StageFinished("First", StageStatus.SUCCESS, 0.1, now))
    reporter.handle(StageFinished("Second", StageStatus.SUCCESS, 0.1, now))
    try:
        for _ in range(1000):  # the refresh thread prints it: wait for that, not for a time
            if "✓ Second" in out.getvalue():
                break
            time.sleep(0.01)
        assert "✓ First" in out.getvalue() and "✓ Second" in out.getvalue()
    finally:
        reporter.close()


def test_user_text_is_never_read_as_markup(tmp_path: Path) -> None:
    out = io.StringIO()
    reporter = LiveReporter(live_console(out), "x[/]y/[bold]state.yml")
    seed_result(tmp_path, reporter)
    reporter.close()
    assert "state in x[/]y/[bold]state.yml" in out.getvalue()


def test_live_view_draws_running_stages_counts_and_bar(tmp_path: Path) -> None:
    out = io.StringIO()
    reporter = LiveReporter(live_console(out), refresh_per_second=50)
    pipe = dagrun.Pipeline.from_dict({"Slow": [], "Fast": []}, tmp_path / "s.yaml")
    gate = threading.Event()
    seen: List[str] = []

    def slow() -> None:
        gate.wait(5)

    def fast() -> None:
        # Render the panel while Slow runs and Fast is this stage; events reach it within 50 ms.
        deadline = time.monotonic() + 5
        while "running 2" not in _render(reporter) and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(_render(reporter))
        gate.set()

    dagrun.run(pipe, {"Slow": slow, "Fast": fast}, dagrun.RunOptions(workers=2), reporter=reporter)
    assert "Slow" in seen[0] and "Fast" in seen[0]
    assert "0/2" in seen[0] and "running 2 · waiting 0" in seen[0]


def _render(reporter: LiveReporter) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    with console.capture() as capture:
        console.print(reporter)
    return capture.get()


def test_many_stages_in_the_live_view_are_counted_not_listed(tmp_path: Path) -> None:
    out = io.StringIO()
    pipe = dagrun.Pipeline.from_dict({f"s{i}": [] for i in range(300)}, tmp_path / "s.yaml")
    dagrun.run(pipe, {n: (lambda: None) for n in pipe.names}, reporter=LiveReporter(live_console(out)))
    text = out.getvalue()
    assert "more stages succeeded" in text
    assert text.count("✓ s") < 300
    assert "300 succeeded" in text


class CountingStream(io.StringIO):
    """A stream that writes through at once, as stdout does under PYTHONUNBUFFERED."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_plain_lines_are_written_in_batches_and_a_tick_writes_what_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagrun.core.events import StageFinished, StageStarted
    from dagrun.ui.plain import FLUSH_INTERVAL

    out = CountingStream()
    reporter = PlainReporter(out)
    now = 1000.0
    monkeypatch.setattr("dagrun.ui.plain.time.time", lambda: now)
    for i in range(500):  # all within one flush interval
        reporter.handle(StageStarted(f"s{i}", now))
        reporter.handle(StageFinished(f"s{i}", StageStatus.SUCCESS, 0.0, now))
    assert out.writes <= 2  # the first line, at once; the rest wait
    reporter.tick()
    assert out.getvalue().count("\n") < 1000  # not yet due
    now += FLUSH_INTERVAL
    reporter.tick()  # no event came, but the waiting lines go out
    assert out.getvalue().count("\n") == 1000 and out.writes <= 3
    assert out.getvalue().splitlines()[-1].endswith("ok      s499 (0.00s)")


def test_a_long_summary_lists_some_stages_of_each_kind_and_counts_the_rest(tmp_path: Path) -> None:
    from dagrun.ui.text import SUMMARY_ROWS

    # 100 stages that succeed, one that fails, and 100 that it blocks
    stages = {f"ok{i}": [] for i in range(100)}
    stages["Broken"] = []
    stages.update({f"after{i}": ["Broken"] for i in range(100)})
    pipe = dagrun.Pipeline.from_dict(stages, tmp_path / "stages.yaml")  # type: ignore[arg-type]
    jobs = {n: (lambda: fail("Broken")) if n == "Broken" else (lambda: None) for n in pipe.names}
    result = dagrun.run(pipe, jobs, dagrun.RunOptions(state_path=tmp_path / "state.yml"))
    lines = [text for _, text in summary_lines(result)]
    assert sum(line.startswith("  SUCCESS") for line in lines) == SUMMARY_ROWS + 1
    assert f"  SUCCESS  ... and {100 - SUMMARY_ROWS} more (`dagrun status` lists every stage)" in lines
    assert sum(line.startswith("  blocked") for line in lines) == SUMMARY_ROWS + 1
    assert any(line.startswith("  FAILED   Broken") for line in lines)
    assert lines[-1].startswith("100 succeeded, 1 failed, 100 blocked")


@given(st.floats(min_value=0, max_value=59.99, allow_nan=False))
def test_short_durations_read_as_their_two_decimals(seconds: float) -> None:
    """The shortcut for the shortest stages gives what formatting would."""
    assert duration(seconds) == f"{seconds:.2f}s"


def test_a_reporter_overrides_the_events_it_wants_and_the_rest_do_nothing(tmp_path: Path) -> None:
    from dagrun.core.events import Fanout, Reporter, StageFinished, StageStarted

    class Finishes(Reporter):
        def __init__(self) -> None:
            self.names: list = []

        def stage_finished(self, event: StageFinished) -> None:
            self.names.append(event.name)

    class Draws(Reporter):
        shows_output = True

        def __init__(self) -> None:
            self.shown: list = []

        def show_output(self, text: str) -> None:
            self.shown.append(text)

    finishes, draws = Finishes(), Draws()
    both = Fanout(Reporter(), finishes, draws)
    both.handle(StageStarted("A", 0.0))
    both.handle(StageFinished("A", StageStatus.SUCCESS, 0.1, 1.0))
    both.tick()
    assert finishes.names == ["A"]
    assert both.shows_output and not Fanout(finishes).shows_output
    both.show_output("line\n")
    assert draws.shown == ["line\n"]
    both.close()  # each reporter's close, the defaults included


def test_the_progress_registry_makes_each_reporter() -> None:
    from dagrun.core.events import Reporter
    from dagrun.ui.progress import PROGRESS, make_reporter

    assert list(PROGRESS) == ["live", "plain", "quiet"]
    for kind in PROGRESS:
        reporter = make_reporter(kind, io.StringIO(), "state.yml")
        assert isinstance(reporter, Reporter)
        assert reporter.shows_output == (kind == "live")
        reporter.close()
