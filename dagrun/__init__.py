"""dagrun: run the stages of a pipeline in dependency order, in parallel, and never redo what worked.

The public API is what this module exports; everything under the subpackages is internal."""

# ruff: noqa: F401 - the names under TYPE_CHECKING are for type checkers; __getattr__ exports them

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public names and where they live, imported on first use: `dagrun --help` and `dagrun plan`
# would otherwise pay for running machinery they never use.
_EXPORTS = {
    "load_pipeline": "dagrun.stagesfile.reader",
    "parse_pipeline": "dagrun.stagesfile.reader",
    "load_jobs": "dagrun.jobs.loading",
    "run": "dagrun.api",
    "RunOptions": "dagrun.api",
    "plan": "dagrun.api",
    "status": "dagrun.api",
    "reset": "dagrun.api",
    "mark": "dagrun.api",
    "Pipeline": "dagrun.core.pipeline",
    "Stage": "dagrun.core.pipeline",
    "Plan": "dagrun.core.plan",
    "StageStatus": "dagrun.core.status",
    "RunResult": "dagrun.core.result",
    "StageOutcome": "dagrun.core.result",
    "StageReport": "dagrun.store.history",
    "Reporter": "dagrun.core.events",
    "Event": "dagrun.core.events",
    "RunStarted": "dagrun.core.events",
    "StageStarted": "dagrun.core.events",
    "StageRetrying": "dagrun.core.events",
    "StageFinished": "dagrun.core.events",
    "RunStopping": "dagrun.core.events",
    "RunFinished": "dagrun.core.events",
    "StopRequest": "dagrun.execution.signals",
    "DagrunError": "dagrun.errors",
    "SpecError": "dagrun.errors",
    "JobsError": "dagrun.errors",
    "StateError": "dagrun.errors",
    "LockHeldError": "dagrun.errors",
    "UsageError": "dagrun.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dagrun' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list:  # type: ignore[type-arg]
    return sorted(__all__)


if TYPE_CHECKING:  # the same names, for type checkers (tests/test_api.py checks that the two agree)
    from dagrun.api import RunOptions, mark, plan, reset, run, status
    from dagrun.core.events import (
        Event,
        Reporter,
        RunFinished,
        RunStarted,
        RunStopping,
        StageFinished,
        StageRetrying,
        StageStarted,
    )
    from dagrun.core.pipeline import Pipeline, Stage
    from dagrun.core.plan import Plan
    from dagrun.core.result import RunResult, StageOutcome
    from dagrun.core.status import StageStatus
    from dagrun.errors import DagrunError, JobsError, LockHeldError, SpecError, StateError, UsageError
    from dagrun.execution.signals import StopRequest
    from dagrun.jobs.loading import load_jobs
    from dagrun.stagesfile.reader import load_pipeline, parse_pipeline
    from dagrun.store.history import StageReport
