"""The state file: stage statuses, their YAML text, and writing it so a crash never tears it."""

from __future__ import annotations

import contextlib
import os
from enum import Enum
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional

import yaml

from dagrun.errors import StateError
from dagrun.yamltree import compose_shallow, reads_as_string

RESET_HINT = "run 'dagrun reset' to start from a clean state"


class StageStatus(Enum):
    """What state.yml says of a stage; PENDING is written `null` (not run, or blocked)."""

    PENDING = None
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"

    # Members are singletons compared by identity, so identity can hash them too; Enum's own
    # __hash__ is a Python call, and statuses are looked up in dicts several times per stage.
    __hash__ = object.__hash__

    @property
    def text(self) -> str:
        return "null" if self.value is None else str(self.value)

    @classmethod
    def from_text(cls, text: str) -> StageStatus:
        return cls.PENDING if text == "null" else cls(text)


State = Dict[str, StageStatus]
_BY_VALUE = {s.value: s for s in StageStatus}
TEXT = {s: s.text for s in StageStatus}  # a dict lookup; the enum property is slow on hot paths
_TEXTS = set(TEXT.values())


def temp_prefix(path: Path) -> str:
    """Temp files of `path` start with this, so leftovers from a crash can be found and removed."""
    return f".{path.name}.tmp-"


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


def is_status_text(text: str) -> bool:
    return text in _TEXTS


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash at any instant leaves the old file or the new one:
    a temp file in the same folder, flushed and fsynced, renamed over it, then the folder fsynced."""
    tmp = path.with_name(f"{temp_prefix(path)}{os.getpid()}-{os.urandom(4).hex()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        _remove_quietly(tmp)
        raise StateError(
            f"{path}: cannot write the state file: {e.strerror or e}; the previous state is kept",
            hint="check free space and permissions of the folder",
        ) from None
    fsync_folder(path.parent)


MAX_SECONDS = 1e10  # past any real duration or clock reading (the year 2286): a damaged hint


def sane_seconds(value: object) -> bool:
    """A duration or time read from a hint file: a real number, not NaN, infinite or absurd."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= MAX_SECONDS


def note_skipped(path: Path, count: int, what: str) -> None:
    """Say that a hint file had entries that were skipped: dagrun goes on without them."""
    if count:
        import logging

        noun = "entry" if count == 1 else "entries"
        logging.getLogger("dagrun").warning(f"dagrun: note: {path}: {count} {noun} skipped ({what})")


def read_json_quietly(path: Path) -> Dict[str, Any]:
    """For hints: the JSON object in `path`, or an empty one if it is missing, unreadable or not an
    object; a lost hint costs time, never correctness."""
    try:
        text = path.read_text()
    except (OSError, ValueError):
        return {}
    import json  # only now: without the file (say, `dagrun plan` before any run) start-up skips it

    try:
        raw = json.loads(text)
    except ValueError:
        return {}
    return raw if isinstance(raw, dict) else {}


def replace_quietly(path: Path, text: str) -> None:
    """For hints and caches: `path` gets the whole text or keeps what it had, and a failure (a full
    disk, a read-only folder) is only a lost hint. Not fsynced: a power cut may cost the hint."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        _remove_quietly(tmp)


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable; some file systems cannot, which costs only durability."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
