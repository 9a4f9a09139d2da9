"""Up to date, not only succeeded: stages that declare inputs, outputs and params run again when
what they read, wrote or took changed since their last success, and say why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dagrun.api as api
from dagrun.core.pipeline import _reads
from dagrun.core.status import StageStatus
from dagrun.errors import JobsError, SpecError, UsageError
from dagrun.jobs.loading import load_jobs
from dagrun.stagesfile.reader import load_pipeline, parse_pipeline, set_params
from dagrun.store.fresh import Records, digest_file, scan
from dagrun.store.paths import StatePaths

from .conftest import run_dagrun, start_dagrun, wait_for, write
from .support import invoke

STAGES = """\
Download:
  outputs: [data/raw]
Clean:
  inputs: [data/raw/*.csv, config/columns.txt]
  outputs: [data/clean.csv]
  params: {threshold: 0.5, drop_empty: true}
Train:
  inputs: [data/clean.csv]
  outputs: [model.txt]
Report: [Train]
"""

JOBS = """\
import os, pathlib, time
HERE = pathlib.Path(__file__).resolve().parent

def _ran(name):
    with open(HERE / "ran.log", "a") as f:
        f.write(name + "\\n")

def Download():
    _ran("Download")
    raw = HERE / "data" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, text in (("a.csv", "1\\n2\\n"), ("b.csv", "3\\n")):
        if not (raw / name).exists():
            (raw / name).write_text(text)

def Clean(threshold, drop_empty):
    _ran("Clean")
    if os.environ.get("CLEAN_WAITS"):  # until the test says go (or is killed)
        (HERE / "Clean.started").write_text("")
        deadline = time.monotonic() + 60
        while not (HERE / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    rows = [x for f in sorted((HERE / "data" / "raw").glob("*.csv")) for x in f.read_text().split()]
    kept = [r for r in rows if float(r) > threshold]
    (HERE / "data" / "clean.csv").write_text("\\n".join(kept) + "\\n")

def Train():
    _ran("Train")
    n = len((HERE / "data" / "clean.csv").read_text().split())
    (HERE / "model.txt").write_text(str(n))

def Report():
    _ran("Report")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path, "stages.yaml", STAGES)
    write(tmp_path, "jobs.py", JOBS)
    (tmp_path / "config").mkdir()
    write(tmp_path, "config/columns.txt", "value\n")
    return tmp_path


def run(folder: Path, *sets: str, stages: str = "stages.yaml") -> List[str]:
    """One run in this process; the stages that ran, in the order they started."""
    log = folder / "ran.log"
    if log.exists():
        log.unlink()
    pipeline = set_params(load_pipeline(folder / stages), sets)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        jobs = load_jobs(str(folder / "jobs.py"), pipeline, folder)
        result = api.run(pipeline, jobs, api.RunOptions(workers=2, logs=True))
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, {n: o.error for n, o in result.outcomes.items() if o.error}
    return log.read_text().split() if log.exists() else []


def why(folder: Path, *sets: str) -> Dict[str, str]:
    """What `plan` says of each stage that will run."""
    plan = api.plan(set_params(load_pipeline(folder / "stages.yaml"), sets))
    return {name: plan.why(name) for name in plan.to_run}


def test_a_first_run_then_nothing_to_do(project: Path) -> None:
    assert run(project) == ["Download", "Clean", "Train", "Report"]
    assert run(project) == []
    assert why(project) == {}
    # state.yml keeps the seed's format; the records live in a side file of the state.
    assert (project / "state.yml").read_text() == "Download: SUCCESS\nClean: SUCCESS\nTrain: SUCCESS\nReport: SUCCESS\n"
    lines = (project / ".state.yml.fresh").read_text().splitlines()
    assert [json.loads(line)["stage"] for line in lines] == ["Download", "Clean", "Train"]


def test_a_changed_input_reruns_the_stage_and_what_follows(project: Path) -> None:
    run(project)
    (project / "data/raw/b.csv").write_text("3\n4\n")
    assert why(project) == {
        "Download": "will run (data/raw/b.csv changed since Download wrote it)",
        "Clean": "will run (data/raw/b.csv changed)",
        "Train": "will run (Clean ran again)",
        "Report": "will run (Train ran again)",
    }
    assert run(project) == ["Download", "Clean", "Train", "Report"]
    assert (project / "model.txt").read_text() == "4"


def test_an_input_outside_any_output_changed(project: Path) -> None:
    run(project)
    (project / "config/columns.txt").write_text("value\nother\n")
    assert why(project)["Clean"] == "will run (config/columns.txt changed)"
    assert run(project) == ["Clean", "Train", "Report"]


def test_a_touched_but_unchanged_input_is_not_a_change(project: Path) -> None:
    run(project)
    st = os.stat(project / "config/columns.txt")
    os.utime(project / "config/columns.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert why(project) == {}
    assert run(project) == []


def test_a_touched_file_is_read_once_then_its_new_time_is_kept(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(project)
    st = os.stat(project / "config/columns.txt")
    os.utime(project / "config/columns.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    import dagrun.store.fresh as fresh

    read: List[str] = []
    real = fresh.digest_file
    monkeypatch.setattr(fresh, "digest_file", lambda path: read.append(path.name) or real(path))
    assert why(project) == {} and why(project) == {}
    assert read == ["columns.txt", "columns.txt"]  # plan writes nothing: each plan reads it again
    assert run(project) == []  # a run keeps the new time in Clean's record...
    read.clear()
    assert why(project) == {} and read == []  # ...and the file is not read again


def test_a_glob_that_matches_a_new_file(project: Path) -> None:
    run(project)
    (project / "data/raw/c.csv").write_text("9\n")
    assert why(project)["Clean"] == "will run (data/raw/*.csv now matches data/raw/c.csv)"
    run(project)
    assert (project / "model.txt").read_text() == "4"


def test_a_deleted_output(project: Path) -> None:
    run(project)
    (project / "model.txt").unlink()
    assert why(project) == {"Train": "will run (model.txt missing)", "Report": "will run (Train ran again)"}
    assert run(project) == ["Train", "Report"]


def test_an_output_edited_by_someone_else(project: Path) -> None:
    run(project)
    (project / "data/clean.csv").write_text("edited by hand\n")
    assert why(project)["Train"] == "will run (data/clean.csv changed)"
    assert why(project)["Clean"] == "will run (data/clean.csv changed since Clean wrote it)"
    assert run(project) == ["Clean", "Train", "Report"]


def test_a_changed_param_and_set(project: Path) -> None:
    run(project)
    assert (project / "model.txt").read_text() == "3"
    assert why(project, "Clean.threshold=2")["Clean"] == "will run (params changed: threshold 0.5 -> 2)"
    assert run(project, "Clean.threshold=2") == ["Clean", "Train", "Report"]
    assert (project / "model.txt").read_text() == "1"
    # The override was recorded like any param: without it, the file's value is a change back.
    assert why(project)["Clean"] == "will run (params changed: threshold 2 -> 0.5)"
    (project / "stages.yaml").write_text(STAGES.replace("threshold: 0.5", "threshold: 0.7"))
    assert why(project)["Clean"] == "will run (params changed: threshold 2 -> 0.7)"


def test_an_implicit_edge_and_the_plan_says_why(project: Path) -> None:
    pipeline = load_pipeline(project / "stages.yaml")
    assert pipeline.stages["Clean"].needs == ("Download",)
    assert pipeline.stages["Clean"].via == (("Download", "data/raw"),)
    assert pipeline.stages["Train"].needs == ("Clean",)
    out = invoke("plan", str(project / "stages.yaml"))
    assert "Train     will run  after Clean (via data/clean.csv)" in out.output
    data = json.loads(invoke("plan", str(project / "stages.yaml"), "--format", "json").output)
    assert data["stages"][2]["via"] == {"Clean": "data/clean.csv"}


def test_a_missing_declared_output_fails_the_stage(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "Build:\n  outputs: [dist/app.bin, dist/app.sig]\n")
    write(tmp_path, "jobs.py", "import pathlib\ndef Build():\n    pathlib.Path('dist').mkdir()\n")
    pipeline = load_pipeline(tmp_path / "stages.yaml")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = api.run(pipeline, load_jobs("jobs.py", pipeline, tmp_path), api.RunOptions(logs=True))
    finally:
        os.chdir(cwd)
    outcome = result.outcomes["Build"]
    assert outcome.status is StageStatus.FAILED
    missing = "dist/app.bin, dist/app.sig"
    assert outcome.error == f"the function returned, but its declared outputs were not written: {missing}"
    assert (tmp_path / "state.yml").read_text() == "Build: FAILED\n"
    assert not (tmp_path / ".state.yml.fresh").exists()


def test_two_stages_declaring_one_output_is_an_error_with_both_lines() -> None:
    with pytest.raises(SpecError) as e:
        parse_pipeline("A:\n  outputs: [x.csv]\nB:\n  outputs: [./x.csv]\n", "s.yaml")
    assert e.value.message == (
        "s.yaml:3: stages 'A' (line 1) and 'B' both declare the output 'x.csv'; a file has one writer"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A:\n  inputs: data.csv\n", "s.yaml:2: stage 'A': inputs must be a list of paths"),
        ("A:\n  outputs: [out/*.csv]\n", "s.yaml:2: stage 'A': the output 'out/*.csv' is a glob"),
        ("A:\n  params: [1, 2]\n", "s.yaml:2: stage 'A': params must be a mapping of names to values"),
        ("A:\n  params: {class: 1}\n", "s.yaml:2: stage 'A': the param 'class' cannot be a keyword argument"),
        ("A:\n  params: {n: [[[1]]]}\n", "s.yaml:2: stage 'A': the param 'n' nests too deep"),
        ("A:\n  inputs: [x]\n  outputs: [x]\n", "s.yaml:1: stage 'A' declares 'x' as both input and output"),
        ("A:\n  inputs: [b]\n  outputs: [a]\nB:\n  inputs: [a]\n  outputs: [b]\n", "the stages form a cycle"),
        ("A:\n  intputs: [x]\n", "unknown option 'intputs' (did you mean 'inputs'?)"),
        ("A:\n  inputs: [./]\n", "s.yaml:2: stage 'A': inputs cannot be './': that folder holds dagrun's own"),
        ("A:\n  outputs: [.dagrun/x]\n", "s.yaml:2: stage 'A': outputs cannot be '.dagrun/x'"),
    ],
)
def test_bad_declarations_are_refused_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_pipeline(text, "s.yaml")
    assert message in e.value.message


def test_params_are_plain_yaml_values() -> None:
    stage = parse_pipeline("A:\n  params: {n: 3, x: 0.5, f: true, s: hi, l: [1, [2]], m: {k: v}}\n").stages["A"]
    assert stage.kwargs == {"n": 3, "x": 0.5, "f": True, "s": "hi", "l": [1, [2]], "m": {"k": "v"}}
    with pytest.raises(SpecError) as e:
        parse_pipeline("A:\n  params: {on: 1}\n", "s.yaml")
    assert e.value.message == "s.yaml:2: stage 'A': YAML reads the param name 'on' as a boolean; quote it: 'on'"


def test_a_function_that_cannot_take_its_params_is_refused_before_anything_runs(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "Clean:\n  params: {threshold: 1, drop: true}\n")
    write(tmp_path, "jobs.py", "def Clean(threshold):\n    pass\n")
    with pytest.raises(JobsError) as e:
        load_jobs("jobs.py", load_pipeline(tmp_path / "stages.yaml"), tmp_path)
    assert "Clean (" in e.value.message and "'Clean(threshold)' cannot take the param 'drop'" in e.value.message
    assert e.value.hint == "give each function a parameter for each of its stage's params (or take **params)"
    write(tmp_path, "jobs.py", "def Clean(threshold, drop, other):\n    pass\n")
    with pytest.raises(JobsError) as e:
        load_jobs("jobs.py", load_pipeline(tmp_path / "stages.yaml"), tmp_path)
    assert "missing a required argument: 'other'" in e.value.message
    write(tmp_path, "jobs.py", "def Clean(**params):\n    pass\n")
    assert load_jobs("jobs.py", load_pipeline(tmp_path / "stages.yaml"), tmp_path)
    assert not (tmp_path / "state.yml").exists()


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("Clean.threshold", "--set 'Clean.threshold' is not STAGE.PARAM=VALUE"),
        ("threshold=1", "--set 'threshold=1' is not STAGE.PARAM=VALUE"),
        ("Clen.threshold=1", "no stage 'Clen'"),
        ("Clean.threshold=[", "the value is not plain YAML"),
    ],
)
def test_bad_set_is_a_usage_error(project: Path, assignment: str, message: str) -> None:
    with pytest.raises(UsageError) as e:
        set_params(load_pipeline(project / "stages.yaml"), [assignment])
    assert message in e.value.message
    out = invoke("plan", str(project / "stages.yaml"), "--set", assignment)
    assert out.exit_code == 2 and message in out.output


def test_params_reach_a_worker_process(project: Path) -> None:
    out = run_dagrun("run", "--jobs", "jobs", "-x", "process", "--set", "Clean.threshold=2", cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (project / "model.txt").read_text() == "1"


def test_status_and_the_event_stream_say_why(project: Path) -> None:
    run(project)
    (project / "model.txt").unlink()
    table = invoke("status", str(project / "stages.yaml")).output
    assert "stale: model.txt missing" in table and "stale: Train ran again" in table
    data = json.loads(invoke("status", str(project / "stages.yaml"), "--format", "json").output)
    assert [s["stale"] for s in data["stages"]] == [None, None, "model.txt missing", "Train ran again"]
    dry = run_dagrun("run", "--jobs", "jobs", "--dry-run", cwd=project)
    assert "Train     will run (model.txt missing)" in dry.stdout, dry.stdout + dry.stderr
    events = project / "events.jsonl"
    out = run_dagrun("run", "--jobs", "jobs", "--events", str(events), "--progress", "quiet", cwd=project)
    assert out.returncode == 0, out.stderr
    started = json.loads(events.read_text().splitlines()[0])
    assert started["why"] == {"Train": "will run (model.txt missing)", "Report": "will run (Train ran again)"}


def test_an_input_changed_while_the_stage_ran_is_seen_next_time(project: Path) -> None:
    run(project)
    (project / "config/columns.txt").write_text("v2\n")
    proc = start_dagrun(project, "run", "--jobs", "jobs", env={**os.environ, "CLEAN_WAITS": "1"})
    wait_for(project / "Clean.started", proc=proc)
    (project / "config/columns.txt").write_text("v3\n")  # after Clean read its inputs
    (project / "go").write_text("")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    # What was recorded is what Clean read (v2): the file it finds now (v3) is a change.
    assert why(project) == {
        "Clean": "will run (config/columns.txt changed)",
        "Train": "will run (Clean ran again)",
        "Report": "will run (Train ran again)",
    }


def test_kill_9_during_a_stage_with_inputs_never_leaves_it_looking_fresh(project: Path) -> None:
    run(project)
    (project / "data/raw/b.csv").write_text("7\n")
    proc = start_dagrun(project, "run", "--jobs", "jobs", env={**os.environ, "CLEAN_WAITS": "1"})
    wait_for(project / "Clean.started", proc=proc)
    proc.kill()
    proc.communicate(timeout=30)
    # Clean was running, Train and Report were cleared before anything ran: none looks done.
    plan = why(project)
    assert set(plan) == {"Clean", "Train", "Report"}, plan
    (project / "Clean.started").unlink()
    assert run(project) == ["Clean", "Train", "Report"]
    assert why(project) == {}


def test_a_damaged_record_line_makes_its_stage_run_again(project: Path) -> None:
    run(project)
    fresh = project / ".state.yml.fresh"
    lines = fresh.read_text().splitlines()
    fresh.write_text("\n".join([lines[0], lines[1], lines[2][: len(lines[2]) // 2]]) + "\n")
    assert why(project) == {
        "Train": "will run (no record of its inputs and outputs (never ran with them declared))",
        "Report": "will run (Train ran again)",
    }


def test_a_file_without_the_keys_behaves_as_before(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", "Lint: []\nTest: []\nCoverage: [Test]\nDocs: [Coverage, Lint]\n")
    write(tmp_path, "jobs.py", "".join(f"def {n}():\n    print('{n}')\n" for n in ("Lint", "Test", "Coverage", "Docs")))
    out = run_dagrun("run", "--jobs", "jobs", "--progress", "plain", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "state.yml").read_bytes() == b"Lint: SUCCESS\nTest: SUCCESS\nCoverage: SUCCESS\nDocs: SUCCESS\n"
    assert not StatePaths(tmp_path / "state.yml").fresh.exists()
    # Resetting one stage runs only that stage: nothing flows downstream without declarations.
    assert invoke("reset", str(tmp_path / "stages.yaml"), "Test", "--only").exit_code == 0
    out = run_dagrun("run", "--jobs", "jobs", "--progress", "plain", cwd=tmp_path)
    assert "start   Test" in out.stdout and "start   Coverage" not in out.stdout
    plan = invoke("plan", str(tmp_path / "stages.yaml")).output
    assert "via" not in plan and "stale" not in plan


def test_scan_files_folders_and_globs(tmp_path: Path) -> None:
    for rel in ("a/x.csv", "a/y.txt", "a/b/z.csv", "c.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        write(tmp_path, rel, rel)
    assert list(scan(tmp_path, "a")) == ["a/b/z.csv", "a/x.csv", "a/y.txt"]
    assert list(scan(tmp_path, "a/*.csv")) == ["a/x.csv"]
    assert list(scan(tmp_path, "**/*.csv")) == ["a/b/z.csv", "a/x.csv", "c.csv"]
    assert list(scan(tmp_path, "c.csv")) == ["c.csv"]
    assert list(scan(tmp_path, "nothing")) == []


def test_digest_matches_hashlib_and_records_compact(tmp_path: Path) -> None:
    import hashlib

    data = os.urandom(3 * (1 << 20) + 17)
    (tmp_path / "f").write_bytes(data)
    assert digest_file(tmp_path / "f") == hashlib.sha1(data).hexdigest()
    records = Records(tmp_path / "state.yml")
    for i in range(3):
        records.append("A", {"params": {"i": i}})
    records.append("Gone", {"params": {}})
    assert len((tmp_path / ".state.yml.fresh").read_text().splitlines()) == 4
    records.compact(["A"])
    assert Records(tmp_path / "state.yml").latest == {"A": {"params": {"i": 2}}}


def test_the_records_survive_a_new_process(project: Path) -> None:
    run(project)
    code = "import dagrun.api as a, dagrun; print(a.plan(dagrun.load_pipeline('stages.yaml')).to_run)"
    out = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "()", out.stderr


def test_the_readmes_data_pipeline_example(tmp_path: Path) -> None:
    """The commands and the plan that README.md shows, on a copy of docs/examples/data."""
    import shutil

    example = tmp_path / "data-example"
    shutil.copytree(Path(__file__).resolve().parent.parent / "docs" / "examples" / "data", example)
    first = run_dagrun("run", "--jobs", "jobs", "--progress", "plain", cwd=example)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (example / "report.txt").read_text().startswith("14 readings")
    with (example / "data/raw/week2.csv").open("a") as f:
        f.write("2026-11-08,12.5\n")
    plan = run_dagrun("plan", cwd=example).stdout
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    shown = [line for line in plan.splitlines() if line.startswith("  [")]
    assert len(shown) == 4
    for line in shown:
        assert line.rstrip() in readme, line
    again = run_dagrun("run", "--jobs", "jobs", "--set", "Clean.min_temp=0", "--progress", "plain", cwd=example)
    assert again.returncode == 0 and "3 succeeded, 1 already done" in again.stdout, again.stdout + again.stderr
    assert (example / "report.txt").read_text().startswith("9 readings")


@pytest.mark.parametrize(
    ("output", "read", "implied"),
    [
        ("data", "data/raw/*.csv", True),
        ("data/raw", "data/*", True),
        ("data/raw/x.csv", "data", True),
        ("data/raw/x.csv", "**/*.csv", True),
        ("m/model.pkl", "m/model.pkl", True),
        ("data/clean.csv2", "data/clean.csv", False),
        ("data2", "data", False),
        ("data/x.txt", "data/*.csv", False),
        ("/abs/out.csv", "/abs/out.csv", True),
        ("/abs/out.csv", "/abs", True),
        ("data/x.csv", "/tmp", False),
    ],
)
def test_which_outputs_an_input_reads(output: str, read: str, implied: bool) -> None:
    pipeline = parse_pipeline(f"A:\n  outputs: ['{output}']\nB:\n  inputs: ['{read}']\n")
    assert pipeline.stages["B"].via == ((("A", output),) if implied else ())


PARTS = st.sampled_from(["a", "b", "a.csv", "b.csv", "ab"])
PATHS = st.tuples(st.sampled_from(["", "/"]), st.lists(PARTS, min_size=1, max_size=3).map("/".join)).map("".join)
GLOBS = st.one_of(PATHS, st.tuples(PATHS, st.sampled_from(["/*", "/*.csv", "*", "/**/*.csv"])).map("".join))


@settings(max_examples=200, deadline=None)
@given(outputs=st.lists(PATHS, min_size=1, max_size=6, unique=True), inputs=st.lists(GLOBS, min_size=1, max_size=3))
def test_the_index_finds_what_comparing_every_pair_finds(outputs: List[str], inputs: List[str]) -> None:
    stages = "".join(f"W{i}:\n  outputs: ['{o}']\n" for i, o in enumerate(outputs))
    reader = "R:\n  inputs: [" + ", ".join(f"'{p}'" for p in dict.fromkeys(inputs)) + "]\n"
    try:
        pipeline = parse_pipeline(stages + reader)
    except SpecError:
        return  # an output inside another output's folder is fine; a duplicate after normalizing is not
    expected = {f"W{i}" for i, o in enumerate(outputs) if any(_reads(p, o) for p in pipeline.stages["R"].inputs)}
    assert set(pipeline.stages["R"].needs) == expected


def test_a_stage_marked_success_by_hand_is_up_to_date_with_its_files_as_they_are(project: Path) -> None:
    run(project)
    (project / "config/columns.txt").write_text("edited\n")
    (project / "data/clean.csv").write_text("cleaned by hand\n")
    out = invoke("mark", str(project / "stages.yaml"), "Clean", "--as", "success")
    assert out.exit_code == 0, out.output
    assert why(project) == {
        "Train": "will run (data/clean.csv changed)",
        "Report": "will run (Train ran again)",
    }
    (project / "model.txt").unlink()
    out = invoke("mark", str(project / "stages.yaml"), "Train", "--as", "success")
    assert out.exit_code == 2 and "its declared output model.txt does not exist" in out.output


@pytest.mark.dask
def test_params_and_records_with_the_dask_executor(project: Path) -> None:
    out = run_dagrun("run", "--jobs", "jobs", "-x", "dask", "-j", "2", "--set", "Clean.threshold=2", cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (project / "model.txt").read_text() == "1"
    assert why(project, "Clean.threshold=2") == {}


def test_a_pipe_among_the_inputs_is_never_read_and_an_absolute_input_works(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("v1\n")
    project = tmp_path / "p"
    (project / "in").mkdir(parents=True)
    os.mkfifo(project / "in" / "pipe")  # reading it would wait for a writer for ever
    (project / "in" / "a.txt").write_text("a\n")
    write(project, "stages.yaml", f"A:\n  inputs: [in, '{outside}']\n  outputs: [out.txt]\n")
    write(project, "jobs.py", "def A():\n    open('out.txt', 'w').write('done')\n")
    out = run_dagrun("run", "--jobs", "jobs", cwd=project, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    record = json.loads((project / ".state.yml.fresh").read_text())
    assert list(record["input_files"]) == ["in/a.txt", str(outside)]
    assert why(project) == {}
    outside.write_text("v2\n")
    assert why(project) == {"A": f"will run ({outside} changed)"}
