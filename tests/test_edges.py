"""Nothing lost at the edges: state paths that are links or not files, names at any length, several
pipelines and states in one folder, a journal that cannot be written, a broken output stream,
damaged hint files, sidefile paths taken by folders, and guards that must not misfire."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

import dagrun
from dagrun.core.events import Event, Reporter, RunStarted
from dagrun.core.status import StageStatus
from dagrun.errors import SpecError, StateError
from dagrun.stagesfile.reader import parse_pipeline
from dagrun.store import journal
from dagrun.store import state_store as store
from dagrun.store.paths import StatePaths

from .conftest import WAITS_FOR_GO, dagrun_cmd, run_dagrun, start_dagrun, wait_for, write

# 1. One state, one resolved path ---------------------------------------------------------------


@pytest.mark.slow
def test_a_link_to_a_running_states_file_does_not_bypass_its_lock(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "Waits: []\nAfter: [Waits]\n")
    write(tmp_path, "jobs.py", WAITS_FOR_GO + "\ndef After():\n    pass\n")
    (tmp_path / "link.yml").symlink_to(tmp_path / "real.yml")
    proc = start_dagrun(tmp_path, "run", "--jobs", "jobs", "--state", "real.yml", "--progress", "plain")
    try:
        wait_for(tmp_path / "Waits.started", 60, proc)
        reset = run_dagrun("reset", "--state", "link.yml", cwd=tmp_path)
        assert reset.returncode == 3, reset.stdout + reset.stderr
        assert "in use by another dagrun" in reset.stderr
    finally:
        (tmp_path / "go").touch()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert (tmp_path / "real.yml").read_text() == "Waits: SUCCESS\nAfter: SUCCESS\n"
    assert (tmp_path / "link.yml").is_symlink()


# 2. Paths that are not files ------------------------------------------------------------------


def test_a_device_as_the_state_file_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    # A device of the test's own, like /dev/null (which a dagrun without this check replaced with a
    # regular file, as root): the test must not risk the system's.
    device = tmp_path / "dev" / "null"
    device.parent.mkdir()
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root (CI runs as root)")
    write(tmp_path, "stages.yaml", "A: []\n")
    write(tmp_path, "jobs.py", "def A():\n    pass\n")
    commands = (["run", "--jobs", "jobs"], ["reset"], ["plan"], ["mark", "stages.yaml", "A", "--success"], ["status"])
    for command in commands:
        out = run_dagrun(*command, "--state", str(device), cwd=tmp_path)
        assert out.returncode == 2, (command, out.stdout + out.stderr)
        assert f"{device} is a device, pipe or socket, not a state file" in out.stderr
        assert "Traceback" not in out.stderr
    assert stat.S_ISCHR(os.stat(device).st_mode)
    assert os.listdir(device.parent) == ["null"]  # no side file made beside it


def test_a_fifo_or_a_folder_as_the_state_file_is_refused(tmp_path: Path) -> None:
    pipeline = parse_pipeline("A: []\n", tmp_path / "stages.yaml")
    os.mkfifo(tmp_path / "fifo.yml")
    (tmp_path / "folder.yml").mkdir()
    for name, kind in (("fifo.yml", "a device, pipe or socket"), ("folder.yml", "a folder")):
        with pytest.raises(StateError, match=f"is {kind}, not a state file") as caught:
            dagrun.run(pipeline, {"A": lambda: None}, dagrun.RunOptions(state_path=tmp_path / name))
        assert caught.value.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.yml", "folder.yml"]  # no side file made


# 3. Names at any length -----------------------------------------------------------------------


def test_a_name_too_long_for_a_file_is_refused_at_load_with_the_limit(tmp_path: Path) -> None:
    # YAML itself takes at most 1,024 characters as a plain key; `? ` takes any length.
    for text, size in ((f"Short: []\n{'A' * 300}: [Short]\n", 300), (f"Short: []\n? {'A' * 1100}\n: [Short]\n", 1100)):
        with pytest.raises(
            SpecError, match=rf"stages.yaml:2: stage 'A{{40}}\.\.\.' is {size} bytes long; .* at most 200"
        ):
            parse_pipeline(text, tmp_path / "stages.yaml")
    with pytest.raises(SpecError, match="at most 200"):
        dagrun.Pipeline.from_dict({"B" * 201: []})
    wide = "é" * 101  # 202 bytes in UTF-8: the file name's limit is in bytes
    with pytest.raises(SpecError, match="202 bytes long"):
        parse_pipeline(f"{wide}: []\n", tmp_path / "stages.yaml")


@pytest.mark.slow
def test_the_longest_names_round_trip_through_every_file(tmp_path: Path) -> None:
    long, other = "L" * 200, "l" * 199 + "L"  # the second differs from the first only in case
    write(tmp_path, "stages.yaml", f"{long}: []\n{other}: [{long}]\n")
    write(tmp_path, "jobs.py", f"def {long}():\n    print('first')\n\ndef {other}():\n    raise ValueError('no')\n")
    out = run_dagrun("run", "--jobs", "jobs", "--progress", "plain", cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert (tmp_path / "state.yml").read_text() == f"{long}: SUCCESS\n{other}: FAILED\n"
    plan = run_dagrun("plan", "-o", "json", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert run_dagrun("logs", long, cwd=tmp_path).stdout == "first\n"
    assert run_dagrun("logs", other, cwd=tmp_path).stdout.endswith("ValueError: no\n")
    assert run_dagrun("reset", cwd=tmp_path).returncode == 0
    assert (tmp_path / "state.yml").read_text() == f"{long}: null\n{other}: null\n"


# 4. Several pipelines and states in one folder ------------------------------------------------


@pytest.mark.slow
def test_a_second_pipeline_in_the_folder_cannot_drop_the_firsts_state(tmp_path: Path) -> None:
    write(tmp_path, "one.yaml", "A: []\n")
    write(tmp_path, "two.yaml", "B: []\n")
    write(tmp_path, "jobs.py", "def A():\n    print('A')\n\ndef B():\n    print('B')\n")
    assert run_dagrun("run", "one.yaml", "--jobs", "jobs", cwd=tmp_path).returncode == 0
    second = run_dagrun("run", "two.yaml", "--jobs", "jobs", cwd=tmp_path)
    assert second.returncode == 2
    assert "state.yml holds the state of one.yaml, not of two.yaml" in second.stderr
    assert "--state" in second.stderr
    assert (tmp_path / "state.yml").read_text() == "A: SUCCESS\n"
    for command in (["plan", "two.yaml"], ["reset", "two.yaml"], ["status", "two.yaml"]):
        refused = run_dagrun(*command, cwd=tmp_path)
        assert refused.returncode == 2 and "holds the state of one.yaml" in refused.stderr, command
    assert (tmp_path / "state.yml").read_text() == "A: SUCCESS\n"
    own = run_dagrun("run", "two.yaml", "--jobs", "jobs", "--state", "two.state.yml", cwd=tmp_path)
    assert own.returncode == 0
    again = run_dagrun("run", "one.yaml", "--jobs", "jobs", cwd=tmp_path)
    assert "1 already done" in again.stdout  # nothing of one.yaml was lost
    # A renamed stages file takes its state along.
    (tmp_path / "one.yaml").rename(tmp_path / "main.yaml")
    renamed = run_dagrun("run", "main.yaml", "--jobs", "jobs", cwd=tmp_path)
    assert renamed.returncode == 0 and "1 already done" in renamed.stdout


@pytest.mark.slow
def test_two_states_in_one_folder_keep_their_own_logs(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "A: []\n")
    write(tmp_path, "jobs.py", "import os\ndef A():\n    print(os.environ['WHO'])\n")
    assert run_dagrun("run", "--jobs", "jobs", "--state", "a.yml", cwd=tmp_path, env={"WHO": "a"}).returncode == 0
    assert run_dagrun("run", "--jobs", "jobs", "--state", "b.yml", cwd=tmp_path, env={"WHO": "b"}).returncode == 0
    assert run_dagrun("logs", "A", "--state", "a.yml", cwd=tmp_path).stdout == "a\n"
    assert run_dagrun("logs", "A", "--state", "b.yml", cwd=tmp_path).stdout == "b\n"


# 5. A journal that cannot be written ----------------------------------------------------------


def test_once_an_outcome_cannot_be_recorded_nothing_more_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"S{i}" for i in range(60)]
    chain = {n: [names[i - 1]] if i else [] for i, n in enumerate(names)}
    pipeline = dagrun.Pipeline.from_dict(chain, tmp_path / "stages.yaml")
    appended: List[Tuple[str, str]] = []
    real_append = journal.Journal.append

    def append(self: journal.Journal, records: List[Tuple[str, str]]) -> None:
        if len(appended) >= 20:
            raise OSError(errno.EFBIG, "File too large")
        real_append(self, records)
        appended.extend(records)

    monkeypatch.setattr(journal.Journal, "append", append)
    ran: List[str] = []
    with pytest.raises(StateError, match="cannot write the journal: File too large"):
        dagrun.run(pipeline, {n: (lambda n=n: ran.append(n)) for n in names}, dagrun.RunOptions(workers=2))
    assert ran, "some stages ran before the journal failed"
    for name in ran[1:]:  # each stage started only after its dependency's success was recorded
        dependency = names[names.index(name) - 1]
        assert (dependency, "SUCCESS") in appended, f"{name} started after an unrecorded {dependency}"


# 6. A broken output stream --------------------------------------------------------------------

THIRTY = "".join(f"S{i}: []\n" for i in range(30))
THIRTY_JOBS = "import time\n" + "".join(f"def S{i}():\n    time.sleep(0.01)\n" for i in range(30))


@pytest.mark.slow
def test_a_reader_that_goes_away_leaves_the_run_to_finish_with_its_state_saved(tmp_path: Path) -> None:
    # The thirty stages wait for Waits, which waits for the test: all their lines come after the
    # reader has gone, however busy the machine.
    write(tmp_path, "stages.yaml", "Waits: []\n" + "".join(f"S{i}: [Waits]\n" for i in range(30)))
    write(tmp_path, "jobs.py", WAITS_FOR_GO + THIRTY_JOBS)
    proc = subprocess.Popen(
        dagrun_cmd("run", "--jobs", "jobs", "-j", "1", "--progress", "plain"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"")  # `| head -1`
    proc.stdout.close()
    (tmp_path / "go").touch()
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.wait(60) == 0, err
    assert "Traceback" not in err
    assert "the progress output could not be written (Broken pipe)" in err
    done = "Waits: SUCCESS\n" + "".join(f"S{i}: SUCCESS\n" for i in range(30))
    assert (tmp_path / "state.yml").read_text() == done


@pytest.mark.slow
def test_an_events_file_that_cannot_be_written_is_dropped_not_a_traceback(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", THIRTY)
    write(tmp_path, "jobs.py", THIRTY_JOBS)
    out = run_dagrun("run", "--jobs", "jobs", "--events", "/dev/full", "--progress", "plain", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "the events file could not be written (No space left on device)" in out.stderr
    assert (tmp_path / "state.yml").read_text() == "".join(f"S{i}: SUCCESS\n" for i in range(30))


# 7. Damaged hint files ------------------------------------------------------------------------


@pytest.mark.slow
def test_hint_files_with_impossible_numbers_are_skipped_with_a_note(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "A: []\nB: [A]\n")
    write(tmp_path, "state.yml", "A: SUCCESS\nB: FAILED\n")
    write(tmp_path, ".state.yml.durations", '{"A": NaN, "B": 1e308}')
    history = [
        '["A",NaN,1.0,1.0,"SUCCESS",1,null]',
        '["B",1.0,Infinity,1.0,"FAILED",1,"x"]',
        '["B",1.0,2.0,1e308,"FAILED",1,"x"]',
        '["A",1700000000.0,1700000001.0,1.0,"SUCCESS",1,null]',
    ]
    write(tmp_path, ".state.yml.history", "\n".join(history) + "\n")
    for command in (["plan", "-j", "2"], ["status"], ["status", "--format", "json"]):
        out = run_dagrun(*command, cwd=tmp_path)
        assert out.returncode == 0, (command, out.stderr)
        assert "Traceback" not in out.stderr
    status = json.loads(run_dagrun("status", "-o", "json", cwd=tmp_path).stdout, parse_constant=_no_constants)
    assert status is not None
    noted = run_dagrun("status", cwd=tmp_path).stderr
    assert ".state.yml.history: 3 entries skipped" in noted
    assert ".state.yml.durations: 2 entries skipped" in run_dagrun("plan", "-j", "2", cwd=tmp_path).stderr


def _no_constants(word: str) -> None:
    raise ValueError(f"{word} is not JSON")


# 8. A folder where a side file goes -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("side", [".state.yml.journal", ".state.yml.lock"])
def test_a_folder_where_a_side_file_goes_is_dagruns_error(tmp_path: Path, side: str) -> None:
    write(tmp_path, "stages.yaml", "A: []\n")
    write(tmp_path, "jobs.py", "def A():\n    pass\n")
    (tmp_path / side).mkdir()
    for command in (["run", "--jobs", "jobs"], ["plan"], ["reset"]):
        out = run_dagrun(*command, cwd=tmp_path)
        if command == ["plan"] and side.endswith("lock"):
            assert out.returncode == 0  # plan takes no lock
            continue
        assert out.returncode == 2, (command, out.stdout + out.stderr)
        assert out.stderr.startswith("dagrun: error: ") and side in out.stderr
        assert "Traceback" not in out.stderr


# 9 to 12. Guards that must not misfire, tags, and y/n ------------------------------------------


def test_brackets_in_comments_and_quotes_do_not_count_as_nesting() -> None:
    text = "".join(f"# range [i, i+{i})\n" for i in range(150)) + "A: []\nB: [A]  # needs A [really]\n"
    text += "".join(f"C{i}: {{needs: [A], run: 'jobs:c'}}  # {'[' * 3}\n" for i in range(40))
    assert parse_pipeline(text, "s.yaml").stages["B"].needs == ("A",)
    with pytest.raises(SpecError, match="brackets nest more than 100 levels deep"):
        parse_pipeline("A: " + "[" * 101 + "]" * 101 + "\n", "s.yaml")


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!!str", "!!set", "!!map"])
def test_a_tag_on_the_whole_stages_file_is_refused_with_its_line(tag: str) -> None:
    if tag == "!!map":  # the one tag that says what the file is anyway
        assert parse_pipeline(f"--- {tag}\nA: []\n", "s.yaml").names == ("A",)
        return
    with pytest.raises(SpecError, match=r"s.yaml:1: the stages file is tagged .*tags are not allowed"):
        parse_pipeline(f"--- {tag}\nA: []\n", "s.yaml")


def test_y_and_n_are_stage_names_as_the_docs_say() -> None:
    assert parse_pipeline("y: []\nn: [y]\n", "s.yaml").stages["n"].needs == ("y",)


# The tests that guard all this (mutations that once went unnoticed) ---------------------------


@pytest.mark.slow
def test_workers_and_fail_fast_reach_the_run_from_the_command_line(tmp_path: Path) -> None:
    def fresh(name: str) -> Path:  # no durations from an earlier run to change the order
        folder = tmp_path / name
        folder.mkdir()
        write(folder, "stages.yaml", "Fails: []\nOther: []\n")
        write(folder, "jobs.py", "def Fails():\n    raise ValueError('x')\n\ndef Other():\n    pass\n")
        return folder

    out = run_dagrun("run", "--jobs", "jobs", "-j", "3", "--events", "-", "--progress", "quiet", cwd=fresh("j3"))
    started = json.loads(out.stdout.splitlines()[0])
    assert started["event"] == "run_started" and started["workers"] == 3
    # One worker takes Fails first (the file's order breaks the tie). With --fail-fast, Other does
    # not start after Fails failed; without, it does.
    fast = run_dagrun("run", "--jobs", "jobs", "-j", "1", "--fail-fast", "--progress", "plain", cwd=fresh("fast"))
    assert fast.returncode == 1
    assert (tmp_path / "fast" / "state.yml").read_text() == "Fails: FAILED\nOther: null\n"
    slow = run_dagrun("run", "--jobs", "jobs", "-j", "1", "--progress", "plain", cwd=fresh("slow"))
    assert slow.returncode == 1
    assert (tmp_path / "slow" / "state.yml").read_text() == "Fails: FAILED\nOther: SUCCESS\n"


def test_the_journal_is_fsynced_when_a_run_starts_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: List[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else str(fd))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    opened = store.StateStore.open(tmp_path / "state.yml", ["A"])
    try:
        assert str(StatePaths(tmp_path / "state.yml").journal) in synced
    finally:
        opened.close()


def test_a_journal_line_of_a_removed_stage_cannot_revive_it(tmp_path: Path) -> None:
    state = tmp_path / "state.yml"
    state.write_text("A: SUCCESS\n")
    StatePaths(state).journal.write_text("SUCCESS Gone\nFAILED A\n")  # left by a crashed run
    opened = store.StateStore.open(state, ["A"])
    opened.close()
    assert state.read_text() == "A: FAILED\n"
    # Gone is added back to the stages file later: it has not run.
    assert store.read_state(state, ["A", "Gone"]) == {"A": StageStatus.FAILED, "Gone": StageStatus.PENDING}


def test_the_final_state_is_written_under_the_lock_and_before_the_journal_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = dagrun.Pipeline.from_dict({"A": [], "B": ["A"]}, tmp_path / "stages.yaml")
    state = tmp_path / "state.yml"
    seen: List[Tuple[bool, bool]] = []
    real = store.write_atomically

    def write_atomically(path: Path, data: bytes) -> None:
        if path == state and b"B: SUCCESS" in data:  # the final write
            fd = os.open(tmp_path / ".state.yml.lock", os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = False
            except BlockingIOError:
                locked = True
            finally:
                os.close(fd)
            seen.append((locked, StatePaths(state).journal.exists()))
        real(path, data)

    monkeypatch.setattr(store, "write_atomically", write_atomically)
    assert dagrun.run(pipeline, {"A": lambda: None, "B": lambda: None}).ok
    assert seen and all(seen[-1]), "the final state.yml must be written while locked, before the journal is removed"
    assert not StatePaths(state).journal.exists()


def test_the_line_reader_never_keeps_the_quotes_of_a_name() -> None:
    lines = [f"S{i}: []\n" for i in range(600)]  # past 4 KiB: the line reader's size
    text = "".join(lines) + "'Quoted': [S1]\n\"Double\": [Quoted]\n"
    assert len(text) >= 4096
    pipeline = parse_pipeline(text, "s.yaml")
    assert "Quoted" in pipeline.stages and "'Quoted'" not in pipeline.stages
    assert pipeline.stages["Double"].needs == ("Quoted",)


@pytest.mark.slow
def test_dagrun_logs_tells_apart_stages_whose_names_differ_only_in_case(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "Lint: []\nlint: []\n")
    write(tmp_path, "jobs.py", "def Lint():\n    print('upper')\n\ndef lint():\n    print('lower')\n")
    assert run_dagrun("run", "--jobs", "jobs", cwd=tmp_path).returncode == 0
    assert run_dagrun("logs", "Lint", cwd=tmp_path).stdout == "upper\n"
    assert run_dagrun("logs", "lint", cwd=tmp_path).stdout == "lower\n"


def test_after_a_run_the_callers_signal_handlers_are_back(tmp_path: Path) -> None:
    pipeline = dagrun.Pipeline.from_dict({"A": [], "B": ["A"]}, tmp_path / "stages.yaml")
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]

    def mine(signum: int, frame: object) -> None:
        pass

    before = {s: signal.signal(s, mine) for s in signals}
    try:
        dagrun.run(pipeline, {"A": lambda: None, "B": lambda: None})
        assert all(signal.getsignal(s) is mine for s in signals)
        with pytest.raises(dagrun.DagrunError):
            dagrun.run(pipeline, {"A": lambda: None})  # refused: B has no function
        assert all(signal.getsignal(s) is mine for s in signals)

        def breaks() -> None:
            raise KeyboardInterrupt

        dagrun.reset(pipeline)
        dagrun.run(pipeline, {"A": breaks, "B": lambda: None})
        assert all(signal.getsignal(s) is mine for s in signals)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


class _Workers(Reporter):
    def __init__(self) -> None:
        self.workers = 0

    def handle(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.workers = event.workers


def test_a_library_run_takes_its_workers(tmp_path: Path) -> None:
    pipeline = dagrun.Pipeline.from_dict({"A": []}, tmp_path / "stages.yaml")
    seen = _Workers()
    dagrun.run(pipeline, {"A": lambda: None}, dagrun.RunOptions(workers=3), reporter=seen)
    assert seen.workers == 3


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="reads /proc and /dev")


@pytest.mark.slow
@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_run_started_with_its_output_closed_still_runs_and_saves(tmp_path: Path, closed: str) -> None:
    write(tmp_path, "stages.yaml", THIRTY)
    write(tmp_path, "jobs.py", THIRTY_JOBS)
    streams = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    fd = 1 if closed == "stdout" else 2
    proc = subprocess.run(
        dagrun_cmd("run", "--jobs", "jobs", "--progress", "plain"),
        cwd=tmp_path,
        preexec_fn=lambda: os.close(fd),  # as `dagrun run >&-` starts it
        timeout=120,
        **streams,  # type: ignore[arg-type]
    )
    assert proc.returncode == 0
    assert (tmp_path / "state.yml").read_text() == "".join(f"S{i}: SUCCESS\n" for i in range(30))
