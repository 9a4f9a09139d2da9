"""--executor dask against a real scheduler and worker processes started with Dask's command line,
from a folder where the jobs module cannot be imported; and the local cluster with no address."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Set, Tuple

import pytest

from .conftest import run_dagrun, start_dagrun, wait_for, write

pytestmark = [pytest.mark.dask, pytest.mark.slow]
DASK = os.path.join(os.path.dirname(sys.executable), "dask")  # the command line the extra installs

JOBS = """\
import os, time
OUT = os.path.dirname(__file__)  # the workers share this machine's files

def _record(name):
    path = os.path.join(OUT, name + ".pid")
    with open(path + ".tmp", "w") as f:  # whole or not at all: the tests read it as it appears
        f.write(str(os.getpid()))
    os.replace(path + ".tmp", path)

def Prepare():
    print("prepared on a worker")
    _record("Prepare")
def Left(): _record("Left")
def Right(): _record("Right")
def Merge(): _record("Merge")

def Long():
    _record("Long")
    time.sleep(60)
"""
STAGES = "Prepare: []\nLeft: [Prepare]\nRight: [Prepare]\nMerge: [Left, Right]\n"


class Cluster:
    """`dask scheduler` and `dask worker` (two processes) on 127.0.0.1, as a user would start them."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.folder = folder
        scheduler_file = folder / "scheduler.json"
        import distributed  # only the session with the dask extra collects these tests unselected

        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        scheduler = [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
        self.procs = [
            subprocess.Popen(
                [*scheduler, "--scheduler-file", str(scheduler_file)],
                cwd=folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        ]
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, "the Dask scheduler did not start"
            time.sleep(0.1)
        worker = [DASK, "worker", "--scheduler-file", str(scheduler_file)]
        self.procs.append(
            subprocess.Popen(
                [*worker, "--nworkers", "2", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                cwd=folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        self.client: Any = distributed.Client(scheduler_file=str(scheduler_file), timeout="60s")
        self.client.wait_for_workers(2, timeout=60)
        self.address: str = self.client.scheduler.address

    def worker_pids(self) -> Set[int]:
        return set(self.client.run(os.getpid).values())

    def can_import(self, module: str) -> bool:
        """Whether a worker could import `module` from its own files (not whether an earlier test
        shipped it there: the cluster serves the whole module, in any order)."""
        import importlib.machinery

        found = self.client.run(lambda: importlib.machinery.PathFinder.find_spec(module) is not None)
        return any(found.values())

    def tasks_on_scheduler(self) -> int:
        return int(self.client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)))

    def close(self) -> None:
        self.client.close()
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("dask") / "cluster")
    yield c
    c.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A pipeline whose jobs module is named so that no worker could import it by chance."""
    folder = tmp_path / "project"
    folder.mkdir()
    write(folder, "stages.yaml", STAGES)
    write(folder, "dagrun_test_remote_jobs.py", JOBS)
    return folder


def recorded(folder: Path, *names: str) -> Set[int]:
    return {int((folder / f"{name}.pid").read_text()) for name in names}


def test_stages_run_in_the_clusters_workers_which_cannot_import_the_jobs_module(
    cluster: Cluster, project: Path
) -> None:
    assert not cluster.can_import("dagrun_test_remote_jobs")
    out = run_dagrun(
        *("run", "--jobs", "dagrun_test_remote_jobs", "--executor", "dask", "--dask-address", cluster.address),
        *("--progress", "plain"),
        cwd=project,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"Dask scheduler {cluster.address}: 2 workers, 2 threads" in out.stdout
    # What a remote stage prints comes back, into its log here.
    assert (project / ".dagrun" / "logs" / "Prepare.log").read_text() == "prepared on a worker\n"
    assert "prepared on a worker" not in out.stdout
    assert (project / "state.yml").read_text() == "Prepare: SUCCESS\nLeft: SUCCESS\nRight: SUCCESS\nMerge: SUCCESS\n"
    assert recorded(project, "Prepare", "Left", "Right", "Merge") <= cluster.worker_pids()
    # The address can come from the environment too; then nothing is left to run.
    again = run_dagrun(
        "run", "--jobs", "dagrun_test_remote_jobs", "-x", "dask",
        cwd=project, env={"DAGRUN_DASK_ADDRESS": cluster.address}, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0 and "4 already done" in again.stdout, again.stdout + again.stderr


def test_a_failure_on_a_worker_comes_back_with_its_traceback(cluster: Cluster, project: Path) -> None:
    jobs = project / "dagrun_test_remote_jobs.py"
    jobs.write_text(jobs.read_text().replace('def Left(): _record("Left")', "def Left():\n    raise KeyError('gone')"))
    out = run_dagrun(
        "run", "--jobs", str(jobs), "-x", "dask", "--dask-address", cluster.address, "--progress", "plain",
        cwd=project, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1
    assert "FAILED  Left" in out.stdout and "KeyError: 'gone'" in out.stdout
    assert "raise KeyError('gone')" in out.stdout  # the line, shipped with the source
    assert (project / "state.yml").read_text() == "Prepare: SUCCESS\nLeft: FAILED\nRight: SUCCESS\nMerge: null\n"


def run_long_stage_until(project: Path, address: str, then: Callable[[subprocess.Popen], object]) -> Tuple[int, str]:  # type: ignore[type-arg]
    """Run the Long stage on the cluster at `address`; once it runs, call `then(dagrun_process)`.
    Returns dagrun's exit code and output; dagrun never outlives the test."""
    write(project, "stages.yaml", "Long: []\nMerge: [Long]\n")
    proc = start_dagrun(project, "run", "--jobs", "dagrun_test_remote_jobs", "-x", "dask", "--dask-address", address)
    try:
        wait_for(project / "Long.pid", 60, proc)
        then(proc)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out + err


def test_ctrl_c_cancels_the_remote_stage(cluster: Cluster, project: Path) -> None:
    code, output = run_long_stage_until(project, cluster.address, lambda proc: proc.send_signal(signal.SIGINT))
    assert code == -signal.SIGINT, output
    assert (project / "state.yml").read_text() == "Long: null\nMerge: null\n"
    deadline = time.monotonic() + 30
    while cluster.tasks_on_scheduler():
        assert time.monotonic() < deadline, "the cancelled task is still on the scheduler"
        time.sleep(0.1)


def test_a_scheduler_lost_mid_run_fails_the_running_stage_instead_of_hanging(tmp_path: Path, project: Path) -> None:
    own = Cluster(tmp_path / "doomed")  # this test kills its scheduler
    try:
        code, output = run_long_stage_until(project, own.address, lambda _: own.procs[0].kill())
    finally:
        own.close()
    assert code == 1, output
    assert f"the connection to its scheduler ({own.address}) was lost" in output
    assert "Traceback" not in output
    assert (project / "state.yml").read_text() == "Long: FAILED\nMerge: null\n"


def test_with_no_address_a_local_cluster_runs_the_stages(project: Path) -> None:
    out = run_dagrun(
        "run", "--jobs", "dagrun_test_remote_jobs", "-x", "dask", "-j", "2", "--progress", "plain",
        cwd=project, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "local Dask cluster" in out.stdout
    pids = recorded(project, "Prepare", "Left", "Right", "Merge")
    assert not pids & {os.getpid()} and len(pids) <= 2


def test_an_unreachable_scheduler_is_a_clear_error(project: Path) -> None:
    out = run_dagrun(
        "run", "--jobs", "dagrun_test_remote_jobs", "-x", "dask", "--dask-address", "tcp://127.0.0.1:9",
        cwd=project, timeout=120,
    )  # fmt: skip
    assert out.returncode == 2
    assert "dagrun: error: cannot connect to the Dask scheduler at tcp://127.0.0.1:9" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (project / "state.yml").exists() or "SUCCESS" not in (project / "state.yml").read_text()


def test_ctrl_c_in_a_terminal_stops_a_local_cluster_quietly(project: Path) -> None:
    # Ctrl-C in a terminal signals the whole foreground process group, Dask's processes included.
    write(project, "stages.yaml", "Long: []\nMerge: [Long]\n")
    proc = start_dagrun(
        project, "run", "--jobs", "dagrun_test_remote_jobs", "-x", "dask", "--progress", "plain", start_new_session=True
    )
    try:
        wait_for(project / "Long.pid", 120, proc)
        worker = int((project / "Long.pid").read_text())
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGINT, out + err
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert (project / "state.yml").read_text() == "Long: null\nMerge: null\n"
    deadline = time.monotonic() + 15
    while os.path.exists(f"/proc/{worker}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{worker}"), "the worker running the stage outlived the run"


def test_what_a_remote_stage_and_its_programs_write_reaches_its_log(cluster: Cluster, project: Path) -> None:
    write(project, "stages.yaml", "Writes: []\n")
    write(
        project,
        "dagrun_test_remote_jobs.py",
        """\
        import os, subprocess, sys

        def Writes():
            print("python first")
            subprocess.run([sys.executable, "-c", "print('child via sys.stdout')"], stdout=sys.stdout, check=True)
            subprocess.run(["sh", "-c", "echo inherited"], check=True)
            sys.stdout.buffer.write(b"raw bytes\\n")
            print("isatty", sys.stdout.isatty())
        """,
    )
    out = run_dagrun("run", "--jobs", "dagrun_test_remote_jobs", "-x", "dask", "--dask-address", cluster.address,
                     "--progress", "plain", cwd=project, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    log = (project / ".dagrun" / "logs" / "Writes.log").read_text()
    assert log == "python first\nchild via sys.stdout\ninherited\nraw bytes\nisatty False\n"


def test_a_remote_failure_keeps_its_traceback_in_its_log(cluster: Cluster, project: Path) -> None:
    write(project, "stages.yaml", "Breaks: []\n")
    write(project, "dagrun_test_remote_jobs.py", "def Breaks():\n    raise ValueError('far away')\n")
    out = run_dagrun("run", "--jobs", "dagrun_test_remote_jobs", "-x", "dask", "--dask-address", cluster.address,
                     "--progress", "plain", cwd=project, timeout=120)  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    shown = run_dagrun("logs", "Breaks", cwd=project)
    assert shown.stdout.startswith("Traceback") and shown.stdout.endswith("ValueError: far away\n")


def test_a_local_cluster_beside_a_signal_py_runs_stages_in_the_projects_folder(project: Path) -> None:
    write(project, "stages.yaml", "Here: []\n")
    write(project, "dagrun_test_remote_jobs.py", "def Here():\n    open('made-here', 'w').close()\n")
    write(project, "signal.py", "raise SystemExit('the standard library was replaced')\n")
    out = run_dagrun("run", "--jobs", "dagrun_test_remote_jobs", "-x", "dask", "-j", "1", "--progress", "plain",
                     cwd=project, timeout=180)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert (project / "made-here").exists()  # a relative path is the project's, as under threads


def test_a_stop_stops_the_programs_a_stage_started_on_a_local_cluster(project: Path) -> None:
    tag = f"38.{os.getpid()}{time.monotonic_ns() % 100000}"
    write(project, "stages.yaml", "Spawns: []\n")
    write(
        project,
        "dagrun_test_remote_jobs.py",
        f"""\
        import os, subprocess, time
        def Spawns():
            subprocess.Popen(["sleep", "{tag}"])
            open(os.path.join({str(project)!r}, "Spawns.started"), "w").close()
            time.sleep(120)
        """,
    )
    proc = start_dagrun(project, "run", "--jobs", "dagrun_test_remote_jobs", "-x", "dask", "-j", "1",
                        "--progress", "plain")  # fmt: skip
    try:
        wait_for(project / "Spawns.started", 120, proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGTERM, out + err

    def tagged() -> bool:
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if tag.encode() in f.read():
                        return True
            except OSError:
                continue
        return False

    for _ in range(500):  # signalled: give them a fair chance to end
        if not tagged():
            break
        time.sleep(0.02)
    assert not tagged(), "a program the stage started outlived the run"
