"""The journal: appended records replay in order; a damaged tail is dropped, never guessed at."""

from __future__ import annotations

from pathlib import Path

from dagrun.journal import Journal, journal_path, remove, replay


def test_records_replay_in_order(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j")
    j.append([("Lint", "RUNNING")])
    j.append([("Lint", "SUCCESS"), ("Test", "FAILED")])
    j.close()
    assert replay(tmp_path / "j") == ([("Lint", "RUNNING"), ("Lint", "SUCCESS"), ("Test", "FAILED")], False)


def test_a_missing_journal_has_no_records(tmp_path: Path) -> None:
    assert replay(tmp_path / "nothing") == ([], False)


def test_a_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "j"
    path.write_bytes(b"SUCCESS Lint\nSUCC")
    assert replay(path) == ([("Lint", "SUCCESS")], True)


def test_every_cut_of_a_journal_replays_a_prefix(tmp_path: Path) -> None:
    full = b"RUNNING Lint\nSUCCESS Lint\nRUNNING Test\nFAILED Test\nnull Test\n"
    records = replay_bytes(tmp_path, full)[0]
    for cut in range(len(full) + 1):
        got = replay_bytes(tmp_path, full[:cut])[0]
        assert got == records[: len(got)]
        assert len(got) == full[:cut].count(b"\n")


def test_garbage_stops_the_replay_there(tmp_path: Path) -> None:
    got, damaged = replay_bytes(tmp_path, b"SUCCESS Lint\n\x00\x00\x00\nSUCCESS Test\n")
    assert got == [("Lint", "SUCCESS")]
    assert damaged
    got, damaged = replay_bytes(tmp_path, b"DONE Lint\n")
    assert got == [] and damaged


def test_a_new_journal_starts_empty_and_remove_is_idempotent(tmp_path: Path) -> None:
    path = journal_path(tmp_path / "state.yml")
    assert path.name == ".state.yml.journal"
    path.write_text("SUCCESS Lint\n")
    Journal(path).close()
    assert path.read_text() == ""
    remove(path)
    remove(path)
    assert not path.exists()


def replay_bytes(tmp_path: Path, data: bytes) -> tuple:
    path = tmp_path / "cut"
    path.write_bytes(data)
    return replay(path)
