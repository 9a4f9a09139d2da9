"""state.yml: the seed's format, one `Name: STATUS` line per stage, read strictly and written whole."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional

import yaml

from dagrun.core.status import _BY_VALUE, TEXT, StageStatus, State
from dagrun.core.yamltree import compose_shallow, reads_as_string
from dagrun.errors import StateError

RESET_HINT = "run 'dagrun reset' to start from a clean state"


def parse_state(text: str, path: Path, names: Iterable[str]) -> State:
    """Statuses for exactly `names`: stages missing from the file are PENDING, stages no longer in
    the pipeline are dropped. Raises StateError if the file is not a state file."""
    try:
        root = compose_shallow(text, max_depth=1)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise StateError(f"{where}: the state file is not valid YAML", hint=RESET_HINT) from None
    data: Dict[str, Optional[str]] = {}
    if root is not None and not (isinstance(root, yaml.ScalarNode) and root.tag == _NULL):
        if not isinstance(root, yaml.MappingNode):
            kind = "a list" if isinstance(root, yaml.SequenceNode) else f"the value {root.value!r}"
            raise StateError(f"{path}: the state file must map stage names to statuses, not {kind}", hint=RESET_HINT)
        if root.tag != _MAP:
            raise StateError(
                f"{path}:{root.start_mark.line + 1}: the state file is tagged {root.tag!r}", hint=RESET_HINT
            )
        for key, value in root.value:
            line = key.start_mark.line + 1
            if not (isinstance(key, yaml.ScalarNode) and key.tag == _STR):
                shown = key.value if isinstance(key, yaml.ScalarNode) else "a collection"
                raise StateError(f"{path}:{line}: {shown!r} is not a stage name", hint=RESET_HINT)
            status = _status(value)
            if status is _INVALID:
                if isinstance(value, yaml.ScalarNode) and value.tag in _WORDS:
                    shown = f"the status {value.value!r}"  # a word, perhaps one YAML reads as a number
                elif isinstance(value, yaml.ScalarNode):
                    shown = f"a status tagged {value.tag!r}"  # `!!python/object:os.system SUCCESS`
                else:
                    shown = "a collection as its status"
                raise StateError(
                    f"{path}:{line}: stage '{key.value}' has {shown}; expected null, RUNNING, SUCCESS or FAILED",
                    hint=RESET_HINT,
                )
            data[key.value] = status
    return {name: _BY_VALUE[data.get(name)] for name in names}


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
# What YAML makes of a word written without a tag; any other tag was written in the file.
_WORDS = {f"tag:yaml.org,2002:{kind}" for kind in ("str", "null", "bool", "int", "float", "timestamp")}
_NULL = "tag:yaml.org,2002:null"
_INVALID = "invalid"


def _status(node: yaml.Node) -> Optional[str]:
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _NULL:
            return None
        if node.tag == _STR and node.value in _BY_VALUE:
            return str(node.value)
    return _INVALID


def read_state_text(path: Path) -> Optional[str]:
    """The text of the state file, or None if it does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise StateError(f"{path}: is a folder, not a state file", hint="pass another path with --state") from None
    except OSError as e:
        raise StateError(f"{path}: cannot read the state file: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StateError(f"{path}: the state file is not UTF-8 text", hint=RESET_HINT) from None


_key_cache: Dict[str, str] = {}


def _yaml_key(name: str) -> str:
    # A name such as `on` or `null` must be quoted, or YAML would read it back as a boolean or null.
    key = _key_cache.get(name)
    if key is None:
        key = name if reads_as_string(name) else "'" + name.replace("'", "''") + "'"
        _key_cache[name] = key
    return key


def dump_state(state: Mapping[str, StageStatus]) -> str:
    """The seed's format, one `Name: STATUS` line per stage, in the order given."""
    keys = _key_cache  # looked up here: state.yml is written whole at the start and end of every run
    return "".join([f"{keys.get(name) or _yaml_key(name)}: {TEXT[status]}\n" for name, status in state.items()])
