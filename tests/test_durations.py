"""Measured durations: kept beside the state, a hint for ordering, never a reason to fail."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List

import pytest

import dagrun
from dagrun.core.events import Event, Reporter, StageStarted
from dagrun.store.durations import load_durations, save_durations, weights
from dagrun.store.paths import StatePaths


def test_durations_round_trip_for_the_stages_of_the_pipeline(tmp_path: Path) -> None:
    state = tmp_path / "state.yml"
    save_durations(state, {"A": 1.5, "B": 0.25, "Gone": 9.0}, ["A", "B"])
    assert StatePaths(state).durations.name == ".state.yml.durations"
    assert load_durations(state) == {"A": 1.5, "B": 0.25}


@pytest.mark.parametrize(
    "text, kept",
    [
        ("", {}),
        ("not json", {}),
        ("[1, 2]", {}),
        ('{"A": "slow", "B": -1, "C": true, "D": 2}', {"D": 2.0}),
        ('{"A": NaN, "B": Infinity, "C": 1e308, "D": 0.5}', {"D": 0.5}),
    ],
)
def test_a_damaged_durations_file_only_loses_the_hints(tmp_path: Path, text: str, kept: dict) -> None:
    StatePaths(tmp_path / "state.yml").durations.write_text(text)
    assert load_durations(tmp_path / "state.yml") == kept


def test_unknown_stages_weigh_the_mean_of_the_known_ones() -> None:
    assert weights({"A": 1.0, "B": 3.0}, ["A", "B", "New"]) == {"A": 1.0, "B": 3.0, "New": 2.0}
    assert weights({}, ["A"]) == {"A": 1.0}


def test_the_next_run_starts_the_stage_that_took_longest_first(tmp_path: Path) -> None:
    # By count, B1 -> B2 is the longer chain; by measured time, Slow is.
    pipe = dagrun.parse_pipeline("Slow: []\nB1: []\nB2: [B1]\n", tmp_path / "stages.yaml")
    jobs = {"Slow": lambda: time.sleep(0.05), "B1": lambda: None, "B2": lambda: None}

    class Starts(Reporter):
        def __init__(self) -> None:
            self.names: List[str] = []

        def handle(self, event: Event) -> None:
            if isinstance(event, StageStarted):
                self.names.append(event.name)

    first = Starts()
    dagrun.run(pipe, jobs, dagrun.RunOptions(workers=1), reporter=first)
    assert first.names[0] == "B1"
    assert load_durations(tmp_path / "state.yml")["Slow"] >= 0.05
    dagrun.reset(pipe)  # clears the state, keeps the durations
    second = Starts()
    dagrun.run(pipe, jobs, dagrun.RunOptions(workers=1), reporter=second)
    assert second.names[0] == "Slow"


def test_only_successes_make_estimates(tmp_path: Path) -> None:
    # A stage that fails at once says nothing about how long it takes when it works.
    pipe = dagrun.parse_pipeline("Quick: []\nBroken: []\n", tmp_path / "stages.yaml")
    save_durations(tmp_path / "state.yml", {"Broken": 40.0}, pipe.names)

    def broken() -> None:
        raise RuntimeError("no")

    dagrun.run(pipe, {"Quick": lambda: None, "Broken": broken})
    known = load_durations(tmp_path / "state.yml")
    assert known["Broken"] == 40.0 and "Quick" in known
