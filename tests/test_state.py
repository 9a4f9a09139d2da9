"""The state file's format and its atomic write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from dagrun.core.status import StageStatus
from dagrun.errors import StateError
from dagrun.store.files import write_atomically
from dagrun.store.state_file import dump_state, parse_state, read_state_text

NAMES = ["Lint", "Test", "Coverage"]


def test_dump_is_the_seeds_format_and_reads_back() -> None:
    state = {"Lint": StageStatus.SUCCESS, "Test": StageStatus.FAILED, "Coverage": StageStatus.PENDING}
    text = dump_state(state)
    assert text == "Lint: SUCCESS\nTest: FAILED\nCoverage: null\n"
    assert yaml.safe_load(text) == {"Lint": "SUCCESS", "Test": "FAILED", "Coverage": None}
    assert parse_state(text, Path("s"), NAMES) == state


@pytest.mark.parametrize("name", ["on", "yes", "No", "null", "true", "y", "OFF"])
def test_names_yaml_would_misread_are_quoted(name: str) -> None:
    text = dump_state({name: StageStatus.RUNNING})
    assert yaml.safe_load(text) == {name: "RUNNING"}
    assert parse_state(text, Path("s"), [name]) == {name: StageStatus.RUNNING}


def test_stages_missing_from_the_file_are_pending_and_removed_ones_dropped() -> None:
    state = parse_state("Lint: SUCCESS\nGone: FAILED\n", Path("s"), NAMES)
    assert state == {"Lint": StageStatus.SUCCESS, "Test": StageStatus.PENDING, "Coverage": StageStatus.PENDING}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("Lint: [", "not valid YAML"),
        ("- Lint\n", "not a list"),
        ("Lint: DONE\n", "'DONE'; expected null, RUNNING, SUCCESS or FAILED"),
        ("Lint: 1\n", "state.yml:1: stage 'Lint' has the status '1'"),
        ("1: SUCCESS\n", "'1' is not a stage name"),
        ("Lint: !!python/object/apply:os.system ['true']\n", "has a collection as its status"),
        ("Lint: !!python/name:os.system SUCCESS\n", "has a status tagged 'tag:yaml.org,2002:python/name:os.system'"),
        (
            "Lint: !!python/object:os.system SUCCESS\n",
            "has a status tagged 'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("--- !!set\nLint: SUCCESS\n", "state.yml:1: the state file is tagged 'tag:yaml.org,2002:set'"),
        ("just words\n", "not the value 'just words'"),
        ("Lint: [[[[[[[[]]]]]]]]\n", "has a collection as its status"),
        ("Lint: " + "[" * 100_000 + "\n", "not valid YAML"),
        ("a: *undefined\n", "not valid YAML"),
    ],
    ids=[
        "syntax",
        "list",
        "unknown-value",
        "number",
        "number-key",
        "python-tag",
        "python-name",
        "python-object",
        "top-level-tag",
        "scalar",
        "nested",
        "deep",
        "alias",
    ],
)
def test_invalid_state_names_the_file_and_the_fix(text: str, fragment: str) -> None:
    with pytest.raises(StateError) as caught:
        parse_state(text, Path("state.yml"), NAMES)
    assert fragment in str(caught.value)
    assert "state.yml" in str(caught.value)
    assert "dagrun reset" in str(caught.value)


def test_an_empty_state_file_means_nothing_ran() -> None:
    assert set(parse_state("", Path("s"), NAMES).values()) == {StageStatus.PENDING}


def test_read_state_text_is_none_when_missing(tmp_path: Path) -> None:
    assert read_state_text(tmp_path / "state.yml") is None
    with pytest.raises(StateError, match="is a folder"):
        read_state_text(tmp_path)
    (tmp_path / "bad.yml").write_bytes(b"\xff\xfe")
    with pytest.raises(StateError, match="not UTF-8"):
        read_state_text(tmp_path / "bad.yml")


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "state.yml"
    path.write_text("old\n")
    write_atomically(path, b"new\n")
    assert path.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["state.yml"]


@pytest.mark.parametrize("failing", ["os.write", "os.fsync", "os.replace", "os.open"])
def test_a_failed_write_keeps_the_old_file_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "state.yml"
    path.write_bytes(b"Lint: SUCCESS\n")
    real = getattr(os, failing.split(".")[1])

    def broken(*args: object, **kwargs: object) -> object:
        if failing == "os.open" and not str(args[0]).startswith(str(tmp_path / ".state.yml.tmp")):
            return real(*args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing.split(".")[1], broken)
    with pytest.raises(StateError, match="No space left on device; the previous state is kept"):
        write_atomically(path, b"Lint: null\n")
    monkeypatch.undo()
    assert path.read_bytes() == b"Lint: SUCCESS\n"
    assert os.listdir(tmp_path) == ["state.yml"]
