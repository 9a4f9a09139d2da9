"""A process pool in which one stage's crash or timeout costs that stage alone.

`concurrent.futures.ProcessPoolExecutor` breaks as a whole when one worker dies: every running
and queued call fails and the pool takes no more work. Here each worker process has a thread in
dagrun that feeds it one call at a time and watches it; a worker that dies fails only the call it
was running and is replaced for the next. A running call can be stopped by killing its worker's
process group, which takes the programs the stage started with it."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import sys
from concurrent.futures import Future
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, List, Optional, Tuple

from dagrun.executors import QueuedPool
from dagrun.processes import started_elsewhere


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
        self.future: Optional[Future[Any]] = None

    def call(self, future: Future[Any], fn: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        try:
            conn, process = self.start_process()
            with self.pool.lock:
                self.future = future
            conn.send((fn, args))
            ready = wait([conn, process.sentinel])
            if not (conn in ready or conn.poll()):
                raise EOFError
            ok, value = conn.recv()
        except (EOFError, OSError):
            self.forget_future()
            code = self.stop_process()
            future.set_exception(WorkerDied(f"its worker process {_how_it_ended(code)}"))
            return
        except BaseException as e:  # the call could not be sent (not picklable) or spawning failed
            self.forget_future()
            future.set_exception(e)
            return
        self.forget_future()
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def forget_future(self) -> None:
        with self.pool.lock:
            self.future = None

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


class ProcessPool(QueuedPool):
    """Up to `workers` processes, started when first needed, each running one call at a time.

    Processes are started with "spawn": dagrun has threads, and forking a process with threads can
    deadlock the child."""

    def __init__(self, workers: int, name: str = "dagrun-worker") -> None:
        super().__init__(workers, name)
        self.context = multiprocessing.get_context("spawn")
        self.lock = self._lock
        self.terminating = False
        self._workers: List[_Worker] = []

    def _start_thread(self, index: int) -> _Worker:
        worker = _Worker(self, f"{self.name}-{index}")
        with self.lock:
            self._workers.append(worker)
        return worker

    def _call(self, kept: Any, future: Future[Any], fn: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        kept.call(future, fn, args)

    def _end_thread(self, kept: Any) -> None:
        kept.stop_process()

    def kill(self, future: Optional[Future[Any]]) -> bool:
        """Stop a running call by killing its worker; its future then fails with WorkerDied."""
        if future is None:
            return False
        with self.lock:
            for worker in self._workers:
                if worker.future is future:
                    worker.kill()
                    return True
        return False

    def terminate(self) -> None:
        """Cancel what waits, kill what runs, and take no more work."""
        with self.lock:
            self.terminating = True
            for worker in self._workers:
                worker.kill()
        self.shutdown(wait=False, cancel_futures=True)
