"""Writing a state's files: whole or not at all (the state), or quietly (hints a run can do without)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Dict

from dagrun.errors import StateError


def temp_prefix(path: Path) -> str:
    """Temp files of `path` start with this, so leftovers from a crash can be found and removed."""
    return f".{path.name}.tmp-"


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
