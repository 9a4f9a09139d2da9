"""The executors, as plug-ins: where stages run (threads of this process, worker processes, a Dask
cluster), each a StagePool over a `concurrent.futures` executor.

The registry below is the one list of them: the command line's `--executor` choices and each
executor's own options (`--dask-address`) are made from it. An executor's module is imported only
when it is chosen: multiprocessing and Dask cost start-up."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Dict, Mapping, NamedTuple, Optional

from dagrun.errors import UsageError

if TYPE_CHECKING:
    from dagrun.execution.capture import StageOutput
    from dagrun.execution.executors.base import StagePool
    from dagrun.jobs.loading import Job


class ExecutorEntry(NamedTuple):
    target: str  # "module:class" of its StagePool
    help: str  # for --help: where stages run, and what for
    options: Mapping[str, str] = {}  # its own options: name -> help; `--NAME-OPTION` on the command line


EXECUTORS: Dict[str, ExecutorEntry] = {
    "thread": ExecutorEntry(
        "dagrun.execution.executors.threads:ThreadStagePool", "threads of this process (I/O-bound or quick stages)"
    ),
    "process": ExecutorEntry(
        "dagrun.execution.executors.processes:ProcessStagePool", "a worker process each (CPU-bound Python)"
    ),
    "dask": ExecutorEntry(
        "dagrun.execution.executors.dask_cluster:DaskStagePool",
        "a Dask cluster",
        {"address": "The Dask scheduler to use, such as tcp://10.0.0.5:8786; without it, a local cluster."},
    ),
}


def make_pool(
    kind: str,
    jobs: Dict[str, Job],
    workers: Optional[int] = None,
    *,
    logs: Optional[StageOutput] = None,
    options: Mapping[str, Optional[str]] = {},
) -> StagePool:
    """The executor named `kind`, sending stage output to `logs` if given, with its own `options`;
    raises DagrunError when it cannot be had."""
    entry = EXECUTORS.get(kind)
    if entry is None:
        raise UsageError(f"unknown executor {kind!r}", hint=f"choose one of {', '.join(EXECUTORS)}")
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise UsageError(f"the {kind} executor has no option {unknown[0]!r}")
    module, _, name = entry.target.partition(":")
    pool: StagePool = getattr(import_module(module), name)(jobs, workers, logs, options)
    return pool
