"""One run at a time per state file, with a lock the kernel drops when its holder dies."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Optional, Type

from dagrun.errors import LockHeldError, StateError
from dagrun.store.paths import StatePaths
from dagrun.store.private_fds import keep_private, release


class RunLock:
    """flock() on a file beside the state file: released by the kernel when the process exits or is
    killed, so a crash never leaves a lock to clear by hand. The file also names its holder."""

    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path
        self.path = StatePaths(state_path).lock
        self._fd = -1

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StateError(f"{self.path}: cannot create the lock file: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(fd)
            os.close(fd)
            raise LockHeldError(
                f"{self.state_path}: in use by another dagrun ({holder})",
                hint="wait for it to finish or stop it; its lock goes away when it exits",
            ) from None
        except OSError as e:
            os.close(fd)
            raise StateError(f"{self.path}: cannot lock: {e.strerror}") from None
        info = {"pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S"), "command": _command()}
        try:  # only for the message a second run prints; the lock holds without it
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        except OSError:
            pass
        self._fd = keep_private(fd)  # a stage's forked helper must not hold the lock after dagrun

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            release(self._fd)
            os.close(self._fd)  # closing drops the flock
            self._fd = -1

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, et: Optional[Type[BaseException]], ev: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.release()


def _describe_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return f"pid {info['pid']}, since {info['since']}: {info['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that is just starting or stopping"


def _command() -> str:
    args = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    return " ".join(args)[:200]
