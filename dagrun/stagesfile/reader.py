"""Read and validate a stages file into a Pipeline, naming the file, line and stage of every problem."""

from __future__ import annotations

import keyword
import os
import posixpath
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import yaml

from dagrun.core.memory import gc_paused
from dagrun.core.pipeline import Pipeline, RawStage, Stage, close_matches, is_glob, name_problem, validate
from dagrun.core.yamltree import TooDeepError, compose_shallow, read_name_lists
from dagrun.errors import SpecError, UsageError
from dagrun.stagesfile import cache as pipeline_cache

# A stages file is a short list of names; anything this big is a mistake or an attack.
MAX_FILE_BYTES = 64 * 1024 * 1024


_TAG = "tag:yaml.org,2002:"


# What YAML 1.1 turns an unquoted key into, in words a user understands.
_TAG_KINDS = {
    _TAG + "bool": "a boolean",
    _TAG + "int": "a number",
    _TAG + "float": "a number",
    _TAG + "null": "null",
    _TAG + "timestamp": "a date",
}


def load_pipeline(path: Union[str, Path]) -> Pipeline:
    """Read and validate a stages file; raises SpecError naming the file, line and stage."""
    with gc_paused():
        return _load_pipeline(Path(path))


def _load_pipeline(path: Path) -> Pipeline:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(
            f"{path}: no such stages file",
            hint="create it (see stages.example.yaml) or pass its path: dagrun run path/to/stages.yaml",
        ) from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a folder, not a stages file") from None
    except OSError as e:
        raise SpecError(f"{path}: cannot read the stages file: {e.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(f"{path}: the stages file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    cached = _from_cache(path, data)
    if cached is not None:
        return cached
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SpecError(f"{path}:{line}: not UTF-8 text (byte {e.start})", hint="save the file as UTF-8") from None
    pipeline = parse_pipeline(text, path)
    if len(data) >= pipeline_cache.MIN_BYTES:
        entry = [(s.name, s.line, list(s.needs), _options_of(s)) for s in pipeline.stages.values()]
        import json

        try:  # params that JSON cannot hold as they are (a date, a tuple) are not cached
            exact = json.loads(json.dumps([e[3] for e in entry])) == [e[3] for e in entry]
        except (TypeError, ValueError):
            exact = False
        if exact:
            pipeline_cache.store(data, (entry, list(pipeline.order)))
    return pipeline


# What the cache keeps of a stage beyond its name, line and needs: the options it has.
_CACHED = ("retries", "retry_delay", "timeout", "run", "inputs", "outputs", "params", "via")


def _options_of(stage: Stage) -> Dict[str, Any]:
    if not stage.has_options:
        return {}
    out: Dict[str, Any] = {}
    for key in _CACHED:
        value = getattr(stage, key)
        if value != getattr(Stage, key):
            out[key] = (
                [list(v) for v in value]
                if key in ("params", "via")
                else list(value)
                if key in ("inputs", "outputs")
                else value
            )
    return out


def _strings(value: Any) -> bool:
    return type(value) is list and all(type(x) is str for x in value)


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


# For each option a cache entry may hold: whether its JSON value is one the reader makes, and the
# value the Stage holds. An entry with anything else is not trusted.
_FROM_CACHE: Dict[str, Tuple[Callable[[Any, Tuple[str, ...]], bool], Callable[[Any], Any]]] = {
    "retries": (lambda v, _: type(v) is int and v >= 0, int),
    "retry_delay": (lambda v, _: _is_number(v) and v >= 0, float),
    "timeout": (lambda v, _: _is_number(v) and v > 0, float),
    "run": (lambda v, _: type(v) is str, str),
    "inputs": (lambda v, _: _strings(v), tuple),
    "outputs": (lambda v, _: _strings(v), tuple),
    "params": (
        lambda v, _: type(v) is list and all(type(p) is list and len(p) == 2 and str(p[0]).isidentifier() for p in v),
        lambda v: tuple((k, x) for k, x in v),
    ),
    "via": (
        lambda v, needs: all(_strings(p) and len(p) == 2 and p[0] in needs for p in v),
        lambda v: tuple((k, x) for k, x in v),
    ),
}


def _cached_stage(name: str, line: int, needs: Tuple[str, ...], options: Dict[str, Any]) -> Optional[Stage]:
    """The stage a cache entry describes, or None if its options are not what the reader makes."""
    stage = Stage._without_options(name, needs, line)  # then the options it has, as __init__ would
    for key, value in options.items():
        check, convert = _FROM_CACHE.get(key, (None, None))
        if check is None or convert is None or not check(value, needs):
            return None
        stage.__dict__[key] = convert(value)
    return stage


def _from_cache(path: Path, data: bytes) -> Optional[Pipeline]:
    """The pipeline a cache entry holds for these bytes, after a check that it is one: a damaged or
    foreign entry is ignored, never trusted."""
    entry = pipeline_cache.lookup(data)
    if entry is None:
        return None
    raw, order = entry
    stages: Dict[str, Stage] = {}
    for name, line, needs, options in raw:
        stage = _cached_stage(name, line, tuple(needs), options)
        if stage is None:
            return None
        stages[name] = stage
    position = {name: i for i, name in enumerate(order)}
    if len(stages) != len(raw) or len(position) != len(order) or position.keys() != stages.keys():
        return None
    for stage in stages.values():
        if name_problem(stage.name) or any(position.get(d, len(order)) >= position[stage.name] for d in stage.needs):
            return None
    return Pipeline(path, stages, tuple(order))


def parse_pipeline(text: str, path: Union[str, Path] = "<string>") -> Pipeline:
    """Validate stages-file text; `path` is only used in messages."""
    path = Path(path)
    simple = read_name_lists(text)  # the usual file: names and lists of names, and nothing else
    if simple is not None:
        return validate(path, [RawStage(name, line, needs) for name, line, needs in simple], [])
    try:
        # The mapping of stages; each stage's list, or its mapping of options; the list in that.
        root = compose_shallow(text, max_depth=MAX_DEPTH)
    except yaml.MarkedYAMLError as e:
        raise SpecError(_yaml_error_message(path, e)) from None
    except yaml.YAMLError as e:  # pragma: no cover - PyYAML raises marked errors for text input
        raise SpecError(f"{path}: not valid YAML: {e}") from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _TAG + "null"):
        raise SpecError(f"{path}: the stages file is empty", hint="add a stage, for example 'Build: []'")
    if not isinstance(root, yaml.MappingNode):
        raise SpecError(
            f"{path}:{_line(root)}: the top level must be a mapping of stage names to their dependencies, "
            f"not {_describe(root)}",
            hint="write one stage per line, like 'Docs: [Coverage, Lint]'",
        )
    if root.tag != _TAG + "map":  # `--- !!set`, `--- !!python/object/apply:...`: YAML tags construct nothing here
        raise SpecError(f"{path}:{_line(root)}: the stages file is tagged {root.tag!r}; tags are not allowed")
    problems: List[str] = []
    raw: List[RawStage] = []
    first_line: Dict[str, int] = {}
    for key, value in root.value:
        name = _stage_name(path, key, problems)
        if name is None:
            continue
        line = _line(key)
        if name in first_line:
            problems.append(
                f"{path}:{line}: stage '{name}' is defined twice (first at line {first_line[name]}); "
                "merge the two entries"
            )
            continue
        first_line[name] = line
        if isinstance(value, yaml.MappingNode) and value.tag == _TAG + "map":
            options = _options(path, name, value, problems)
            raw.append(RawStage(name, line, options.pop("needs", None) or [], options))  # type: ignore[arg-type]
            continue
        needs = _needs(path, name, value, problems)
        raw.append(RawStage(name, line, needs or []))
    return validate(path, raw, problems)


# The stages mapping, a stage's options, a param's mapping, and two levels of its value; deeper
# collections are left empty by the reader, and a param that reaches them is refused.
MAX_DEPTH = 6
OPTIONS = ("needs", "retries", "retry_delay", "timeout", "run", "inputs", "outputs", "params")


def _options(path: Path, name: str, node: yaml.MappingNode, problems: List[str]) -> Dict[str, object]:
    """The mapping form of a stage: `needs` as in the list form, and the options, each checked."""
    options: Dict[str, object] = {}
    for key, value in node.value:
        at = f"{path}:{_line(key)}: stage '{name}'"
        option = key.value if isinstance(key, yaml.ScalarNode) and key.tag == _STR else None
        if option not in OPTIONS:
            shown = repr(key.value) if isinstance(key, yaml.ScalarNode) else _describe(key)
            close = close_matches(str(option or ""), OPTIONS)
            maybe = f" (did you mean '{close[0]}'?)" if close else f"; the options are {', '.join(OPTIONS)}"
            problems.append(f"{at}: unknown option {shown}{maybe}")
            continue
        if option in options:
            problems.append(f"{at}: the option '{option}' is given twice")
            continue
        if option == "needs":
            options["needs"] = _needs(path, name, value, problems)
            continue
        if option in ("inputs", "outputs"):
            files = _files(at, option, value, problems)
            if files is not None:
                options[option] = files
            continue
        if option == "params":
            params = _params(at, value, problems)
            if params is not None:
                options["params"] = params
            continue
        number = _number(value)
        if option == "retries":
            if value.tag != _TAG + "int" or number is None or number < 0:
                problems.append(f"{at}: retries must be a whole number, 0 or more, not {_describe(value)}")
            else:
                options["retries"] = int(number)
        elif option == "retry_delay":
            if number is None or number < 0:
                problems.append(f"{at}: retry_delay must be a number of seconds, 0 or more, not {_describe(value)}")
            else:
                options["retry_delay"] = number
        elif option == "timeout":
            if number is None or number <= 0:
                problems.append(f"{at}: timeout must be a number of seconds above 0, not {_describe(value)}")
            else:
                options["timeout"] = number
        elif option == "run":
            target = value.value if isinstance(value, yaml.ScalarNode) and value.tag == _STR else None
            module, _, function = str(target).rpartition(":")
            if target is None or not function.isidentifier() or (module and not _dotted(module)):
                problems.append(
                    f"{at}: run must name a function, 'function' in the jobs module or 'module:function', "
                    f"not {_describe(value)}"
                )
            else:
                options["run"] = target
    return options


def set_params(pipeline: Pipeline, assignments: Sequence[str]) -> Pipeline:
    """The pipeline with `--set Stage.param=value` applied (the value read as YAML reads it: 0.7 is
    a number, true a boolean). UsageError for an assignment that is not one."""
    stages = dict(pipeline.stages)
    for assignment in assignments:
        target, equals, text = assignment.partition("=")
        name, dot, param = target.partition(".")
        if not equals or not dot or not param.isidentifier() or keyword.iskeyword(param):
            raise UsageError(
                f"--set {assignment!r} is not STAGE.PARAM=VALUE", hint="for example --set Clean.threshold=0.7"
            )
        pipeline.check_names([name])
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as e:
            raise UsageError(f"--set {assignment!r}: the value is not plain YAML ({e})") from None
        stage = stages[name]
        params = dict(stage.params)
        params[param] = value
        stages[name] = replace(stage, params=tuple(params.items()))
    return replace(pipeline, stages=stages) if assignments else pipeline


def _files(at: str, option: str, value: yaml.Node, problems: List[str]) -> Optional[Tuple[str, ...]]:
    """`inputs` or `outputs`: a list of paths relative to the stages file's folder, each once."""
    items = value.value if isinstance(value, yaml.SequenceNode) and value.tag == _SEQ else None
    if items is None or not all(isinstance(i, yaml.ScalarNode) and i.tag == _STR and i.value for i in items):
        problems.append(f"{at}: {option} must be a list of paths (files, folders or globs), not {_describe(value)}")
        return None
    files: List[str] = []
    for item in items:
        normal = posixpath.normpath(item.value.replace(os.sep, "/"))
        if normal in (".", "/", ".dagrun") or normal.startswith(".dagrun/"):
            problems.append(
                f"{at}: {option} cannot be {item.value!r}: that folder holds dagrun's own state and logs, which "
                "change with every run; name the files or folders the stage reads or writes"
            )
        elif option == "outputs" and is_glob(normal):
            problems.append(f"{at}: the output {item.value!r} is a glob; an output names a file or a folder")
        elif normal in files:
            problems.append(f"{at}: {option} lists {item.value!r} twice; keep one")
        else:
            files.append(normal)
    return tuple(files)


def _params(at: str, value: yaml.Node, problems: List[str]) -> Optional[Tuple[Tuple[str, object], ...]]:
    """`params`: keyword arguments for the function, plain YAML values (numbers, strings, booleans,
    null, and lists or mappings of those)."""
    if not (isinstance(value, yaml.MappingNode) and value.tag == _TAG + "map"):
        problems.append(f"{at}: params must be a mapping of names to values, not {_describe(value)}")
        return None
    params: List[Tuple[str, object]] = []
    for key, item in value.value:
        name = key.value if isinstance(key, yaml.ScalarNode) and key.tag == _STR else None
        if isinstance(key, yaml.ScalarNode) and key.tag in _TAG_KINDS:
            kind = _TAG_KINDS[key.tag]
            problems.append(f"{at}: YAML reads the param name {key.value!r} as {kind}; quote it: '{key.value}'")
            continue
        if name is None or not name.isidentifier() or keyword.iskeyword(name):
            shown = repr(key.value) if isinstance(key, yaml.ScalarNode) else _describe(key)
            problems.append(f"{at}: the param {shown} cannot be a keyword argument; use a Python name")
            continue
        if any(name == known for known, _ in params):
            problems.append(f"{at}: the param '{name}' is given twice")
            continue
        if _depth(item) > 2:
            problems.append(f"{at}: the param '{name}' nests too deep; params are values, lists or mappings of values")
            continue
        try:
            params.append((name, yaml.safe_load(yaml.serialize(item))))
        except yaml.YAMLError as e:
            problems.append(f"{at}: the param '{name}' is not a plain YAML value: {e}")
    return tuple(params)


def _depth(node: yaml.Node) -> int:
    if isinstance(node, yaml.ScalarNode):
        return 0
    children = [v for pair in node.value for v in pair] if isinstance(node, yaml.MappingNode) else node.value
    return 1 + max((_depth(child) for child in children), default=0)


def _number(node: yaml.Node) -> Optional[float]:
    if isinstance(node, yaml.ScalarNode) and node.tag in (_TAG + "int", _TAG + "float"):
        try:
            value = float(yaml.safe_load(node.value))
        except (ValueError, TypeError, yaml.YAMLError):
            return None
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    return None


def _dotted(module: str) -> bool:
    return all(part.isidentifier() for part in module.split("."))


def _stage_name(path: Path, key: yaml.Node, problems: List[str]) -> Optional[str]:
    at = f"{path}:{_line(key)}"
    if not isinstance(key, yaml.ScalarNode):
        problems.append(f"{at}: a stage name must be a plain name, not {_describe(key)}")
        return None
    if key.tag != _TAG + "str":
        kind = _TAG_KINDS.get(key.tag)
        if kind is None:
            problems.append(f"{at}: stage name {key.value!r} has the tag {key.tag!r}; dagrun allows plain names only")
        else:
            shown = key.value or "~"
            problems.append(
                f"{at}: YAML reads the stage name {shown!r} as {kind}; "
                f"quote it if you mean a stage: '\"{key.value}\": [...]'"
            )
        return None
    return str(key.value)


_STR, _SEQ = _TAG + "str", _TAG + "seq"


def _needs(path: Path, name: str, value: yaml.Node, problems: List[str]) -> Optional[List[Tuple[str, int]]]:
    if value.tag == _SEQ and isinstance(value, yaml.SequenceNode):  # the common case, kept lean
        items = value.value
        if all(item.tag == _STR and isinstance(item, yaml.ScalarNode) for item in items):
            return [(item.value, item.start_mark.line + 1) for item in items]
    at = f"{path}:{_line(value)}: stage '{name}'"
    if isinstance(value, yaml.ScalarNode):
        if value.tag == _TAG + "null":
            return []
        if value.tag == _TAG + "str":
            problems.append(
                f"{at}: dependencies must be a list, not the string {value.value!r}; write '{name}: [{value.value}]'"
            )
        else:
            problems.append(f"{at}: dependencies must be a list of stage names, not {_describe(value)}")
        return None
    if isinstance(value, yaml.MappingNode):
        problems.append(f"{at}: dependencies must be a list of stage names, not a mapping")
        return None
    if value.tag != _TAG + "seq":
        problems.append(f"{at}: the tag {value.tag!r} is not allowed; dependencies are a plain list")
        return None
    needs = []
    for item in value.value:
        if isinstance(item, yaml.ScalarNode) and item.tag == _TAG + "str":
            needs.append((str(item.value), _line(item)))
        elif isinstance(item, yaml.ScalarNode) and item.tag in _TAG_KINDS:
            problems.append(
                f"{path}:{_line(item)}: stage '{name}': YAML reads the dependency {item.value!r} as "
                f"{_TAG_KINDS[item.tag]}; quote it if you mean a stage"
            )
        else:
            problems.append(
                f"{path}:{_line(item)}: stage '{name}': a dependency must be a stage name, not {_describe(item)}"
            )
    return needs


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    kind = _TAG_KINDS.get(node.tag)
    if kind:
        return f"{kind} ({node.value or '~'})"
    if node.tag == _TAG + "str":
        return f"the string {node.value!r}"
    return f"a value tagged {node.tag!r}"


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _yaml_error_message(path: Path, e: yaml.MarkedYAMLError) -> str:
    mark = e.problem_mark or e.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    what = e.problem or e.context or "invalid YAML"
    context = f" ({e.context})" if e.context and e.problem else ""
    if isinstance(e, TooDeepError):
        return f"{where}: {what}; a stages file needs two"
    return f"{where}: YAML syntax error: {what}{context}"
