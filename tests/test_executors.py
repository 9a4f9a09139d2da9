"""The daemon thread pool: a real concurrent.futures executor that never holds the process open."""

from __future__ import annotations

import threading

import pytest

from dagrun.executors import DaemonThreadPool, default_workers, make_executor

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


def test_make_executor_knows_thread_only_for_now() -> None:
    assert isinstance(make_executor("thread", 2), DaemonThreadPool)
    with pytest.raises(ValueError):
        make_executor("carrier-pigeon", 2)
    assert default_workers() >= 1
