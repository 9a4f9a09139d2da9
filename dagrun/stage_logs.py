"""Each stage's output in a log file of its own, `.dagrun/logs/STAGE.log` beside the state file:
what it prints to stdout and stderr and the `logging` records of its thread, even with many
stages printing at once in threads. The console stays for dagrun's own progress.

A log file is created when a stage first writes, so silent stages cost no file; the logs of the
stages a run is about to run are removed at its start, so a log is always from the latest run."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
import zlib
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Dict, Iterable, List, Optional, Protocol, Sequence, Set, TextIO

TAIL_LINES = 10  # of a failed stage's log, shown in the summary


class Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def log_dir(state_path: Path) -> Path:
    return state_path.parent / ".dagrun" / "logs"


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


def tail(path: Path, lines: int = TAIL_LINES) -> List[str]:
    """The last lines of a log, or none if there is no log."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.rstrip("\n").splitlines()[-lines:] if text.strip() else []


class _Target:
    """Where one stage's output goes: a file opened on the first write. Nothing is done per stage
    until then, not even making the path: most stages of a large pipeline print nothing."""

    def __init__(self, logs: StageLogs, name: str, attempt: int) -> None:
        self.logs, self.name, self.attempt = logs, name, attempt
        self.file: Optional[IO[str]] = None
        self.lock = threading.Lock()  # the stage's print and its logging record may race

    @property
    def header(self) -> str:
        return "" if self.attempt == 1 else f"--- attempt {self.attempt} ---\n"

    def write(self, text: str) -> None:
        with self.lock:
            if self.file is None:
                self.path = self.logs.path(self.name)
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.file = open(self.path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by close()
                if self.header:
                    self.file.write(self.header)
            self.file.write(text)

    def close(self) -> None:
        with self.lock:
            if self.file is not None:
                self.file.close()


class ThreadRouter(io.TextIOBase):
    """Stands in for sys.stdout or sys.stderr: a thread that has a target in `local` (a stage's log,
    or a buffer) writes there; any other thread to the stream it replaced."""

    def __init__(self, original: TextIO, local: threading.local) -> None:
        super().__init__()
        self.original = original
        self.local = local

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        target: Optional[Writable] = getattr(self.local, "target", None)
        if target is None:
            return self.original.write(text)
        target.write(text)
        return len(text)

    def flush(self) -> None:
        if getattr(self.local, "target", None) is None:
            self.original.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class _RecordHandler(logging.Handler):
    """Sends the `logging` records of a thread running a stage to that stage's log."""

    def __init__(self, local: threading.local) -> None:
        super().__init__()
        self.local = local
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        target: Optional[_Target] = getattr(self.local, "target", None)
        if target is not None:
            try:
                target.write(self.format(record) + "\n")
            except Exception:
                self.handleError(record)

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(self.local, "target", None) is not None


class StageLogs:
    """Routes the output of stages running in this process's threads to their log files."""

    def __init__(self, folder: Path, names: Sequence[str]) -> None:
        self.folder = folder
        self._names = names
        self._local = threading.local()
        self._installed: Optional[tuple] = None  # type: ignore[type-arg]
        self._handler = _RecordHandler(self._local)
        self._lock = threading.Lock()
        self._attempts: Dict[str, int] = {}

    def path(self, name: str) -> Path:
        return _log_path(self.folder, name, self._clashing_names)

    @cached_property
    def _clashing_names(self) -> Set[str]:
        # When first needed: most stages of a large pipeline never write, and succeed.
        return _clashing(self._names)

    def install(self) -> None:
        """Take over sys.stdout and sys.stderr (whatever they are now, the live view's included)."""
        if self._installed is not None:  # the usual case, from the second stage on
            return
        with self._lock:
            if self._installed is None:
                self._installed = (sys.stdout, sys.stderr)
                sys.stdout = ThreadRouter(sys.stdout, self._local)
                sys.stderr = ThreadRouter(sys.stderr, self._local)
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

    def begin(self, name: str, attempt: int) -> _Target:
        """In the thread that runs stage `name`: from now on its output goes to its log."""
        target = self._local.target = _Target(self, name, attempt)
        return target

    def end(self, target: _Target) -> None:
        self._local.target = None
        target.close()

    def append(self, name: str, attempt: int, text: str) -> None:
        """Output that reached this process at once, when the stage was over (from a Dask worker)."""
        target = _Target(self, name, attempt)
        try:
            target.write(text)
        except OSError:  # like a stage's own write, a failure here costs only the log
            pass
        finally:
            target.close()


__all__ = ["TAIL_LINES", "StageLogs", "ThreadRouter", "clear_logs", "log_dir", "log_path", "tail"]
