"""`dagrun report`: the runs in the history, what the page computes (slots, critical path, figures,
layout), and the command. What a person sees in the page is tested in a browser
(test_report_browser.py)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dagrun
from dagrun.core.pipeline import Pipeline
from dagrun.execution.signals import StopRequest
from dagrun.store import history
from dagrun.store.history import Execution, Run, read_history, read_runs
from dagrun.store.paths import StatePaths
from dagrun.ui import report

from .support import invoke

STAGES = """\
Fetch: []
Flaky:
  needs: [Fetch]
  retries: 1
Build: [Fetch]
Check: [Build]
Docs: [Build]
Publish: [Check, Flaky]
"""


def busy_pipeline(folder: Path) -> Pipeline:
    """A pipeline whose runs have everything the page draws: a retry, a failure with output and a
    traceback, a stage blocked by it, a stopped stage, and several runs of each stage."""
    (folder / "stages.yaml").write_text(STAGES)
    return dagrun.load_pipeline(folder / "stages.yaml")


def busy_history(folder: Path) -> Pipeline:
    """Three runs: 1 fails Check (Publish blocked) and retries Flaky; 2 succeeds; 3 is stopped while
    Docs runs. Returns the pipeline."""
    pipe = busy_pipeline(folder)
    tries: List[int] = []

    def flaky() -> None:
        tries.append(1)
        if len(tries) == 1:
            raise ConnectionError("the mirror hung up")

    def check() -> None:
        print("checking 3 pages")
        time.sleep(0.03)
        raise ValueError("Check found 2 broken links")

    def waits(seconds: float) -> Callable[[], None]:  # bars long enough to see, of different lengths
        return lambda: time.sleep(seconds)

    jobs: Dict[str, Callable[[], None]] = {name: waits(0.01 * (1 + i)) for i, name in enumerate(pipe.names)}
    assert not dagrun.run(pipe, {**jobs, "Flaky": flaky, "Check": check}, dagrun.RunOptions(logs=True)).ok
    assert dagrun.run(pipe, jobs, dagrun.RunOptions(logs=True)).ok
    dagrun.reset(pipe, stages=["Build"])
    stop, release = StopRequest(), threading.Event()

    def docs() -> None:
        stop.request(2)
        release.wait()

    result = dagrun.run(pipe, {**jobs, "Docs": docs}, dagrun.RunOptions(logs=True, workers=1), stop=stop)
    release.set()
    assert result.interrupted_by == 2
    return pipe


def state_of(pipe: Pipeline) -> Path:
    return pipe.path.parent / "state.yml"


def test_each_run_has_a_number_and_its_executions(tmp_path: Path) -> None:
    pipe = busy_history(tmp_path)
    runs = read_runs(state_of(pipe))
    assert [r.number for r in runs] == [1, 2, 3]
    first, second, third = runs
    assert first.exit_code == 1 and first.blocked == {"Publish": "Check"} and first.executor == "thread"
    assert sorted((e.stage, e.attempt, e.outcome) for e in first.executions if e.stage == "Flaky") == [
        ("Flaky", 1, "FAILED"),
        ("Flaky", 2, "SUCCESS"),
    ]
    assert {e.stage for e in second.executions} == {"Check", "Publish"}
    assert second.exit_code == 0
    assert third.exit_code == 130 and ("Docs", "STOPPED") in [(e.stage, e.outcome) for e in third.executions]
    for run in runs:
        assert run.start <= min(e.start for e in run.executions)
        assert run.end >= max(e.end for e in run.executions)
    # `status` still reads every execution, and nothing else.
    assert len(list(read_history(state_of(pipe)))) == sum(len(r.executions) for r in runs)


def test_a_failure_keeps_its_traceback_and_the_end_of_its_output(tmp_path: Path) -> None:
    pipe = busy_history(tmp_path)
    first = read_runs(state_of(pipe))[0]
    check = next(e for e in first.executions if e.stage == "Check")
    assert check.error == "ValueError: Check found 2 broken links"
    assert check.traceback is not None and check.traceback.startswith("Traceback (most recent call last)")
    assert "raise ValueError" in check.traceback and "checking 3 pages" in check.log_tail
    retried = next(e for e in first.executions if e.stage == "Flaky" and e.attempt == 1)
    assert retried.traceback is not None and "ConnectionError: the mirror hung up" in retried.traceback
    assert retried.log_tail == ()  # the log's end belongs to the last attempt


def runs_after_one_run(folder: Path, history_text: str) -> List[Run]:
    """The runs read back after one run on top of a history file that says `history_text`."""
    pipe = busy_pipeline(folder)
    StatePaths(state_of(pipe)).history.write_text(history_text)
    dagrun.run(pipe, {name: lambda: None for name in pipe.names})
    return read_runs(state_of(pipe))


def test_records_without_a_run_line_read_as_run_0(tmp_path: Path) -> None:
    runs = runs_after_one_run(
        tmp_path, '["Fetch",100.000,101.500,1.5,"SUCCESS",1,null]\n["Build",101.500,103.000,1.5,"SUCCESS",1,null]\n'
    )
    assert [r.number for r in runs] == [0, 1]
    assert (runs[0].start, runs[0].end, runs[0].workers) == (100.0, 103.0, None)
    assert [e.stage for e in runs[0].executions] == ["Fetch", "Build"]


def test_a_damaged_run_line_is_skipped_and_numbering_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = '{"run": 7, "start": 1, "end": 2}\n{"run": "x"}\n["Fetch",1.0,1.5,0.5,"SUCCESS",1,null]\n'
    runs = runs_after_one_run(tmp_path, text)
    assert [r.number for r in runs] == [7, 8]
    assert [e.stage for e in runs[0].executions] == ["Fetch"]
    assert "1 entry skipped (not a record of a run)" in caplog.text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=8), st.integers(1, 64))
def test_the_latest_run_number_is_found_from_the_end_whatever_the_chunks(sizes: List[int], chunk: int) -> None:
    lines = []
    for number, size in enumerate(sizes, start=1):
        lines.append(json.dumps({"run": number, "start": 1, "end": 2}))
        lines += ['["S",1.0,1.0,0.0,"SUCCESS",1,null]'] * (size % 5)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history"
        path.write_text("\n".join(lines) + "\n")
        assert history._last_run_number(path, chunk) == len(sizes)


def test_a_bounded_history_drops_whole_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "MAX_BYTES", 3000)
    pipe = busy_pipeline(tmp_path)
    for _ in range(15):
        dagrun.reset(pipe)
        dagrun.run(pipe, {name: lambda: None for name in pipe.names})
    runs = read_runs(state_of(pipe))
    assert StatePaths(state_of(pipe)).history.stat().st_size <= 3000
    assert runs[-1].number == 15 and runs[0].number > 1  # numbers go on after the oldest are dropped
    assert all(len(r.executions) == len(pipe.names) for r in runs)  # no run lost its line


def ex(stage: str, start: float, end: float, outcome: str = "SUCCESS", attempt: int = 1) -> Execution:
    return Execution(stage, start, end, end - start, outcome, attempt, None)


def overlap_depth(executions: Sequence[Execution]) -> int:
    """The most executions that overlap one another (two overlap when each starts before the other
    ends; one that ends as another starts does not): the fewest rows that can hold them. Times here
    are tenths of a second, so a moment 0.05 s after each start sees every overlap."""
    inside = lambda x: sum(1 for f in executions if f.start < x < f.end)  # noqa: E731
    spans = [inside(e.start + 0.05) for e in executions if e.end > e.start]
    instants = [1 + inside(e.start) for e in executions if e.end == e.start]
    return max(spans + instants, default=0)


times = st.tuples(st.integers(0, 100), st.integers(0, 30)).map(lambda t: (t[0] / 10, (t[0] + t[1]) / 10))


@settings(max_examples=200, deadline=None)
@given(st.lists(times, max_size=40))
def test_slots_never_overlap_and_are_as_few_as_the_busiest_moment(spans: List[Tuple[float, float]]) -> None:
    executions = [ex(f"s{i}", a, b) for i, (a, b) in enumerate(spans)]
    slots = report.place(executions)
    for slot in set(slots):
        mine = sorted((e.start, e.end) for e, s in zip(executions, slots) if s == slot)
        assert all(end <= next_start for (_, end), (next_start, _) in zip(mine, mine[1:]))
    assert len(set(slots)) == overlap_depth(executions)
    assert set(slots) == set(range(len(set(slots))))


def test_the_critical_path_follows_what_each_stage_waited_for() -> None:
    needs = {"A": (), "B": (), "C": ("A", "B"), "D": ("C",), "E": ("A",)}
    runs = [ex("A", 0, 1), ex("B", 0, 3), ex("E", 1, 2), ex("C", 3, 5), ex("D", 5, 6)]
    assert {runs[i].stage for i in report.critical_path(runs, needs)} == {"B", "C", "D"}
    # A retried stage waited for its own failed attempt.
    retried = [ex("A", 0, 1), ex("B", 1, 2, "FAILED"), ex("B", 2, 4, attempt=2), ex("C", 4, 5)]
    on = report.critical_path(retried, {"A": (), "B": ("A",), "C": ("B",)})
    assert sorted((retried[i].stage, retried[i].attempt) for i in on) == [("A", 1), ("B", 1), ("B", 2), ("C", 1)]
    assert report.critical_path([], {}) == set()


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_the_critical_path_is_a_chain_ending_with_the_last_to_end(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 12))
    needs = {f"s{i}": tuple(f"s{j}" for j in range(i) if data.draw(st.booleans())) for i in range(n)}
    ends: Dict[str, float] = {}
    executions = []
    for i in range(n):  # each starts after its needs ended, possibly later
        name = f"s{i}"
        start = max((ends[d] for d in needs[name]), default=0.0) + data.draw(st.integers(0, 3))
        ends[name] = start + data.draw(st.integers(0, 5))
        executions.append(ex(name, start, ends[name]))
    chain = sorted((executions[i] for i in report.critical_path(executions, needs)), key=lambda e: e.start)
    assert chain[-1].end == max(e.end for e in executions)
    for before, after in zip(chain, chain[1:]):
        assert before.stage in needs[after.stage] and before.end <= after.start
    assert needs[chain[0].stage] == ()  # every need ends before its stage starts: the chain ends at a root


def test_figures_of_a_run() -> None:
    run = Run(1, 100.0, 110.0, 3, "thread", 0, {}, [ex("A", 100, 104), ex("B", 100, 102), ex("C", 104, 110)])
    placed = report.bars(run, {"A": (), "B": (), "C": ("A",)})
    figs = report.figures(run, placed)
    assert figs.wall == 10 and figs.busy == 12 and figs.parallelism == pytest.approx(1.2)
    assert figs.idle == (2.0, 6.0, 10.0)  # B then C in slot 1, A in slot 2; the third had nothing to do
    assert [b.critical for b in placed] == [True, False, True]


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_the_graph_runs_left_to_right_with_one_place_per_stage(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 15))
    spec = {f"s{i}": [f"s{j}" for j in range(i) if data.draw(st.booleans())] for i in range(n)}
    pipe = Pipeline.from_dict(spec)
    where = report.layout(pipe)
    assert set(where) == set(spec)
    assert len(set(where.values())) == n
    for name, needs in spec.items():
        assert all(where[need][0] < where[name][0] for need in needs)
        if needs:  # as far left as its needs allow
            assert where[name][0] == 1 + max(where[need][0] for need in needs)


def test_no_text_of_a_stage_can_end_the_script_that_carries_it(tmp_path: Path) -> None:
    pipe = busy_pipeline(tmp_path)
    bad = "</script><script>alert(1)</script>"
    run = Run(1, 0.0, 2.0, 1, "thread", 1, {}, [Execution("Fetch", 0.0, 1.0, 1.0, "FAILED", 1, bad, bad, (bad,))])
    page = report.report_page(pipe, [run], run, {}, "a <b> & title")
    assert page.count("</script>") == 2 and bad not in page  # the page's own two
    assert "dagrun report: a &lt;b&gt; &amp; title" in page
    data = page.split('<script type="application/json" id="data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["errors"][0]["traceback"] == bad


def test_the_page_data_of_a_busy_run(tmp_path: Path) -> None:
    pipe = busy_history(tmp_path)
    runs = read_runs(state_of(pipe))
    data = report.page_data(pipe, runs, runs[0], {}, "t")
    names = [s[0] for s in data["stages"]]
    state = {s[0]: s[3] for s in data["stages"]}
    assert state == {
        "Fetch": "succeeded",
        "Flaky": "succeeded",
        "Build": "succeeded",
        "Check": "failed",
        "Docs": "succeeded",
        "Publish": "blocked",
    }
    assert {s[0]: s[6] for s in data["stages"]}["Publish"] == "Check"
    kinds = sorted((names[b[0]], b[4]) for b in data["bars"])
    assert ("Flaky", "retried") in kinds and ("Flaky", "succeeded") in kinds and ("Check", "failed") in kinds
    assert len(data["bars"]) == len(runs[0].executions) and data["graph"] == "full"
    # The history of each stage covers the runs up to this one: run 1 only.
    assert all(point[0] == 1 for points in data["history"] for point in points)
    latest = report.page_data(pipe, runs, runs[-1], {}, "t")
    fetch = latest["history"][names.index("Fetch")]
    assert [p[0] for p in fetch] == [1]  # Fetch ran only in run 1
    assert [p[0] for p in latest["history"][names.index("Check")]] == [1, 2, 3]


def test_above_the_limit_the_graph_is_a_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "GRAPH_LIMIT", 3)
    pipe = busy_history(tmp_path)
    runs = read_runs(state_of(pipe))
    assert report.page_data(pipe, runs, runs[-1], {}, "t")["graph"] == "summary"


# The command.


def test_report_writes_the_latest_run_and_names_the_others(tmp_path: Path) -> None:
    pipe = busy_history(tmp_path)
    out = tmp_path / "out" / "r.html"
    out.parent.mkdir()
    before = sorted(os.listdir(tmp_path))
    result = invoke("report", str(pipe.path), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}\n"
    assert sorted(os.listdir(tmp_path)) == before  # it reads, never writes beside the state
    page = out.read_text()
    data = json.loads(page.split('id="data">', 1)[1].split("</script>", 1)[0])
    assert data["run"]["number"] == 3 and data["run"]["runs"] == [1, 2, 3]
    for ask, number in (("1", 1), ("-1", 3), ("-3", 1)):
        assert invoke("report", str(pipe.path), "-o", str(out), "--run", ask).exit_code == 0
        assert f'"number":{number},' in out.read_text()


def test_report_refuses_what_it_cannot_do_in_one_line(tmp_path: Path) -> None:
    pipe = busy_pipeline(tmp_path)
    none = invoke("report", str(pipe.path), "-o", str(tmp_path / "r.html"))
    assert none.exit_code == 2
    assert "dagrun: error: no run is recorded beside state.yml yet" in none.output and "dagrun run" in none.output
    busy_history(tmp_path)
    for ask, message in (
        ("9", "no run 9 in the history beside state.yml: it keeps runs 1 to 3"),
        ("-4", "the history beside state.yml keeps 3 run(s), not 4"),
    ):
        result = invoke("report", str(pipe.path), "-o", str(tmp_path / "r.html"), "--run", ask)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    nowhere = invoke("report", str(pipe.path), "-o", str(tmp_path / "missing" / "r.html"))
    assert nowhere.exit_code == 2
    assert f"cannot write the report to {tmp_path / 'missing' / 'r.html'}: No such file or directory" in nowhere.output
    assert not (tmp_path / "r.html").exists()


def test_report_open_asks_the_browser_and_says_so_when_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    pipe = busy_history(tmp_path)
    opened: List[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    out = tmp_path / "r.html"
    assert invoke("report", str(pipe.path), "-o", str(out), "--open").exit_code == 0
    assert opened == [out.resolve().as_uri()]
    monkeypatch.setattr(webbrowser, "open", lambda url: False)
    result = invoke("report", str(pipe.path), "-o", str(out), "--open")
    assert result.exit_code == 0 and f"no web browser was found here: open {out} in one" in result.output


def test_a_stage_no_longer_in_the_file_still_has_its_bar_and_row(tmp_path: Path) -> None:
    pipe = Pipeline.from_dict({"Fetch": [], "Build": ["Fetch"]}, tmp_path / "stages.yaml")
    run = Run(4, 0.0, 3.0, 2, "thread", 0, {}, [ex("Fetch", 0, 1), ex("Gone", 0, 2), ex("Build", 1, 3)])
    data = report.page_data(pipe, [run], run, {}, "t")
    stages = {s[0]: s for s in data["stages"]}
    assert list(stages) == ["Fetch", "Build", "Gone"]
    assert stages["Gone"][1] == [] and stages["Gone"][4:6] == [-1, -1]  # no needs known, not in the graph
    assert stages["Gone"][2] == "unknown" and stages["Gone"][3] == "succeeded"
    assert sorted(data["stages"][b[0]][0] for b in data["bars"]) == ["Build", "Fetch", "Gone"]
