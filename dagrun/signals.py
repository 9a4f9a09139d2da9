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
    where Python cannot set handlers, this does nothing and KeyboardInterrupt is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: Optional[FrameType]) -> None:
        # Only the flag: a handler runs in the main thread between any two bytecodes, perhaps while
        # it holds the very lock a listener would take (an Event's, inside wait()): that deadlocked
        # one run in a few hundred. The run loop looks at the flag at least every 50 ms.
        stop.request(signum, wake=False)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
