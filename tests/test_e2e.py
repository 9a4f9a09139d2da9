"""The real `dagrun` in a subprocess: failures and resumes, signals, two runs at once, kill -9, a pty."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from .conftest import dagrun_cmd, ran, run_dagrun, start_dagrun, wait_for, write

pytestmark = pytest.mark.slow
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

LONG_JOBS = """\
import os, time
HERE = os.path.dirname(os.path.abspath(__file__))

def _touch(name):
    path = os.path.join(HERE, name)
    with open(path, "w") as f:
        f.flush()
        os.fsync(f.fileno())

def Quick():
    _touch("Quick.done")

def Long():
    _touch("Long.started")
    time.sleep(float(os.environ.get("LONG", "60")))
    _touch("Long.done")

def After():
    _touch("After.done")
"""
LONG_STAGES = "Quick: []\nLong: [Quick]\nAfter: [Long]\n"


def long_pipeline(folder: Path) -> None:
    write(folder, "stages.yaml", LONG_STAGES)
    write(folder, "jobs.py", LONG_JOBS)


def start(folder: Path, *args: str, **kwargs: object) -> subprocess.Popen:  # type: ignore[type-arg]
    return start_dagrun(folder, "run", "--jobs", "jobs", "--progress", "plain", *args, **kwargs)


def test_the_console_script_and_python_m_both_work() -> None:
    script = Path(sys.executable).parent / "dagrun"
    assert script.exists(), "install the package (pip install -e .) to get the dagrun command"
    for cmd in ([str(script), "--version"], dagrun_cmd("--version")):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.startswith("dagrun, version")


def test_a_failure_then_a_resume(seed: Path) -> None:
    first = run_dagrun("run", "--jobs", "jobs", cwd=seed, env={"FAIL": "Coverage"})
    assert first.returncode == 1
    assert "FAILED  Coverage" in first.stdout and "RuntimeError: Coverage was told to fail" in first.stdout
    assert sorted(ran(seed)) == ["Coverage", "Lint", "Test"]
    assert (seed / "state.yml").read_text() == (
        "Lint: SUCCESS\nTest: SUCCESS\nCoverage: FAILED\nDocs: null\nBenchmark: null\n"
    )
    second = run_dagrun("run", "--jobs", "jobs", cwd=seed)
    assert second.returncode == 0, second.stdout + second.stderr
    assert sorted(ran(seed)) == ["Benchmark", "Coverage", "Coverage", "Docs", "Lint", "Test"]
    assert "3 succeeded, 2 already done" in second.stdout


def test_a_cycle_is_exit_2_with_the_path_and_no_traceback(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "Lint: []\nTest: [Docs]\nCoverage: [Test]\nDocs: [Coverage]\n")
    out = run_dagrun("plan", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith(
        "dagrun: error: stages.yaml:2: the stages form a cycle: Test -> Docs -> Coverage -> Test"
    )
    assert "Traceback" not in out.stderr and out.stdout == ""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["INT", "TERM", "HUP"])
def test_a_signal_during_a_long_stage_stops_without_waiting_for_it(tmp_path: Path, sig: int) -> None:
    long_pipeline(tmp_path)
    proc = start(tmp_path)  # Long sleeps 60 s; the run ends long before
    wait_for(tmp_path / "Long.started")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=50)
    assert proc.returncode == -sig, out + err  # the state saved, dagrun ends by the signal itself
    assert (tmp_path / "state.yml").read_text() == "Quick: SUCCESS\nLong: null\nAfter: null\n"
    assert "stopped  Long" in out and "Run again to resume" in out
    assert not (tmp_path / "After.done").exists()
    # The resume runs exactly what was left.
    resumed = run_dagrun("run", "--jobs", "jobs", cwd=tmp_path, env={"LONG": "0"})
    assert resumed.returncode == 0
    assert "2 succeeded, 1 already done" in resumed.stdout


def test_two_runs_at_once_the_second_exits_3_and_the_first_is_unharmed(tmp_path: Path) -> None:
    long_pipeline(tmp_path)
    first = start(tmp_path, env={**os.environ, "LONG": "3"})
    wait_for(tmp_path / "Long.started")
    second = run_dagrun("run", "--jobs", "jobs", cwd=tmp_path)
    assert second.returncode == 3
    assert f"in use by another dagrun (pid {first.pid}" in second.stderr
    reset = run_dagrun("reset", cwd=tmp_path)
    assert reset.returncode == 3
    out, err = first.communicate(timeout=30)
    assert first.returncode == 0, out + err
    assert (tmp_path / "state.yml").read_text() == "Quick: SUCCESS\nLong: SUCCESS\nAfter: SUCCESS\n"


def test_kill_9_leaves_valid_state_and_no_lock_to_clear(tmp_path: Path) -> None:
    long_pipeline(tmp_path)
    proc = start(tmp_path)
    wait_for(tmp_path / "Long.started")
    proc.kill()
    proc.communicate(timeout=10)
    # Quick's success was journaled before Long started; Long is left RUNNING by the crash.
    plan = run_dagrun("plan", cwd=tmp_path)
    assert "[done] Quick" in plan.stdout and "a run stopped while it was running" in plan.stdout
    resumed = run_dagrun("run", "--jobs", "jobs", cwd=tmp_path, env={"LONG": "0"})
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "2 succeeded, 1 already done" in resumed.stdout
    assert (tmp_path / "state.yml").read_text() == "Quick: SUCCESS\nLong: SUCCESS\nAfter: SUCCESS\n"
    assert not (tmp_path / ".state.yml.journal").exists()


def read_pty(fd: int, until: bytes, timeout: float = 20) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while until not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    return data


def run_in_pty(folder: Path, args: List[str], env: dict) -> subprocess.Popen:  # type: ignore[type-arg]
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        dagrun_cmd(*args),
        cwd=folder,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30", **env},
        start_new_session=True,
    )
    os.close(slave)
    proc.master = master  # type: ignore[attr-defined]
    return proc


@pytest.mark.parametrize(
    "sig, name", [(signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP")]
)
def test_the_live_view_on_a_terminal_is_restored_after_a_signal(tmp_path: Path, sig: int, name: str) -> None:
    long_pipeline(tmp_path)
    proc = run_in_pty(tmp_path, ["run", "--jobs", "jobs"], {"LONG": "60"})
    master = proc.master  # type: ignore[attr-defined]
    screen = read_pty(master, b"Long")
    wait_for(tmp_path / "Long.started")
    screen += read_pty(master, b"running 1", timeout=5)
    assert b"\x1b[?25l" in screen  # the live view hid the cursor
    os.killpg(proc.pid, sig)  # as Ctrl-C does: to the whole foreground group
    screen += read_pty(master, b"Run again to resume", timeout=10)
    assert proc.wait(10) == -sig
    screen += read_pty(master, b"\x00", timeout=0.5)
    os.close(master)
    text = ANSI.sub("", screen.decode("utf-8", "replace"))
    assert "✓ Quick" in text and "running 1" in text
    assert f"Interrupted by {name}" in text
    assert screen.rfind(b"\x1b[?25h") > screen.rfind(b"\x1b[?25l")  # the cursor is shown again


def test_stage_output_in_a_terminal_does_not_garble_the_view(seed: Path) -> None:
    write(
        seed,
        "jobs.py",
        "\n".join(
            f"def {n}():\n    for i in range(20):\n        print('{n} line', i)\n"
            for n in ["Lint", "Test", "Coverage", "Docs", "Benchmark"]
        ),
    )
    proc = run_in_pty(seed, ["run", "--jobs", "jobs", "-j", "4", "--show-output"], {})
    screen = read_pty(proc.master, b"5 succeeded")  # type: ignore[attr-defined]
    assert proc.wait(10) == 0
    os.close(proc.master)  # type: ignore[attr-defined]
    raw = screen.decode("utf-8", "replace")
    for n in ["Lint", "Test", "Coverage", "Docs", "Benchmark"]:
        for i in range(20):
            # Each line whole, on a line the panel was erased from, never run together with it.
            assert re.search(rf"(\x1b\[2K|\r\n){n} line {i}\r\n", raw), f"{n} line {i}"


def test_megabytes_of_stage_output_under_the_live_view_finish_promptly(seed: Path) -> None:
    write(
        seed,
        "jobs.py",
        "\n".join(
            f"def {n}():\n    for i in range(20_000):\n        print('{n}', 'y' * 50, i)\n"
            for n in ["Lint", "Test", "Coverage", "Docs", "Benchmark"]
        ),
    )
    proc = run_in_pty(seed, ["run", "--jobs", "jobs", "--show-output"], {})
    screen = read_pty(proc.master, b"5 succeeded", timeout=120)  # type: ignore[attr-defined]
    assert proc.wait(10) == 0
    os.close(proc.master)  # type: ignore[attr-defined]
    text = ANSI.sub("", screen.decode("utf-8", "replace"))
    assert text.count("y" * 50) == 100_000


def report_data(folder: Path, *args: str) -> dict:  # type: ignore[type-arg]
    """`dagrun report` in a subprocess, and the data its page carries."""
    import json

    out = run_dagrun("report", "-o", "report.html", *args, cwd=folder)
    assert out.returncode == 0 and out.stdout == "wrote report.html\n", out.stdout + out.stderr
    page = (folder / "report.html").read_text()
    return json.loads(page.split('id="data">', 1)[1].split("</script>", 1)[0])  # type: ignore[no-any-return]


def test_report_of_a_run_stopped_by_ctrl_c_and_while_another_run_holds_the_lock(tmp_path: Path) -> None:
    long_pipeline(tmp_path)
    proc = start(tmp_path)
    wait_for(tmp_path / "Long.started")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=50)
    stopped = report_data(tmp_path)
    names = [s[0] for s in stopped["stages"]]
    assert stopped["run"]["number"] == 1 and stopped["run"]["exit"] == 130
    assert sorted((names[b[0]], b[4]) for b in stopped["bars"]) == [("Long", "stopped"), ("Quick", "succeeded")]
    # A second run holds the lock while Long runs again: report does not wait for it, and shows run 1.
    (tmp_path / "Long.started").unlink()
    second = start(tmp_path, env={**os.environ, "LONG": "60"})
    wait_for(tmp_path / "Long.started", proc=second)
    assert report_data(tmp_path)["run"]["number"] == 1
    second.send_signal(signal.SIGTERM)
    second.communicate(timeout=50)
    resumed = run_dagrun("run", "--jobs", "jobs", cwd=tmp_path, env={"LONG": "0"})
    assert resumed.returncode == 0
    latest = report_data(tmp_path)
    assert latest["run"]["number"] == 3 and latest["run"]["runs"] == [1, 2, 3]
    assert sorted(names[b[0]] for b in latest["bars"]) == ["After", "Long"]
    assert [point[0] for point in latest["history"][names.index("Long")]] == [1, 2, 3]
    assert report_data(tmp_path, "--run", "1")["bars"] == stopped["bars"]  # an earlier run, as it was
