"""The yielding lock excludes like threading.Lock, whoever holds it and for however long."""

from __future__ import annotations

import threading
import time

from dagrun.execution.yielding_lock import YieldingLock


def test_threads_taking_turns_never_overlap() -> None:
    lock = YieldingLock()
    inside = []
    overlaps = []
    counter = [0]

    def work() -> None:
        for _ in range(2000):
            with lock:
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                counter[0] += 1
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter[0] == 8000 and not overlaps


def test_without_blocking_a_taken_lock_is_refused() -> None:
    lock = YieldingLock()
    assert lock.acquire(blocking=False) and lock.locked()
    assert not lock.acquire(blocking=False)
    lock.release()
    assert not lock.locked()


def test_a_holder_that_waits_on_something_else_is_waited_for() -> None:
    lock = YieldingLock()
    held = threading.Event()
    order = []

    def holder() -> None:
        with lock:
            held.set()
            time.sleep(0.2)  # long past the yields: the other thread sleeps on the lock
            order.append("holder")

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    with lock:
        order.append("waiter")
    t.join()
    assert order == ["holder", "waiter"]
