"""Code fingerprints: stages whose function changed since they succeeded, and --rerun-changed."""

from __future__ import annotations

import marshal
import sys
from pathlib import Path
from types import CodeType
from typing import Dict

from click.testing import CliRunner

import dagrun
from dagrun.cli import cli
from dagrun.jobs.fingerprints import _essence, fingerprint
from dagrun.jobs.loading import Job, load_jobs

from .conftest import SEED, ran, write

JOBS = """\
import os
def _mark(name):
    with open(os.path.join(os.path.dirname(__file__), "ran.log"), "a") as f:
        f.write(name + "\\n")

def Lint(): _mark("Lint")
def Test(): _mark("Test")
def Coverage():
    _mark("Coverage")
def Docs(): _mark("Docs")
def Benchmark(): _mark("Benchmark")
"""


def jobs_from(folder: Path, text: str) -> Dict[str, Job]:
    write(folder, "jobs.py", text)
    sys.modules.pop("jobs", None)
    return load_jobs(str(folder / "jobs.py"), dagrun.parse_pipeline(SEED, folder / "stages.yaml"))


def test_a_fingerprint_follows_what_the_code_does_not_where_it_is(tmp_path: Path) -> None:
    before = jobs_from(tmp_path, JOBS)
    same = jobs_from(
        tmp_path,
        "# a comment, and the code one line lower\n" + JOBS.replace('_mark("Coverage")', '_mark("Coverage")  # same'),
    )
    edited = jobs_from(tmp_path, JOBS.replace('_mark("Coverage")', '_mark("Coverage!")'))
    assert fingerprint(before["Coverage"]) == fingerprint(same["Coverage"])
    assert fingerprint(before["Coverage"]) != fingerprint(edited["Coverage"])
    assert fingerprint(before["Lint"]) == fingerprint(edited["Lint"])
    assert fingerprint(len) is None  # type: ignore[arg-type]  # no Python code to hash


def test_changed_code_is_shown_and_rerun_on_request(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", SEED)
    pipeline = dagrun.load_pipeline(tmp_path / "stages.yaml")
    assert dagrun.run(pipeline, jobs_from(tmp_path, JOBS)).ok
    edited = jobs_from(tmp_path, JOBS.replace('_mark("Coverage")', 'print("now with output"); _mark("Coverage")'))
    plan = dagrun.plan(pipeline, jobs=edited)
    assert plan.changed == {"Coverage"} and plan.to_run == ()
    assert plan.why("Coverage") == "done, but its code changed since (--rerun-changed runs it)"
    reports = {r.name: r for r in dagrun.status(pipeline, jobs=edited)}
    assert reports["Coverage"].code_changed is True and reports["Lint"].code_changed is False
    assert dagrun.status(pipeline)[0].code_changed is None  # not compared without the jobs
    (tmp_path / "ran.log").unlink()
    assert dagrun.run(pipeline, edited, dagrun.RunOptions(rerun_changed=True)).ok
    assert sorted(ran(tmp_path)) == ["Benchmark", "Coverage", "Docs"]
    assert dagrun.plan(pipeline, jobs=edited).changed == frozenset()  # recorded anew


def test_the_command_line_compares_code_when_given_the_jobs(tmp_path: Path) -> None:
    write(tmp_path, "stages.yaml", SEED)
    write(tmp_path, "jobs.py", JOBS)
    stages, jobs = str(tmp_path / "stages.yaml"), str(tmp_path / "jobs.py")
    runner = CliRunner()
    assert runner.invoke(cli, ["run", stages, "--jobs", jobs, "--progress", "quiet"]).exit_code == 0
    write(tmp_path, "jobs.py", JOBS.replace('def Docs(): _mark("Docs")', "def Docs(): _mark('Docs'); _mark('again')"))
    sys.modules.pop("jobs", None)
    status = runner.invoke(cli, ["status", stages, "--jobs", jobs])
    docs = next(line for line in status.output.splitlines() if line.strip().startswith("Docs"))
    assert "code changed since" in docs
    assert "code changed" not in runner.invoke(cli, ["status", stages]).output
    dry = runner.invoke(cli, ["plan", stages, "--jobs", jobs, "--rerun-changed"])
    assert "[run ] Docs" in dry.output and "will run (forced, its code changed)" in dry.output
    refused = runner.invoke(cli, ["plan", stages, "--rerun-changed"])
    assert refused.exit_code == 2 and "--rerun-changed needs --jobs" in refused.output
    (tmp_path / "ran.log").unlink()
    assert runner.invoke(cli, ["run", stages, "--jobs", jobs, "--rerun-changed", "--progress", "quiet"]).exit_code == 0
    assert ran(tmp_path) == ["Docs", "again"]


def test_nothing_to_do_says_which_stages_code_changed_since(tmp_path: Path) -> None:
    import os

    write(tmp_path, "stages.yaml", SEED)
    write(tmp_path, "jobs.py", JOBS)
    stages, jobs = str(tmp_path / "stages.yaml"), str(tmp_path / "jobs.py")
    runner = CliRunner()
    assert runner.invoke(cli, ["run", stages, "--jobs", jobs, "--progress", "plain"]).exit_code == 0
    same = runner.invoke(cli, ["run", stages, "--jobs", jobs, "--progress", "plain"])
    assert "Nothing to do: all 5 stages already succeeded." in same.output and "changed" not in same.output
    write(tmp_path, "jobs.py", JOBS.replace('def Docs(): _mark("Docs")', "def Docs(): _mark('Docs'); _mark('again')"))
    later = os.stat(tmp_path / ".state.yml.code").st_mtime + 1  # a file system may keep whole seconds
    os.utime(tmp_path / "jobs.py", (later, later))
    sys.modules.pop("jobs", None)
    told = runner.invoke(cli, ["run", stages, "--jobs", jobs, "--progress", "plain"])
    assert told.exit_code == 0 and not (tmp_path / "ran.log").read_text().count("again")
    assert "The code of 1 stage changed since (Docs): --rerun-changed runs them." in told.output


def _essence_as_first_written(code: CodeType) -> tuple:  # type: ignore[type-arg]
    """The essence before its constants got a quicker path: the fingerprints users have recorded."""

    def plain(value: object) -> object:
        if isinstance(value, (tuple, frozenset)):
            return tuple(plain(v) for v in value)
        return value if isinstance(value, (int, float, complex, str, bytes, bool, type(None))) else repr(value)

    consts = tuple(_essence_as_first_written(c) if isinstance(c, CodeType) else plain(c) for c in code.co_consts)
    return (code.co_code, consts, code.co_names, code.co_varnames, code.co_argcount, code.co_flags)


def test_fingerprints_recorded_before_stay_the_same() -> None:
    """marshal's output depends on how objects are shared, so the quicker essence is checked byte
    for byte against the first one, on functions with every kind of constant."""
    source = """
def empty(): pass
def constants(a, b=2, *rest, c=3.5, **more):
    x = (1, "two", b"3", 4.0, 5j, None, True, ..., (6, (7, frozenset({8}))))
    if a in {"p", "q"} or a in frozenset({1.5}):
        return [x, -1, 10**30, "é"]
    def inner(y=("n", 1)):
        return lambda z: (y, z, "inner")
    return inner
class Shape:
    def area(self): return 3.14 * self.r ** 2
"""
    namespace: Dict[str, object] = {}
    exec(compile(source, "<fingerprinted>", "exec"), namespace)
    codes = [compile(source, "<fingerprinted>", "exec")]
    while codes:
        code = codes.pop()
        assert marshal.dumps(_essence(code)) == marshal.dumps(_essence_as_first_written(code)), code.co_name
        codes.extend(c for c in code.co_consts if isinstance(c, CodeType))
    for name in ("empty", "constants"):
        assert fingerprint(namespace[name]) is not None  # type: ignore[arg-type]
