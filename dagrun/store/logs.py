"""Each stage's output in a log file of its own, `.dagrun/logs/STAGE.log` beside the state file:
what it prints to stdout and stderr, what the programs it starts write on descriptors 1 and 2, and
the `logging` records of its thread, even with many stages printing at once in threads. The
console stays for dagrun's own progress.

A log file is created when a stage first writes, so silent stages cost no file; the logs of the
stages a run is about to run are removed at its start, so a log is always from the latest run. A
failure's traceback is written at the end of its attempt's output, so `dagrun logs` shows it.

This module owns where a stage's output goes inside dagrun's own process (threads); `capture.py`
owns descriptors 1 and 2 of the process, and worker processes send theirs to the log themselves."""

from __future__ import annotations

import contextlib
import os
import threading
import zlib
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import IO, Dict, Iterable, List, Optional, Sequence, Set

TAIL_LINES = 10  # of a failed stage's log, shown in the summary
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # of `logging` records in a log
RUN_LOG = "run-output.log"  # output that no one stage can be said to have written; never a stage's name


def log_path(folder: Path, name: str, names: Sequence[str] = ()) -> Path:
    """The stage's log file. Stage names are Python identifiers, safe as file names, except that
    `Lint` and `lint` are one file where case does not count: those get a suffix of their own."""
    return _log_path(folder, name, _clashing(names))


def _clashing(names: Sequence[str]) -> Set[str]:
    """The names that differ from another only in case."""
    seen = Counter(name.lower() for name in names)
    return {name for name in names if seen[name.lower()] > 1}


def _log_path(folder: Path, name: str, clashing: Set[str]) -> Path:
    if name in clashing:
        return folder / f"{name}.{zlib.crc32(name.encode()):08x}.log"
    return folder / f"{name}.log"


def clear_logs(folder: Path, names: Iterable[str]) -> None:
    """Remove the logs of the stages about to run; one listing, not one call per stage."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    prefixes = {f"{name}." for name in names}
    for entry in entries:
        stem = entry.split(".", 1)[0] + "."
        if stem in prefixes and entry.endswith(".log"):
            with contextlib.suppress(OSError):
                os.unlink(folder / entry)


def tail(path: Path, lines: int = TAIL_LINES, end: Optional[int] = None) -> List[str]:
    """The last lines of a log up to byte `end` (where its output ends), or none if there is no log."""
    try:
        with open(path, "rb") as f:
            stop = f.seek(0, os.SEEK_END) if end is None else end
            f.seek(max(0, stop - 64 * 1024))
            text = f.read(stop - f.tell()).decode("utf-8", "replace")
    except OSError:
        return []
    return text.rstrip("\n").splitlines()[-lines:] if text.strip() else []


def open_log(path: Path) -> IO[str]:
    """A log opened for appending, line by line, as a stage's stdout would be on a terminal: lines
    from Python and from programs sharing the descriptor stay in order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a", buffering=1, encoding="utf-8", errors="backslashreplace")


class Target:
    """Where one stage attempt's output goes: a file opened on the first write (or when the stage
    asks for a descriptor). Nothing is done per stage until then: most stages print nothing."""

    def __init__(self, logs: Optional[StageLogs], name: str, attempt: int, path: Optional[Path] = None) -> None:
        self.logs, self.name, self.attempt = logs, name, attempt
        self._path = path
        self.file: Optional[IO[str]] = None
        self.lock = threading.Lock()  # the stage's print and its logging record may race

    @property
    def path(self) -> Path:
        if self._path is None:
            assert self.logs is not None
            self._path = self.logs.path(self.name)
        return self._path

    @property
    def stream(self) -> IO[str]:
        if self.file is None:
            with self.lock:
                if self.file is None:
                    file = open_log(self.path)
                    if self.attempt > 1:
                        file.write(f"--- attempt {self.attempt} ---\n")
                    self.file = file
        return self.file

    def write(self, text: str) -> int:
        stream = self.stream
        with self.lock:
            return stream.write(text)

    def write_bytes(self, data: bytes) -> None:
        """Bytes a program wrote on descriptor 1 or 2, after what Python has buffered."""
        stream = self.stream
        with self.lock:
            stream.flush()
            view = memoryview(data)
            while view:
                view = view[os.write(stream.fileno(), view) :]

    def close(self) -> None:
        with self.lock:
            if self.file is not None:
                self.file.close()


class StageLogs:
    """The log files of one state's stages: their names, clearing them before a run, the attempts
    they separate, the failures kept after their output. (Routing output into them is the
    execution layer's: `execution.capture.StageOutput`.)"""

    def __init__(self, folder: Path, names: Sequence[str]) -> None:
        self.folder = folder
        self._names = names
        self._attempts: Dict[str, int] = {}
        self._output_end: Dict[str, int] = {}  # per failed stage: where its output ends, before the traceback

    @property
    def run_log(self) -> Path:
        return self.folder / RUN_LOG

    def clear(self, names: Iterable[str]) -> None:
        """Before a run: the logs of the stages it will run, and the run's own log, are removed."""
        clear_logs(self.folder, names)
        with contextlib.suppress(OSError):
            os.unlink(self.run_log)

    def path(self, name: str) -> Path:
        return _log_path(self.folder, name, self._clashing_names)

    @cached_property
    def _clashing_names(self) -> Set[str]:
        # When first needed: most stages of a large pipeline never write, and succeed.
        return _clashing(self._names)

    def attempt(self, name: str) -> int:
        """Count a stage's attempts in this run (one at a time per stage: no lock needed); a log
        separates them with a line."""
        attempt = self._attempts[name] = self._attempts.get(name, 0) + 1
        return attempt

    def append(self, name: str, attempt: int, text: str) -> None:
        """Output that reached this process at once, when the stage was over (from a Dask worker)."""
        target = Target(self, name, attempt)
        try:
            target.write(text)
        except OSError:  # like a stage's own write, a failure here costs only the log
            pass
        finally:
            target.close()

    def note_failure(self, name: str, error: str) -> None:
        """Keep a failed attempt's traceback (or why dagrun ended it) after its output."""
        path = self.path(name)
        try:
            with open_log(path) as f:
                self._output_end[name] = f.tell()
                f.write(error.rstrip("\n") + "\n")
        except OSError:  # costs only the log
            pass

    def output_tail(self, name: str) -> List[str]:
        """The end of a failed stage's output, without the traceback kept after it."""
        return tail(self.path(name), end=self._output_end.get(name))


__all__ = [
    "LOG_FORMAT",
    "RUN_LOG",
    "TAIL_LINES",
    "StageLogs",
    "Target",
    "clear_logs",
    "log_path",
    "open_log",
    "tail",
]
