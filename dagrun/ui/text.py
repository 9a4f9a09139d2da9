"""Turn plans and results into lines of text; reporters decide where and how they are shown."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, List, Sequence, Tuple

from dagrun.core.plan import Plan
from dagrun.core.result import RunResult, last_line
from dagrun.core.status import StageStatus
from dagrun.store.history import STOPPED

if TYPE_CHECKING:
    from dagrun.core.events import StageRetrying
    from dagrun.store.history import StageReport

TRACEBACK_TAIL = 15  # lines of a failure's traceback shown in the summary


def duration(seconds: float) -> str:
    if 0 <= seconds < 0.004:  # what most stages of a large pipeline take: no float to format
        return "0.00s"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def columns(text: str) -> int:
    """How many terminal columns `text` takes: wide (East Asian) characters take two."""
    if text.isascii():
        return len(text)
    import unicodedata  # here: only names beyond ASCII need it

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def plan_lines(plan: Plan, state_path: str, workers: int = 0) -> List[str]:
    """`dagrun plan`: the stages in execution order, in batches that can run in parallel; with
    `workers`, how long the run should take by earlier runs' durations."""
    total = len(plan.pipeline.stages)
    left_out = total - len(plan.done) - len(plan.to_run)
    batches = plan.batches  # computed when asked: once
    lines = [
        f"{plan.pipeline.path}: {plural(total, 'stage')} in {len(batches)} "
        f"batch{'' if len(batches) == 1 else 'es'}; {len(plan.done)} done, {len(plan.to_run)} will run"
        + (f", {left_out} not needed for the targets" if left_out else "")
        + f" (state: {state_path})",
    ]
    estimate = plan.estimate(workers) if workers and plan.to_run else None
    if estimate is not None:
        lines.append(f"expected to take about {duration(estimate)} with {plural(workers, 'worker')}, by earlier runs")
    width = max(len(name) for name in plan.pipeline.stages)
    will_run = set(plan.to_run)
    for i, batch in enumerate(batches, 1):
        lines.append(f"batch {i}")
        for name in batch:
            mark = "run " if name in will_run else "done" if plan.state[name] is StageStatus.SUCCESS else "skip"
            stage = plan.pipeline.stages[name]
            via = dict(stage.via)
            shown = [f"{d} (via {via[d]})" if d in via else d for d in stage.needs]
            after = f"  after {', '.join(shown)}" if shown else ""
            lines.append(f"  [{mark}] {name:<{width}}  {plan.why(name)}{after}")
    return lines


def status_lines(reports: Sequence[StageReport], state_path: str) -> List[str]:
    """`dagrun status`: every stage's state, with its latest execution from the run history."""
    counts = Counter(r.state.text for r in reports)
    summary = ", ".join(f"{n} {text}" for text, n in counts.items())
    rows = [("STAGE", "STATE", "LAST RUN", "FINISHED", "RUNS", "NOTES")]
    for r in reports:
        last = r.last
        rows.append(
            (
                r.name,
                r.state.text,
                duration(last.duration) + (" (stopped)" if last.outcome == STOPPED else "") if last else "-",
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last.end)) if last else "-",
                str(r.runs),
                "; ".join(
                    note
                    for note in (
                        f"stale: {r.stale}" if r.stale else "",
                        "code changed since" if r.code_changed else "",
                        (last.error or "") if last and last.outcome == "FAILED" else "",
                    )
                    if note
                ),
            )
        )
    widths = [max(columns(row[i]) for row in rows) for i in range(5)]
    lines = [f"{state_path}: {plural(len(reports), 'stage')}; {summary}"]
    for row in rows:
        cells = (cell + " " * (width - columns(cell)) for cell, width in zip(row, widths))
        lines.append("  " + "  ".join(cells) + "  " + row[5])
    return [line.rstrip() for line in lines]


def retry_text(event: StageRetrying) -> str:
    """'attempt 2 of 3 in 5s, after: ValueError: ...' for a stage about to run again."""
    when = f" in {duration(event.delay)}" if event.delay > 0 else ""
    return f"attempt {event.attempt} of {event.attempts}{when}, after: {last_line(event.error or '')}"


def failure_tail(error: str, limit: int = TRACEBACK_TAIL) -> List[str]:
    lines = error.rstrip().splitlines()
    if len(lines) > limit:
        lines = ["...", *lines[-limit:]]
    return lines


SUMMARY_ROWS = 40  # stages listed per kind of ending; more are counted (`dagrun status` lists all)


def summary_lines(result: RunResult) -> List[Tuple[str, str]]:
    """(style, text) lines; style is one of '', 'ok', 'fail', 'dim', 'bold' for reporters that colour.

    Up to SUMMARY_ROWS stages of each kind (succeeded, failed, stopped, blocked, not run) are listed
    one per line; beyond that they are counted: ten thousand lines help nobody, and drawing them
    would cost more than running ten thousand short stages."""
    out: List[Tuple[str, str]] = []
    ok, bad, outcomes = result.succeeded, result.failed, result.outcomes
    kinds: List[Tuple[str, str, List[Tuple[str, str]], int]] = [  # style, kind, listed (name, detail), how many
        ("ok", "SUCCESS", [(n, duration(outcomes[n].duration)) for n in ok[:SUMMARY_ROWS]], len(ok)),
        ("fail", "FAILED", [(n, duration(outcomes[n].duration)) for n in bad[:SUMMARY_ROWS]], len(bad)),
        (
            "fail",
            "stopped",
            [(n, "(was running; it will run again next time)") for n in result.stopped[:SUMMARY_ROWS]],
            len(result.stopped),
        ),
        (
            "dim",
            "blocked",
            [(n, f"({c} failed upstream)") for n, c in list(result.blocked.items())[:SUMMARY_ROWS]],
            len(result.blocked),
        ),
        ("dim", "not run", [(n, "") for n in result.not_started[:SUMMARY_ROWS]], len(result.not_started)),
    ]
    width = max((len(name) for _, _, listed, _ in kinds for name, _ in listed), default=0)
    if any(count for *_, count in kinds):
        out.append(("bold", "Summary"))
    for style, kind, listed, count in kinds:
        for name, detail in listed:
            out.append((style, f"  {kind:<8} {name:<{width}}" + (f"  {detail}" if detail else "")))
        if count > SUMMARY_ROWS:
            out.append((style, f"  {kind:<8} ... and {count - SUMMARY_ROWS} more (`dagrun status` lists every stage)"))
    for name in result.failed:
        error = result.outcomes[name].error or ""
        out.append(("", ""))
        out.append(("fail", f"{name} failed:"))
        log = result.log_tails.get(name)
        if log and log[1]:
            out.append(("dim", f"  the last lines of its output ({log[0]}):"))
            out.extend(("", "    " + line) for line in log[1])
            out.append(("dim", "  and the error:"))
        out.extend(("", "    " + line) for line in failure_tail(error))
    out.append(("", ""))
    out.append(_closing_line(result))
    return out


def _closing_line(result: RunResult) -> Tuple[str, str]:
    parts = [f"{len(result.succeeded)} succeeded"]
    if result.failed:
        parts.append(f"{len(result.failed)} failed")
    if result.blocked:
        parts.append(f"{len(result.blocked)} blocked")
    if result.stopped:
        parts.append(f"{len(result.stopped)} stopped")
    if result.not_started:
        parts.append(f"{len(result.not_started)} not run")
    if result.done:
        parts.append(f"{len(result.done)} already done")
    text = ", ".join(parts) + f" in {duration(result.elapsed)}."
    if result.interrupted_by is not None:
        from dagrun.core.result import signal_name  # here: `dagrun plan` never needs it

        return "fail", f"Interrupted by {signal_name(result.interrupted_by)}: {text} Run again to resume."
    if not result.ok:
        return "fail", f"{text} Fix the failure and run again: only what did not succeed will run."
    if not result.outcomes:
        text = f"Nothing to do: all {plural(len(result.done), 'stage')} already succeeded."
        if result.code_changed:
            shown = ", ".join(result.code_changed[:5]) + (", ..." if len(result.code_changed) > 5 else "")
            count = plural(len(result.code_changed), "stage")
            text += f" The code of {count} changed since ({shown}): --rerun-changed runs them."
        return "ok", text
    return "ok", text
