"""Hostile and sloppy input: damaged state files, random bytes, names that collide."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dagrun.core.status import StageStatus
from dagrun.errors import SpecError, StateError
from dagrun.stagesfile.reader import parse_pipeline
from dagrun.store.state_file import dump_state, parse_state
from dagrun.store.state_store import StateStore

from .conftest import agrees_with_safe_load

NAMES = ["Lint", "Test", "Coverage", "Docs", "Benchmark"]
FULL = dump_state(
    {
        "Lint": StageStatus.SUCCESS,
        "Test": StageStatus.FAILED,
        "Coverage": StageStatus.RUNNING,
        "Docs": StageStatus.PENDING,
        "Benchmark": StageStatus.SUCCESS,
    }
)


@pytest.mark.parametrize("cut", range(len(FULL) + 1))
def test_a_state_file_cut_at_any_length_loads_safely_or_stops(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "state.yml"
    path.write_text(FULL[:cut])
    original = parse_state(FULL, path, NAMES)
    try:
        store = StateStore.open(path, NAMES)
    except StateError as e:
        assert "state.yml" in str(e) and "dagrun reset" in str(e)
        assert path.read_text() == FULL[:cut]  # never overwritten by accident
        return
    for name, status in store.state.items():  # never a SUCCESS the whole file did not say
        if status is StageStatus.SUCCESS:
            assert original[name] is StageStatus.SUCCESS
    store.close()


@settings(max_examples=300, deadline=2000)
@given(st.binary(max_size=300))
def test_random_bytes_as_a_state_file_load_or_raise_our_error(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # read_state_text refuses these; see test_state
    try:
        state = parse_state(text, Path("state.yml"), NAMES)
    except StateError as e:
        assert "dagrun reset" in str(e)
    else:
        assert set(state) == set(NAMES)


@settings(max_examples=300, deadline=2000)
@given(st.text(alphabet="LintTes :-[]{}\n'\"&*!#SUCESFAILDRN0null~", max_size=120))
def test_yaml_like_state_text_loads_as_safe_load_reads_it_or_raises_our_error(text: str) -> None:
    try:
        state = parse_state(text, Path("state.yml"), NAMES)
    except StateError as e:
        assert "dagrun reset" in str(e)
        return
    loaded = yaml.safe_load(text) or {}
    for name in NAMES:  # each stage as the file says (missing: not run), never anything else
        assert state[name].text == ("null" if loaded.get(name) is None else loaded[name])


@settings(max_examples=300, deadline=2000)
@given(st.text(alphabet="abAB :-[]{}\n'\"&*!#,?|>~01", max_size=120))
def test_yaml_like_stage_text_loads_as_safe_load_reads_it_or_raises_our_error(text: str) -> None:
    agrees_with_safe_load(text)


def test_a_symlink_loop_as_state_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state.yml").symlink_to(tmp_path / "other.yml")
    (tmp_path / "other.yml").symlink_to(tmp_path / "state.yml")
    with pytest.raises(StateError, match="cannot read the state file"):
        StateStore.open(tmp_path / "state.yml", NAMES)


def test_a_dangling_symlink_is_written_through(tmp_path: Path) -> None:
    (tmp_path / "state.yml").symlink_to(tmp_path / "real.yml")
    StateStore.open(tmp_path / "state.yml", ["Lint"]).close()
    assert (tmp_path / "state.yml").is_symlink()
    assert (tmp_path / "real.yml").read_text() == "Lint: null\n"


@pytest.mark.parametrize(
    "text",
    ['Lint: []\n"Lint": [Test]\nTest: []\n', "Lint: []\n'Lint': []\n", "Lint: []\n? Lint\n: []\n"],
    ids=["plain-and-double-quoted", "plain-and-single-quoted", "explicit-key"],
)
def test_names_that_collide_are_never_merged(text: str) -> None:
    with pytest.raises(SpecError, match="'Lint' is defined twice"):
        parse_pipeline(text, "s.yaml")


def test_a_name_and_its_yaml_lookalike_are_told_apart() -> None:
    with pytest.raises(SpecError) as caught:
        parse_pipeline('"1": []\n1: []\n', "s.yaml")
    assert "'1' cannot name a Python function" in str(caught.value)
    assert "YAML reads the stage name '1' as a number" in str(caught.value)
