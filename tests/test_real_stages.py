"""Stages that do what real scripts do: start programs, use descriptors, fork, get signals, sit beside
files named like the standard library's modules. Each test runs the real `dagrun` in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from .conftest import WAITS_FOR_GO, dagrun_cmd, run_dagrun, start_dagrun, wait_for, write

pytestmark = pytest.mark.slow
EXECUTORS = ["thread", "process"]

PROGRAMS = """\
import os, subprocess, sys

def Pipe():
    subprocess.run([sys.executable, "-c", "print('child via sys.stdout')"], stdout=sys.stdout, check=True)
    subprocess.run([sys.executable, "-c", "import sys; print('child via sys.stderr', file=sys.stderr)"],
                   stderr=sys.stderr, check=True)

def Inherit():
    print("python first")
    subprocess.run(["sh", "-c", "echo from sh; echo from sh on 2 >&2"], check=True)
    os.system("echo from os.system")
    print("python last")

def Raw():
    sys.stdout.buffer.write(b"raw bytes\\n")
    sys.stdout.flush()
    print("isatty", sys.stdout.isatty(), sys.stderr.isatty(), "encoding", sys.stdout.encoding)
    os.write(sys.stdout.fileno(), b"by fileno\\n")
"""


def logs(folder: Path) -> Path:
    return folder / ".dagrun" / "logs"


@pytest.fixture
def programs(tmp_path: Path) -> Path:
    write(tmp_path, "stages.yaml", "Pipe: []\nInherit: [Pipe]\nRaw: [Inherit]\n")
    write(tmp_path, "jobs.py", PROGRAMS)
    return tmp_path


@pytest.mark.parametrize("executor", EXECUTORS)
def test_what_a_stage_and_its_programs_write_reaches_its_log(programs: Path, executor: str) -> None:
    out = run_dagrun("run", "--jobs", "jobs", "-x", executor, "--progress", "plain", cwd=programs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (logs(programs) / "Pipe.log").read_text() == "child via sys.stdout\nchild via sys.stderr\n"
    inherit = (logs(programs) / "Inherit.log").read_text().splitlines()
    expected = ["python first", "from sh", "from sh on 2", "from os.system", "python last"]
    if executor == "process":  # the log is the worker's descriptor 1 itself: one order
        assert inherit == expected
    else:  # through dagrun's pipe, a program's lines may land after Python's later ones
        assert sorted(inherit) == sorted(expected) and inherit[0] == "python first"
        assert [line for line in inherit if line.startswith("from")] == expected[1:4]
    assert (logs(programs) / "Raw.log").read_text() == "raw bytes\nisatty False False encoding utf-8\nby fileno\n"
    for noise in ("child via", "from sh", "raw bytes", "python first"):
        assert noise not in out.stdout + out.stderr


@pytest.mark.parametrize("executor", EXECUTORS)
def test_with_show_output_the_same_stages_print_on_the_console(programs: Path, executor: str) -> None:
    out = run_dagrun("run", "--jobs", "jobs", "-x", executor, "--show-output", "--progress", "plain", cwd=programs)
    assert out.returncode == 0, out.stdout + out.stderr
    both = out.stdout + out.stderr
    for line in ("child via sys.stdout", "from sh on 2", "from os.system", "raw bytes", "by fileno"):
        assert line in both


def test_output_no_one_stage_can_own_is_shown_and_kept_in_the_runs_log(tmp_path: Path) -> None:
    # Two stages run at once in threads, each starting a program that inherits descriptor 1: the
    # programs' lines cannot be put down to either stage, so they are printed and kept.
    write(tmp_path, "stages.yaml", "A: []\nB: []\n")
    write(
        tmp_path,
        "jobs.py",
        """\
        import os, subprocess, threading
        both = threading.Barrier(2, timeout=30)

        def A():
            both.wait()
            subprocess.run(["echo", "program of A"], check=True)
            both.wait()

        def B():
            both.wait()
            subprocess.run(["echo", "program of B"], check=True)
            both.wait()
        """,
    )
    out = run_dagrun("run", "--jobs", "jobs", "-j", "2", "--progress", "plain", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    run_log = (logs(tmp_path) / "run-output.log").read_text()
    for line in ("program of A", "program of B"):
        assert line in run_log and line in out.stdout


def test_carriage_return_progress_in_small_writes_stays_linear_under_process_show_output(tmp_path: Path) -> None:
    # 16 MB of a `\r` progress bar in 16-byte writes: it took about 120 s when each write was
    # appended to the pending text; it is a few seconds now. The timeout is that difference.
    write(tmp_path, "stages.yaml", "Bar: []\n")
    write(
        tmp_path,
        "jobs.py",
        """\
        import sys
        def Bar():
            for i in range(1_000_000):
                sys.stdout.write(f"\\r{i:>14} ")
            sys.stdout.write("\\ndone\\n")
        """,
    )
    out = run_dagrun("run", "--jobs", "jobs", "-x", "process", "--show-output", "--progress", "plain",
                     cwd=tmp_path, timeout=90)  # fmt: skip
    assert out.returncode == 0, out.stderr
    # (read as text, each `\r` came out as a line end)
    assert out.stdout.count("\n") > 1_000_000 and "\n        999999 \ndone\n" in out.stdout


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_failure_that_printed_nothing_has_its_traceback_in_its_log(tmp_path: Path, executor: str) -> None:
    write(tmp_path, "stages.yaml", "Silent: []\n")
    write(tmp_path, "jobs.py", "def Silent():\n    raise ValueError('quietly broken')\n")
    out = run_dagrun("run", "--jobs", "jobs", "-x", executor, cwd=tmp_path)
    assert out.returncode == 1
    shown = run_dagrun("logs", "Silent", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Traceback (most recent call last):\n")
    assert "raise ValueError('quietly broken')" in shown.stdout
    assert shown.stdout.endswith("ValueError: quietly broken\n")


def test_a_timeout_is_kept_in_the_log_too(tmp_path: Path) -> None:
    # Whether the worker got as far as printing before the timeout depends on how busy the machine
    # is; that the log says why dagrun ended the stage does not.
    write(tmp_path, "stages.yaml", "Slow: {timeout: 0.5}\n")
    write(tmp_path, "jobs.py", "import time\ndef Slow():\n    print('started')\n    time.sleep(60)\n")
    out = run_dagrun("run", "--jobs", "jobs", "-x", "process", cwd=tmp_path)
    assert out.returncode == 1
    why = "timed out after 0.5 s (its timeout option); its worker process was killed, with the programs it had started"
    lines = (logs(tmp_path) / "Slow.log").read_text().splitlines()
    assert why in lines and set(lines) <= {"started", why}, lines


# A stop stops everything the run started -------------------------------------------------------

SPAWNS = """\
import os, subprocess, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
TAG = os.environ["TAG"]

def Spawns():
    # A direct child, and a grandchild that its shell leaves behind (adopted, not lost).
    child = subprocess.Popen(["sleep", TAG + "1"])
    subprocess.run(["sh", "-c", f"sleep {TAG}2 >/dev/null 2>&1 &"], check=True)
    with open(os.path.join(HERE, "Spawns.started"), "w") as f:
        f.write(str(child.pid))
    time.sleep(120)
"""


def processes_tagged(tag: str) -> List[int]:
    """The processes whose command line holds `tag`: what a stage started, if still there."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read()
                with open(f"/proc/{entry}/stat", "rb") as f:
                    zombie = f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
            except OSError:
                continue
            if tag.encode() in cmdline and not zombie:
                found.append(int(entry))
    return found


@pytest.fixture
def tag() -> Iterator[str]:
    """A sleep length no other process has: `sleep 37.<pid>1` belongs to this test."""
    tag = f"37.{os.getpid()}{time.monotonic_ns() % 100000}"
    yield tag
    for pid in processes_tagged(tag):  # whatever the test left, it does not leave for the next
        os.kill(pid, signal.SIGKILL)


def wait_until_gone(tag: str) -> List[int]:
    """The processes still there once they have had a fair chance to end (they were signalled)."""
    for _ in range(500):
        if not processes_tagged(tag):
            return []
        time.sleep(0.02)
    return processes_tagged(tag)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_stop_stops_the_programs_that_stages_started(tmp_path: Path, tag: str, executor: str, sig: int) -> None:
    write(tmp_path, "stages.yaml", "Spawns: []\n")
    write(tmp_path, "jobs.py", SPAWNS)
    proc = start_dagrun(tmp_path, "run", "--jobs", "jobs", "-x", executor, "--progress", "plain",
                        env={**os.environ, "TAG": tag})  # fmt: skip
    wait_for(tmp_path / "Spawns.started", 60, proc)
    while len(processes_tagged(tag)) < 2:  # the shell's background sleep is on its way
        time.sleep(0.02)
    proc.send_signal(sig)  # to dagrun alone, as `timeout` or `kill` does
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -sig, out + err
    assert wait_until_gone(tag) == [], "programs the stage started outlived the run"
    assert (tmp_path / "state.yml").read_text() == "Spawns: null\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_timeout_in_a_thread_stops_the_programs_the_stage_started(tmp_path: Path, tag: str) -> None:
    write(tmp_path, "stages.yaml", "Spawns: {timeout: 3}\nOther: []\n")
    write(tmp_path, "jobs.py", SPAWNS + "\ndef Other():\n    pass\n")
    out = run_dagrun("run", "--jobs", "jobs", "--progress", "plain", cwd=tmp_path, env={"TAG": tag})
    assert out.returncode == 1
    assert "the programs it started were stopped" in out.stdout
    assert processes_tagged(f"{tag}1") == []  # its own child: stopped before dagrun went on
    assert (tmp_path / "state.yml").read_text() == "Spawns: FAILED\nOther: SUCCESS\n"


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT], ids=["HUP-under-nohup", "INT-under-&"])
def test_a_signal_ignored_when_dagrun_started_stays_ignored(tmp_path: Path, sig: int) -> None:
    write(tmp_path, "stages.yaml", "Waits: []\n")
    write(tmp_path, "jobs.py", WAITS_FOR_GO)
    proc = start_dagrun(tmp_path, "run", "--jobs", "jobs", "--progress", "plain",
                        preexec_fn=lambda: signal.signal(sig, signal.SIG_IGN))  # fmt: skip
    wait_for(tmp_path / "Waits.started", 60, proc)
    proc.send_signal(sig)
    (tmp_path / "go").touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert (tmp_path / "state.yml").read_text() == "Waits: SUCCESS\n"


def test_ctrl_c_ends_dagrun_by_the_signal_so_a_calling_script_stops_too(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "Waits: []\n")
    write(tmp_path, "jobs.py", WAITS_FOR_GO)
    script = f"{' '.join(dagrun_cmd('run', '--jobs', 'jobs', '--progress', 'plain'))}; echo went on > after"
    proc = subprocess.Popen(
        ["bash", "-c", script], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    wait_for(tmp_path / "Waits.started", 60, proc)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C does: to the script and dagrun alike
    proc.communicate(timeout=60)
    # Waiting for dagrun, bash lets it handle Ctrl-C: it goes on when dagrun exits 130, as if
    # dagrun had dealt with it, and stops only when dagrun dies of SIGINT itself.
    assert not (tmp_path / "after").exists()
    assert (tmp_path / "state.yml").read_text() == "Waits: null\n"


def test_a_forked_helper_does_not_keep_the_runs_lock(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "Forks: []\n")
    write(
        tmp_path,
        "jobs.py",
        """\
        import os, time
        def Forks():
            pid = os.fork()
            if pid == 0:  # a helper that outlives the stage, without exec
                time.sleep(60)
                os._exit(0)
            with open("helper.pid", "w") as f:
                f.write(str(pid))
        """,
    )
    try:
        first = run_dagrun("run", "--jobs", "jobs", "--progress", "plain", cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        again = run_dagrun("reset", cwd=tmp_path)  # takes the lock: refused with 3 while the helper held it
        assert again.returncode == 0, again.stderr
    finally:
        helper = tmp_path / "helper.pid"
        if helper.exists():
            os.kill(int(helper.read_text()), signal.SIGKILL)


# The jobs module cannot break dagrun -----------------------------------------------------------


SHADOWS = ["queue", "json", "logging", "signal", "marshal", "threading", "select", "types", "socket", "pickle"]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_files_named_like_standard_modules_beside_the_jobs_change_nothing(tmp_path: Path, executor: str) -> None:
    # All at once, in one run per executor: each would break dagrun on its own, before the fix.
    write(tmp_path, "stages.yaml", "A: []\nB: [A]\n")
    write(tmp_path, "jobs.py", "def A():\n    print('A ran')\n\ndef B():\n    pass\n")
    for module in SHADOWS:
        write(tmp_path, f"{module}.py", "raise SystemExit('the standard library was replaced')\n")
    out = run_dagrun("run", "--jobs", "jobs", "-x", executor, "--progress", "plain", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert (tmp_path / "state.yml").read_text() == "A: SUCCESS\nB: SUCCESS\n"
    assert not list(tmp_path.glob(".state.yml.journal*"))


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_jobs_file_named_like_a_standard_module_is_loaded_as_itself(tmp_path: Path, executor: str) -> None:
    write(tmp_path, "stages.yaml", "A: []\nB: [A]\n")
    (tmp_path / "pipeline").mkdir()
    write(tmp_path, "pipeline/json.py", "def A():\n    print('A ran')\n\ndef B():\n    pass\n")
    for ref in ("pipeline/json.py", "json"):
        folder = tmp_path if ref.endswith(".py") else tmp_path / "pipeline"
        out = run_dagrun("run", str(tmp_path / "stages.yaml"), "--jobs", ref, "-x", executor, "--progress", "plain",
                         "--force", "A", cwd=folder)  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        assert (logs(tmp_path) / "A.log").read_text() == "A ran\n"


def test_a_jobs_file_that_imports_its_sibling_still_can(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "A: []\n")
    write(tmp_path, "helpers_of_mine.py", "WORD = 'from the sibling'\n")
    write(tmp_path, "jobs.py", "import helpers_of_mine\ndef A():\n    print(helpers_of_mine.WORD)\n")
    out = run_dagrun("run", "--jobs", "jobs", "-x", "process", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (logs(tmp_path) / "A.log").read_text() == "from the sibling\n"
