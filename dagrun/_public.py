"""The public API, each name once: `dagrun` imports this module the first time one of them is used
(so that `dagrun --help` and `dagrun plan` never pay for the run machinery), and type checkers read
it through the star import in `dagrun/__init__.py`. Everything else under `dagrun` is internal."""

from dagrun.api import RunOptions as RunOptions
from dagrun.api import mark as mark
from dagrun.api import plan as plan
from dagrun.api import report as report
from dagrun.api import reset as reset
from dagrun.api import run as run
from dagrun.api import status as status
from dagrun.core.events import Event as Event
from dagrun.core.events import Reporter as Reporter
from dagrun.core.events import RunFinished as RunFinished
from dagrun.core.events import RunStarted as RunStarted
from dagrun.core.events import RunStopping as RunStopping
from dagrun.core.events import StageFinished as StageFinished
from dagrun.core.events import StageRetrying as StageRetrying
from dagrun.core.events import StageStarted as StageStarted
from dagrun.core.pipeline import Pipeline as Pipeline
from dagrun.core.pipeline import Stage as Stage
from dagrun.core.plan import Plan as Plan
from dagrun.core.result import RunResult as RunResult
from dagrun.core.result import StageOutcome as StageOutcome
from dagrun.core.status import StageStatus as StageStatus
from dagrun.errors import DagrunError as DagrunError
from dagrun.errors import JobsError as JobsError
from dagrun.errors import LockHeldError as LockHeldError
from dagrun.errors import SpecError as SpecError
from dagrun.errors import StateError as StateError
from dagrun.errors import UsageError as UsageError
from dagrun.execution.signals import StopRequest as StopRequest
from dagrun.jobs.loading import load_jobs as load_jobs
from dagrun.stagesfile.reader import load_pipeline as load_pipeline
from dagrun.stagesfile.reader import parse_pipeline as parse_pipeline
from dagrun.store.history import StageReport as StageReport
