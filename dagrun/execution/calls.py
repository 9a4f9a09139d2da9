"""How a stage's function is called: here, or in a worker process or on a Dask worker, where a
function cannot be sent itself and travels as a reference or as its module's source instead.

What comes back is always an outcome, never an exception: a stage that raises anything fails, and
only the death of the process running it is left for the pool to report."""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import linecache
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Dict, NamedTuple, Optional, Tuple, Union

from dagrun.core.digest import digest
from dagrun.core.status import StageStatus
from dagrun.errors import JobsError
from dagrun.jobs.loading import Job, as_job, user_traceback

CallResult = Tuple[StageStatus, float, Optional[str]]  # status, duration in seconds, traceback
Params = Dict[str, object]  # keyword arguments of a stage's function


def run_stage(name: str, job: Job) -> CallResult:
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


def module_refs(jobs: Dict[str, Job], ship: bool) -> Dict[str, Tuple[ModuleRef, str, Params]]:
    """For each stage, how a worker in another process finds its function: its module, its name
    there, and the params it is called with. Raises JobsError, before anything runs, for a function
    that cannot be found so."""
    by_module: Dict[str, ModuleRef] = {}
    refs: Dict[str, Tuple[ModuleRef, str, Params]] = {}
    for name, job in jobs.items():
        params: Params = {}
        if isinstance(job, functools.partial):  # a stage with params (jobs.loading)
            params = dict(job.keywords)
            job = job.func
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
        refs[name] = (ref, function, params)
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


def run_logged_stage(ref: ModuleRef, name: str, params: Params, log: str, attempt: int) -> CallResult:
    """`run_remote_stage` in a worker process, with descriptors 1 and 2 in the stage's log file
    `log`: what the stage prints, its `logging` records and what every program it starts writes.
    A stage that writes nothing leaves no file (and a retry no lone separator)."""
    from dagrun.execution.capture import descriptors_to

    _log_records_to_stderr()
    path = Path(log)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        before = os.fstat(fd).st_size
        header = f"--- attempt {attempt} ---\n".encode() if attempt > 1 else b""
        os.write(fd, header)
        with descriptors_to(fd):
            outcome = run_remote_stage(ref, name, params)
        if os.fstat(fd).st_size == before + len(header):
            if before:
                os.ftruncate(fd, before)
            else:
                os.unlink(path)
    finally:
        os.close(fd)
    return outcome


_logging_set_up = False


def _log_records_to_stderr() -> None:
    """Once per worker: `logging` records go to sys.stderr (the stage's log) as in dagrun's threads."""
    global _logging_set_up
    if not _logging_set_up:
        import logging

        from dagrun.store.logs import LOG_FORMAT

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().addHandler(handler)
        _logging_set_up = True


def run_remote_stage(ref: ModuleRef, name: str, params: Params) -> CallResult:
    """The task a worker runs: find the function `name` in the jobs module, then call it."""
    start = time.perf_counter()
    try:
        key = (ref.name, ref.file, ref.digest) if isinstance(ref, ShippedModule) else ref
        module = _loaded.get(key)
        if module is None:
            module = _loaded[key] = _load(ref)
        job = as_job(getattr(module, name))
        if params:
            job = functools.partial(job, **params)
    except BaseException as e:
        error = f"cannot load the stage in the worker:\n{user_traceback(e)}"
        return StageStatus.FAILED, time.perf_counter() - start, error
    return run_stage(name, job)


_routes: Optional[threading.local] = None  # per Dask worker process: its stages' threads' outputs
_routes_lock = threading.Lock()
_descriptors = threading.Lock()  # held by the one stage whose descriptors 1 and 2 are caught


def run_captured_stage(ref: ModuleRef, name: str, params: Params, cwd: Optional[str] = None) -> Tuple[CallResult, str]:
    """`run_remote_stage` where dagrun does not own the worker's output (a Dask worker): what the
    stage writes comes back with its outcome, for dagrun to show or log. sys.stdout and sys.stderr
    are routed by thread; descriptors 1 and 2 (the stage's programs) are caught too while this is
    the only stage of the worker that runs, which a worker with one thread always has. With `cwd`
    (a local cluster, whose workers started elsewhere), the stage runs in that folder."""
    global _routes
    if cwd is not None and os.getcwd() != cwd:
        os.chdir(cwd)
    from dagrun.execution.capture import StreamRouter, descriptors_to
    from dagrun.store.logs import Target

    with _routes_lock:
        if _routes is None:
            _routes = threading.local()
            sys.stdout = StreamRouter(sys.stdout, _routes)
            sys.stderr = StreamRouter(sys.stderr, _routes)
    fd, file = tempfile.mkstemp(prefix="dagrun-stage-", suffix=".log")
    os.close(fd)
    target = _routes.target = Target(None, "", 1, Path(file))
    try:
        alone = _descriptors.acquire(blocking=False)
        try:
            with descriptors_to(target.stream.fileno()) if alone else contextlib.nullcontext():
                outcome = run_remote_stage(ref, name, params)
        finally:
            if alone:
                _descriptors.release()
    finally:
        _routes.target = None
        target.close()
        with open(file, encoding="utf-8", errors="replace") as f:
            text = f.read()
        os.unlink(file)
    return outcome, text


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
    "CallResult",
    "ImportedModule",
    "ModuleRef",
    "ShippedModule",
    "module_refs",
    "run_captured_stage",
    "run_logged_stage",
    "run_remote_stage",
    "run_stage",
]
