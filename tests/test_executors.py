"""The daemon thread pool: a real concurrent.futures executor that never holds the process open."""

from __future__ import annotations

import os
import queue
import sys
import threading

import pytest

from dagrun.errors import UsageError
from dagrun.executors import DaemonThreadPool, ThreadStagePool, make_pool

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


def test_run_hands_the_result_to_then_in_the_pool_thread() -> None:
    pool = DaemonThreadPool(2)
    got: queue.SimpleQueue[tuple] = queue.SimpleQueue()
    for i in range(20):
        pool.run(lambda x: x * 2, (i,), lambda r: got.put((r, threading.current_thread().name)))
    results = [got.get(timeout=5) for _ in range(20)]
    assert sorted(r for r, _ in results) == [i * 2 for i in range(20)]
    assert {t for _, t in results} <= {"dagrun-stage-0", "dagrun-stage-1"}  # never more threads than asked
    pool.shutdown()


def test_run_reports_a_call_that_breaks_its_promise_not_to_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_type))
    pool = DaemonThreadPool(1)
    then: list = []
    pool.run(lambda: 1 / 0, (), then.append)
    assert pool.submit(lambda: 5).result(5) == 5  # the thread lived on
    assert seen == [ZeroDivisionError] and then == []
    pool.shutdown()


def test_shutdown_drops_waiting_runs() -> None:
    pool = DaemonThreadPool(1)
    gate = threading.Event()
    then: list = []
    first = pool.submit(gate.wait, 5)
    pool.run(lambda: 1, (), then.append)
    pool.shutdown(wait=False, cancel_futures=True)
    gate.set()
    assert first.result(5) is True
    pool.shutdown()
    assert then == []


def test_a_call_handed_over_by_then_stays_in_its_thread() -> None:
    pool = DaemonThreadPool(2)
    threads: list = []
    finished = threading.Event()

    def chain(n: int) -> None:
        threads.append(threading.current_thread().name)
        if n:
            pool.run(lambda: n - 1, (), chain)  # from inside `then`: kept for this thread
        else:
            finished.set()

    pool.run(lambda: 50, (), chain)
    assert finished.wait(5)
    assert set(threads) == {"dagrun-stage-0"} and len(threads) == 51  # no second thread was woken or started
    pool.shutdown()
