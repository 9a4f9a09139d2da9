"""`dagrun report`: one run of the history drawn as one self-contained HTML page (a timeline per
worker slot with the critical path, the graph, a table of stages, each stage's history).

What can be computed is computed here, where it is tested: which slot each execution ran in, the
critical path, the figures above the timeline, the graph's layout. The page's script
(`report.html`, beside this module) only draws, sorts, filters and shows details; it loads nothing
from the network, so the file can be mailed, kept as a CI artifact or opened from the disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from dagrun.core.graph import levels
from dagrun.core.pipeline import Pipeline
from dagrun.core.status import StageStatus
from dagrun.store.history import STOPPED, Execution, Run

GRAPH_LIMIT = 300  # stages: above this the graph is a summary per column, the timeline and table stay
HISTORY_RUNS = 20  # runs shown in each stage's sparkline, up to the one reported
TEMPLATE = Path(__file__).with_name("report.html")

# How an execution ended, as the page colours it.
SUCCEEDED, FAILED, RETRIED, STOPPED_KIND = "succeeded", "failed", "retried", "stopped"


class Bar(NamedTuple):
    """One execution on the timeline."""

    execution: Execution
    slot: int  # the row: the worker slot it ran in
    kind: str  # SUCCEEDED, FAILED, RETRIED or STOPPED_KIND
    critical: bool  # on the chain of stages that set the run's length


def place(executions: Sequence[Execution]) -> List[int]:
    """The slot of each execution: the lowest-numbered slot free when it started. The history does
    not say which worker ran what; this is the fewest rows in which no two bars overlap, which is
    what a pool of that many workers did up to which worker took which stage."""
    order = sorted(range(len(executions)), key=lambda i: (executions[i].start, executions[i].end))
    free_at: List[float] = []  # per slot, when its last stage ended
    slots = [0] * len(executions)
    for i in order:
        e = executions[i]
        slot = next((s for s, end in enumerate(free_at) if end <= e.start), len(free_at))
        if slot == len(free_at):
            free_at.append(e.end)
        else:
            free_at[slot] = e.end
        slots[i] = slot
    return slots


def critical_path(executions: Sequence[Execution], needs: Mapping[str, Sequence[str]]) -> Set[int]:
    """The executions on the chain that set the run's length: from the one that ended last, back
    through what it waited for (an earlier attempt of the same stage, else the need that ended
    last before it started) to one that waited for nothing of this run."""
    if not executions:
        return set()
    by_stage: Dict[str, List[int]] = {}  # stage -> its executions, by start
    for i in sorted(range(len(executions)), key=lambda i: executions[i].start):
        by_stage.setdefault(executions[i].stage, []).append(i)
    chain = set()
    # Times are kept to the millisecond: of executions that ended together, the one that started last.
    at: Optional[int] = max(range(len(executions)), key=lambda i: (executions[i].end, executions[i].start, i))
    while at is not None and at not in chain:
        chain.add(at)
        e = executions[at]
        earlier = [i for i in by_stage[e.stage] if executions[i].end <= e.start and i != at]
        candidates = earlier[-1:] or [
            i for need in needs.get(e.stage, ()) for i in by_stage.get(need, ()) if executions[i].end <= e.start
        ]
        at = max(candidates, key=lambda i: executions[i].end, default=None)
    return chain


def kinds(executions: Sequence[Execution]) -> List[str]:
    """A failed attempt followed by another of the same stage is RETRIED, not FAILED."""
    last_attempt: Dict[str, int] = {}
    for e in executions:
        last_attempt[e.stage] = max(e.attempt, last_attempt.get(e.stage, 0))
    out = []
    for e in executions:
        if e.outcome == STOPPED:
            out.append(STOPPED_KIND)
        elif e.outcome == "SUCCESS":
            out.append(SUCCEEDED)
        else:
            out.append(RETRIED if e.attempt < last_attempt[e.stage] else FAILED)
    return out


def bars(run: Run, needs: Mapping[str, Sequence[str]]) -> List[Bar]:
    """The run's executions as the timeline draws them."""
    executions = run.executions
    critical = critical_path(executions, needs)
    return [
        Bar(e, slot, kind, i in critical)
        for i, (e, slot, kind) in enumerate(zip(executions, place(executions), kinds(executions)))
    ]


class Figures(NamedTuple):
    """What is written above the timeline."""

    wall: float  # seconds from the run's start to its end
    busy: float  # the sum of the bars' lengths
    parallelism: float  # busy / wall: how many stages ran at once on average
    idle: Tuple[float, ...]  # per slot, the wall time it ran nothing


def figures(run: Run, placed: Sequence[Bar]) -> Figures:
    wall = max(run.end, max((b.execution.end for b in placed), default=run.end)) - run.start
    slots = max(run.workers or 0, 1 + max((b.slot for b in placed), default=-1))
    busy = [0.0] * slots
    for b in placed:
        busy[b.slot] += b.execution.end - b.execution.start
    total = sum(busy)
    return Figures(wall, total, total / wall if wall > 0 else 0.0, tuple(max(0.0, wall - t) for t in busy))


def layout(pipeline: Pipeline) -> Dict[str, Tuple[int, int]]:
    """Column and row of each stage in the graph: columns left to right by dependency (a stage one
    column right of its latest need), rows in a column ordered by where their needs sit, so that
    most edges run straight."""
    needs = pipeline.needs()
    where: Dict[str, Tuple[int, int]] = {}
    file_order = {name: i for i, name in enumerate(pipeline.names)}
    for column, names in enumerate(levels(needs, pipeline.order)):

        def middle(name: str) -> Tuple[float, int]:
            rows = [where[need][1] for need in needs[name]]
            return (sum(rows) / len(rows) if rows else -1.0, file_order[name])

        for row, name in enumerate(sorted(names, key=middle)):
            where[name] = (column, row)
    return where


def run_state(name: str, placed: Mapping[str, Bar], blocked: Mapping[str, str]) -> str:
    """How the stage stood at the end of the run: its last execution's outcome, blocked, or not run."""
    bar = placed.get(name)
    if bar is not None:
        return bar.kind
    return "blocked" if name in blocked else "not run"


def page_data(
    pipeline: Pipeline, runs: Sequence[Run], run: Run, state: Mapping[str, StageStatus], title: str
) -> Dict[str, Any]:
    """Everything the page shows, as plain data (the page's script reads it as JSON)."""
    needs = pipeline.needs()
    placed = bars(run, needs)
    figs = figures(run, placed)
    names = list(pipeline.names)
    names += sorted({b.execution.stage for b in placed} - set(names))  # run then, not in the file now
    index = {name: i for i, name in enumerate(names)}
    final = {b.execution.stage: b for b in placed}  # the last execution of each stage, by record order
    draw = len(pipeline.stages) <= GRAPH_LIMIT
    where = layout(pipeline)
    recent = [r for r in runs if r.number <= run.number][-HISTORY_RUNS:]
    history: List[List[Tuple[int, float, str]]] = [[] for _ in names]
    for r in recent:
        for e, kind in zip(r.executions, kinds(r.executions)):
            if e.stage in index and kind != RETRIED:
                history[index[e.stage]].append((r.number, round(e.end - e.start, 3), kind))
    errors: List[Dict[str, Any]] = []
    bar_rows = []
    for b in placed:
        e = b.execution
        error = -1
        if e.traceback is not None or e.error is not None:
            errors.append({"traceback": e.traceback or e.error, "log": list(e.log_tail)})
            error = len(errors) - 1
        bar_rows.append(
            [
                index[e.stage],
                b.slot,
                round(e.start - run.start, 3),
                round(e.end - run.start, 3),
                b.kind,
                e.attempt,
                int(b.critical),
                error,
            ]
        )
    stages = []
    for name in names:
        stage = pipeline.stages.get(name)
        column, row = where.get(name, (-1, -1))
        status = state.get(name)
        stages.append(
            [
                name,
                [index[n] for n in (stage.needs if stage else ())],
                "unknown" if status is None else status.text,
                run_state(name, final, run.blocked),
                column,
                row,
                run.blocked.get(name),
            ]
        )
    return {
        "title": title,
        "run": {
            "number": run.number,
            "start": run.start,
            "workers": run.workers,
            "executor": run.executor,
            "exit": run.exit_code,
            "runs": [r.number for r in runs],
        },
        "figures": {
            "wall": round(figs.wall, 3),
            "busy": round(figs.busy, 3),
            "parallelism": round(figs.parallelism, 3),
            "idle": [round(t, 3) for t in figs.idle],
        },
        "graph": "full" if draw else "summary",
        "graphLimit": GRAPH_LIMIT,
        "stages": stages,
        "bars": bar_rows,
        "errors": errors,
        "history": history,
    }


def render(data: Mapping[str, Any]) -> str:
    """The page: the template with the data in it. `<` is escaped in the JSON so that no text of a
    stage (a traceback, a log line) can end the script element that carries it."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    head, tail = TEMPLATE.read_text(encoding="utf-8").split("{{DATA}}")
    title = str(data["title"]).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return head.replace("{{TITLE}}", title) + text + tail


def report_page(pipeline: Pipeline, runs: Sequence[Run], run: Run, state: Mapping[str, StageStatus], title: str) -> str:
    return render(page_data(pipeline, runs, run, state, title))


__all__ = ["GRAPH_LIMIT", "Bar", "Figures", "bars", "critical_path", "figures", "layout", "place", "report_page"]
