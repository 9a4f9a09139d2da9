"""Where stages run: threads of this process, worker processes, or a Dask cluster, each behind the
same small interface, over a `concurrent.futures` executor."""

from __future__ import annotations

import functools
import queue
import sys
import threading
from abc import ABC, abstractmethod
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, TypeVar, cast

from dagrun.planner import default_workers
from dagrun.state import StageStatus
from dagrun.yielding_lock import YieldingLock

if TYPE_CHECKING:
    from dagrun.calls import Outcome
    from dagrun.jobs import Job
    from dagrun.process_pool import ProcessPool
    from dagrun.stage_logs import StageLogs

T = TypeVar("T")
# A call and the future it settles; or, with no future, a call and what to hand its result to.
_WorkItem = Tuple[Optional["Future[Any]"], Callable[..., Any], Tuple[Any, ...], Optional[Callable[[Any], None]]]
Done = Callable[["Outcome"], None]  # told a stage's outcome, in whichever thread saw it


class QueuedPool(Executor, ABC):
    """Calls wait in one queue; up to `workers` threads each take one at a time. A thread is
    started only when a call arrives and no thread is idle. Subclasses say how a thread makes a
    call, and what it keeps between calls (a worker process, say)."""

    def __init__(self, workers: int, name: str) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.name = name
        self._max_workers = workers
        self._queue: queue.SimpleQueue[Optional[_WorkItem]] = queue.SimpleQueue()
        self._threads: List[threading.Thread] = []
        self._idle = 0  # threads waiting for a call; under _lock (a Semaphore costs more per call)
        self._lock = YieldingLock()  # taken by every thread after every call
        self._shutdown = False
        self._cancelled = False
        # A `then` that hands the pool its next call, in a pool thread, keeps it for that thread:
        # through the queue it would wake another thread, and a switch between threads costs more
        # than a short stage.
        self._local = threading.local()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        call = functools.partial(fn, **kwargs) if kwargs else fn
        future: Future[T] = Future()
        self._put((future, call, args, None))
        return future

    def _put(self, item: _WorkItem) -> None:
        local = self._local
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a pool that was shut down")
            if getattr(local, "keeping", False) and local.kept is None:
                local.kept = item
                self._idle -= 1  # this thread counted itself idle for its `then`
                return
            self._queue.put(item)
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self._max_workers:
                name = f"{self.name}-{len(self._threads)}"
                thread = threading.Thread(target=self._serve, args=(len(self._threads),), name=name, daemon=True)
                self._threads.append(thread)
                thread.start()

    def _serve(self, index: int) -> None:
        kept = self._start_thread(index)
        try:
            item: Optional[_WorkItem] = None
            while True:
                if item is None:
                    item = self._queue.get()
                if item is None:
                    self._queue.put(None)  # wake the next thread too
                    return
                future, fn, args, then = item
                if future is None:
                    item = self._run_then(fn, args, then)
                    continue
                if future.set_running_or_notify_cancel():
                    self._call(kept, future, fn, args)
                item = None  # and drop the references now, not at the next call
                del future, fn, args
                with self._lock:
                    self._idle += 1
        finally:
            self._end_thread(kept)

    def _start_thread(self, index: int) -> Any:
        """What a new thread keeps between its calls."""
        return None

    @abstractmethod
    def _call(self, kept: Any, future: Future[Any], fn: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        """Make one call and settle its future, whatever happens."""

    def _end_thread(self, kept: Any) -> None:
        """Release what a thread kept, when the pool shuts down."""

    def _run_then(self, fn: Callable[..., Any], args: Tuple[Any, ...], then: Any) -> Optional[_WorkItem]:
        """Make a call of `run` and hand over its result; returns the next call, if `then` gave
        this thread one."""
        try:
            result = fn(*args)
        except BaseException:  # `run` promises `then` a result, so fn must not raise: a bug, shown
            threading.excepthook(threading.ExceptHookArgs((*sys.exc_info(), threading.current_thread())))
            return None
        local = self._local
        with self._lock:  # idle before `then`, which may hand this very thread the next call
            self._idle += 1
        local.keeping, local.kept = True, None
        try:
            then(result)
        finally:
            local.keeping = False
        kept, local.kept = local.kept, None
        if kept is not None and self._cancelled:  # dropped like the calls in the queue
            with self._lock:
                self._idle += 1
            return None
        return kept  # type: ignore[no-any-return]

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            self._cancelled = self._cancelled or cancel_futures
            if cancel_futures:
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None and item[0] is not None:
                        item[0].cancel()
            self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


class DaemonThreadPool(QueuedPool):
    """A thread pool whose threads do not hold the process open.

    ThreadPoolExecutor joins its threads at interpreter exit, so one stage stuck in a long call would
    keep an interrupted dagrun alive until the call returns. Here an interrupted run saves its state
    and exits at once; the abandoned stage's late outcome is ignored."""

    def __init__(self, workers: int, name: str = "dagrun-stage") -> None:
        super().__init__(workers, name)

    def _call(self, kept: Any, future: Future[Any], fn: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        try:
            result = fn(*args)
        except BaseException as e:  # the future carries it; the thread lives on
            future.set_exception(e)
        else:
            future.set_result(result)

    def run(self, fn: Callable[..., T], args: Tuple[Any, ...], then: Callable[[T], None]) -> None:
        """Call `fn(*args)` in a thread and hand its result to `then` there: no future and none of
        its locks, for calls made by the ten thousand. `fn` must not raise, and `then` is not called
        for a call dropped by shutdown(cancel_futures)."""
        self._put((None, fn, args, then))

    def forsake(self) -> None:
        """A running call will not return in time and cannot be stopped: let another thread take
        its place, so the stages after it are not kept waiting."""
        with self._lock:
            self._max_workers += 1


EXECUTORS = ("thread", "process", "dask")


class StagePool(ABC):
    """Runs stages and can try to stop one; the scheduler decides what runs when."""

    workers: int  # how many stages it runs at once
    notes: Tuple[str, ...] = ()  # what the user should know about where stages run

    @abstractmethod
    def start(self, name: str, done: Done) -> Any:
        """Run the stage `name` and tell `done` its outcome, exactly once, in any thread (maybe
        before `start` returns). Returns what `stop` needs to find the stage."""

    stopping = "it was stopped"  # what `stop` does, in words for the user

    def why_cancelled(self) -> str:
        """Why a stage's future was cancelled when dagrun did not ask for it."""
        return "the executor cancelled the stage"

    def _tell_when_done(
        self,
        future: Future[T],
        done: Done,
        outcome: Optional[Callable[[T], Outcome]] = None,
    ) -> Future[T]:
        """For pools built on futures: the future's result is the outcome (or what `outcome` makes
        of it), and a cancelled or failed future is the stage's failure."""

        def settle(f: Future[T]) -> None:
            if f.cancelled():  # not by dagrun, which forgets a stage before stopping it
                done((StageStatus.FAILED, 0.0, self.why_cancelled()))
                return
            error = f.exception()
            if error is not None:
                done((StageStatus.FAILED, 0.0, f"the stage did not run to the end: {error}"))
            else:
                result = f.result()
                done(outcome(result) if outcome is not None else cast("Outcome", result))

        future.add_done_callback(settle)
        return future

    @abstractmethod
    def stop(self, handle: Any) -> None:
        """Try to stop a stage that is still running, found by what `start` returned (see
        `stopping`)."""

    @abstractmethod
    def close(self, abandon: bool = False) -> None:
        """Release the workers: when abandoning, without waiting for running stages."""


class _ThreadRun:
    """A stage running in a thread: which thread, once it has started, to find its programs."""

    __slots__ = ("native_id",)

    def __init__(self) -> None:
        self.native_id: Optional[int] = None


class ThreadStagePool(StagePool):
    """Stages as calls in threads of this process: no start-up, no pickling, shared memory."""

    def __init__(self, jobs: Dict[str, Job], workers: Optional[int] = None, logs: Optional[StageLogs] = None) -> None:
        from dagrun.calls import run_stage

        self._run_stage = run_stage
        self._jobs = jobs
        self._logs = logs
        self.workers = workers or default_workers()
        self._threads = DaemonThreadPool(self.workers)
        self._forsaken = False

    def start(self, name: str, done: Done) -> _ThreadRun:
        handle = _ThreadRun()
        if self._logs is None:
            self._threads.run(self._run, (name, 0, handle), done)
        else:
            self._logs.install()
            self._threads.run(self._run, (name, self._logs.attempt(name), handle), done)
        return handle

    def _run(self, name: str, attempt: int, handle: _ThreadRun) -> Outcome:
        """The stage's outcome, in its thread; never raises, as DaemonThreadPool.run asks."""
        try:
            handle.native_id = threading.get_native_id()
            logs = self._logs
            if logs is None:
                return self._run_stage(name, self._jobs[name])
            target = logs.begin(name, attempt)
            try:
                return self._run_stage(name, self._jobs[name])
            finally:
                logs.end(target)
        except BaseException as e:  # from the logs: the call itself catches everything
            return StageStatus.FAILED, 0.0, f"the stage did not run to the end: {e}"

    stopping = (
        "the programs it started were stopped; a thread cannot be stopped: the call goes on in the "
        "background and its result is ignored"
    )

    def stop(self, handle: Any) -> None:
        from dagrun.processes import stop_processes, thread_children

        self._threads.forsake()
        self._forsaken = True
        if isinstance(handle, _ThreadRun) and handle.native_id is not None:
            stop_processes(thread_children(handle.native_id))

    def close(self, abandon: bool = False) -> None:
        # A forsaken call may never return: waiting for its thread would undo the timeout.
        self._threads.shutdown(wait=not (abandon or self._forsaken), cancel_futures=abandon)
        if self._logs is not None:
            self._logs.uninstall()


class ProcessStagePool(StagePool):
    """Stages in worker processes of this machine, which import the jobs module themselves."""

    def __init__(self, jobs: Dict[str, Job], workers: Optional[int] = None, logs: Optional[StageLogs] = None) -> None:
        from dagrun.calls import module_refs, run_logged_stage, run_remote_stage
        from dagrun.process_pool import ProcessPool

        self._refs = module_refs(jobs, ship=False)
        self._run_remote_stage = run_remote_stage
        self._run_logged_stage = run_logged_stage
        self._logs = logs
        self.workers = workers or default_workers()
        self._processes: ProcessPool = ProcessPool(self.workers)

    def start(self, name: str, done: Done) -> Future[Outcome]:
        if self._logs is None:
            future = self._processes.submit(self._run_remote_stage, *self._refs[name])
        else:
            log, attempt = str(self._logs.path(name)), self._logs.attempt(name)
            future = self._processes.submit(self._run_logged_stage, *self._refs[name], log, attempt)
        return self._tell_when_done(future, done)

    stopping = "its worker process was killed, with the programs it had started"

    def stop(self, handle: Any) -> None:
        self._processes.kill(handle)

    def close(self, abandon: bool = False) -> None:
        if abandon:
            self._processes.terminate()
        else:
            self._processes.shutdown(wait=True)


def make_pool(
    kind: str,
    jobs: Dict[str, Job],
    workers: Optional[int] = None,
    *,
    dask_address: Optional[str] = None,
    logs: Optional[StageLogs] = None,
) -> StagePool:
    """The pool for `--executor kind`, sending stage output to `logs` if given; raises DagrunError
    when it cannot be had."""
    if kind == "thread":
        return ThreadStagePool(jobs, workers, logs)
    if kind == "process":
        return ProcessStagePool(jobs, workers, logs)
    if kind == "dask":
        from dagrun.dask_pool import DaskStagePool

        return DaskStagePool(jobs, workers, dask_address, logs)
    from dagrun.errors import UsageError

    raise UsageError(f"unknown executor {kind!r}", hint=f"choose one of {', '.join(EXECUTORS)}")
