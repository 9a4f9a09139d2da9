"""The test matrix: `nox` runs the tests on every Python from 3.8 to 3.13 found on PATH, then lint."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"  # virtualenv can no longer seed Python 3.8
nox.options.sessions = ["tests", "dask", "browser", "stress", "bench_smoke", "lint"]
nox.options.reuse_existing_virtualenvs = False

PYTHONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


# The slow end-to-end tests (subprocesses, kill -9 loops) run on the oldest and the newest Python and
# on the one that shuffles the order; the Pythons between run every other test. That keeps CI well
# under 30 minutes on two cores.
SLOW_ON = ("3.8", "3.12", "3.13")


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Unit, CLI and end-to-end tests, without the Dask extra. On one Python, in a random order
    (pytest-randomly prints the seed): no test may pass only in order."""
    session.install("-e", ".[test]")
    if session.python == "3.12":
        session.install("pytest-randomly")
    marks = "not stress and not dask and not browser" + ("" if session.python in SLOW_ON else " and not slow")
    session.run("pytest", "-m", marks, *session.posargs)


@nox.session(python="3.12")
def dask(session: nox.Session) -> None:
    """--executor dask with the extra installed: a real scheduler and workers on 127.0.0.1."""
    session.install("-e", ".[test,dask]")
    session.run("pytest", "-m", "dask", *session.posargs)


@nox.session(python="3.12")
def browser(session: nox.Session) -> None:
    """The page of `dagrun report` in headless Chromium: Debian's `chromium` (apt-get install chromium),
    driven by Playwright, which downloads no browser here. Without Chromium these tests fail, saying so."""
    session.install("-e", ".[test,browser]")
    session.run("pytest", "-m", "browser", *session.posargs)
    output = f"{session.create_tmp()}/performance.md"
    session.run("python", "benchmarks/report_page.py", "--smoke", "--output", output)  # it works; speed not judged


@nox.session(python="3.13")
def stress(session: nox.Session) -> None:
    """The long fault loops (hundreds of kill -9), once: they test dagrun, not the interpreter."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "stress", *session.posargs)


@nox.session(python="3.11")
def bench_smoke(session: nox.Session) -> None:
    """The benchmark in its smallest mode: it must work; how fast is not judged here."""
    session.install(".")
    session.run("python", "benchmarks/run.py", "--smoke", "--output", f"{session.create_tmp()}/performance.md")


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff (lint and format) and mypy --strict."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
