"""Finding the jobs module and a checked function for every stage."""

from __future__ import annotations

import inspect
from pathlib import Path
from types import ModuleType

import pytest

from dagrun.core.pipeline import Pipeline
from dagrun.errors import JobsError
from dagrun.jobs.loading import _needs_arguments, _plain_function, _why_not_a_job, as_job, load_jobs
from dagrun.stagesfile.reader import parse_pipeline

from .conftest import write

PIPE = Pipeline.from_dict({"Lint": [], "Test": ["Lint"]}, "stages.yaml")


def test_a_path_to_a_py_file(tmp_path: Path) -> None:
    write(tmp_path, "myjobs.py", "def Lint(): return 1\ndef Test(): return 2\n")
    jobs = load_jobs(str(tmp_path / "myjobs.py"), PIPE)
    assert jobs["Lint"]() == 1 and jobs["Test"]() == 2


def test_a_module_name_from_the_current_folder(tmp_path: Path) -> None:
    write(tmp_path, "cwd_jobs.py", "def Lint(): return 'cwd'\ndef Test(): pass\n")
    assert load_jobs("cwd_jobs", PIPE, cwd=tmp_path)["Lint"]() == "cwd"


def test_a_module_name_from_the_stages_files_folder(tmp_path: Path) -> None:
    stages = tmp_path / "pipe"
    stages.mkdir()
    write(stages, "beside_jobs.py", "def Lint(): return 'beside'\ndef Test(): pass\n")
    pipeline = parse_pipeline("Lint: []\nTest: []\n", stages / "stages.yaml")
    assert load_jobs("beside_jobs", pipeline, cwd=tmp_path / "elsewhere")["Lint"]() == "beside"


def test_a_relative_path_is_also_looked_up_beside_the_stages_file(tmp_path: Path) -> None:
    write(tmp_path, "rel_jobs.py", "def Lint(): return 'rel'\ndef Test(): pass\n")
    pipeline = parse_pipeline("Lint: []\nTest: []\n", tmp_path / "stages.yaml")
    assert load_jobs("rel_jobs.py", pipeline, cwd=tmp_path / "elsewhere")["Lint"]() == "rel"


@pytest.mark.parametrize(
    "ref, fragment",
    [
        ("no_such_jobs_module", "cannot find the jobs module 'no_such_jobs_module'"),
        ("missing.py", "no jobs file 'missing.py'"),
        ("not-a-name", "neither a module name nor a path"),
    ],
)
def test_a_jobs_module_that_cannot_be_found(tmp_path: Path, ref: str, fragment: str) -> None:
    with pytest.raises(JobsError, match=fragment):
        load_jobs(ref, PIPE, cwd=tmp_path)


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("import no_such_dependency_xyz\n", "No module named 'no_such_dependency_xyz'"),
        ("def helper():\n    1 / 0\nhelper()\n", "ZeroDivisionError: division by zero"),
        ("def Lint(:\n", "SyntaxError"),
        ("import sys\nsys.exit(4)\n", "SystemExit: 4"),
    ],
    ids=["missing-import", "raises", "syntax", "exits"],
)
def test_an_import_error_is_one_message_with_the_users_frames(tmp_path: Path, source: str, fragment: str) -> None:
    write(tmp_path, "broken_jobs.py", source)
    with pytest.raises(JobsError) as caught:
        load_jobs("broken_jobs", PIPE, cwd=tmp_path)
    message = str(caught.value)
    assert message.startswith("cannot import the jobs module 'broken_jobs'")
    assert fragment in message
    assert "broken_jobs.py" in message
    assert "importlib" not in message and "dagrun/jobs.py" not in message


def test_every_stage_without_a_usable_function_is_reported_at_once(tmp_path: Path) -> None:
    write(
        tmp_path,
        "bad_jobs.py",
        """\
        import os
        from os.path import join
        class Klass: pass
        value = 3
        def lint(): pass
        def Args(path): pass
        def Gen():
            yield 1
        """,
    )
    pipeline = Pipeline.from_dict({n: [] for n in ["Lint", "os", "join", "Klass", "value", "Args", "Gen", "Nope"]})
    with pytest.raises(JobsError) as caught:
        load_jobs(str(tmp_path / "bad_jobs.py"), pipeline)
    message = str(caught.value)
    assert "no usable function for 8 stages" in message
    for fragment in [
        "Lint (<pipeline>): no function 'Lint' (did you mean 'lint'?)",
        "'os' is a module",
        "'join' is imported from 'posixpath'",
        "'Klass' is a class",
        "'value' is an int",
        "'Args(path)' needs arguments",
        "'Gen' is a generator function",
        "no function 'Nope'",
    ]:
        assert fragment in message


def test_async_stage_functions_run_to_completion(tmp_path: Path) -> None:
    write(
        tmp_path,
        "async_jobs.py",
        "import asyncio\nasync def Lint():\n    await asyncio.sleep(0)\n    return 7\ndef Test(): pass\n",
    )
    assert load_jobs(str(tmp_path / "async_jobs.py"), PIPE)["Lint"]() == 7


def test_a_path_module_is_loaded_afresh_each_time(tmp_path: Path) -> None:
    path = write(tmp_path, "fresh_jobs.py", "def Lint(): return 1\ndef Test(): pass\n")
    assert load_jobs(str(path), PIPE)["Lint"]() == 1
    # Another size: Python's bytecode cache knows a source by its size and its mtime in whole
    # seconds, so a same-size rewrite within the second would be read from the first's bytecode
    # (when bytecode is written, as it is without PYTHONDONTWRITEBYTECODE), by any import.
    write(tmp_path, "fresh_jobs.py", "def Lint(): return 22\ndef Test(): pass\n")
    assert load_jobs(str(path), PIPE)["Lint"]() == 22


@pytest.mark.parametrize(
    "source, needs",
    [
        ("def f(): pass", False),
        ("def f(a=1, *args, b=2, **kw): pass", False),
        ("def f(a): pass", True),
        ("def f(a, /, b=1): pass", True),
        ("def f(*, key): pass", True),
        ("def f(a=1, *, key=2): pass", False),
        ("import functools\ndef g(x): pass\n@functools.wraps(g)\ndef f(): pass", True),
    ],
    ids=["none", "all-defaulted", "positional", "positional-only", "keyword-only", "defaulted-keyword", "wrapped"],
)
def test_whether_a_function_needs_arguments_matches_inspect(source: str, needs: bool) -> None:
    namespace: dict = {}
    exec(source, namespace)
    assert _needs_arguments(namespace["f"]) is needs


@pytest.mark.parametrize(
    "source, plain",
    [
        ("def f(): pass", True),
        ("def f(*args, **kw): pass", True),
        ("def f(a=1): pass", False),  # fine as a stage, but checked the long way
        ("def f(a): pass", False),
        ("def f():\n    yield 1", False),
        ("async def f(): pass", False),
        ("async def f():\n    yield 1", False),
        ("import functools\ndef g(x): pass\n@functools.wraps(g)\ndef f(): pass", False),
        ("from os.path import join as f", False),
        ("f = print", False),
        ("class f: pass", False),
    ],
)
def test_the_quick_check_accepts_only_what_the_full_check_accepts_as_is(source: str, plain: bool) -> None:
    module = ModuleType("jobs_under_test")
    exec(source, module.__dict__)
    f = module.f
    assert _plain_function(f, module) is plain
    if plain:
        assert _why_not_a_job("f", f, module, []) is None and as_job(f) is f


def test_a_function_marked_as_a_coroutine_function_takes_the_full_check() -> None:
    module = ModuleType("jobs_under_test")
    exec("def f(): pass", module.__dict__)
    mark = getattr(inspect, "markcoroutinefunction", None)  # Python 3.12+
    if mark is not None:
        mark(module.f)
    else:  # what it does, on the Pythons before it
        module.f._is_coroutine_marker = object()
    assert not _plain_function(module.f, module)
