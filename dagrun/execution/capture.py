"""Descriptors 1 and 2 during a run: what stages and the programs they start write there is caught
at the descriptor level, as pytest's capfd does, so that nothing reaches the terminal behind the
live view's back (where its next redraw would erase it) and nothing is lost.

For the run, both descriptors lead into one pipe that a thread of dagrun reads. What arrives goes
to the log of the stage that wrote it when that can be told (one stage running in this process's
threads); otherwise it is shown above the progress and kept in the run's own log. Worker processes
(`--executor process`, Dask) point their descriptors at the stage's log themselves, so only what
they write between stages arrives here. dagrun's own output never goes through the pipe: the
command line gives its reporters a descriptor of their own (`own_stream`)."""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import logging
import os
import select
import sys
import termios
import threading
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, List, Optional, Sequence, Set, TextIO

from dagrun.store.logs import LOG_FORMAT, StageLogs, Target, open_log
from dagrun.store.private_fds import keep_private, release

CHUNK = 1 << 16
_NOTHING = bytes(4)  # FIONREAD's answer for an empty pipe


def own_stream(stream: Optional[TextIO]) -> TextIO:
    """A stream on a copy of `stream`'s descriptor, for dagrun's own output: it still reaches the
    terminal (or file) while descriptors 1 and 2 are captured. A stream without a descriptor (a
    test's buffer) is returned as it is; none at all (dagrun started with it closed), nowhere."""
    if stream is None:
        return open(os.devnull, "w", encoding="utf-8")
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return stream
    stream.flush()
    encoding = getattr(stream, "encoding", None) or "utf-8"
    errors = getattr(stream, "errors", None) or "strict"
    return open(keep_private(os.dup(fd)), "w", encoding=encoding, errors=errors, buffering=1)


class SafeStream:
    """dagrun's own progress or event stream, which the run does not depend on: once writing to it
    fails (a reader that went away, `| head`; a full disk, `--events /dev/full`), it is dropped
    and the run goes on to the end, its state saved; `error` says what happened."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.error: Optional[OSError] = None

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                return self.stream.write(text)
            except OSError as e:
                self.error = e
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self.stream.flush()
            except OSError as e:
                self.error = e

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()

    def __getattr__(self, name: str) -> object:  # isatty, fileno, encoding: rich asks for them
        return getattr(self.stream, name)


class FdCapture:
    """Descriptors 1 and 2 of this process lead into a pipe while it is started. Whole lines that
    cannot be given to one stage go to `show` (above the live view; by default, to the terminal as
    descriptor 1 was) and, with `logs`, to the run's own log."""

    def __init__(self, show: Optional[Callable[[str], None]] = None, logs: Optional[StageOutput] = None) -> None:
        self._show = show or self._to_terminal
        self._logs = logs
        self._saved: List[int] = []
        self._read_fd = -1
        self._wake: List[int] = []
        self._lock = threading.Lock()  # one reader at a time, so bytes keep their order
        self._reader: Optional[threading.Thread] = None
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial: List[str] = []  # a line not yet ended, in pieces: linear in its length
        self._run_log: Optional[IO[str]] = None
        self._streams: List[TextIO] = []  # sys.stdout and sys.stderr as they were
        self._wrappers: List[TextIO] = []  # theirs during the run, on descriptors 1 and 2

    def start(self) -> None:
        for stream in (sys.stdout, sys.stderr):  # what was printed before goes where it was going
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            saved = [os.dup(1), os.dup(2)]
        except OSError:  # started with descriptor 1 or 2 closed: there is no terminal to protect
            return
        read, write = os.pipe()
        os.set_blocking(read, False)
        self._saved = [keep_private(fd) for fd in saved]
        os.dup2(write, 1)
        os.dup2(write, 2)
        os.close(write)
        self._read_fd = keep_private(read)
        self._wake = [keep_private(fd) for fd in os.pipe()]
        # Python's own writes take the same way, whatever sys.stdout was (a test's buffer, say).
        self._streams = [sys.stdout, sys.stderr]
        self._wrappers = [
            open(fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
            for fd in (1, 2)
        ]
        sys.stdout, sys.stderr = self._wrappers
        if self._logs is not None:
            self._logs.on_end = self.drain_if_waiting
        self._reader = threading.Thread(target=self._read_loop, name="dagrun-output", daemon=True)
        self._reader.start()

    def stop(self) -> None:
        """Give descriptors 1 and 2 back; everything written until now has been handled. A program
        still holding the pipe (left running by a stage) then writes into a closed pipe."""
        if self._reader is None:
            return
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.flush()
        sys.stdout, sys.stderr = self._streams
        for wrapper in self._wrappers:
            with contextlib.suppress(OSError):
                wrapper.close()  # the descriptors stay: closefd=False
        os.write(self._wake[1], b"x")
        self._reader.join()
        self._reader = None
        self.drain()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in (*self._saved, self._read_fd, *self._wake):
            release(fd)
            os.close(fd)
        if self._logs is not None:
            self._logs.on_end = lambda: None
        text = "".join(self._partial) + self._decoder.decode(b"", final=True)
        self._partial.clear()
        if text:
            self._unattributed(text + "\n")
        if self._run_log is not None:
            self._run_log.close()
            self._run_log = None

    def _read_loop(self) -> None:
        while True:
            ready, _, _ = select.select([self._read_fd, self._wake[0]], [], [])
            if self._wake[0] in ready:
                return
            self.drain()

    def drain_if_waiting(self) -> None:
        """`drain`, for when a stage ends: asking the pipe whether it holds anything costs little,
        where taking the lock and reading every time cost a third of a 10,000-stage run."""
        try:
            waiting = fcntl.ioctl(self._read_fd, termios.FIONREAD, _NOTHING)
        except OSError:  # closed by stop()
            return
        if waiting != _NOTHING:
            self.drain()

    def drain(self) -> None:
        """Handle whatever the pipe holds now: a stage that ends calls this first (when the pipe
        holds anything), so that what its programs wrote is put down to it while that can be told."""
        with self._lock:
            while True:
                # Whose output it is, as things stand before the read: a stage that ends meanwhile
                # finds the pipe empty, and must not leave what it wrote to the stage left alone.
                target = self._logs.single_active() if self._logs is not None else None
                try:
                    data = os.read(self._read_fd, CHUNK)
                except BlockingIOError:
                    return
                except OSError:  # closed by stop()
                    return
                if not data:
                    return
                self._dispatch(data, target)

    def _dispatch(self, data: bytes, target: Optional[Target]) -> None:
        if target is not None:
            target.write_bytes(data)
            return
        text = self._decoder.decode(data)
        end = text.rfind("\n") + 1
        if not end:
            self._partial.append(text)
            return
        lines = "".join(self._partial) + text[:end]
        self._partial[:] = [text[end:]] if end < len(text) else []
        self._unattributed(lines)

    def _unattributed(self, text: str) -> None:
        if self._logs is not None:
            try:
                if self._run_log is None:
                    self._run_log = open_log(self._logs.run_log)
                self._run_log.write(text)
            except OSError:  # the screen still has it
                pass
        self._show(text)

    def _to_terminal(self, text: str) -> None:
        data = memoryview(text.encode("utf-8", "replace"))
        with contextlib.suppress(OSError):
            while data:
                data = data[os.write(self._saved[0], data) :]


@contextlib.contextmanager
def descriptors_to(fd: int) -> Iterator[None]:
    """In a worker process, for one stage: descriptors 1 and 2, and sys.stdout and sys.stderr
    above them, write to `fd`; everything is flushed and put back afterwards."""
    streams = [s for s in (sys.stdout, sys.stderr) if s is not None]
    for stream in streams:
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


__all__ = ["FdCapture", "SafeStream", "descriptors_to", "own_stream"]


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


class StageOutput(StageLogs):
    """The stages' log files, and the one owner of where stage output goes in this process: while a
    stage runs in one of its threads, that thread's sys.stdout, sys.stderr and `logging` records go
    to the stage's log (and FdCapture puts descriptor-level output there while it runs alone)."""

    def __init__(self, folder: Path, names: Sequence[str]) -> None:
        super().__init__(folder, names)
        self._local = threading.local()
        self._installed: Optional[tuple] = None  # type: ignore[type-arg]
        self._handler = _RecordHandler(self._local)
        self._lock = threading.Lock()
        # The stage attempts running in threads of this process: while there is exactly one, what
        # arrives on descriptors 1 and 2 is its output (see FdCapture).
        self.active: Set[Target] = set()
        self.on_end: Callable[[], None] = lambda: None  # before a stage leaves `active`

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
