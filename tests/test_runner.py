"""Running pipelines through the library API: order, parallelism, failures, state, stopping."""

from __future__ import annotations

import gc
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dagrun
from dagrun.core.events import RunFinished, RunStarted
from dagrun.core.status import StageStatus
from dagrun.execution.signals import StopRequest
from dagrun.store.state_store import read_state

from .conftest import ConcurrencyProbe
from .support import Recorder, invoke

S, F, P = StageStatus.SUCCESS, StageStatus.FAILED, StageStatus.PENDING


def make_jobs(
    names: List[str], log: List[str], fail: tuple = (), **special: Callable[[], None]
) -> Dict[str, Callable[[], None]]:
    lock = threading.Lock()

    def job(name: str) -> Callable[[], None]:
        def run() -> None:
            if name in special:
                special[name]()
            with lock:
                log.append(name)
            if name in fail:
                raise RuntimeError(f"{name} broke")

        return run

    return {n: job(n) for n in names}


def test_every_stage_runs_once_after_its_dependencies(pipe: dagrun.Pipeline, tmp_path: Path) -> None:
    log: List[str] = []
    rec = Recorder()
    result = dagrun.run(pipe, make_jobs(list(pipe.names), log), reporter=rec)
    assert sorted(log) == sorted(pipe.names)
    for name in pipe.names:
        assert all(log.index(d) < log.index(name) for d in pipe.stages[name].needs)
    assert result.exit_code == 0 and result.ok
    assert (tmp_path / "state.yml").read_text() == "".join(f"{n}: SUCCESS\n" for n in pipe.names)
    assert isinstance(rec.events[0], RunStarted) and isinstance(rec.events[-1], RunFinished)


def test_a_failure_blocks_its_descendants_and_lets_others_finish(pipe: dagrun.Pipeline, tmp_path: Path) -> None:
    log: List[str] = []
    result = dagrun.run(pipe, make_jobs(list(pipe.names), log, fail=("Coverage",)))
    assert sorted(log) == ["Coverage", "Lint", "Test"]
    assert result.failed == ("Coverage",)
    assert result.blocked == {"Docs": "Coverage", "Benchmark": "Coverage"}
    assert result.exit_code == 1
    error = result.outcomes["Coverage"].error or ""
    assert "RuntimeError: Coverage broke" in error and "test_runner.py" in error
    assert "scheduler.py" not in error
    assert read_state(tmp_path / "state.yml", pipe.names) == {
        "Lint": S,
        "Test": S,
        "Coverage": F,
        "Docs": P,
        "Benchmark": P,
    }


def test_a_rerun_runs_exactly_what_did_not_succeed(pipe: dagrun.Pipeline) -> None:
    dagrun.run(pipe, make_jobs(list(pipe.names), [], fail=("Coverage",)))
    log: List[str] = []
    result = dagrun.run(pipe, make_jobs(list(pipe.names), log))
    assert sorted(log) == ["Benchmark", "Coverage", "Docs"]
    assert result.done == ("Lint", "Test") and result.ok
    log.clear()
    assert dagrun.run(pipe, make_jobs(list(pipe.names), log)).ok
    assert log == []


def test_a_slow_stage_does_not_hold_back_an_unrelated_chain(tmp_path: Path) -> None:
    pipe = dagrun.parse_pipeline("Slow: []\nA: []\nB: [A]\n", tmp_path / "s.yaml")
    b_ran = threading.Event()
    # Slow finishes only once B has run: with a barrier between levels this could never succeed.
    jobs = make_jobs(list(pipe.names), [], Slow=lambda: None if b_ran.wait(10) else 1 / 0, B=b_ran.set)
    result = dagrun.run(pipe, jobs, dagrun.RunOptions(workers=2))
    assert result.ok, result.outcomes


def test_each_outcome_is_recorded_before_any_dependent_starts(pipe: dagrun.Pipeline, tmp_path: Path) -> None:
    seen: Dict[str, StageStatus] = {}

    def check_test_recorded() -> None:
        seen.update(read_state(tmp_path / "state.yml", pipe.names))

    dagrun.run(pipe, make_jobs(list(pipe.names), [], Coverage=check_test_recorded))
    assert seen["Test"] is S and seen["Coverage"] is StageStatus.RUNNING


def test_at_most_workers_stages_run_at_once(tmp_path: Path) -> None:
    pipe = dagrun.Pipeline.from_dict({f"s{i}": [] for i in range(12)}, tmp_path / "s.yaml")
    probe = ConcurrencyProbe()
    result = dagrun.run(pipe, {n: probe for n in pipe.names}, dagrun.RunOptions(workers=3))
    assert result.ok and probe.peak == 3


def test_the_longest_chain_starts_first(tmp_path: Path) -> None:
    pipe = dagrun.parse_pipeline("Short: []\nLong1: []\nLong2: [Long1]\nLong3: [Long2]\n", tmp_path / "s.yaml")
    rec = Recorder()
    dagrun.run(pipe, make_jobs(list(pipe.names), []), dagrun.RunOptions(workers=1), reporter=rec)
    assert rec.started()[0] == "Long1"


def test_fail_fast_starts_nothing_new_after_a_failure(tmp_path: Path) -> None:
    pipe = dagrun.Pipeline.from_dict({"Bad": [], "Later1": [], "Later2": []}, tmp_path / "s.yaml")
    log: List[str] = []
    jobs = make_jobs(list(pipe.names), log, fail=("Bad",))
    result = dagrun.run(pipe, jobs, dagrun.RunOptions(workers=1, fail_fast=True))
    assert log == ["Bad"]
    assert result.not_started == ("Later1", "Later2")
    assert result.exit_code == 1
    log.clear()
    assert dagrun.run(pipe, jobs, dagrun.RunOptions(workers=1)).failed == ("Bad",)
    assert sorted(log) == ["Bad", "Later1", "Later2"]


@pytest.mark.parametrize(
    "body, fragment",
    [
        (lambda: exec("raise SystemExit(3)"), "SystemExit: 3"),
        (lambda: exec("raise KeyboardInterrupt"), "KeyboardInterrupt"),
        (lambda: exec("raise GeneratorExit"), "GeneratorExit"),
    ],
    ids=["sys-exit", "keyboard-interrupt", "base-exception"],
)
def test_stages_raising_base_exceptions_fail_and_the_run_survives(
    tmp_path: Path, body: Callable[[], None], fragment: str
) -> None:
    pipe = dagrun.Pipeline.from_dict({"Bad": [], "After": ["Bad"], "Other": []}, tmp_path / "s.yaml")
    log: List[str] = []
    result = dagrun.run(pipe, make_jobs(list(pipe.names), log, Bad=body))
    assert result.failed == ("Bad",)
    assert fragment in (result.outcomes["Bad"].error or "")
    assert "Other" in log and result.blocked == {"After": "Bad"}


def test_a_stop_request_ends_the_run_at_once_and_records_running_stages_as_null(tmp_path: Path) -> None:
    pipe = dagrun.Pipeline.from_dict({"Long": [], "Next": ["Long"], "Quick": []}, tmp_path / "s.yaml")
    stop = StopRequest()
    release = threading.Event()
    started = threading.Event()

    def long() -> None:
        started.set()
        release.wait(30)

    threading.Thread(target=lambda: (started.wait(10), stop.request(signal.SIGTERM)), daemon=True).start()
    result = dagrun.run(pipe, make_jobs(list(pipe.names), [], Long=long), dagrun.RunOptions(workers=1), stop=stop)
    release.set()  # had the run waited for Long, Long would have ended (after 30 s) and not be stopped
    assert result.interrupted_by == signal.SIGTERM and result.exit_code == 143
    assert result.stopped == ("Long",) and set(result.not_started) == {"Next", "Quick"}
    state = read_state(tmp_path / "state.yml", pipe.names)
    assert state["Long"] is P and state["Next"] is P


def test_a_second_run_on_the_same_state_is_refused(tmp_path: Path) -> None:
    pipe = dagrun.Pipeline.from_dict({"A": []}, tmp_path / "s.yaml")
    inner: List[BaseException] = []

    def nested() -> None:
        try:
            dagrun.run(pipe, {"A": lambda: None})
        except dagrun.LockHeldError as e:
            inner.append(e)

    assert dagrun.run(pipe, {"A": nested}).ok
    assert len(inner) == 1 and inner[0].exit_code == 3


def test_plan_and_reset_through_the_api(pipe: dagrun.Pipeline, tmp_path: Path) -> None:
    dagrun.run(pipe, make_jobs(list(pipe.names), [], fail=("Docs",)))
    plan = dagrun.plan(pipe)
    assert plan.to_run == ("Docs",)
    before = dagrun.reset(pipe)
    assert before is not None and before["Docs"] is F
    assert set(read_state(tmp_path / "state.yml", pipe.names).values()) == {P}


DAGS = st.integers(min_value=1, max_value=25).flatmap(
    lambda n: st.lists(st.lists(st.integers(min_value=0, max_value=max(n - 1, 0)), max_size=3), min_size=n, max_size=n)
)


@settings(max_examples=60, deadline=None)
@given(DAGS, st.integers(min_value=1, max_value=4), st.sets(st.integers(min_value=0, max_value=24), max_size=2))
def test_random_dags_run_every_stage_once_never_before_its_dependencies(
    raw: List[List[int]], workers: int, fail_at: set
) -> None:
    # Stage i may only need stages with a smaller index, so every generated graph is acyclic.
    spec = {f"s{i}": sorted({f"s{j}" for j in deps if j < i}) for i, deps in enumerate(raw)}
    failing = {f"s{i}" for i in fail_at if i < len(raw)}
    with tempfile.TemporaryDirectory() as folder:
        pipe = dagrun.Pipeline.from_dict(spec, Path(folder) / "s.yaml")
        log: List[str] = []
        result = dagrun.run(pipe, make_jobs(list(spec), log, fail=tuple(failing)), dagrun.RunOptions(workers=workers))
        state = read_state(Path(folder) / "state.yml", pipe.names)
    assert len(log) == len(set(log))
    for name in log:
        assert all(d in log and log.index(d) < log.index(name) for d in spec[name])
        assert all(d not in failing for d in spec[name])
    for name in spec:
        expected = (F if name in failing else S) if name in log else P
        assert state[name] is expected
    assert set(result.blocked) | set(log) == set(spec)


def test_state_yml_shows_a_running_stage_within_about_a_second(tmp_path: Path) -> None:
    pipe = dagrun.Pipeline.from_dict({"First": [], "Long": ["First"]}, tmp_path / "s.yaml")
    seen: List[str] = []

    def long() -> None:
        deadline = time.monotonic() + 1.6
        while time.monotonic() < deadline and "Long: RUNNING" not in (tmp_path / "state.yml").read_text():
            time.sleep(0.02)
        seen.append((tmp_path / "state.yml").read_text())

    assert dagrun.run(pipe, {"First": lambda: None, "Long": long}).ok
    assert seen[0] == "First: SUCCESS\nLong: RUNNING\n"


def test_a_jobs_mapping_without_every_stage_is_refused_before_anything_runs(tmp_path: Path) -> None:
    pipe = dagrun.Pipeline.from_dict({"A": [], "B": ["A"]}, tmp_path / "s.yaml")
    with pytest.raises(dagrun.JobsError, match=r"no function given for 1 stage\(s\): B"):
        dagrun.run(pipe, {"A": lambda: None})
    assert not (tmp_path / "state.yml").exists()


def test_a_signal_only_sets_the_flag_so_it_cannot_deadlock_on_a_lock_the_main_thread_holds() -> None:
    # A handler runs in the main thread between two bytecodes, perhaps inside Event.wait() with
    # the Event's lock held; a listener taking that lock from the handler would wait for ever.
    from dagrun.execution.signals import stop_on_signals

    stop = StopRequest()
    woken: List[str] = []
    stop.listen(lambda: woken.append("listener"))
    with stop_on_signals(stop):
        signal.raise_signal(signal.SIGTERM) if hasattr(signal, "raise_signal") else os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not stop.requested and time.monotonic() < deadline:
            time.sleep(0.01)
    assert stop.signum == signal.SIGTERM
    assert woken == []  # the run loop polls the flag instead
    stop2 = StopRequest()
    stop2.listen(lambda: woken.append("code"))
    stop2.request(signal.SIGINT)  # from code, in any thread, listeners do wake
    assert woken == ["code"]


def test_the_library_leaves_the_collector_alone_and_the_command_sets_the_pipeline_aside(tmp_path: Path) -> None:
    pipe = dagrun.Pipeline.from_dict({"A": [], "B": ["A"]}, tmp_path / "s.yaml")
    during: List[int] = []
    jobs = make_jobs(list(pipe.names), [], B=lambda: during.append(gc.get_freeze_count()))
    # Nothing set aside to start with, whatever ran before in this process: Python 3.12 starts with
    # some objects frozen, and the command's gc.unfreeze() (documented) thaws those too.
    gc.unfreeze()
    before = gc.get_freeze_count()
    assert dagrun.run(pipe, jobs).ok
    assert during == [before]
    tmp_path = tmp_path / "cli"  # a state of its own
    tmp_path.mkdir()
    (tmp_path / "stages.yaml").write_text("A: []\n")
    (tmp_path / "freeze_jobs.py").write_text(
        "import gc\n\ndef A():\n    open('frozen.txt', 'w').write(str(gc.get_freeze_count()))\n"
    )
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = invoke("run", "stages.yaml", "--jobs", "freeze_jobs.py", "--progress", "plain")
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    assert int((tmp_path / "frozen.txt").read_text()) > before  # set aside while running
    assert gc.get_freeze_count() == before  # and everything put back
