"""Fingerprints of stage functions, recorded when a stage succeeds, so that `plan` and `status` can
show the stages whose code changed since, and `run --rerun-changed` can redo them.

A fingerprint is a hash of the function's compiled code: its bytecode, constants, names and the
code of functions defined inside it, not its line numbers. Editing a comment, or code above the
function, changes nothing; editing what it does changes the fingerprint. Code it calls in other
functions is not part of it. Kept beside the state file like the durations: a hint, not state."""

from __future__ import annotations

import json
import marshal
import os
from pathlib import Path
from types import CodeType
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

from dagrun.core.digest import digest
from dagrun.core.status import StageStatus, State
from dagrun.jobs.loading import Job
from dagrun.store.files import note_skipped, read_json_quietly, replace_quietly
from dagrun.store.paths import StatePaths


def fingerprint(job: Job) -> Optional[str]:
    """The hash of what the function does, or None for a callable without Python code."""
    fn = getattr(job, "__wrapped__", job)
    code = getattr(fn, "__code__", None)
    if not isinstance(code, CodeType):
        return None
    return digest(marshal.dumps(_essence(code)), size=12)


def _essence(code: CodeType) -> tuple:  # type: ignore[type-arg]
    """What the code does, without where it is: line tables and file names left out.

    marshal marks objects referenced more than once, so the same values put together another way
    could hash differently: a change here must keep the bytes, or every stage reads as changed."""
    consts = tuple([_essence(c) if type(c) is CodeType else _plain(c) for c in code.co_consts])
    return (code.co_code, consts, code.co_names, code.co_varnames, code.co_argcount, code.co_flags)


_ATOMS = (int, float, complex, str, bytes, bool, type(None))
_ATOM_TYPES = frozenset(_ATOMS)  # a set lookup first: most constants are exactly one of these


def _plain(value: object) -> object:
    # marshal takes the constants Python compiles (numbers, strings, bytes, tuples, frozensets).
    if type(value) in _ATOM_TYPES:
        return value
    if isinstance(value, (tuple, frozenset)):
        return tuple(_plain(v) for v in value)
    return value if isinstance(value, _ATOMS) else repr(value)


def load_fingerprints(state_path: Path) -> Dict[str, str]:
    path = StatePaths(state_path).fingerprints
    raw = read_json_quietly(path)
    recorded = {str(k): v for k, v in raw.items() if isinstance(v, str)}
    note_skipped(path, len(raw) - len(recorded), "not a fingerprint")
    return recorded


def sources_newer(state_path: Path, jobs: Mapping[str, Job]) -> bool:
    """Whether a file that defines a stage's function changed after the fingerprints were written:
    a few stat() calls that spare a run with nothing to do from fingerprinting every stage."""
    try:
        written = os.stat(StatePaths(state_path).fingerprints).st_mtime
    except OSError:
        return False  # never recorded: nothing to compare
    files = {getattr(getattr(job, "__code__", None), "co_filename", None) for job in jobs.values()}
    for file in files:
        try:
            if file is None or os.stat(file).st_mtime >= written:
                return True
        except OSError:
            return True
    return False


def save_fingerprints(
    state_path: Path,
    recorded: Mapping[str, str],
    succeeded: Iterable[str],
    jobs: Mapping[str, Job],
    names: Sequence[str],
) -> None:
    """Record the fingerprints of the stages that just succeeded; keep the others of the pipeline."""
    updated = {name: recorded[name] for name in names if name in recorded}
    for name in succeeded:
        value = fingerprint(jobs[name])
        if value is None:
            updated.pop(name, None)
        else:
            updated[name] = value
    replace_quietly(StatePaths(state_path).fingerprints, json.dumps(updated, separators=(",", ":")))


def changed(state: State, jobs: Mapping[str, Job], recorded: Mapping[str, str]) -> List[str]:
    """Stages that succeeded with other code than they have now (those never fingerprinted are not
    counted as changed: there is nothing to compare)."""
    return [
        name
        for name, status in state.items()
        if status is StageStatus.SUCCESS
        and name in recorded
        and name in jobs
        and fingerprint(jobs[name]) not in (None, recorded[name])
    ]


__all__ = ["changed", "fingerprint", "load_fingerprints", "save_fingerprints"]
