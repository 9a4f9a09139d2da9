"""Turn SIGINT, SIGTERM and SIGHUP into a polite request to stop, which the scheduler honours at once."""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Callable, Iterator, List, Optional

STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)


class StopRequest:
    """Set once, by a signal handler or by code; listeners wake whoever waits."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self._listeners: List[Callable[[], None]] = []

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int = signal.SIGINT, wake: bool = True) -> None:
        if self.signum is None:
            self.signum = signum
            for listener in list(self._listeners) if wake else ():
                listener()

    def listen(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """While inside, the stop signals request a stop instead of raising; outside the main thread,
    where Python cannot set handlers, this does nothing and KeyboardInterrupt is left as it is. The
    handlers found are put back on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Optional[FrameType]) -> None:
        # Only the flag: a handler runs in the main thread between any two bytecodes, perhaps while
        # it holds the very lock a listener would take (an Event's, inside wait()): that deadlocked
        # one run in a few hundred. The run loop looks at the flag at least every 50 ms.
        stop.request(signum, wake=False)

    # A signal ignored when dagrun started stays ignored: SIGHUP under nohup, SIGINT for a job that
    # a script started with `&`.
    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield stop
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def die_by(signum: int) -> None:
    """End this process by `signum` itself, as Python does after an uncaught KeyboardInterrupt: a
    calling shell script sees death by the signal and stops too, instead of going on."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
