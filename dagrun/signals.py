"""Turn SIGINT, SIGTERM and SIGHUP into a polite request to stop, which the scheduler honours at once."""

from __future__ import annotations

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

    def request(self, signum: int = signal.SIGINT) -> None:
        if self.signum is None:
            self.signum = signum
            for listener in list(self._listeners):
                listener()

    def listen(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """While inside, the stop signals request a stop instead of raising; outside the main thread,
    where Python cannot set handlers, this does nothing and KeyboardInterrupt is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Optional[FrameType]) -> None:
        stop.request(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
