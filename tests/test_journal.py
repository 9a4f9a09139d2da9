"""The journal: appended records replay in order; a damaged tail is dropped, never guessed at."""

from __future__ import annotations

import errno
import mmap
from pathlib import Path

import pytest

from dagrun.store.journal import CHUNK, Journal, remove, replay
from dagrun.store.paths import StatePaths


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
    path = StatePaths(tmp_path / "state.yml").journal
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


def test_a_journal_grows_past_its_first_chunk_and_close_cuts_the_zeros(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal(path)
    records = [(f"stage{i}", "SUCCESS") for i in range(CHUNK // 10)]  # several times the first chunk
    for start in range(0, len(records), 7):
        j.append(records[start : start + 7])
    assert replay(path) == (records, False)  # readable while the run goes on, zeros and all
    j.close()
    assert path.read_bytes() == b"".join(f"SUCCESS {n}\n".encode() for n, _ in records)
    assert replay(path) == (records, False)


def test_lines_are_in_the_file_before_close_as_a_kill_would_leave_them(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal(path)
    j.append([("Lint", "RUNNING"), ("Lint", "SUCCESS")])
    data = path.read_bytes()  # what another process, or the next run after kill -9, reads
    assert data.startswith(b"RUNNING Lint\nSUCCESS Lint\n") and set(data[26:]) <= {0}
    assert replay(path) == ([("Lint", "RUNNING"), ("Lint", "SUCCESS")], False)
    j.close()


def test_a_line_cut_short_before_the_zeros_is_a_damaged_tail(tmp_path: Path) -> None:
    got, damaged = replay_bytes(tmp_path, b"SUCCESS Lint\nSUCC" + bytes(100))
    assert got == [("Lint", "SUCCESS")] and damaged


def test_where_a_file_cannot_be_mapped_each_append_is_a_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_map(*args: object) -> None:
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(mmap, "mmap", no_map)
    path = tmp_path / "j"
    j = Journal(path)
    assert not j.mapped
    j.append([("Lint", "RUNNING")])
    assert path.read_bytes() == b"RUNNING Lint\n"  # in the file at once, no zeros after it
    j.append([("Lint", "SUCCESS")])
    j.close()
    assert replay(path) == ([("Lint", "RUNNING"), ("Lint", "SUCCESS")], False)


def test_a_full_disk_when_the_journal_is_made_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.posix_fallocate", full)
    with pytest.raises(OSError, match="No space left"):
        Journal(tmp_path / "j")


def test_without_posix_fallocate_the_journal_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr("os.posix_fallocate", raising=False)  # as on macOS
    path = tmp_path / "j"
    j = Journal(path)
    assert not j.mapped
    j.append([("Lint", "SUCCESS")])
    assert path.read_bytes() == b"SUCCESS Lint\n"
    j.close()
