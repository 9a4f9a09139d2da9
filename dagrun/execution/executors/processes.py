"""--executor process: stages in worker processes of this machine, which import the jobs module
themselves.

`concurrent.futures.ProcessPoolExecutor` breaks as a whole when one worker dies: every running
and queued call fails and the pool takes no more work. Here each thread of a thread pool keeps one
worker process, feeds it one call at a time and watches it; a worker that dies fails only the call
it was running and is replaced for the next. A running call can be stopped by killing its worker's
process group, which takes the programs the stage started with it."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import Future
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple

from dagrun.core.plan import default_workers
from dagrun.execution.calls import module_refs, run_logged_stage, run_remote_stage
from dagrun.execution.children import started_elsewhere
from dagrun.execution.executors.base import DaemonThreadPool, Done, StagePool

if TYPE_CHECKING:
    from dagrun.execution.calls import CallResult
    from dagrun.execution.capture import StageOutput
    from dagrun.jobs.loading import Job


class WorkerDied(Exception):
    """The process running a stage ended without answering: a crash, os._exit, or a kill."""


def _worker_main(conn: Connection, cwd: str) -> None:
    """A worker process: call what arrives, send back what it returned or raised, until told to stop."""
    os.chdir(cwd)
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # its own process group: stopping a stage also stops the programs it started
    # Descriptors 1 and 2 are dagrun's (its capture pipe, or the terminal), or the stage's log while
    # one runs; line by line, as on a terminal, so that Python's lines and its programs' interleave.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):  # dagrun has gone
            return
        if item is None:
            return
        fn, args = item
        try:
            reply: Tuple[bool, Any] = (True, fn(*args))
        except BaseException as e:
            reply = (False, e)
        for stream in (sys.stdout, sys.stderr):  # before the reply: dagrun shows it before the outcome
            if stream is not None:
                stream.flush()
        try:
            conn.send(reply)
        except Exception as e:  # the result or exception could not be pickled
            conn.send((False, RuntimeError(f"the result could not be sent back to dagrun: {e!r}")))


class _Worker:
    """One worker process, kept by the pool thread that feeds it."""

    def __init__(self, pool: ProcessPool, name: str) -> None:
        self.pool = pool
        self.name = name
        self.process: Optional[multiprocessing.process.BaseProcess] = None
        self.conn: Optional[Connection] = None

    def call(self, call: _Call) -> Any:
        """Make the call in this worker's process: its result, or what it raised; WorkerDied if the
        process ended without answering."""
        try:
            conn, process = self.start_process()
            with self.pool.lock:
                call.worker = self
            conn.send((call.fn, call.args))
            ready = wait([conn, process.sentinel])
            if not (conn in ready or conn.poll()):
                raise EOFError
            ok, value = conn.recv()
        except (EOFError, OSError):
            code = self.stop_process()
            raise WorkerDied(f"its worker process {_how_it_ended(code)}") from None
        finally:
            with self.pool.lock:
                call.worker = None
        if not ok:
            raise value
        return value

    def start_process(self) -> Tuple[Connection, multiprocessing.process.BaseProcess]:
        if self.process is not None and self.conn is not None and self.process.is_alive():
            return self.conn, self.process
        self.stop_process()
        ours, theirs = self.pool.context.Pipe()
        here = os.getcwd()
        process = self.pool.context.Process(target=_worker_main, args=(theirs, here), name=self.name, daemon=True)
        with started_elsewhere():  # and the worker moves to `here` itself
            process.start()
        theirs.close()
        with self.pool.lock:
            self.process, self.conn = process, ours
            if self.pool.terminating:  # terminate() came while it was starting
                self.kill()
        return ours, process

    def stop_process(self) -> Optional[int]:
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if conn is not None:
            conn.close()  # the worker reads end-of-file and exits
        if process is None:
            return None
        process.join(5)
        if process.exitcode is None:
            process.kill()
            process.join()
        return process.exitcode

    def kill(self) -> None:
        """Under the pool's lock: kill the worker process and everything it started."""
        process = self.process
        if process is None or process.pid is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (AttributeError, OSError):  # no process groups here, or not yet its own group
            process.kill()


def _how_it_ended(code: Optional[int]) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}" if code is not None else "stopped answering"


class _Call:
    """One call, and while it runs the worker running it: what `kill` needs to find."""

    __slots__ = ("args", "fn", "worker")

    def __init__(self, fn: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args
        self.worker: Optional[_Worker] = None


class ProcessPool(DaemonThreadPool):
    """Up to `workers` processes, started when first needed, each running one call at a time: a
    thread pool whose every thread keeps one worker process.

    Processes are started with "spawn": dagrun has threads, and forking a process with threads can
    deadlock the child."""

    def __init__(self, workers: int, name: str = "dagrun-worker") -> None:
        super().__init__(workers, name)
        self.context = multiprocessing.get_context("spawn")
        self.lock = threading.Lock()
        self.terminating = False
        self._workers: List[_Worker] = []
        self._mine = threading.local()  # a thread's worker
        self._calls: Dict[Future[Any], _Call] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if kwargs:
            raise TypeError("a worker process takes positional arguments only")
        call = _Call(fn, args)
        future = super().submit(self._in_worker, call)
        with self.lock:
            self._calls[future] = call
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self.lock:
            self._calls.pop(future, None)

    def _in_worker(self, call: _Call) -> Any:
        worker = getattr(self._mine, "worker", None)
        if worker is None:
            with self.lock:
                worker = _Worker(self, f"{self._thread_name_prefix}-{len(self._workers)}")
                self._workers.append(worker)
            self._mine.worker = worker
        return worker.call(call)

    def kill(self, future: Optional[Future[Any]]) -> bool:
        """Stop a running call by killing its worker; its future then fails with WorkerDied."""
        with self.lock:
            call = self._calls.get(future) if future is not None else None
            if call is None or call.worker is None:
                return False
            call.worker.kill()
            return True

    def terminate(self) -> None:
        """Cancel what waits, kill what runs, and take no more work."""
        with self.lock:
            self.terminating = True
            for worker in self._workers:
                worker.kill()
        self.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait, cancel_futures=cancel_futures)
        if wait:  # every thread has ended: their workers read end-of-file and exit
            for worker in self._workers:
                worker.stop_process()


class ProcessStagePool(StagePool):
    """Each stage is a call in a ProcessPool."""

    def __init__(
        self,
        jobs: Dict[str, Job],
        workers: Optional[int] = None,
        logs: Optional[StageOutput] = None,
        options: Mapping[str, Optional[str]] = {},
    ) -> None:
        self._refs = module_refs(jobs, ship=False)
        self._logs = logs
        self.workers = workers or default_workers()
        self._processes = ProcessPool(self.workers)

    def start(self, name: str, done: Done) -> Future[CallResult]:
        if self._logs is None:
            future = self._processes.submit(run_remote_stage, *self._refs[name])
        else:
            log, attempt = str(self._logs.path(name)), self._logs.attempt(name)
            future = self._processes.submit(run_logged_stage, *self._refs[name], log, attempt)
        return self._tell_when_done(future, done)

    stopping = "its worker process was killed, with the programs it had started"

    def stop(self, handle: Any) -> None:
        self._processes.kill(handle)

    def close(self, abandon: bool = False) -> None:
        if abandon:
            self._processes.terminate()
        else:
            self._processes.shutdown(wait=True)
