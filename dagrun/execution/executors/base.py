"""What every executor is to the scheduler: something that runs a stage and tells its outcome, and
can try to stop it. The scheduler decides what runs when; an executor only runs."""

from __future__ import annotations

import sys
import threading
import weakref
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import thread as _futures_thread
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Tuple, TypeVar, cast

from dagrun.core.status import StageStatus

if TYPE_CHECKING:
    from dagrun.execution.calls import CallResult
    from dagrun.execution.capture import StageOutput
    from dagrun.jobs.loading import Job

T = TypeVar("T")
Done = Callable[["CallResult"], None]  # told a stage's outcome, in whichever thread saw it


class StagePool(ABC):
    """An executor as the scheduler sees it. A plug-in subclasses this and is listed, with its
    options, in the registry (dagrun.execution.executors.EXECUTORS)."""

    workers: int  # how many stages it runs at once
    notes: Tuple[str, ...] = ()  # what the user should know about where stages run
    stopping = "it was stopped"  # what `stop` does, in words for the user

    @abstractmethod
    def __init__(
        self,
        jobs: Dict[str, Job],
        workers: Optional[int] = None,
        logs: Optional[StageOutput] = None,
        options: Mapping[str, Optional[str]] = {},
    ) -> None:
        """Ready to run the stages of `jobs`, at most `workers` at once (one per CPU if None),
        their output going to `logs` if given. Raises DagrunError when it cannot be had."""

    @abstractmethod
    def start(self, name: str, done: Done) -> Any:
        """Run the stage `name` and tell `done` its outcome, exactly once, in any thread (maybe
        before `start` returns). Returns what `stop` needs to find the stage."""

    def why_cancelled(self) -> str:
        """Why a stage's future was cancelled when dagrun did not ask for it."""
        return "the executor cancelled the stage"

    def _tell_when_done(
        self,
        future: Future[T],
        done: Done,
        outcome: Optional[Callable[[T], CallResult]] = None,
    ) -> Future[T]:
        """For executors built on futures: the future's result is the outcome (or what `outcome`
        makes of it), and a cancelled or failed future is the stage's failure."""

        def settle(f: Future[T]) -> None:
            if f.cancelled():  # not by dagrun, which forgets a stage before stopping it
                done((StageStatus.FAILED, 0.0, self.why_cancelled()))
                return
            error = f.exception()
            if error is not None:
                done((StageStatus.FAILED, 0.0, f"the stage did not run to the end: {error}"))
            else:
                result = f.result()
                done(outcome(result) if outcome is not None else cast("CallResult", result))

        future.add_done_callback(settle)
        return future

    @abstractmethod
    def stop(self, handle: Any) -> None:
        """Try to stop a stage that is still running, found by what `start` returned (see
        `stopping`)."""

    @abstractmethod
    def close(self, abandon: bool = False) -> None:
        """Release the workers: when abandoning, without waiting for running stages."""


class DaemonThreadPool(ThreadPoolExecutor):
    """ThreadPoolExecutor, except that its threads never hold the process open.

    The stock executor's threads are joined when the interpreter exits, so a stage stuck in a call
    that never returns (after its timeout, or after Ctrl-C) would keep dagrun alive until the call
    returns. Here the threads are daemons that the exit does not wait for, and `forsake` lets one
    more thread start in the place of a stuck one. Only thread creation differs from the stock
    `_adjust_thread_count` (Python 3.8 to 3.13): daemon=True, and no entry in the table that the
    exit joins."""

    def __init__(self, workers: int, name: str = "dagrun-stage") -> None:
        super().__init__(workers, thread_name_prefix=name)

    def _adjust_thread_count(self) -> None:
        if self._idle_semaphore.acquire(timeout=0):
            return

        def wake(_: Any, queue: Any = self._work_queue) -> None:
            queue.put(None)

        count = len(self._threads)
        if count < self._max_workers:
            thread = threading.Thread(
                name=f"{self._thread_name_prefix}-{count}",
                target=_futures_thread._worker,
                args=(weakref.ref(self, wake), self._work_queue, self._initializer, self._initargs),
                daemon=True,
            )
            thread.start()
            self._threads.add(thread)  # type: ignore[attr-defined]

    def forsake(self) -> None:
        """A running call will not return in time and cannot be stopped: let another thread take
        its place, so the stages after it are not kept waiting."""
        with self._shutdown_lock:
            self._max_workers += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if sys.version_info >= (3, 9):
            super().shutdown(wait, cancel_futures=cancel_futures)
            return
        if cancel_futures:  # what the stock executor learnt in 3.9
            with self._shutdown_lock:
                while not self._work_queue.empty():
                    item = self._work_queue.get_nowait()
                    if item is not None:
                        item.future.cancel()
        super().shutdown(wait)
