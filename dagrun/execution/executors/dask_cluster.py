"""Stages on a Dask cluster, through the `concurrent.futures` executor that Dask's client provides.

dagrun stays the scheduler of the pipeline (order, state, lock, output); Dask only runs calls. The
jobs module travels with each call as its source, so workers need dagrun installed but not the
jobs module. Imported only for `--executor dask`."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Dict, Iterator, Mapping, Optional, TextIO, Tuple

from dagrun.core.plan import default_workers
from dagrun.errors import UsageError
from dagrun.execution.calls import CallResult, module_refs, run_captured_stage
from dagrun.execution.children import started_elsewhere
from dagrun.execution.executors.base import Done, StagePool

if TYPE_CHECKING:
    from dagrun.execution.capture import StageOutput
    from dagrun.jobs.loading import Job

CONNECT_TIMEOUT = "10s"
INSTALL_HINT = "install it with: pip install 'dagrun[dask]' (or pip install 'dask[distributed]')"


class DaskStagePool(StagePool):
    """A client of the Dask scheduler at the option `address`, or of a local cluster started for
    this run."""

    def __init__(
        self,
        jobs: Dict[str, Job],
        workers: Optional[int] = None,
        logs: Optional[StageOutput] = None,
        options: Mapping[str, Optional[str]] = {},
    ) -> None:
        address = options.get("address")
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as e:
            raise UsageError(
                f"--executor dask needs Dask's distributed scheduler, which is not installed ({e})", hint=INSTALL_HINT
            ) from None
        self._refs = module_refs(jobs, ship=True)
        self._logs = logs
        self._cwd: Optional[str] = None  # a remote cluster's workers stay in their own folders
        self._cluster: Any = None
        self._address = address or "local"
        self._log_levels = _quiet_dask_logs()
        try:
            if address:
                self._client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
                threads = sum(self._client.nthreads().values())
                self.workers = workers or max(1, threads)
                self.notes = (f"Dask scheduler {address}: {len(self._client.nthreads())} workers, {threads} threads",)
            else:
                self.workers = workers or default_workers()
                # A stage that kills its worker fails once, as under --executor process, instead of
                # being retried on three more workers.
                config = dask.config.set({"distributed.scheduler.allowed-failures": 0})
                with config, _deaf_to_ctrl_c(), started_elsewhere():
                    self._cluster = LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.CRITICAL,
                    )
                self._client = Client(self._cluster, set_as_default=False)
                self._address = self._cluster.scheduler_address
                self.notes = (f"local Dask cluster {self._cluster.scheduler_address}: {self.workers} worker processes",)
                self._cwd = os.getcwd()  # its workers started elsewhere: stages run in ours
        except (OSError, TimeoutError) as e:
            self._close_cluster()
            _restore_levels(self._log_levels)
            where = f"the Dask scheduler at {address}" if address else "a local Dask cluster"
            raise UsageError(
                f"cannot connect to {where}: {e}",
                hint="start one with `dask scheduler` and `dask worker ADDRESS`, or leave out --dask-address "
                "(and DAGRUN_DASK_ADDRESS) to run a local cluster",
            ) from None
        self._executor = self._client.get_executor(pure=False)

    def start(self, name: str, done: Done) -> Future[Tuple[CallResult, str]]:
        task: Future[Tuple[CallResult, str]] = self._executor.submit(run_captured_stage, *self._refs[name], self._cwd)
        attempt = self._logs.attempt(name) if self._logs is not None else 1  # counted as it starts

        def relay(result: Tuple[CallResult, str]) -> CallResult:
            """What the stage wrote goes to its log (or the console); its outcome to `done`."""
            outcome, output = result
            if self._logs is None:
                _show(sys.stdout, output)
            elif output:
                self._logs.append(name, attempt, output)
            return outcome

        return self._tell_when_done(task, done, relay)

    stopping = "its Dask task was cancelled; a call already running finishes in its worker and is ignored"

    def why_cancelled(self) -> str:
        if self._client.status != "running":  # "connecting" while it tries to reach the scheduler again
            return f"Dask cancelled the stage: the connection to its scheduler ({self._address}) was lost"
        return "Dask cancelled the stage (was the scheduler restarted, or the task cancelled by another client?)"

    def stop(self, handle: Any) -> None:
        if handle is not None:
            handle.cancel()  # the task's future: cancels the Dask task too

    def close(self, abandon: bool = False) -> None:
        try:
            self._executor.shutdown(wait=not abandon)
            self._client.close(timeout=CONNECT_TIMEOUT)
        finally:
            self._close_cluster()
            _restore_levels(self._log_levels)

    def _close_cluster(self) -> None:
        if self._cluster is not None:
            self._cluster.close(timeout=CONNECT_TIMEOUT)  # stops its workers, running calls included
            self._cluster = None


def _quiet_dask_logs() -> Dict[str, int]:
    """dagrun reports what goes wrong in its own words; Dask's own log would add tracebacks to the
    output. Returns the levels to restore when the run is over."""
    names = ["distributed", *(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return levels


def _restore_levels(levels: Dict[str, int]) -> None:
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _show(stream: TextIO, text: str) -> None:
    """A remote stage's output, printed where the stage's output would go in this process."""
    if text:
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()


@contextlib.contextmanager
def _deaf_to_ctrl_c() -> Iterator[None]:
    """Start the local cluster's processes with SIGINT ignored, which they inherit. Ctrl-C in the
    terminal reaches the whole foreground process group: Dask's processes would each print a
    KeyboardInterrupt traceback, while dagrun stops them itself when it stops the run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
