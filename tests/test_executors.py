"""The executors' registry, and the daemon thread pool: a ThreadPoolExecutor that never holds the
process open."""

from __future__ import annotations

import os
import queue
import sys
import threading

import pytest

from dagrun.errors import UsageError
from dagrun.execution.executors import EXECUTORS, make_pool
from dagrun.execution.executors.base import DaemonThreadPool, StagePool
from dagrun.execution.executors.threads import ThreadStagePool

from .conftest import ConcurrencyProbe


def test_runs_work_and_returns_results_and_exceptions() -> None:
    pool = DaemonThreadPool(2)
    assert pool.submit(lambda x, y=0: x + y, 1, y=2).result(5) == 3
    failing = pool.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(5)
    exiting = pool.submit(lambda: exec("raise SystemExit(3)"))
    with pytest.raises(SystemExit):
        exiting.result(5)
    assert pool.submit(lambda: 5).result(5) == 5  # the worker survived both
    pool.shutdown()


def test_runs_at_most_workers_at_once_with_daemon_threads() -> None:
    pool = DaemonThreadPool(3)
    probe = ConcurrencyProbe()
    futures = [pool.submit(probe) for _ in range(12)]
    assert all(f.result(5) for f in futures)  # each ran in a daemon thread
    assert probe.peak == 3
    pool.shutdown()


def test_shutdown_can_cancel_waiting_work_and_refuses_more() -> None:
    pool = DaemonThreadPool(1)
    gate = threading.Event()
    first = pool.submit(gate.wait, 5)
    waiting = pool.submit(lambda: 1)
    pool.shutdown(wait=False, cancel_futures=True)
    assert waiting.cancelled()
    gate.set()
    assert first.result(5) is True
    with pytest.raises(RuntimeError):
        pool.submit(lambda: 1)


def test_make_pool_knows_each_executor_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = make_pool("thread", {"A": lambda: None}, 2)
    assert isinstance(pool, ThreadStagePool) and pool.workers == 2
    pool.close()
    with pytest.raises(UsageError, match="unknown executor 'carrier-pigeon'"):
        make_pool("carrier-pigeon", {}, 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 7)  # one stage per CPU unless told
    assert make_pool("thread", {}).workers == 7
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one
    assert make_pool("thread", {}).workers == 1


def test_a_forsaken_call_frees_its_place_for_the_next() -> None:
    pool = DaemonThreadPool(1)
    release = threading.Event()
    stuck = pool.submit(release.wait, 10)
    pool.forsake()  # as after a timeout: the stuck call goes on, but another thread may start
    assert pool.submit(lambda: 7).result(5) == 7
    assert not stuck.done()
    release.set()
    assert stuck.result(5) is True
    pool.shutdown()


def test_the_dask_executor_without_dask_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    with pytest.raises(UsageError, match="needs Dask") as caught:
        make_pool("dask", {}, 2)
    assert "pip install 'dagrun[dask]'" in (caught.value.hint or "")


def test_it_is_a_thread_pool_executor_whose_done_callbacks_run_in_its_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    pool = DaemonThreadPool(2)
    assert isinstance(pool, ThreadPoolExecutor)
    got: queue.SimpleQueue[tuple] = queue.SimpleQueue()
    for i in range(20):
        future = pool.submit(lambda x: x * 2, i)
        future.add_done_callback(lambda f: got.put((f.result(), threading.current_thread().name)))
    results = [got.get(timeout=5) for _ in range(20)]
    assert sorted(r for r, _ in results) == [i * 2 for i in range(20)]
    assert {t for _, t in results} <= {"dagrun-stage-0", "dagrun-stage-1", "MainThread"}
    assert all(t.daemon for t in pool._threads)  # type: ignore[attr-defined]
    pool.shutdown()


def test_a_call_that_never_returns_does_not_hold_the_process_at_exit() -> None:
    import subprocess

    code = (
        "import threading\n"
        "from dagrun.execution.executors.base import DaemonThreadPool\n"
        "pool = DaemonThreadPool(1)\n"
        "started = threading.Event()\n"
        "pool.submit(lambda: (started.set(), threading.Event().wait()))\n"
        "started.wait()\n"
        "pool.forsake()\n"
        "pool.shutdown(wait=False)\n"
        "print('exiting')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, "exiting\n"), out.stderr


def test_shutdown_cancels_waiting_work_on_every_python() -> None:
    pool = DaemonThreadPool(1)
    gate = threading.Event()
    first = pool.submit(gate.wait, 5)
    waiting = [pool.submit(lambda: 1) for _ in range(3)]
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    assert first.result(5) is True
    assert all(f.cancelled() for f in waiting)
    pool.shutdown()


def test_the_registry_names_each_executor_and_makes_it() -> None:
    assert list(EXECUTORS) == ["thread", "process", "dask"]
    assert EXECUTORS["dask"].options.keys() == {"address"}
    for name in ("thread", "process"):
        pool = make_pool(name, {}, 1)
        assert isinstance(pool, StagePool)
        pool.close()
    with pytest.raises(UsageError, match="the thread executor has no option 'address'"):
        make_pool("thread", {}, 1, options={"address": "tcp://x:1"})
