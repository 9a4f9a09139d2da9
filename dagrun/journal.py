"""An append-only log of status changes beside state.yml: O(1) per change, and it survives kill -9."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import List, Tuple

from dagrun.state import is_status_text

Record = Tuple[str, str]  # (stage name, status text)


def journal_path(state_path: Path) -> Path:
    return state_path.with_name(f".{state_path.name}.journal")


class Journal:
    """Each record is one `STATUS name` line handed to the kernel with one write(), so it survives
    the death of the process at once; fsync() makes it survive power loss too."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)

    def append(self, records: List[Record]) -> None:
        data = "".join(f"{status} {name}\n" for name, status in records).encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def replay(path: Path) -> Tuple[List[Record], bool]:
    """The records of a journal left behind by a run, in order, and whether a damaged tail was dropped.

    A run killed mid-write leaves at most its last line torn; anything after the first line that
    does not parse is dropped rather than guessed at, so a record is never invented."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], False
    records: List[Record] = []
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    for raw in complete:
        try:
            status, name = raw.decode("utf-8").split(" ")
        except ValueError:  # also UnicodeDecodeError
            return records, True
        if not (is_status_text(status) and name.isidentifier()):
            return records, True
        records.append((name, status))
    return records, bool(tail)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
