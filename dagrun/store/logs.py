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
import logging
import os
import sys
import threading
import zlib
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, TextIO

from dagrun.store.paths import StatePaths

TAIL_LINES = 10  # of a failed stage's log, shown in the summary
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # of `logging` records in a log
RUN_LOG = "run-output.log"  # output that no one stage can be said to have written; never a stage's name


def log_dir(state_path: Path) -> Path:
    return StatePaths(state_path).logs


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


class StreamRouter:
    """Stands in for sys.stdout or sys.stderr: in a thread running a stage it is that stage's log
    file, a real file with `fileno()`, `buffer` and `encoding`, so `subprocess.run(cmd,
    stdout=sys.stdout)` writes there too; in any other thread it is the stream it replaced."""

    def __init__(self, original: TextIO, local: threading.local) -> None:
        self.original = original
        self.local = local

    def _current(self) -> Any:
        target: Optional[Target] = getattr(self.local, "target", None)
        return self.original if target is None else target.stream

    def write(self, text: str) -> int:
        target: Optional[Target] = getattr(self.local, "target", None)
        if target is None:
            return self.original.write(text)
        return target.write(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._current().flush()

    def fileno(self) -> int:
        stream = self._current()
        stream.flush()  # a program about to write on the descriptor comes after what was printed
        return int(stream.fileno())

    def isatty(self) -> bool:
        return bool(self._current().isatty())

    def __getattr__(self, name: str) -> Any:  # buffer, encoding, errors, closed, mode, name, ...
        return getattr(self._current(), name)


class _RecordHandler(logging.Handler):
    """Sends the `logging` records of a thread running a stage to that stage's log."""

    def __init__(self, local: threading.local) -> None:
        super().__init__()
        self.local = local
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        target: Optional[Target] = getattr(self.local, "target", None)
        if target is not None:
            try:
                target.write(self.format(record) + "\n")
            except Exception:
                self.handleError(record)

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(self.local, "target", None) is not None


class StageLogs:
    """The log files of one state's stages, and the routing of output from stages that run in this
    process's threads to them."""

    def __init__(self, folder: Path, names: Sequence[str]) -> None:
        self.folder = folder
        self._names = names
        self._local = threading.local()
        self._installed: Optional[tuple] = None  # type: ignore[type-arg]
        self._handler = _RecordHandler(self._local)
        self._lock = threading.Lock()
        self._attempts: Dict[str, int] = {}
        self._output_end: Dict[str, int] = {}  # per failed stage: where its output ends, before the traceback
        # The stage attempts running in threads of this process: while there is exactly one, what
        # arrives on descriptors 1 and 2 is its output (see capture.py).
        self.active: Set[Target] = set()
        self.on_end: Callable[[], None] = lambda: None  # before a stage leaves `active`

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

    def install(self) -> None:
        """Take over sys.stdout and sys.stderr (whatever they are now)."""
        if self._installed is not None:  # the usual case, from the second stage on
            return
        with self._lock:
            if self._installed is None:
                self._installed = (sys.stdout, sys.stderr)
                sys.stdout = StreamRouter(sys.stdout, self._local)
                sys.stderr = StreamRouter(sys.stderr, self._local)
                logging.getLogger().addHandler(self._handler)

    def uninstall(self) -> None:
        with self._lock:
            if self._installed is not None:
                sys.stdout, sys.stderr = self._installed
                self._installed = None
                logging.getLogger().removeHandler(self._handler)

    def attempt(self, name: str) -> int:
        """Count a stage's attempts in this run (one at a time per stage: no lock needed); a log
        separates them with a line."""
        attempt = self._attempts[name] = self._attempts.get(name, 0) + 1
        return attempt

    def begin(self, name: str, attempt: int) -> Target:
        """In the thread that runs stage `name`: from now on its output goes to its log."""
        target = self._local.target = Target(self, name, attempt)
        self.active.add(target)  # one step under the GIL: no lock for the ten thousand
        return target

    def end(self, target: Target) -> None:
        self.on_end()  # what its programs wrote, and dagrun has not read yet, is still its own
        self.active.discard(target)
        self._local.target = None
        target.close()

    def single_active(self) -> Optional[Target]:
        active = tuple(self.active)  # a copy made in one step, while stages come and go
        return active[0] if len(active) == 1 else None

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
    "StreamRouter",
    "Target",
    "clear_logs",
    "log_dir",
    "log_path",
    "open_log",
    "tail",
]
