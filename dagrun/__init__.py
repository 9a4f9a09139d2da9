"""dagrun: run the stages of a pipeline in dependency order, in parallel, and never redo what worked."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public names, imported on first use so that `dagrun --help` does not pay for all of them.
_EXPORTS = {
    "DagrunError": "dagrun.errors",
    "JobsError": "dagrun.errors",
    "LockHeldError": "dagrun.errors",
    "SpecError": "dagrun.errors",
    "StateError": "dagrun.errors",
    "UsageError": "dagrun.errors",
    "load_jobs": "dagrun.jobs",
    "Plan": "dagrun.planner",
    "make_plan": "dagrun.planner",
    "RunResult": "dagrun.result",
    "StageOutcome": "dagrun.result",
    "mark": "dagrun.runner",
    "plan": "dagrun.runner",
    "reset": "dagrun.runner",
    "status": "dagrun.runner",
    "run": "dagrun.runner",
    "Pipeline": "dagrun.spec",
    "Stage": "dagrun.spec",
    "load_pipeline": "dagrun.spec",
    "parse_pipeline": "dagrun.spec",
    "StageStatus": "dagrun.state",
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


if TYPE_CHECKING:
    from dagrun.errors import DagrunError, JobsError, LockHeldError, SpecError, StateError, UsageError  # noqa: F401
    from dagrun.jobs import load_jobs  # noqa: F401
    from dagrun.planner import Plan, make_plan  # noqa: F401
    from dagrun.result import RunResult, StageOutcome  # noqa: F401
    from dagrun.runner import mark, plan, reset, run, status  # noqa: F401
    from dagrun.spec import Pipeline, Stage, load_pipeline, parse_pipeline  # noqa: F401
    from dagrun.state import StageStatus  # noqa: F401
