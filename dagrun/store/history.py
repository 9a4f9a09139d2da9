"""The run history: for each run, a line that says what the run was (its number, start, end,
workers, exit code, what was blocked), then one record per stage execution (start, end, duration,
outcome, attempt, last line of the error; for a failure also its traceback and the end of its
output), kept beside the state file for `dagrun status` and `dagrun report`, bounded in size.

Information, not state: it is written when a run ends, a run killed with kill -9 leaves no
history, and an unreadable line is skipped. A run's line is a JSON object and an execution's a JSON
array, so that writing 100,000 of them costs little more than formatting the numbers. Records that
dagrun 0.1 wrote, without a run's line before them, read as one run numbered 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Tuple, Union

from dagrun.core.result import RunResult, last_line
from dagrun.core.status import StageStatus
from dagrun.store.files import note_skipped, replace_quietly, sane_seconds
from dagrun.store.paths import StatePaths

STOPPED = "STOPPED"  # the outcome of a stage that a stop left unfinished

MAX_BYTES = 16 * 2**20  # past this, the oldest half of the history is dropped
MAX_TRACEBACK = 8192  # characters of a failure's traceback kept, from its end
RUN_MARK = b'{"run":'  # how a run's line starts


class RunInfo(NamedTuple):
    """What `save_history` is told of a run beyond its result."""

    start: float  # seconds since the epoch
    workers: int  # stages it could run at once
    executor: str


class Execution(NamedTuple):
    stage: str
    start: float  # seconds since the epoch
    end: float
    duration: float  # as the stage measured itself
    outcome: str  # SUCCESS, FAILED or STOPPED
    attempt: int
    error: Optional[str]  # the last line of the traceback, for a failure
    traceback: Optional[str] = None  # for a failure, its end
    log_tail: Tuple[str, ...] = ()  # for a stage that failed in the end: the last lines it printed


class Run(NamedTuple):
    """One run as the history keeps it: `report` draws it."""

    number: int
    start: float
    end: float
    workers: Optional[int]  # None for runs recorded without it
    executor: Optional[str]
    exit_code: Optional[int]
    blocked: Dict[str, str]  # stage -> the failed stage upstream that kept it from running
    executions: List[Execution]  # in the order they were recorded


def save_history(state_path: Path, result: RunResult, now: float, info: Optional[RunInfo] = None) -> None:
    """Append the run (its line, then its executions); drop the oldest runs when the file grows past
    MAX_BYTES. A run that ran nothing is not recorded. A failure to write costs only history."""
    lines = []
    for o in (*result.retried, *result.outcomes.values()):
        outcome = "SUCCESS" if o.status is StageStatus.SUCCESS else "FAILED"
        error = "null" if o.error is None else json.dumps(last_line(o.error))
        if o.error is not None:  # the log's end is that of the last attempt
            tail = result.log_tails.get(o.name, ("", ()))[1] if o is result.outcomes.get(o.name) else ()
            error += "," + json.dumps({"traceback": o.error[-MAX_TRACEBACK:], "log": list(tail)})
        lines.append(_line(o.name, o.start, o.end, o.duration, outcome, error, o.attempt))
    for name, start in result.stopped_started.items():
        lines.append(_line(name, start, now, now - start, STOPPED, "null", 1))
    if not lines:
        return
    path = StatePaths(state_path).history
    try:
        number = _last_run_number(path) + 1
        head = {
            "run": number,
            "start": round(info.start if info else now - result.elapsed, 3),
            "end": round(now, 3),
            "workers": info.workers if info else None,
            "executor": info.executor if info else None,
            "exit": result.exit_code,
            "blocked": result.blocked,
        }
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(head, separators=(",", ":")) + "\n" + "".join(lines))
            size = f.tell()
        if size > MAX_BYTES:
            with open(path, "rb") as f:
                f.seek(size - MAX_BYTES // 2)
                kept = f.read()
            at = kept.find(b"\n" + RUN_MARK)  # from the first whole run
            replace_quietly(path, kept[at + 1 if at >= 0 else len(kept) :].decode("utf-8", "replace"))
    except OSError:
        pass


def _last_run_number(path: Path, chunk: int = 1 << 16) -> int:
    """The number of the latest readable run line in the history (0 if none), looked for from the end."""
    try:
        with open(path, "rb") as f:
            end = f.seek(0, 2)
            later = b""  # the start of the chunk after this one: a mark may straddle the two
            while end > 0:
                start = max(0, end - chunk)
                f.seek(start)
                data = f.read(end - start) + later[: len(RUN_MARK)]
                at = len(data)
                while True:
                    at = data.rfind(RUN_MARK, 0, at)
                    if at < 0:
                        break
                    if at == 0 and start > 0:
                        break  # the byte before it is in the chunk before: look at it from there
                    if at == 0 or data[at - 1 : at] == b"\n":
                        f.seek(start + at)
                        head = _parse_run(f.readline().decode("utf-8", "replace"))
                        if head is not None:
                            return head.number
                later, end = data, start
    except OSError:
        pass
    return 0


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
    """Every readable execution, oldest first; damaged records are skipped, with a note."""
    for record in _records(state_path):
        if isinstance(record, Execution):
            yield record


def read_runs(state_path: Path) -> List[Run]:
    """Every run in the history, oldest first, with its executions."""
    runs: List[Run] = []
    for record in _records(state_path):
        if isinstance(record, Run):
            runs.append(record)
        elif runs:
            runs[-1].executions.append(record)
        else:  # recorded by dagrun 0.1, before runs had a line of their own
            runs.append(Run(0, record.start, record.end, None, None, None, {}, [record]))
    for i, run in enumerate(runs):  # runs of dagrun 0.1: from their first start to their last end
        if run.number == 0 and run.executions:
            start, end = min(e.start for e in run.executions), max(e.end for e in run.executions)
            runs[i] = run._replace(start=start, end=end)
    return runs


def _records(state_path: Path) -> Iterator[Union[Execution, Run]]:
    path = StatePaths(state_path).history
    skipped = 0
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                record = _parse_run(line) if line.startswith("{") else _parse(line)
                if record is not None:
                    yield record
                elif line.strip():
                    skipped += 1
    except OSError:
        return
    note_skipped(path, skipped, "not a record of a run")


def _parse(line: str) -> Optional[Execution]:
    try:
        stage, start, end, duration, outcome, attempt, error, *more = json.loads(line)
        if not (sane_seconds(start) and sane_seconds(end) and sane_seconds(duration)):
            return None  # NaN, Infinity or 1e308 would break every use of the record
        details: Dict[str, Any] = more[0] if more and isinstance(more[0], dict) else {}
        traceback, tail = details.get("traceback"), details.get("log") or ()
        return Execution(
            str(stage),
            float(start),
            float(end),
            float(duration),
            str(outcome),
            int(attempt),
            error and str(error),
            None if traceback is None else str(traceback),
            tuple(str(text) for text in tail),
        )
    except (ValueError, TypeError, OverflowError):
        return None


def _parse_run(line: str) -> Optional[Run]:
    try:
        head = json.loads(line)
        start, end = head["start"], head["end"]
        if not (sane_seconds(start) and sane_seconds(end)):
            return None
        workers, exit_code = head.get("workers"), head.get("exit")
        blocked = head.get("blocked") or {}
        return Run(
            int(head["run"]),
            float(start),
            float(end),
            None if workers is None else int(workers),
            None if head.get("executor") is None else str(head["executor"]),
            None if exit_code is None else int(exit_code),
            {str(k): str(v) for k, v in blocked.items()},
            [],
        )
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None


__all__ = [
    "STOPPED",
    "Execution",
    "Run",
    "RunInfo",
    "StageReport",
    "read_history",
    "read_runs",
    "save_history",
    "stage_reports",
]
