"""The validated-pipeline cache: hits only for identical bytes, never trusted when damaged."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from dagrun.errors import SpecError
from dagrun.stagesfile import cache as pipeline_cache
from dagrun.stagesfile.reader import load_pipeline


def big_pipeline(path: Path, n: int = 4000, broken: bool = False) -> None:
    lines = [f"stage_{i}: [{'stage_' + str(i - 1) if i else ''}]" for i in range(n)]
    if broken:
        lines.append("oops: [nowhere]")
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size >= pipeline_cache.MIN_BYTES


def entries() -> list:
    folder = pipeline_cache.cache_dir()
    assert folder is not None
    return sorted(folder.glob("*.json")) if folder.exists() else []


def test_a_second_load_of_the_same_bytes_comes_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "stages.yaml"
    big_pipeline(path)
    first = load_pipeline(path)
    assert len(entries()) == 1

    def no_parsing(*args: object) -> None:
        raise AssertionError("parsed although cached")

    monkeypatch.setattr("dagrun.stagesfile.reader.parse_pipeline", no_parsing)
    second = load_pipeline(path)
    assert second == first
    assert second.stages["stage_7"].line == 8


def test_an_edit_misses_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "stages.yaml"
    big_pipeline(path)
    load_pipeline(path)
    big_pipeline(path, broken=True)
    with pytest.raises(SpecError, match="'nowhere', which is not a stage"):
        load_pipeline(path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: "not json",
        lambda e: json.dumps({**json.loads(e), "dagrun": "0.0.0"}),
        lambda e: json.dumps({**json.loads(e), "order": list(reversed(json.loads(e)["order"]))}),
        lambda e: json.dumps({**json.loads(e), "stages": json.loads(e)["stages"][1:]}),
        lambda e: json.dumps({**json.loads(e), "stages": [["bad-name", 1, []], *json.loads(e)["stages"][1:]]}),
        lambda e: json.dumps({**json.loads(e), "stages": 7}),
    ],
    ids=["not-json", "other-version", "order-not-topological", "stage-missing", "bad-name", "wrong-type"],
)
def test_a_damaged_or_foreign_entry_is_ignored(tmp_path: Path, damage: object) -> None:
    path = tmp_path / "stages.yaml"
    big_pipeline(path)
    expected = load_pipeline(path)
    (entry,) = entries()
    entry.write_text(damage(entry.read_text()))  # type: ignore[operator]
    assert load_pipeline(path) == expected


def test_small_files_are_not_cached_and_the_cache_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = tmp_path / "small.yaml"
    small.write_text("a: []\n")
    load_pipeline(small)
    assert entries() == []
    monkeypatch.setenv("DAGRUN_NO_CACHE", "1")
    big = tmp_path / "big.yaml"
    big_pipeline(big)
    load_pipeline(big)
    monkeypatch.delenv("DAGRUN_NO_CACHE")
    assert entries() == []


def test_an_unwritable_cache_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv("DAGRUN_CACHE_DIR", str(blocker / "cache"))
    path = tmp_path / "stages.yaml"
    big_pipeline(path)
    assert len(load_pipeline(path).stages) == 4000


def test_old_entries_are_pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline_cache, "MAX_ENTRIES", 2)
    for i in range(4):
        path = tmp_path / f"s{i}.yaml"
        big_pipeline(path, n=4000 + i)
        load_pipeline(path)
        folder = pipeline_cache.cache_dir()
        assert folder is not None
        for j, entry in enumerate(sorted(folder.glob("*.json"))):
            os.utime(entry, (1000 + i * 10 + j, 1000 + i * 10 + j))
    assert len(entries()) == 2


def declared_pipeline(path: Path, n: int = 1500) -> None:
    lines = []
    for i in range(n):
        needs = f"[stage_{i - 1}]" if i else "[]"
        lines.append(
            f"stage_{i}: {{needs: {needs}, inputs: [in/{i}.csv], outputs: [out/{i}.csv], retries: 1, "
            f"timeout: 5, params: {{n: {i}, tags: [a, b], opts: {{deep: true}}}}}}"
        )
    lines.append("reader: {inputs: [out], run: stage_0}")  # needs every stage, through their outputs
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size >= pipeline_cache.MIN_BYTES


def test_a_pipeline_with_options_comes_back_equal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "stages.yaml"
    declared_pipeline(path)
    first = load_pipeline(path)
    assert len(entries()) == 1
    monkeypatch.setattr("dagrun.stagesfile.reader.parse_pipeline", lambda *a: pytest.fail("parsed although cached"))
    second = load_pipeline(path)
    assert second == first
    a, b = second.stages["stage_3"], first.stages["stage_3"]
    assert [getattr(a, f.name) for f in dataclasses.fields(a)] == [getattr(b, f.name) for f in dataclasses.fields(b)]
    assert second.stages["reader"].via == first.stages["reader"].via and len(first.stages["reader"].via) == 1500
    assert second.stages["stage_3"].kwargs == {"n": 3, "tags": ["a", "b"], "opts": {"deep": True}}


@pytest.mark.parametrize(
    "bad",
    [{"retries": -1}, {"timeout": 0}, {"inputs": [3]}, {"params": [["no name", 1]]}, {"via": [["x", "f"]]}, {"x": 1}],
)
def test_an_entry_with_options_the_reader_would_not_make_is_ignored(tmp_path: Path, bad: dict) -> None:
    path = tmp_path / "stages.yaml"
    declared_pipeline(path)
    load_pipeline(path)
    (entry,) = entries()
    data = json.loads(entry.read_text())
    data["stages"][5][3] = bad
    entry.write_text(json.dumps(data))
    assert load_pipeline(path).stages["stage_5"].retries == 1  # parsed again, not taken from the entry
