"""A pipeline: its stages, what each needs, and the checks that make it one (names that can be
functions, known dependencies, no cycle), whichever way it was written."""

from __future__ import annotations

import bisect
import keyword
import posixpath
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from dagrun.core.graph import CycleError, topological_order
from dagrun.errors import SpecError, UsageError

# Beyond this many problems the list stops helping.
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Stage:
    """One stage: its name (also its function's name, unless `run` names another), what it needs,
    where it was written, and the options of the mapping form."""

    name: str
    needs: Tuple[str, ...] = ()
    line: int = 0
    retries: int = 0  # runs again after a failure, this many times at most
    retry_delay: float = 0.0  # seconds between attempts
    timeout: Optional[float] = None  # seconds; the stage fails when it runs longer
    run: Optional[str] = None  # "function" in the jobs module, or "module:function"
    # Files, folders or globs, relative to the stages file's folder; see store/fresh.py.
    inputs: Tuple[str, ...] = ()
    outputs: Tuple[str, ...] = ()
    params: Tuple[Tuple[str, object], ...] = ()  # keyword arguments of the function, in file order
    via: Tuple[Tuple[str, str], ...] = ()  # needs the file did not list: (stage, its output this one reads)

    @property
    def has_options(self) -> bool:
        return bool(self.retries or self.retry_delay or self.timeout is not None or self.run or self.declares)

    @property
    def declares(self) -> bool:
        """Whether the stage says what it reads, writes or takes: only such a stage can be stale."""
        return bool(self.inputs or self.outputs or self.params)

    @property
    def kwargs(self) -> Dict[str, object]:
        return dict(self.params)

    @classmethod
    def _without_options(cls, name: str, needs: Tuple[str, ...], line: int) -> Stage:
        """The usual stage, made in less than half the time of __init__, which sets every field
        through object.__setattr__ (the class is frozen): the options keep their defaults, which the
        class itself holds. It compares, hashes, prints, pickles and replaces as Stage(name, needs,
        line) does; only its instance __dict__ lacks the options."""
        stage = object.__new__(cls)
        stage.__dict__.update(name=name, needs=needs, line=line)
        return stage


@dataclass(frozen=True)
class Pipeline:
    """A validated, acyclic set of stages in file order, with a topological order computed once."""

    path: Path
    stages: Mapping[str, Stage]
    order: Tuple[str, ...] = field(repr=False)

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(self.stages)

    def where(self, name: str) -> str:
        """`file:line` of a stage, for messages."""
        line = self.stages[name].line
        return f"{self.path}:{line}" if line else str(self.path)

    def needs(self) -> Dict[str, Tuple[str, ...]]:
        """Stage name to the stages it needs directly."""
        return {name: stage.needs for name, stage in self.stages.items()}

    def dependents(self) -> Dict[str, List[str]]:
        """Stage name to the stages that need it directly."""
        out: Dict[str, List[str]] = {name: [] for name in self.stages}
        for stage in self.stages.values():
            for dep in stage.needs:
                out[dep].append(stage.name)
        return out

    def check_names(self, names: Iterable[str]) -> Tuple[str, ...]:
        """The names, each checked to be a stage; raises UsageError naming the first that is not."""
        checked = tuple(dict.fromkeys(names))
        for name in checked:
            if name not in self.stages:
                maybe = did_you_mean(name, self.stages)
                raise UsageError(f"no stage '{name}' in {self.path}{maybe}", hint="`dagrun plan` lists the stages")
        return checked

    def upstream(self, names: Iterable[str]) -> FrozenSet[str]:
        """The names and every stage they need, directly or not."""
        return _closure(names, self.needs())

    def downstream(self, names: Iterable[str]) -> FrozenSet[str]:
        """The names and every stage that needs them, directly or not."""
        return _closure(names, self.dependents())

    @classmethod
    def from_dict(
        cls, stages: Mapping[str, Optional[Sequence[str]]], path: Union[str, Path] = "<pipeline>"
    ) -> Pipeline:
        """Build a pipeline from Python data, with the same checks as a stages file."""
        raw = []
        for name, needs in stages.items():
            if not isinstance(name, str):
                raise SpecError(f"{path}: stage name {name!r} is not a string")
            if needs is not None and (isinstance(needs, str) or not isinstance(needs, Sequence)):
                raise SpecError(f"{path}: stage '{name}': dependencies must be a list of stage names")
            deps = [(dep, 0) for dep in needs or ()]
            if any(not isinstance(dep, str) for dep, _ in deps):
                raise SpecError(f"{path}: stage '{name}': dependencies must be stage names (strings)")
            raw.append(RawStage(name, 0, deps))
        return validate(Path(path), raw, [])


def _closure(start: Iterable[str], edges: Mapping[str, Sequence[str]]) -> FrozenSet[str]:
    seen = set(start)
    todo = list(seen)
    while todo:
        for other in edges[todo.pop()]:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return frozenset(seen)


@dataclass
class RawStage:
    name: str
    line: int
    needs: List[Tuple[str, int]]  # dependency name and its line
    options: Dict[str, object] = field(default_factory=dict)  # of the mapping form, checked


def validate(path: Path, raw: List[RawStage], problems: List[str]) -> Pipeline:
    """Check names and dependencies, adding to the `problems` found so far; raise them all at once."""
    if not raw and not problems:
        raise SpecError(f"{path}: the stages file defines no stages", hint="add a stage, for example 'Build: []'")
    names = {stage.name for stage in raw}
    stages: Dict[str, Stage] = {}
    for stage in raw:
        problem = name_problem(stage.name)
        if problem:
            at = f"{path}:{stage.line}" if stage.line else str(path)
            shown = stage.name if len(stage.name) <= 60 else f"{stage.name[:40]}..."
            problems.append(f"{at}: stage '{shown}' {problem}")
        deps = tuple([dep for dep, _ in stage.needs])
        if stage.name in deps or not names.issuperset(deps) or len(set(deps)) < len(deps):
            problems += _dependency_problems(path, stage, names)
        if not problems:  # once there is one, only more problems are looked for
            if stage.options:
                stages[stage.name] = Stage(stage.name, deps, stage.line, **stage.options)  # type: ignore[arg-type]
            else:
                stages[stage.name] = Stage._without_options(stage.name, deps, stage.line)
    if not problems and any(stage.options for stage in raw):
        _add_file_edges(path, stages, problems)
    _raise_if(path, problems)
    try:
        order = topological_order({name: stage.needs for name, stage in stages.items()})
    except CycleError as e:
        first = e.cycle[0]
        line = stages[first].line
        raise SpecError(
            f"{path}{':' + str(line) if line else ''}: the stages form a cycle: "
            f"{' -> '.join(e.cycle)} (each stage needs the next)",
            hint="remove one of these dependencies",
        ) from None
    return Pipeline(path, stages, order)


def _add_file_edges(path: Path, stages: Dict[str, Stage], problems: List[str]) -> None:
    """A stage that reads another's output needs it, listed or not; an output has one writer."""
    writers: Dict[str, str] = {}
    for stage in stages.values():
        for output in stage.outputs:
            other = writers.setdefault(output, stage.name)
            if other != stage.name:
                problems.append(
                    f"{path}:{stage.line}: stages '{other}' (line {stages[other].line}) and '{stage.name}' both "
                    f"declare the output {output!r}; a file has one writer"
                )
            if output in stage.inputs:
                problems.append(
                    f"{path}:{stage.line}: stage '{stage.name}' declares {output!r} as both input and output; "
                    "it would be stale after every run"
                )
    if not writers or problems:
        return
    outputs = sorted(writers)
    for name, stage in list(stages.items()):
        via: Dict[str, str] = {}
        for pattern in stage.inputs:
            for output in _candidates(pattern, outputs, writers):
                writer = writers[output]
                if writer != name and writer not in stage.needs and writer not in via and _reads(pattern, output):
                    via[writer] = output
        if via:
            stages[name] = replace(stage, needs=stage.needs + tuple(via), via=tuple(via.items()))


def is_glob(path: str) -> bool:
    """Whether a declared path is a pattern (`*`, `?`, `[`) rather than one file or folder."""
    return "*" in path or "?" in path or "[" in path


def _candidates(pattern: str, outputs: List[str], writers: Mapping[str, str]) -> List[str]:
    """The outputs (`outputs` sorted) that `pattern` could read: those under its literal start,
    found by bisection, and the folders above it. Comparing every input with every output would
    take minutes for 10,000 stages."""
    wild = [i for i in (pattern.find(c) for c in "*?[") if i >= 0]
    literal = pattern[: min(wild)] if wild else pattern
    found: List[str] = []
    folder = literal.rstrip("/")
    while folder:
        if folder in writers:
            found.append(folder)
        parent = posixpath.dirname(folder)
        folder = parent if parent != folder else ""  # "/" is its own parent
    i = bisect.bisect_left(outputs, literal)
    while i < len(outputs) and outputs[i].startswith(literal):
        found.append(outputs[i])
        i += 1
    return found


def _reads(pattern: str, output: str) -> bool:
    """Whether the input `pattern` (a file, a folder or a glob) takes in the output `output`."""
    if pattern == output or output.startswith(pattern.rstrip("/") + "/") or pattern.startswith(output + "/"):
        return True
    if is_glob(pattern):
        import fnmatch  # here: only stages files with globs need it

        return fnmatch.fnmatchcase(output, pattern) or fnmatch.fnmatchcase(output, pattern.rstrip("/") + "/*")
    return False


def _dependency_problems(path: Path, stage: RawStage, names: Set[str]) -> List[str]:
    """What is wrong with a stage's list: itself, unknown stages, or a stage listed twice."""
    problems: List[str] = []
    seen = set()
    for dep, dep_line in stage.needs:
        where = f"{path}:{dep_line or stage.line}" if (dep_line or stage.line) else str(path)
        if dep == stage.name:
            problems.append(f"{where}: stage '{dep}' depends on itself; remove '{dep}' from its list")
        elif dep not in names:
            hint = did_you_mean(dep, names)
            problems.append(f"{where}: stage '{stage.name}' needs '{dep}', which is not a stage{hint}")
        elif dep in seen:
            problems.append(f"{where}: stage '{stage.name}' lists '{dep}' twice; keep one")
        seen.add(dep)
    return problems


MAX_NAME_BYTES = 200  # a stage's name names its log file, and a file name holds at most 255 bytes


def name_problem(name: str) -> Optional[str]:
    """Why `name` cannot be a stage, or None: each stage calls the function of the same name."""
    if len(name) > MAX_NAME_BYTES // 4 and len(name.encode("utf-8")) > MAX_NAME_BYTES:
        size = len(name.encode("utf-8"))
        return f"is {size} bytes long; a stage name can have at most {MAX_NAME_BYTES} (it names a log file)"
    if not name.isidentifier():
        return "cannot name a Python function; use letters, digits and underscores, not starting with a digit"
    if keyword.iskeyword(name):
        return "is a Python keyword and cannot name a function; rename the stage"
    if name.startswith("_"):
        return "starts with '_', which marks a private name in Python; rename the stage"
    if not name.isascii():
        import unicodedata  # here: only names beyond ASCII need it

        plain = unicodedata.normalize("NFKC", name)
        if plain != name:  # a full-width A in `def` defines A: no function has this name
            return f"is read by Python as '{plain}' (it normalizes names to NFKC); write '{plain}'"
    return None


def close_matches(word: str, candidates: Iterable[str]) -> List[str]:
    """The one candidate that looks most like `word`, if any: for "did you mean" hints."""
    import difflib  # here: only a mistake needs it, and start-up counts

    return difflib.get_close_matches(word, candidates, n=1)


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """The hint " (did you mean 'x'?)" for the name that looks most like `name`, else for the first
    that differs only in case, else "": for messages about a name that is not there."""
    ordered = sorted(names)
    close = close_matches(name, ordered)
    if not close:
        close = [n for n in ordered if n.lower() == name.lower()][:1]
    return f" (did you mean '{close[0]}'?)" if close else ""


def _raise_if(path: Path, problems: List[str]) -> None:
    if not problems:
        return
    if len(problems) == 1:
        raise SpecError(problems[0])
    shown = problems[:MAX_PROBLEMS]
    more = len(problems) - len(shown)
    lines = "\n".join("  " + p for p in shown) + (f"\n  ... and {more} more" if more else "")
    raise SpecError(f"{path}: {len(problems)} problems in the stages file:\n{lines}")
