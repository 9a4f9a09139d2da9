"""The run lock: one holder at a time, named in the refusal, released when the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dagrun.errors import LockHeldError
from dagrun.store.lock import RunLock
from dagrun.store.paths import StatePaths


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    state = tmp_path / "state.yml"
    with RunLock(state):
        with pytest.raises(LockHeldError) as caught:
            RunLock(state).acquire()
        assert f"pid {os.getpid()}" in str(caught.value)
        assert "since" in str(caught.value)
        assert caught.value.exit_code == 3
    with RunLock(state):  # released: free again
        pass


def test_the_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    state = tmp_path / "state.yml"
    code = (
        "import sys, time; from pathlib import Path; from dagrun.store.lock import RunLock;"
        f"RunLock(Path({str(state)!r})).acquire(); print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeldError, match=f"pid {holder.pid}"):
            RunLock(state).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        lock = RunLock(state)
        lock.acquire()  # at once, and no manual unlock needed: it would raise LockHeldError
        lock.release()
    finally:
        holder.kill()
        holder.wait()
    assert StatePaths(state).lock.exists()
