"""The run history: one record per stage execution (start, end, duration, outcome, attempt, last
line of the error), kept beside the state file for `dagrun status`, bounded in size.

Information, not state: it is written when a run ends, a run killed with kill -9 leaves no
history, and an unreadable line is skipped. Each line is a JSON array, so that writing 100,000 of
them costs little more than formatting the numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional

from dagrun.core.result import RunResult, last_line
from dagrun.core.status import StageStatus
from dagrun.store.files import note_skipped, replace_quietly, sane_seconds
from dagrun.store.paths import StatePaths

STOPPED = "STOPPED"  # the outcome of a stage that a stop left unfinished

MAX_BYTES = 16 * 2**20  # past this, the oldest half of the history is dropped


class Execution(NamedTuple):
    stage: str
    start: float  # seconds since the epoch
    end: float
    duration: float  # as the stage measured itself
    outcome: str  # SUCCESS, FAILED or STOPPED
    attempt: int
    error: Optional[str]  # the last line of the traceback, for a failure


def save_history(state_path: Path, result: RunResult, now: float) -> None:
    """Append the run's executions; drop the oldest half when the file grows past MAX_BYTES.
    A failure to write costs only history."""
    lines = []
    for o in (*result.retried, *result.outcomes.values()):
        outcome = "SUCCESS" if o.status is StageStatus.SUCCESS else "FAILED"
        error = "null" if o.error is None else json.dumps(last_line(o.error))
        lines.append(_line(o.name, o.start, o.end, o.duration, outcome, error, o.attempt))
    for name, start in result.stopped_started.items():
        lines.append(_line(name, start, now, now - start, STOPPED, "null", 1))
    if not lines:
        return
    path = StatePaths(state_path).history
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write("".join(lines))
            size = f.tell()
        if size > MAX_BYTES:
            with open(path, "rb") as f:
                f.seek(size - MAX_BYTES // 2)
                kept = f.read().split(b"\n", 1)[-1]  # from the first whole line
            replace_quietly(path, kept.decode("utf-8", "replace"))
    except OSError:
        pass


class StageReport(NamedTuple):
    """What `dagrun status` shows of one stage."""

    name: str
    state: StageStatus
    last: Optional[Execution]  # its latest execution in the history
    runs: int  # executions in the history
    code_changed: Optional[bool] = None  # since it succeeded; None when not compared
    stale: Optional[str] = None  # succeeded, but would run again: why, in words


def stage_reports(
    state: Dict[str, StageStatus],
    executions: Iterator[Execution],
    changed: Optional[Iterable[str]] = None,
    stale: Mapping[str, str] = {},
) -> List[StageReport]:
    """One report per stage of `state`, in its order; history of stages no longer there is ignored.
    With `changed` (stages whose code changed), each report says whether its code did."""
    last: Dict[str, Execution] = {}
    runs: Dict[str, int] = {}
    for record in executions:
        if record.stage in state:
            last[record.stage] = record
            runs[record.stage] = runs.get(record.stage, 0) + 1
    diff = None if changed is None else set(changed)
    return [
        StageReport(
            name, status, last.get(name), runs.get(name, 0), None if diff is None else name in diff, stale.get(name)
        )
        for name, status in state.items()
    ]


def _line(name: str, start: float, end: float, duration: float, outcome: str, error: str, attempt: int) -> str:
    # Stage names are Python identifiers: nothing in them needs escaping in JSON.
    return f'["{name}",{start:.3f},{end:.3f},{duration:.6f},"{outcome}",{attempt},{error}]\n'


def read_history(state_path: Path) -> Iterator[Execution]:
    """Every readable record, oldest first; damaged ones are skipped, with a note."""
    path = StatePaths(state_path).history
    skipped = 0
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                record = _parse(line)
                if record is not None:
                    yield record
                elif line.strip():
                    skipped += 1
    except OSError:
        return
    note_skipped(path, skipped, "not a record of a stage's run")


def _parse(line: str) -> Optional[Execution]:
    try:
        stage, start, end, duration, outcome, attempt, error = json.loads(line)
        if not (sane_seconds(start) and sane_seconds(end) and sane_seconds(duration)):
            return None  # NaN, Infinity or 1e308 would break every use of the record
        return Execution(
            str(stage), float(start), float(end), float(duration), str(outcome), int(attempt), error and str(error)
        )
    except (ValueError, TypeError, OverflowError):
        return None


__all__ = ["STOPPED", "Execution", "StageReport", "read_history", "save_history", "stage_reports"]
