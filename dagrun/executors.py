"""The concurrent.futures executors stages run in."""

from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Executor, Future
from typing import Any, Callable, List, Optional, Tuple, TypeVar

T = TypeVar("T")
_WorkItem = Tuple["Future[Any]", Callable[..., Any], Tuple[Any, ...]]


def default_workers() -> int:
    """One stage per CPU, like `make -j$(nproc)`; raise it for stages that mostly wait."""
    return os.cpu_count() or 1


class DaemonThreadPool(Executor):
    """A thread pool whose threads do not hold the process open.

    ThreadPoolExecutor joins its threads at interpreter exit, so one stage stuck in a long call would
    keep an interrupted dagrun alive until the call returns. Here an interrupted run saves its state
    and exits at once; the abandoned stage's late outcome is ignored."""

    def __init__(self, workers: int, name: str = "dagrun-stage") -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._workers = workers
        self._name = name
        self._queue: queue.SimpleQueue[Optional[_WorkItem]] = queue.SimpleQueue()
        self._threads: List[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._shutdown = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if kwargs:
            args_fn: Callable[..., T] = lambda *a: fn(*a, **kwargs)  # noqa: E731
        else:
            args_fn = fn
        future: Future[T] = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._queue.put((future, args_fn, args))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.put(None)  # wake the next thread too
                return
            future, fn, args = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as e:  # the future carries it; the thread lives on
                    future.set_exception(e)
                else:
                    future.set_result(result)
            del item, future, fn, args
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[0].cancel()
            self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


def make_executor(kind: str, workers: int) -> Executor:
    if kind == "thread":
        return DaemonThreadPool(workers)
    raise ValueError(f"unknown executor {kind!r}")
