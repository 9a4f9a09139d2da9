"""`dagrun plan --format json|dot|mermaid`: a stable schema and diagrams that say the state."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

import dagrun
from dagrun.cli import cli
from dagrun.core.plan import make_plan
from dagrun.core.status import StageStatus
from dagrun.ui.export import SCHEMA, _dot_id, plan_dot, plan_json, plan_mermaid

from .conftest import SEED

S, F, P, R = StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.PENDING, StageStatus.RUNNING
STATE = {"Lint": S, "Test": S, "Coverage": F, "Docs": P, "Benchmark": R}


def seed_plan(tmp_path: Path, **kwargs: object) -> dagrun.Plan:
    pipeline = dagrun.parse_pipeline(SEED, tmp_path / "stages.yaml")
    return make_plan(pipeline, dict(STATE), **kwargs)  # type: ignore[arg-type]


def test_json_has_the_documented_schema(tmp_path: Path) -> None:
    doc = json.loads(plan_json(seed_plan(tmp_path, targets=["Docs"]), "state.yml"))
    assert doc["schema"] == SCHEMA and doc["dagrun"] == dagrun.__version__
    assert doc["stages_file"].endswith("stages.yaml") and doc["state_file"] == "state.yml"
    assert doc["summary"] == {"stages": 5, "done": 2, "will_run": 2, "not_needed": 1}
    assert doc["order"] == ["Coverage", "Docs"]
    assert doc["batches"] == [["Lint", "Test"], ["Coverage"], ["Docs", "Benchmark"]]
    by_name = {s["name"]: s for s in doc["stages"]}
    assert list(by_name) == ["Lint", "Test", "Coverage", "Docs", "Benchmark"]
    assert by_name["Docs"] == {
        "name": "Docs",
        "needs": ["Coverage", "Lint"],
        "via": {},
        "line": 5,
        "state": None,
        "will_run": True,
        "why": "will run",
        "batch": 3,
    }
    assert by_name["Coverage"]["state"] == "FAILED" and by_name["Coverage"]["why"] == "will run (failed last time)"
    assert by_name["Benchmark"]["state"] == "RUNNING" and by_name["Benchmark"]["will_run"] is False
    assert by_name["Benchmark"]["why"] == "not needed for the targets"


def test_dot_has_a_node_per_stage_coloured_by_state_and_an_edge_per_dependency(tmp_path: Path) -> None:
    text = plan_dot(seed_plan(tmp_path))
    assert text.startswith("digraph dagrun {\n") and text.endswith("\n}")
    assert text.count("{") == text.count("}")
    nodes = dict(re.findall(r'^  "(\w+)" \[label=.*fillcolor="(#\w+)"', text, re.M))
    assert nodes == {
        "Lint": "#c8e6c9",
        "Test": "#c8e6c9",
        "Coverage": "#ffcdd2",
        "Docs": "#eeeeee",
        "Benchmark": "#fff3c4",
    }
    edges = set(re.findall(r'^  "(\w+)" -> "(\w+)";$', text, re.M))
    assert edges == {("Test", "Coverage"), ("Coverage", "Docs"), ("Lint", "Docs"), ("Coverage", "Benchmark")}
    assert '"Coverage" [label="Coverage\\nwill run (failed last time)"' in text
    assert _dot_id('say "hi"', "a\\b") == '"say \\"hi\\"\\na\\\\b"'


def test_mermaid_is_a_flowchart_with_safe_ids_and_a_class_per_state(tmp_path: Path) -> None:
    pipeline = dagrun.Pipeline.from_dict({"start": [], "end": ["start"]}, tmp_path / "s.yaml")
    text = plan_mermaid(make_plan(pipeline, {"start": S, "end": P}))
    assert text.splitlines() == [
        "flowchart LR",
        '  s0["start"]:::success',
        '  s1["end ▶"]:::pending',  # `end` as an id would close the flowchart
        "  s0 --> s1",
        "  classDef success fill:#c8e6c9,stroke:#2e7d32",
        "  classDef failed fill:#ffcdd2,stroke:#c62828",
        "  classDef running fill:#fff3c4,stroke:#f9a825",
        "  classDef pending fill:#eeeeee,stroke:#757575",
    ]


def test_the_cli_prints_each_format(seed: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["plan", str(seed / "stages.yaml"), "Coverage", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["order"] == ["Test", "Coverage"]
    assert runner.invoke(cli, ["plan", str(seed / "stages.yaml"), "-o", "dot"]).output.startswith("digraph dagrun {")
    assert runner.invoke(cli, ["plan", str(seed / "stages.yaml"), "-o", "mermaid"]).output.startswith("flowchart LR")
    forced = runner.invoke(cli, ["plan", str(seed / "stages.yaml"), "--force", "Lint"])
    assert "will run (forced)" in forced.output
    bad = runner.invoke(cli, ["plan", str(seed / "stages.yaml"), "-o", "svg"])
    assert bad.exit_code == 2
