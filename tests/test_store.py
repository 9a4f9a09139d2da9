"""The store: O(1) records, snapshots, crash recovery from the journal, and reset."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from dagrun.core.status import StageStatus
from dagrun.errors import StateError
from dagrun.store.journal import CHUNK
from dagrun.store.paths import StatePaths
from dagrun.store.state_store import StateStore, read_state, reset_state

NAMES = ["Lint", "Test", "Coverage"]
S, F, P, R = StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.PENDING, StageStatus.RUNNING


def test_open_creates_state_with_every_stage_null(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.yml", NAMES)
    assert (tmp_path / "state.yml").read_text() == "Lint: null\nTest: null\nCoverage: null\n"
    store.close()
    assert not StatePaths(tmp_path / "state.yml").journal.exists()


def test_records_go_to_the_journal_at_once_and_to_state_at_close(tmp_path: Path) -> None:
    path = tmp_path / "state.yml"
    store = StateStore.open(path, NAMES)
    store.record({"Lint": R})
    store.record({"Lint": S})
    assert journal_text(path) == "RUNNING Lint\nSUCCESS Lint\n"
    assert path.read_text().startswith("Lint: null")  # not rewritten per record
    store.close()
    assert path.read_text() == "Lint: SUCCESS\nTest: null\nCoverage: null\n"
    assert not store.record({"Test": S})  # closed: ignored
    assert read_state(path, NAMES)["Test"] is P


def test_a_crashed_run_is_recovered_from_its_journal(tmp_path: Path) -> None:
    path = tmp_path / "state.yml"
    store = StateStore.open(path, NAMES)
    store.record({"Lint": R, "Test": R})
    store.record({"Lint": S})
    # The process dies here: no close(). A reader and the next run both see the journal.
    assert read_state(path, NAMES) == {"Lint": S, "Test": R, "Coverage": P}
    again = StateStore.open(path, NAMES)
    assert again.state == {"Lint": S, "Test": R, "Coverage": P}
    assert path.read_text() == "Lint: SUCCESS\nTest: RUNNING\nCoverage: null\n"  # folded at once
    assert journal_text(path) == ""
    again.close()


def test_snapshot_is_due_only_after_the_interval_and_when_dirty(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "state.yml"
    store = StateStore.open(path, NAMES, interval=1.0, clock=lambda: now[0])
    store.record({"Lint": S})
    store.snapshot_if_due()
    assert "Lint: null" in path.read_text()
    assert store.seconds_to_snapshot() == 1.0
    now[0] = 0.25
    assert store.seconds_to_snapshot() == 0.75
    now[0] = 1.5
    assert store.seconds_to_snapshot() == 0.0
    store.snapshot_if_due()
    assert "Lint: SUCCESS" in path.read_text()
    mtime = path.stat().st_mtime_ns
    now[0] = 5.0
    store.snapshot_if_due()  # nothing new: no write
    assert path.stat().st_mtime_ns == mtime
    store.close()


def test_release_running_leaves_finished_stages_alone(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.yml", NAMES)
    store.record({"Lint": R, "Test": R})
    store.record({"Test": S})
    store.release_running(["Lint", "Test"])
    assert store.state == {"Lint": P, "Test": S, "Coverage": P}
    store.close()


def test_many_threads_recording_at_once_lose_nothing(tmp_path: Path) -> None:
    names = [f"s{i}" for i in range(100)]
    path = tmp_path / "state.yml"
    store = StateStore.open(path, names)
    barrier = threading.Barrier(100)

    def finish(name: str) -> None:
        barrier.wait()
        store.record({name: S})

    threads = [threading.Thread(target=finish, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(read_state(path, names).values()) == {S}  # from the journal alone
    store.close()
    assert set(read_state(path, names).values()) == {S}


def test_stages_added_start_null_and_removed_ones_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "state.yml"
    path.write_text("Lint: SUCCESS\nOld: FAILED\n")
    store = StateStore.open(path, ["Lint", "New"])
    store.close()
    assert path.read_text() == "Lint: SUCCESS\nNew: null\n"


def test_an_invalid_state_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "state.yml"
    path.write_text("Lint: DONE\n")
    with pytest.raises(StateError, match="dagrun reset"):
        StateStore.open(path, NAMES)
    assert path.read_text() == "Lint: DONE\n"


def test_leftover_temp_files_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".state.yml.tmp-123-abcd").write_text("half")
    StateStore.open(tmp_path / "state.yml", NAMES).close()
    assert sorted(os.listdir(tmp_path)) == ["state.yml"]


def test_a_symlinked_state_file_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.yml"
    real.write_text("Lint: SUCCESS\n")
    link = tmp_path / "state.yml"
    link.symlink_to(real)
    store = StateStore.open(link, NAMES)
    store.record({"Test": S})
    store.close()
    assert link.is_symlink()
    assert real.read_text() == "Lint: SUCCESS\nTest: SUCCESS\nCoverage: null\n"


def test_a_journal_write_error_is_raised_by_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = StateStore.open(tmp_path / "state.yml", NAMES)
    store.check()

    def full(*args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)  # when the journal grows
    for _ in range(CHUNK // len("RUNNING Lint\nSUCCESS Lint\n") + 1):
        store.record({"Lint": R})
        store.record({"Lint": S})
    monkeypatch.undo()
    with pytest.raises(StateError, match="cannot write the journal: No space left on device"):
        store.check()
    store.abandon()


def test_reset_clears_everything_and_returns_what_was_there(tmp_path: Path) -> None:
    path = tmp_path / "state.yml"
    path.write_text("Lint: SUCCESS\nTest: FAILED\n")
    before = reset_state(path, NAMES)
    assert before == {"Lint": S, "Test": F, "Coverage": P}
    assert path.read_text() == "Lint: null\nTest: null\nCoverage: null\n"


def test_reset_also_clears_what_a_crashed_run_journaled(tmp_path: Path) -> None:
    path = tmp_path / "state.yml"
    store = StateStore.open(path, NAMES)
    store.record({"Lint": S})  # and the run dies
    assert reset_state(path, NAMES) == {"Lint": S, "Test": P, "Coverage": P}
    assert set(read_state(path, NAMES).values()) == {P}


def test_reset_repairs_an_unreadable_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.yml"
    path.write_text("{{{{")
    assert reset_state(path, NAMES) is None
    assert path.read_text() == "Lint: null\nTest: null\nCoverage: null\n"


def journal_text(state_path: Path) -> str:
    """The journal's lines, without the zeros of the part of the file not yet written."""
    return StatePaths(state_path).journal.read_text().rstrip("\0")
