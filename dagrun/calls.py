"""How a stage's function is called: here, or in a worker process or on a Dask worker, where a
function cannot be sent itself and travels as a reference or as its module's source instead.

What comes back is always an outcome, never an exception: a stage that raises anything fails, and
only the death of the process running it is left for the pool to report."""

from __future__ import annotations

import importlib
import importlib.util
import io
import linecache
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Dict, NamedTuple, Optional, Tuple, Union

from dagrun.digest import digest
from dagrun.errors import JobsError
from dagrun.jobs import Job, as_job, user_traceback
from dagrun.state import StageStatus

Outcome = Tuple[StageStatus, float, Optional[str]]  # status, duration in seconds, traceback


def run_stage(name: str, job: Job) -> Outcome:
    """Call one stage's function; any exception, SystemExit and KeyboardInterrupt included, fails it."""
    start = time.perf_counter()
    try:
        job()
    except BaseException as e:
        return StageStatus.FAILED, time.perf_counter() - start, user_traceback(e, skip=1)
    return StageStatus.SUCCESS, time.perf_counter() - start, None


class ImportedModule(NamedTuple):
    """A jobs module that a worker on this machine imports itself, by name or else from its file."""

    name: str
    file: str


class ShippedModule(NamedTuple):
    """A jobs module sent as its source, for workers that may not have the file at all."""

    name: str
    file: str
    source: str
    digest: str


ModuleRef = Union[ImportedModule, ShippedModule]


def module_refs(jobs: Dict[str, Job], ship: bool) -> Dict[str, Tuple[ModuleRef, str]]:
    """For each stage, how a worker in another process finds its function: its module, and its name
    there. Raises JobsError, before anything runs, for a function that cannot be found so."""
    by_module: Dict[str, ModuleRef] = {}
    refs: Dict[str, Tuple[ModuleRef, str]] = {}
    for name, job in jobs.items():
        fn = getattr(job, "__wrapped__", job)  # an async stage's runner wraps the user's function
        module = sys.modules.get(getattr(fn, "__module__", "") or "")
        file = getattr(module, "__file__", None)
        function = getattr(fn, "__name__", "")
        if module is None or not file or getattr(module, function, None) is not fn:
            raise JobsError(
                f"the function for stage '{name}' is not defined at the top level of a jobs module with a "
                "file under its own name; stages that run in other processes are looked up there by name",
                hint="use --executor thread, or define the function in the jobs module",
            )
        ref = by_module.get(module.__name__)
        if ref is None:
            ref = by_module[module.__name__] = _module_ref(module.__name__, file, ship)
        refs[name] = (ref, function)
    return refs


def _module_ref(name: str, file: str, ship: bool) -> ModuleRef:
    if not ship:
        return ImportedModule(name, file)
    try:
        source = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise JobsError(f"cannot read the jobs module's source {file} to send it to the workers: {e}") from None
    return ShippedModule(name, file, source, digest(source.encode()))


_loaded: Dict[object, ModuleType] = {}  # per worker process: each module is loaded once


_worker_logs = None  # a StageLogs of this worker process, made when a stage first has a log


def run_logged_stage(ref: ModuleRef, name: str, log: str, attempt: int) -> Outcome:
    """`run_remote_stage` with the stage's output in the log file `log` (the worker's logs folder
    and the stage's file name there both come from dagrun)."""
    global _worker_logs
    from dagrun.stage_logs import StageLogs

    path = Path(log)
    if _worker_logs is None or _worker_logs.folder != path.parent:
        _worker_logs = StageLogs(path.parent, ())
        _worker_logs.install()
    target = _worker_logs.begin(path.name[: -len(".log")], attempt)
    try:
        return run_remote_stage(ref, name)
    finally:
        _worker_logs.end(target)


def run_remote_stage(ref: ModuleRef, name: str) -> Outcome:
    """The task a worker runs: find the function `name` in the jobs module, then call it."""
    start = time.perf_counter()
    try:
        key = (ref.name, ref.file, ref.digest) if isinstance(ref, ShippedModule) else ref
        module = _loaded.get(key)
        if module is None:
            module = _loaded[key] = _load(ref)
        job = as_job(getattr(module, name))
    except BaseException as e:
        error = f"cannot load the stage in the worker:\n{user_traceback(e)}"
        return StageStatus.FAILED, time.perf_counter() - start, error
    return run_stage(name, job)


_capture_lock = threading.Lock()


def run_captured_stage(ref: ModuleRef, name: str) -> Tuple[Outcome, str, str]:
    """`run_remote_stage` where dagrun does not own the worker's output (a Dask worker): what the
    stage prints comes back with its outcome, for dagrun to show."""
    from dagrun.stage_logs import ThreadRouter

    with _capture_lock:  # once per worker process: each stream routes by thread from then on
        if not isinstance(sys.stdout, ThreadRouter):
            sys.stdout = ThreadRouter(sys.stdout, threading.local())
        if not isinstance(sys.stderr, ThreadRouter):
            sys.stderr = ThreadRouter(sys.stderr, threading.local())
        streams = sys.stdout, sys.stderr
    buffers = io.StringIO(), io.StringIO()
    for stream, buffer in zip(streams, buffers):
        stream.local.target = buffer
    try:
        outcome = run_remote_stage(ref, name)
    finally:
        for stream in streams:
            stream.local.target = None
    return outcome, buffers[0].getvalue(), buffers[1].getvalue()


def _load(ref: ModuleRef) -> ModuleType:
    if isinstance(ref, ShippedModule):
        return _exec_source(ref)
    module = sys.modules.get(ref.name)
    if module is None or getattr(module, "__file__", None) != ref.file:
        spec = importlib.util.find_spec(ref.name)
        if spec is not None and spec.origin == ref.file:
            module = importlib.import_module(ref.name)
        else:  # loaded from a path in dagrun, and not importable by name here
            spec = importlib.util.spec_from_file_location(ref.name, ref.file)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {ref.file}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[ref.name] = module
            spec.loader.exec_module(module)
    return module


def _exec_source(ref: ShippedModule) -> ModuleType:
    """The module as dagrun's machine has it, whatever version (if any) this worker could import."""
    module = ModuleType(ref.name)
    module.__file__ = ref.file
    # Tracebacks show the lines of the source that ran, even where the file does not exist.
    linecache.cache[ref.file] = (len(ref.source), None, ref.source.splitlines(True), ref.file)
    sys.modules[ref.name] = module  # so dataclasses and pickling inside the module find it
    exec(compile(ref.source, ref.file, "exec"), module.__dict__)
    return module


__all__ = [
    "ImportedModule",
    "ModuleRef",
    "Outcome",
    "ShippedModule",
    "module_refs",
    "run_captured_stage",
    "run_logged_stage",
    "run_remote_stage",
    "run_stage",
]
