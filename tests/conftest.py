"""Shared helpers: write pipelines and jobs modules into a temp folder, run the real command."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest
import yaml

import dagrun
from dagrun.errors import SpecError
from dagrun.stagesfile.reader import parse_pipeline

SEED = """\
Lint: []
Test: []
Coverage:
  - Test
Docs:
  - Coverage
  - Lint
Benchmark:
  - Coverage
"""

SEED_JOBS = """\
import os, time
from pathlib import Path

def _mark(name):
    # Each stage leaves a marker, so tests know what really ran and in which order.
    with open(os.path.join(os.path.dirname(__file__), "ran.log"), "a") as f:
        f.write(name + "\\n")
    if name in os.environ.get("FAIL", "").split(","):
        raise RuntimeError(name + " was told to fail")

def Lint(): _mark("Lint")
def Test(): _mark("Test")
def Coverage(): _mark("Coverage")
def Docs(): _mark("Docs")
def Benchmark(): _mark("Benchmark")
"""


# Waits starts, says so with Waits.started, and ends once a file `go` appears: the test decides when.
WAITS_FOR_GO = """\
import os, time
HERE = os.path.dirname(os.path.abspath(__file__))

def Waits():
    open(os.path.join(HERE, "Waits.started"), "w").close()
    while not os.path.exists(os.path.join(HERE, "go")):
        time.sleep(0.01)
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read or fill the user's pipeline cache; subprocesses inherit the variable."""
    monkeypatch.setenv("DAGRUN_CACHE_DIR", str(tmp_path_factory.mktemp("pipeline-cache")))


@pytest.fixture(autouse=True)
def forget_imported_jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Jobs modules imported by name stay in sys.modules; each test starts without them."""
    before = set(sys.modules)
    path = list(sys.path)
    yield
    # Only the tests' own modules, from the tests' temp folders: forgetting a library module (one a
    # lazy import brought in during the test, even from a clone and venv under the system's temp
    # folder) would give the next test a second copy of its classes.
    temp = os.path.join(os.path.realpath(tmp_path_factory.getbasetemp()), "")
    for name in set(sys.modules) - before:
        file = getattr(sys.modules[name], "__file__", None)
        if file is not None and os.path.realpath(file).startswith(temp):
            del sys.modules[name]
    sys.path[:] = path


class ConcurrencyProbe:
    """A job that measures how many copies of itself run at once."""

    def __init__(self, seconds: float = 0.02) -> None:
        self.seconds = seconds
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.seconds)
        with self._lock:
            self.active -= 1
        return threading.current_thread().daemon


def agrees_with_safe_load(text: str) -> None:
    """Text loads as a pipeline only if `yaml.safe_load` reads it as the same stages and needs;
    otherwise it raises our error (and nothing else)."""
    try:
        pipeline = parse_pipeline(text)
    except SpecError:
        return
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict) and list(loaded) == list(pipeline.names)
    for name, value in loaded.items():
        needs = value.get("needs") if isinstance(value, dict) else value
        assert tuple(needs or ()) == pipeline.stages[name].needs


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    """A folder with the seed's stages.yaml and a jobs.py that logs each stage to ran.log."""
    write(tmp_path, "stages.yaml", SEED)
    write(tmp_path, "jobs.py", SEED_JOBS)
    return tmp_path


@pytest.fixture
def pipe(tmp_path: Path) -> dagrun.Pipeline:
    """The seed's pipeline, its stages file (not written) and state in a temp folder."""
    return dagrun.parse_pipeline(SEED, tmp_path / "stages.yaml")


@pytest.fixture
def in_seed(seed: Path) -> Iterator[Path]:
    """The seed folder as the current folder, for commands that use the default stages file."""
    old = os.getcwd()
    os.chdir(seed)
    try:
        yield seed
    finally:
        os.chdir(old)


def ran(folder: Path) -> List[str]:
    log = folder / "ran.log"
    return log.read_text().split() if log.exists() else []


def dagrun_cmd(*args: str) -> List[str]:
    return [sys.executable, "-m", "dagrun", *args]


def start_dagrun(cwd: Path, *args: str, **popen: object) -> subprocess.Popen:  # type: ignore[type-arg]
    """The real dagrun, running in the background, its output captured as text."""
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        dagrun_cmd(*args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def wait_for(
    path: Path,
    timeout: float = 20,
    proc: Optional[subprocess.Popen] = None,  # type: ignore[type-arg]
) -> None:
    """Until `path` exists (a stage's sign that it runs): fails after `timeout` seconds, or when
    `proc` has exited first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        assert proc is None or proc.poll() is None, f"dagrun exited ({proc.returncode}) before {path.name} appeared"
        time.sleep(0.02)


def run_dagrun(
    *args: str, cwd: Path, env: Optional[Dict[str, str]] = None, timeout: float = 60
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(dagrun_cmd(*args), cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
