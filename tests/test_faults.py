"""State under faults: kill -9 at random instants, a kill at each step of the save, and disk
errors on each file operation in turn. After every one: state.yml is valid, nothing is SUCCESS
that did not finish, and plain re-runs finish the pipeline repeating at most what was in flight."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest
import yaml

import dagrun
from dagrun.core.status import StageStatus
from dagrun.errors import StateError
from dagrun.store.state_file import dump_state
from dagrun.store.state_store import StateStore, read_state

from .conftest import dagrun_cmd, write

WORKERS = 4


def kill_pipeline(folder: Path, stages: int, seed: int) -> List[str]:
    """A layered pipeline of short stages; each logs its attempt, then leaves an fsynced marker."""
    rng = random.Random(seed)
    names = [f"s{i}" for i in range(stages)]
    lines = [
        f"{n}: [{', '.join(sorted({names[j] for j in rng.sample(range(i), min(i, 2))}))}]" for i, n in enumerate(names)
    ]
    write(folder, "stages.yaml", "\n".join(lines) + "\n")
    body = [
        "import os, time",
        "HERE = os.path.dirname(os.path.abspath(__file__))",
        "def _job(name):",
        "    fd = os.open(os.path.join(HERE, 'attempts.log'), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)",
        "    os.write(fd, (name + '\\n').encode())",
        "    os.close(fd)",
        "    time.sleep(0.003)",
        "    fd = os.open(os.path.join(HERE, 'marks', name), os.O_WRONLY | os.O_CREAT, 0o644)",
        "    os.fsync(fd)",
        "    os.close(fd)",
    ]
    body += [f"def {n}(): _job({n!r})" for n in names]
    write(folder, "jobs.py", "\n".join(body) + "\n")
    (folder / "marks").mkdir()
    return names


def check_after_kill(folder: Path, names: List[str]) -> int:
    """The invariants after a kill; returns how many stages are recorded SUCCESS."""
    state_file = folder / "state.yml"
    if state_file.exists():
        data = yaml.safe_load(state_file.read_text())  # valid YAML, never torn
        assert isinstance(data, dict) and set(data) == set(names)
        assert set(data.values()) <= {None, "RUNNING", "SUCCESS", "FAILED"}
    state = read_state(state_file, names)  # what the next run will see: state.yml and the journal
    done = {n for n, s in state.items() if s is StageStatus.SUCCESS}
    marked = set(os.listdir(folder / "marks"))
    assert done <= marked, f"recorded SUCCESS without finishing: {sorted(done - marked)}"
    return len(done)


def attempts(folder: Path) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    log = folder / "attempts.log"
    for name in log.read_text().split() if log.exists() else []:
        counts[name] = counts.get(name, 0) + 1
    return counts


def kill_loop(folder: Path, kills_wanted: int, seed: int) -> None:
    names = kill_pipeline(folder, 300, seed)
    rng = random.Random(seed)
    kills = kills_in_cycle = mid_run = cycles = 0
    while kills < kills_wanted:
        proc = subprocess.Popen(
            dagrun_cmd("run", "--jobs", "jobs", "--progress", "quiet", "-j", str(WORKERS)),
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            _out, err = proc.communicate(timeout=rng.uniform(0.05, 0.7))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            kills += 1
            kills_in_cycle += 1
            done = check_after_kill(folder, names)
            mid_run += 0 < done < len(names)
            continue
        assert proc.returncode == 0, err
        # A finished cycle: everything ran, and only stages in flight at a kill ran twice.
        assert check_after_kill(folder, names) == len(names)
        counts = attempts(folder)
        assert set(counts) == set(names)
        repeated = sum(c - 1 for c in counts.values())
        assert repeated <= WORKERS * kills_in_cycle, (repeated, kills_in_cycle)
        cycles += 1
        kills_in_cycle = 0
        for path in [folder / "state.yml", folder / "attempts.log", *(folder / "marks").iterdir()]:
            path.unlink()
    assert mid_run >= kills_wanted // 5, f"only {mid_run} of {kills} kills landed mid-run"


@pytest.mark.slow
def test_kill_9_at_random_instants_50_times(tmp_path: Path) -> None:
    kill_loop(tmp_path, 50, seed=20261125)


@pytest.mark.stress
def test_kill_9_at_random_instants_200_times(tmp_path: Path) -> None:
    kill_loop(tmp_path, 200, seed=7)


SAVE_STEPS = {
    "after writing the temp file": "os.fsync = lambda fd: die()",
    "after fsync": "os.replace = lambda a, b: die()",
    "after replace, before the folder fsync": "state.fsync_folder = lambda folder: die()",
    "after the folder fsync": "real = state.fsync_folder; state.fsync_folder = lambda f: (real(f), die())",
}


@pytest.mark.parametrize("step", list(SAVE_STEPS))
def test_a_kill_at_each_step_of_the_save_leaves_the_old_or_the_new_file(tmp_path: Path, step: str) -> None:
    names = ["Lint", "Test"]
    path = tmp_path / "state.yml"
    old = dump_state({"Lint": StageStatus.SUCCESS, "Test": StageStatus.PENDING})
    new = dump_state({"Lint": StageStatus.SUCCESS, "Test": StageStatus.SUCCESS})
    path.write_text(old)
    code = "\n".join(
        [
            "import os, signal, sys",
            "from pathlib import Path",
            "from dagrun.store import files as state",
            "def die(): os.kill(os.getpid(), signal.SIGKILL)",
            SAVE_STEPS[step],
            f"state.write_atomically(Path({str(path)!r}), {new.encode()!r})",
        ]
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert path.read_text() in (old, new)
    leftovers = [p for p in os.listdir(tmp_path) if p != "state.yml"]
    store = StateStore.open(path, names)  # loads, and removes what the killed save left
    assert store.state in ({"Lint": StageStatus.SUCCESS, "Test": t} for t in (StageStatus.PENDING, StageStatus.SUCCESS))
    store.close()
    assert sorted(os.listdir(tmp_path)) == ["state.yml"]
    if step == "after writing the temp file":
        assert leftovers, "the kill should have left a temp file to clean up"


class DiskFaults:
    """Makes the n-th call of one file operation on a folder fail with a given errno."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, folder: Path, op: str, code: int, nth: int) -> None:
        self.folder, self.op, self.code, self.nth = str(folder), op, code, nth
        self.calls = 0
        self.fired = False
        self.fds: Dict[int, str] = {}
        self.replaced: Dict[str, bytes] = {}  # what each successful replace put in place
        real = {
            name: getattr(os, name)
            for name in ("open", "write", "pwrite", "fsync", "replace", "ftruncate", "posix_fallocate")
        }
        self.real = real

        def on_folder(path: object) -> bool:
            return str(path).startswith(self.folder)

        def open_(path: object, flags: int, mode: int = 0o777, **kw: object) -> int:
            self.maybe_fail("open", on_folder(path))
            fd = real["open"](path, flags, mode, **kw)
            if on_folder(path):
                self.fds[fd] = str(path)
            return fd

        def by_fd(name: str) -> Callable[..., object]:
            def call(fd: int, *args: object) -> object:
                self.maybe_fail(name, fd in self.fds)
                return real[name](fd, *args)

            return call

        def replace(src: object, dst: object) -> None:
            self.maybe_fail("replace", on_folder(dst))
            data = Path(str(src)).read_bytes()
            real["replace"](src, dst)
            self.replaced[str(dst)] = data

        monkeypatch.setattr(os, "open", open_)
        for name in ("write", "pwrite", "fsync", "ftruncate", "posix_fallocate"):
            monkeypatch.setattr(os, name, by_fd(name))
        monkeypatch.setattr(os, "replace", replace)

    def maybe_fail(self, op: str, relevant: bool) -> None:
        if relevant and op == self.op and not self.fired:
            self.calls += 1
            if self.calls == self.nth:
                self.fired = True
                raise OSError(self.code, os.strerror(self.code))


ERRNOS = {
    "disk full": errno.ENOSPC,
    "permission denied": errno.EACCES,
    "I/O error": errno.EIO,
    "read-only": errno.EROFS,
}


@pytest.mark.parametrize("op", ["open", "write", "pwrite", "fsync", "replace", "ftruncate", "posix_fallocate"])
@pytest.mark.parametrize("what", list(ERRNOS))
def test_disk_errors_on_each_operation_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, op: str, what: str
) -> None:
    code = ERRNOS[what]
    names = ["A", "B", "C", "D"]
    spec = {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"]}
    errors = 0
    for nth in range(1, 200):
        folder = tmp_path / f"n{nth}"
        folder.mkdir()
        pipe = dagrun.Pipeline.from_dict(spec, folder / "stages.yaml")
        before = dump_state(
            {"A": StageStatus.SUCCESS, "B": StageStatus.FAILED, "C": StageStatus.PENDING, "D": StageStatus.PENDING}
        ).encode()
        (folder / "state.yml").write_bytes(before)
        ran: List[str] = []
        jobs = {n: (lambda n=n, ran=ran: ran.append(n)) for n in names}
        faults = DiskFaults(monkeypatch, folder, op, code, nth)
        error: Optional[StateError] = None
        try:
            dagrun.run(pipe, jobs, dagrun.RunOptions(workers=2))
        except StateError as e:
            error = e
        monkeypatch.undo()
        if not faults.fired:
            assert error is None
            break  # every call of this operation in a whole run has now failed once
        if error is not None:
            errors += 1
            assert os.strerror(code) in str(error)
            assert str(folder) in str(error) or "state.yml" in str(error)
        # state.yml is what it was before, or the last snapshot that was fully written: never torn.
        expected = faults.replaced.get(str(folder / "state.yml"), before)
        assert (folder / "state.yml").read_bytes() == expected
        state = read_state(folder / "state.yml", names)
        falsely = [n for n, s in state.items() if s is StageStatus.SUCCESS and n not in ran and n != "A"]
        assert not falsely, f"recorded SUCCESS without running: {falsely}"
        # And a plain re-run finishes the pipeline.
        assert dagrun.run(pipe, jobs, dagrun.RunOptions(workers=2)).ok
        assert set(read_state(folder / "state.yml", names).values()) == {StageStatus.SUCCESS}
    else:
        pytest.fail("the fault kept firing")
    if op in ("pwrite", "ftruncate"):
        assert errors == 0  # only the lock's note of its holder: the run goes on without it
    else:
        assert errors >= 1, f"{op} failed {nth - 1} times but dagrun reported none"
