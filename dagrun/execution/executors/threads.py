"""--executor thread: stages as calls in threads of this process: no start-up, no pickling, shared
memory; what a stage writes is told apart by the thread that writes it."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

from dagrun.core.plan import default_workers
from dagrun.execution.calls import run_stage
from dagrun.execution.children import stop_processes, thread_children
from dagrun.execution.executors.base import DaemonThreadPool, Done, StagePool

if TYPE_CHECKING:
    from dagrun.execution.calls import CallResult
    from dagrun.execution.capture import StageOutput
    from dagrun.jobs.loading import Job


class _ThreadRun:
    """A stage running in a thread: which thread, once it has started, to find its programs."""

    __slots__ = ("native_id",)

    def __init__(self) -> None:
        self.native_id: Optional[int] = None


class ThreadStagePool(StagePool):
    """Each stage is a call in a DaemonThreadPool."""

    def __init__(
        self,
        jobs: Dict[str, Job],
        workers: Optional[int] = None,
        logs: Optional[StageOutput] = None,
        options: Mapping[str, Optional[str]] = {},
    ) -> None:
        self._jobs = jobs
        self._logs = logs
        self.workers = workers or default_workers()
        self._threads = DaemonThreadPool(self.workers)
        self._forsaken = False
        if logs is not None:
            logs.install()

    def start(self, name: str, done: Done) -> _ThreadRun:
        handle = _ThreadRun()
        attempt = self._logs.attempt(name) if self._logs is not None else 0
        self._tell_when_done(self._threads.submit(self._run, name, attempt, handle), done)
        return handle

    def _run(self, name: str, attempt: int, handle: _ThreadRun) -> CallResult:
        """The stage's outcome, in its thread."""
        handle.native_id = threading.get_native_id()
        logs = self._logs
        if logs is None:
            return run_stage(name, self._jobs[name])
        target = logs.begin(name, attempt)
        try:
            return run_stage(name, self._jobs[name])
        finally:
            logs.end(target)

    stopping = (
        "the programs it started were stopped; a thread cannot be stopped: the call goes on in the "
        "background and its result is ignored"
    )

    def stop(self, handle: Any) -> None:
        self._threads.forsake()
        self._forsaken = True
        if isinstance(handle, _ThreadRun) and handle.native_id is not None:
            stop_processes(thread_children(handle.native_id))

    def close(self, abandon: bool = False) -> None:
        # A forsaken call may never return: waiting for its thread would undo the timeout.
        self._threads.shutdown(wait=not (abandon or self._forsaken), cancel_futures=abandon)
        if self._logs is not None:
            self._logs.uninstall()
