"""dagrun: run the stages of a pipeline in dependency order, in parallel, and never redo what worked."""

from __future__ import annotations

__version__ = "0.1.0"

from dagrun.errors import DagrunError, JobsError, LockHeldError, SpecError, StateError
from dagrun.jobs import load_jobs
from dagrun.plan import Plan, make_plan
from dagrun.result import RunResult, StageOutcome
from dagrun.runner import plan, reset, run
from dagrun.spec import Pipeline, Stage, load_pipeline, parse_pipeline
from dagrun.state import StageStatus

__all__ = [
    "DagrunError",
    "JobsError",
    "LockHeldError",
    "Pipeline",
    "Plan",
    "RunResult",
    "SpecError",
    "Stage",
    "StageOutcome",
    "StageStatus",
    "StateError",
    "__version__",
    "load_jobs",
    "load_pipeline",
    "make_plan",
    "parse_pipeline",
    "plan",
    "reset",
    "run",
]
