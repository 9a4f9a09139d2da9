"""Import the jobs module (by name or by file path) and find, for every stage, the function to call."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Callable, Dict, Iterable, List, Optional

from dagrun.core.pipeline import Pipeline, did_you_mean
from dagrun.errors import JobsError

Job = Callable[[], object]
# Frames from these are dagrun's or the import machinery's, never the user's.
_NOT_USER = ("<frozen importlib", str(Path(__file__).resolve().parent), os.path.dirname(importlib.__file__))


def load_jobs(
    ref: str, pipeline: Pipeline, cwd: Optional[Path] = None, *, stages: Optional[Iterable[str]] = None
) -> Dict[str, Job]:
    """Stage name to the function that runs it, for every stage (or just `stages`, say those a
    target run can run); every stage that has none is reported at once."""
    search = [cwd or Path.cwd(), pipeline.path.parent]
    return stage_functions(import_jobs_module(ref, search), pipeline, search, stages)


def is_path_ref(ref: str) -> bool:
    return ref.endswith(".py") or "/" in ref or os.sep in ref


def import_jobs_module(ref: str, search: Iterable[Path]) -> ModuleType:
    """Import `ref`, a module name looked up first in the `search` folders, or a path to a .py file
    (always loaded afresh). Raises JobsError with the user's own traceback frames.

    The folders go at the end of sys.path: the files beside a jobs module can be imported, but never
    in place of a module of the standard library or an installed package, which dagrun imports too
    (a `queue.py` or `json.py` there would otherwise replace the real one inside dagrun)."""
    folders = [Path(f).resolve() for f in search]
    if is_path_ref(ref):
        return _import_path(ref, folders)
    if not all(part.isidentifier() for part in ref.split(".")):
        raise JobsError(
            f"--jobs {ref!r} is neither a module name nor a path to a .py file",
            hint="pass a module name such as foo_jobs, or a path such as jobs/foo_jobs.py",
        )
    _add_to_path(folders)
    local = next((folder / f"{ref}.py" for folder in folders if (folder / f"{ref}.py").is_file()), None)
    if local is not None:  # the user's file, even if the standard library has a module of its name
        return _import_file(local, ref)
    try:
        return importlib.import_module(ref)
    except ModuleNotFoundError as e:
        if e.name is not None and (ref == e.name or ref.startswith(e.name + ".")):
            looked = ", ".join(dict.fromkeys(str(f) for f in folders))
            raise JobsError(
                f"cannot find the jobs module '{ref}' (looked in {looked} and the installed packages)",
                hint="pass a module name importable from the current folder, or a path to a .py file",
            ) from None
        raise _import_failed(ref, e) from None
    except BaseException as e:  # the module's own code may raise anything, SystemExit included
        if isinstance(e, KeyboardInterrupt):
            raise
        raise _import_failed(ref, e) from None


def _add_to_path(folders: Iterable[Path]) -> None:
    for folder in folders:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))


def _import_path(ref: str, folders: List[Path]) -> ModuleType:
    candidates = [Path(ref)] if Path(ref).is_absolute() else [folder / ref for folder in folders]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise JobsError(
            f"no jobs file {ref!r} (looked in {', '.join(dict.fromkeys(str(c.parent) for c in candidates))})",
            hint="check the path given to --jobs",
        )
    _add_to_path([path.parent.resolve()])  # as for a script: its siblings can be imported
    return _import_file(path, str(path))


def _import_file(path: Path, ref: str) -> ModuleType:
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise JobsError(f"{path}: cannot be imported as a Python module", hint="--jobs takes a .py file")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module  # so pickling and dataclasses in the module work
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        if previous is not None:
            sys.modules[name] = previous
        else:
            sys.modules.pop(name, None)
        if isinstance(e, KeyboardInterrupt):
            raise
        raise _import_failed(ref, e) from None
    return module


def _module_name(path: Path) -> str:
    """The file's own name as a module, unless that name is another module's (`json.py`, `queue.py`,
    or a second file of the same name): then one of dagrun's, which replaces nothing."""
    name = path.stem if path.stem.isidentifier() else "dagrun_jobs"
    file = str(path.resolve())
    existing = sys.modules.get(name)
    if existing is not None:
        mine = getattr(existing, "__file__", None)
        return name if mine and os.path.realpath(mine) == file else f"dagrun_jobs_{name}"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or (spec.origin is not None and os.path.realpath(spec.origin) == file):
        return name
    return f"dagrun_jobs_{name}"


def _import_failed(ref: str, e: BaseException) -> JobsError:
    head = "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()[-1]
    return JobsError(f"cannot import the jobs module '{ref}': {head}\n{user_traceback(e)}")


def user_traceback(e: BaseException, skip: int = 0) -> str:
    """The exception with only the user's frames: none from importlib or dagrun itself."""
    frames = [f for f in traceback.extract_tb(e.__traceback__)[skip:] if not f.filename.startswith(_NOT_USER)]
    head = "".join(traceback.format_exception_only(type(e), e)).rstrip()
    if not frames:
        return head
    body = "".join(traceback.format_list(frames)).rstrip()
    return f"Traceback (most recent call last):\n{body}\n{head}"


def stage_functions(
    module: ModuleType, pipeline: Pipeline, search: Iterable[Path] = (), only: Optional[Iterable[str]] = None
) -> Dict[str, Job]:
    """Check that each stage has a plain function of its name (or the one its `run` option names),
    defined in its module itself and callable without arguments; report every stage that has not,
    before anything runs. Modules named by `run` are imported from the `search` folders."""
    jobs: Dict[str, Job] = {}
    problems: List[str] = []
    params_only = True  # every problem is a function that cannot take its stage's params
    modules = {"": module}
    chosen = None if only is None else set(only)
    wanted = pipeline.stages if chosen is None else {n: s for n, s in pipeline.stages.items() if n in chosen}
    for name, stage in wanted.items():
        run = stage.run
        if run is None:  # the usual case: the function of the stage's name, in the jobs module
            home, function = module, name
        else:
            module_name, _, function = run.rpartition(":")
            if module_name not in modules:
                try:
                    modules[module_name] = import_jobs_module(module_name, search)
                except JobsError as e:
                    problems.append(f"  {name} ({pipeline.where(name)}): run: {run}: {e.message}")
                    continue
            home = modules[module_name]
        obj = vars(home).get(function)
        if stage.params:
            problem = _why_not_a_job(function, obj, home, _public(home) if obj is None else [], stage.kwargs)
            if problem:
                problems.append(f"  {name} ({pipeline.where(name)}): {'run: ' + run + ': ' if run else ''}{problem}")
                params_only = params_only and "param" in problem
            else:
                jobs[name] = functools.partial(as_job(obj), **stage.kwargs)  # type: ignore[arg-type]
            continue
        if _plain_function(obj, home):  # the usual case, checked in a fraction of the time
            jobs[name] = obj  # type: ignore[assignment]
            continue
        problem = _why_not_a_job(function, obj, home, _public(home) if obj is None else [])
        if problem:
            via = f"run: {run}: " if run else ""
            problems.append(f"  {name} ({pipeline.where(name)}): {via}{problem}")
            params_only = False
        else:
            jobs[name] = as_job(obj)  # type: ignore[arg-type]
    if problems:
        where = getattr(module, "__file__", None) or module.__name__
        count = f"{len(problems)} stage{'s' if len(problems) > 1 else ''}"
        raise JobsError(
            f"the jobs module '{module.__name__}' ({where}) has no usable function for {count}:\n"
            + "\n".join(problems),
            hint="give each function a parameter for each of its stage's params (or take **params)"
            if params_only
            else f"define 'def <stage name>():' in {where} for each",
        )
    return jobs


def _public(module: ModuleType) -> List[str]:
    return sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_"))


_MISSING = object()
_SPECIAL = inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR | inspect.CO_COROUTINE


def _plain_function(obj: object, module: ModuleType) -> bool:
    """A function defined in `module`, not a coroutine or generator, with no parameters and no
    wrapper or signature of its own: a stage as is. Anything else goes through the full checks."""
    # getattr, not `in obj.__dict__`: a function makes its __dict__ when first asked for it.
    return (
        type(obj) is FunctionType
        and obj.__module__ == module.__name__
        and not obj.__code__.co_flags & _SPECIAL
        and obj.__code__.co_argcount == obj.__code__.co_kwonlyargcount == 0
        and getattr(obj, "__wrapped__", _MISSING) is _MISSING
        and getattr(obj, "__signature__", _MISSING) is _MISSING
        and getattr(obj, "_is_coroutine_marker", _MISSING) is _MISSING
    )


def _why_not_a_job(
    name: str, obj: object, module: ModuleType, public: List[str], params: Optional[Dict[str, object]] = None
) -> Optional[str]:
    if obj is None:
        return f"no function '{name}'{did_you_mean(name, public)}"
    if inspect.ismodule(obj):
        return f"'{name}' is a module the jobs file imports, not a function"
    if inspect.isclass(obj):
        return f"'{name}' is a class, not a function"
    if not inspect.isfunction(obj):
        kind = type(obj).__name__
        return f"'{name}' is {'an' if kind[:1] in 'aeiouAEIOU' else 'a'} {kind}, not a function"
    if obj.__module__ != module.__name__:
        return f"'{name}' is imported from '{obj.__module__}'; a stage must be a function defined in the jobs module"
    if inspect.isgeneratorfunction(obj) or inspect.isasyncgenfunction(obj):
        return f"'{name}' is a generator function; a stage function must return, not yield"
    if params:
        return _cannot_take(name, obj, params)
    if _needs_arguments(obj):
        return f"'{name}{inspect.signature(obj)}' needs arguments; dagrun calls stage functions with none"
    return None


def _cannot_take(name: str, fn: Callable[..., object], params: Dict[str, object]) -> Optional[str]:
    """Why `fn` cannot be called with the stage's params as keyword arguments, naming the param."""
    signature = inspect.signature(fn)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    for param in params:
        p = signature.parameters.get(param)
        if (p is None and not accepts_any) or (p is not None and p.kind is inspect.Parameter.POSITIONAL_ONLY):
            return f"'{name}{signature}' cannot take the param '{param}'; add it to the function's parameters"
    try:
        signature.bind(**params)
    except TypeError as e:
        return f"'{name}{signature}' cannot be called with its params: {e}; give it a default or a param"
    return None


def _needs_arguments(fn: Callable[..., object]) -> bool:
    # The code object answers for a plain function in a fraction of inspect.signature's time,
    # which matters with 100,000 stages; wrapped or annotated signatures take the slow path.
    if hasattr(fn, "__wrapped__") or hasattr(fn, "__signature__"):
        try:
            inspect.signature(fn).bind()
        except TypeError:
            return True
        return False
    code = fn.__code__
    required = code.co_argcount - len(fn.__defaults__ or ())  # co_argcount counts positional-only ones too
    kwonly_required = code.co_kwonlyargcount - len(fn.__kwdefaults__ or {})
    return required > 0 or kwonly_required > 0


def as_job(fn: Callable[[], object]) -> Job:
    if inspect.iscoroutinefunction(fn):
        import asyncio  # only pipelines with async stages pay for importing it

        # Each async stage gets its own event loop in the worker that runs it.
        def run_coroutine(**params: object) -> object:
            return asyncio.run(fn(**params))  # type: ignore[arg-type,unused-ignore]

        run_coroutine.__name__ = fn.__name__
        run_coroutine.__qualname__ = fn.__qualname__
        run_coroutine.__wrapped__ = fn  # type: ignore[attr-defined]  # how workers in other processes find it
        return run_coroutine
    return fn


__all__ = ["Job", "as_job", "import_jobs_module", "load_jobs", "stage_functions", "user_traceback"]
