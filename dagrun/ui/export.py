"""A plan for programs and diagrams: JSON with a stable schema, Graphviz dot, and a Mermaid
flowchart (which GitHub renders in markdown)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, List, Sequence

from dagrun import __version__
from dagrun.core.plan import Plan
from dagrun.core.status import StageStatus

if TYPE_CHECKING:
    from dagrun.store.history import StageReport

SCHEMA = 1  # raised only when a field changes meaning or disappears; new fields may be added

# fill, border: green done, red failed, amber running (or left by a crash), grey not run yet
_COLOURS = {
    StageStatus.SUCCESS: ("#c8e6c9", "#2e7d32"),
    StageStatus.FAILED: ("#ffcdd2", "#c62828"),
    StageStatus.RUNNING: ("#fff3c4", "#f9a825"),
    StageStatus.PENDING: ("#eeeeee", "#757575"),
}


def plan_json(plan: Plan, state_path: str) -> str:
    """The plan as documented in docs/cli.md (`dagrun plan --format json`)."""
    will_run = set(plan.to_run)
    batches = plan.batches  # computed when asked: once
    batch_of = {name: i for i, batch in enumerate(batches, 1) for name in batch}
    stages: List[Dict[str, Any]] = [
        {
            "name": name,
            "needs": list(stage.needs),
            "via": dict(stage.via),
            "line": stage.line or None,
            "state": None if plan.state[name] is StageStatus.PENDING else plan.state[name].text,
            "will_run": name in will_run,
            "why": plan.why(name),
            "batch": batch_of[name],
        }
        for name, stage in plan.pipeline.stages.items()
    ]
    document = {
        "dagrun": __version__,
        "schema": SCHEMA,
        "stages_file": str(plan.pipeline.path),
        "state_file": state_path,
        "summary": {
            "stages": len(stages),
            "done": len(plan.done),
            "will_run": len(plan.to_run),
            "not_needed": len(stages) - len(plan.done) - len(plan.to_run),
        },
        "order": list(plan.to_run),
        "batches": batches,
        "stages": stages,
    }
    return json.dumps(document, indent=2)


def status_json(reports: Sequence[StageReport], state_path: str) -> str:
    """`dagrun status --json`, as documented in docs/cli.md."""
    stages = []
    for r in reports:
        last = r.last
        stages.append(
            {
                "name": r.name,
                "state": None if r.state is StageStatus.PENDING else r.state.text,
                "runs": r.runs,
                "code_changed": r.code_changed,
                "stale": r.stale,
                "last": None
                if last is None
                else {
                    "start": last.start,
                    "end": last.end,
                    "duration": last.duration,
                    "outcome": last.outcome,
                    "attempt": last.attempt,
                    "error": last.error,
                },
            }
        )
    return json.dumps({"dagrun": __version__, "schema": SCHEMA, "state_file": state_path, "stages": stages}, indent=2)


def plan_dot(plan: Plan) -> str:
    """Graphviz: an arrow from each stage to the stages that need it; stages that will run are bold."""
    will_run = set(plan.to_run)
    lines = [
        "digraph dagrun {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for name in plan.pipeline.stages:
        fill, border = _COLOURS[plan.state[name]]
        width = "2.5" if name in will_run else "1"
        lines.append(
            f"  {_dot_id(name)} [label={_dot_id(name, plan.why(name))}, fillcolor={_dot_id(fill)}, "
            f"color={_dot_id(border)}, penwidth={width}];"
        )
    for name, stage in plan.pipeline.stages.items():
        for dep in stage.needs:
            lines.append(f"  {_dot_id(dep)} -> {_dot_id(name)};")
    lines.append("}")
    return "\n".join(lines)


def _dot_id(*lines: str) -> str:
    """A quoted dot string; several lines are joined by dot's own line break."""
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines) + '"'


def plan_mermaid(plan: Plan) -> str:
    """A Mermaid flowchart. Nodes get numbered ids, since words such as `end` break Mermaid."""
    ids = {name: f"s{i}" for i, name in enumerate(plan.pipeline.stages)}
    will_run = set(plan.to_run)
    lines = ["flowchart LR"]
    for name, node in ids.items():
        state = plan.state[name]
        label = name.replace('"', "#quot;") + (" ▶" if name in will_run else "")
        lines.append(f'  {node}["{label}"]:::{state.name.lower()}')
    for name, stage in plan.pipeline.stages.items():
        for dep in stage.needs:
            lines.append(f"  {ids[dep]} --> {ids[name]}")
    for state, (fill, border) in _COLOURS.items():
        lines.append(f"  classDef {state.name.lower()} fill:{fill},stroke:{border}")
    return "\n".join(lines)


__all__ = ["SCHEMA", "plan_dot", "plan_json", "plan_mermaid", "status_json"]
