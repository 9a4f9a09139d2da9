"""--executor process: stages in worker processes; a crash or a timeout costs only its own stage."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import dagrun
from dagrun.core.status import StageStatus
from dagrun.errors import JobsError
from dagrun.execution.executors.processes import ProcessPool, WorkerDied
from dagrun.jobs.loading import load_jobs

from .conftest import dagrun_cmd, start_dagrun, wait_for, write

S, F, P = StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.PENDING

# Each stage writes "<pid> <start> <end>" into <stage>.pid beside the jobs file.
JOBS = """\
import os, signal, subprocess, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))

def _record(name, start):
    # Whole or not at all: the test reads it as soon as it appears, and may kill this process.
    path = os.path.join(HERE, name + ".pid")
    with open(path + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {start} {time.time()}")
    os.replace(path + ".tmp", path)

def _spin(seconds):
    end = time.process_time() + seconds
    n = 0
    while time.process_time() < end:
        n += 1
    return n

def Cpu1():
    start = time.time(); _spin(0.4); _record("Cpu1", start)

def Cpu2():
    start = time.time(); _spin(0.4); _record("Cpu2", start)

def Join():
    _record("Join", time.time())

def Warm():
    _record("Warm", time.time())

def Exits():
    os._exit(3)

def Segfaults():
    os.kill(os.getpid(), signal.SIGSEGV)

def Raises():
    raise ValueError("no good")

def Hangs():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(os.path.join(HERE, "child.pid"), "w") as f:
        f.write(str(child.pid))
    _record("Hangs", time.time())
    time.sleep(60)

async def Async():
    _record("Async", time.time())
"""


def pids(folder: Path, *names: str) -> Dict[str, Tuple[int, float, float]]:
    out = {}
    for name in names:
        pid, start, end = (folder / f"{name}.pid").read_text().split()
        out[name] = (int(pid), float(start), float(end))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it only waits for its parent to collect it.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def assert_stage_and_child_die(folder: Path) -> None:
    """The worker that ran Hangs, and the program Hangs started, are gone within seconds."""
    worker = pids(folder, "Hangs")["Hangs"][0]
    child = int((folder / "child.pid").read_text())
    deadline = time.monotonic() + 10
    while (alive(worker) or alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker) and not alive(child)


def run(folder: Path, stages: str, jobs_ref: str = "jobs.py", **kwargs: object) -> dagrun.RunResult:
    pipeline = dagrun.parse_pipeline(stages, folder / "stages.yaml")
    jobs = load_jobs(jobs_ref, pipeline, cwd=folder)
    return dagrun.run(pipeline, jobs, dagrun.RunOptions(executor="process", **kwargs))  # type: ignore[arg-type]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, "jobs.py", JOBS)
    return tmp_path


def test_cpu_bound_stages_run_in_worker_processes_at_the_same_time(folder: Path) -> None:
    result = run(folder, "Cpu1: []\nCpu2: []\nJoin: [Cpu1, Cpu2]\n", workers=2)
    assert result.ok and result.state == {"Cpu1": S, "Cpu2": S, "Join": S}
    seen = pids(folder, "Cpu1", "Cpu2", "Join")
    assert os.getpid() not in {pid for pid, _, _ in seen.values()}
    assert seen["Cpu1"][0] != seen["Cpu2"][0]
    # Each spun for 0.4 s of its own CPU time; in one process under the GIL they could not overlap.
    (_, start1, end1), (_, start2, end2) = seen["Cpu1"], seen["Cpu2"]
    assert start1 < end2 and start2 < end1
    assert seen["Join"][1] >= max(end1, end2)


def test_a_stage_that_kills_its_worker_fails_alone_and_the_run_goes_on(folder: Path) -> None:
    stages = "Exits: []\nSegfaults: []\nRaises: []\nCpu1: [Exits]\nCpu2: []\nJoin: [Cpu2]\n"
    result = run(folder, stages, workers=2)
    assert result.state == {"Exits": F, "Segfaults": F, "Raises": F, "Cpu1": P, "Cpu2": S, "Join": S}
    assert "worker process exited with code 3" in (result.outcomes["Exits"].error or "")
    assert "worker process was killed by SIGSEGV" in (result.outcomes["Segfaults"].error or "")
    assert "ValueError: no good" in (result.outcomes["Raises"].error or "")
    assert result.blocked == {"Cpu1": "Exits"}


def test_a_timeout_kills_the_stage_and_the_programs_it_started(folder: Path) -> None:
    # One worker, warmed by Warm: when Hangs is submitted and its timeout starts to count, its
    # worker has started and imported the jobs, so Hangs starts its program at once, even on a
    # busy machine. Had the timeout not stopped it, Hangs would have succeeded after 60 s.
    result = run(folder, "Warm: []\nHangs: [Warm]\nCpu2: []\nJoin: [Cpu2]\n", workers=1, timeout=5)
    assert result.state == {"Warm": S, "Hangs": F, "Cpu2": S, "Join": S}
    assert "timed out after 5 s" in (result.outcomes["Hangs"].error or "")
    assert_stage_and_child_die(folder)


def test_jobs_given_by_module_name_and_async_stages_work_in_workers(folder: Path) -> None:
    result = run(folder, "Async: []\nJoin: [Async]\n", jobs_ref="jobs", workers=1)
    assert result.ok
    assert pids(folder, "Async")["Async"][0] != os.getpid()


def test_a_jobs_file_whose_name_is_not_a_module_name_loads_in_workers(folder: Path) -> None:
    (folder / "my-jobs.py").write_text((folder / "jobs.py").read_text())
    (folder / "jobs.py").unlink()
    assert run(folder, "Join: []\n", jobs_ref="my-jobs.py", workers=1).ok


def test_functions_not_defined_in_a_jobs_file_are_refused_before_anything_runs(tmp_path: Path) -> None:
    pipeline = dagrun.parse_pipeline("A: []\n", tmp_path / "stages.yaml")
    with pytest.raises(JobsError, match="stage 'A' is not defined at the top level"):
        dagrun.run(pipeline, {"A": lambda: None}, dagrun.RunOptions(executor="process"))
    assert not (tmp_path / "state.yml").exists() or "SUCCESS" not in (tmp_path / "state.yml").read_text()


def square(x: int) -> int:
    return x * x


def test_the_pool_survives_a_dead_worker_and_can_kill_a_call() -> None:
    pool = ProcessPool(2)
    assert pool.submit(square, 7).result(30) == 49
    with pytest.raises(ZeroDivisionError):
        pool.submit(divmod, 1, 0).result(30)
    died = pool.submit(os._exit, 5)
    with pytest.raises(WorkerDied, match="exited with code 5"):
        died.result(30)
    assert pool.submit(square, 3).result(30) == 9  # a new worker took the dead one's place
    sleeping = pool.submit(time.sleep, 60)
    deadline = time.monotonic() + 30
    while not pool.kill(sleeping):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with pytest.raises(WorkerDied, match="SIGKILL"):
        sleeping.result(30)
    with pytest.raises(Exception, match=r"pickle|local object"):  # wording differs across Pythons
        pool.submit(square, lambda: 1).result(30)
    pool.shutdown()


def test_terminate_stops_running_calls_and_cancels_waiting_ones() -> None:
    pool = ProcessPool(1)
    running = pool.submit(time.sleep, 60)
    waiting = pool.submit(square, 2)
    deadline = time.monotonic() + 30
    while not running.running():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pool.terminate()
    assert waiting.cancelled()
    with pytest.raises(WorkerDied):
        running.result(30)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_signal_stops_the_stage_running_in_a_worker(folder: Path, sig: int) -> None:
    write(folder, "stages.yaml", "Hangs: []\nJoin: [Hangs]\n")
    proc = start_dagrun(folder, "run", "--jobs", "jobs", "-x", "process", "--progress", "plain")
    wait_for(folder / "Hangs.pid", 30)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -sig, out + err
    assert (folder / "state.yml").read_text() == "Hangs: null\nJoin: null\n"
    assert_stage_and_child_die(folder)


def test_the_cli_takes_the_executor_and_a_timeout(folder: Path) -> None:
    write(folder, "stages.yaml", "Hangs: []\nJoin: []\n")
    out = subprocess.run(
        # Long enough for Join's worker to start and finish on a busy machine; Hangs sleeps 60 s.
        dagrun_cmd("run", "--jobs", "jobs", "--executor", "process", "--timeout", "8", "--progress", "plain"),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAILED  Hangs" in out.stdout and "timed out after 8 s (--timeout)" in out.stdout
    assert (folder / "state.yml").read_text() == "Hangs: FAILED\nJoin: SUCCESS\n"


def test_a_timeout_under_threads_fails_the_stage_and_says_the_thread_goes_on(tmp_path: Path) -> None:
    release: List[bool] = []

    def slow() -> None:
        while not release:
            time.sleep(0.01)

    pipeline = dagrun.parse_pipeline("Slow: []\nNext: [Other]\nOther: []\n", tmp_path / "stages.yaml")
    try:
        jobs = {"Slow": slow, "Next": lambda: None, "Other": lambda: None}
        result = dagrun.run(pipeline, jobs, dagrun.RunOptions(timeout=0.3, workers=1))
    finally:
        release.append(True)
    assert result.state == {"Slow": F, "Next": S, "Other": S}
    assert "a thread cannot be stopped" in (result.outcomes["Slow"].error or "")


def test_a_timeout_must_be_positive(tmp_path: Path) -> None:
    pipeline = dagrun.parse_pipeline("A: []\n", tmp_path / "stages.yaml")
    with pytest.raises(dagrun.DagrunError, match="positive"):
        dagrun.run(pipeline, {"A": lambda: None}, dagrun.RunOptions(timeout=0))


def test_what_a_stage_prints_in_a_worker_reaches_dagrun_output_in_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        "jobs.py",
        """\
        import sys, threading

        def Talk():
            print("first line")
            sys.stdout.write("no newline yet")
            print(" ... now", flush=True)
            print("to stderr", file=sys.stderr)
            t = threading.Thread(target=print, args=("from a thread",))
            t.start(); t.join()
            print("last words", end="")
        """,
    )
    write(tmp_path, "stages.yaml", "Talk: []\n")
    out = subprocess.run(
        dagrun_cmd("run", "--jobs", "jobs", "-x", "process", "--progress", "plain", "--show-output"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "first line\nno newline yet ... now\nfrom a thread\nlast words" in out.stdout
    assert out.stdout.index("last words") < out.stdout.index("ok      Talk")
    assert "to stderr\n" in out.stderr
