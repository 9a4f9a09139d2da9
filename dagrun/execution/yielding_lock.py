"""A lock for bookkeeping that threads do for a few microseconds, thousands of times a second."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Optional, Type

SPINS = 100  # times a thread yields and tries again before it sleeps on the lock


class YieldingLock:
    """A thread that finds the lock taken gives up the interpreter lock and tries again, instead of
    sleeping on the lock at once.

    With threading.Lock, two threads that both take a lock after every short stage fall into
    step: the one releasing it wakes the other, which holds the lock but waits for the interpreter
    lock, which the first holds until it needs the lock again. Every stage then costs two switches
    between threads, more than the stage. Here the holder, which is only ever held up by the
    interpreter lock, gets it at once and goes on; no thread sleeps on the lock, so none needs
    waking. After SPINS tries (a holder that waits for something else), the thread sleeps on it."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self, blocking: bool = True) -> bool:
        lock = self._lock
        if lock.acquire(False):
            return True
        if not blocking:
            return False
        for _ in range(SPINS):
            time.sleep(0)
            if lock.acquire(False):
                return True
        return lock.acquire()

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self._lock.release()
