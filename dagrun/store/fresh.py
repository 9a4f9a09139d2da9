"""What a stage read, wrote and took when it last succeeded, and whether that still holds.

Only stages that declare `inputs`, `outputs` or `params` have records. They live in a side file of
the state (`.state.yml.fresh`), one JSON line per success appended and fsynced before the
success itself is recorded, so that a kill -9 at any moment can leave a record without its
SUCCESS (harmless: the stage runs again) but never a SUCCESS newer than its record. A run ends by
rewriting the file with the latest record of each stage, atomically.

Files are judged by content: a file whose size and modification time match its record is taken as
unchanged without being read (the stat cache); any other is hashed, so a touched but unchanged
file is not a change."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from dagrun.core.pipeline import Stage
from dagrun.store.files import fsync_folder, note_skipped, write_atomically
from dagrun.store.paths import StatePaths

Sig = Tuple[int, int, str]  # size, modification time in ns, content digest
Files = Dict[str, Sig]  # path, relative to the stages file's folder -> its signature

CHUNK = 1 << 20


def digest_file(path: Path) -> str:
    """The file's content digest, read in 1 MiB chunks (SHA-1: change detection, not security; the
    fastest of hashlib's on most machines)."""
    import hashlib  # here: a run without declared inputs and outputs never loads it (start-up)

    h = hashlib.sha1(usedforsecurity=False) if sys.version_info >= (3, 9) else hashlib.sha1()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buffer)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


def _signature(base: Path, rel: str, known: Mapping[str, Sig]) -> Optional[Sig]:
    """The file's signature, read only when its size or time differ from `known`; None if missing."""
    try:
        st = os.stat(base / rel)
    except (FileNotFoundError, NotADirectoryError):
        return None
    old = known.get(rel)
    if old is not None and old[0] == st.st_size and old[1] == st.st_mtime_ns:
        return old
    return st.st_size, st.st_mtime_ns, digest_file(base / rel)


def expand(base: Path, pattern: str) -> List[str]:
    """The files a declared path stands for, relative to `base`, sorted: a file itself, every file
    under a folder, and every file a glob matches (`**` for any depth)."""
    full = base / pattern
    if any(c in pattern for c in "*?["):
        import glob  # here: only globs need it

        found = [Path(p) for p in glob.glob(str(full), recursive=True)]
        paths: List[Path] = []
        for p in found:
            paths += _files_under(p) if p.is_dir() else [p]
    elif full.is_dir():
        paths = _files_under(full)
    elif full.exists():
        paths = [full]
    else:
        return []
    return sorted({os.path.relpath(p, base).replace(os.sep, "/") for p in paths})


def _files_under(folder: Path) -> List[Path]:
    return [Path(root) / name for root, _, names in os.walk(folder) for name in names]


def snapshot(base: Path, patterns: Sequence[str], known: Mapping[str, Sig] = {}) -> Tuple[Dict[str, List[str]], Files]:
    """What the declared paths stand for now: each pattern's files, and each file's signature."""
    sets = {pattern: expand(base, pattern) for pattern in patterns}
    files: Files = {}
    for rels in sets.values():
        for rel in rels:
            if rel not in files:
                sig = _signature(base, rel, known)
                if sig is not None:
                    files[rel] = sig
    return sets, files


def make_record(stage: Stage, base: Path, inputs: Tuple[Dict[str, List[str]], Files]) -> Dict[str, object]:
    """The record of a success: the inputs as they were when the stage started, the outputs as it
    left them, and its params."""
    sets, files = inputs
    outputs = snapshot(base, stage.outputs)
    return {
        "inputs": sets,
        "input_files": {rel: list(sig) for rel, sig in files.items()},
        "outputs": outputs[0],
        "output_files": {rel: list(sig) for rel, sig in outputs[1].items()},
        "params": stage.kwargs,
    }


def missing_outputs(stage: Stage, base: Path) -> List[str]:
    return [output for output in stage.outputs if not (base / output).exists()]


def why_stale(stage: Stage, record: Optional[Mapping[str, object]], base: Path) -> Optional[str]:
    """In words, why a stage that succeeded must run again, or None if its record still holds."""
    if record is None:
        return "no record of its inputs and outputs (never ran with them declared)"
    reason = _params_changed(stage.kwargs, record.get("params"))
    if reason:
        return reason
    for kind, patterns in (("inputs", stage.inputs), ("outputs", stage.outputs)):
        recorded_sets = record.get(kind)
        recorded_files = record.get(f"{kind[:-1]}_files")
        if not isinstance(recorded_sets, dict) or not isinstance(recorded_files, dict):
            return "its record is damaged"
        if list(recorded_sets) != list(patterns):
            return f"its {kind} changed in the stages file"
        known = {rel: tuple(sig) for rel, sig in recorded_files.items()}
        for pattern in patterns:
            now = expand(base, pattern)
            before = recorded_sets[pattern]
            if now != before:
                return _set_changed(kind, pattern, before, now)
            for rel in now:
                sig = _signature(base, rel, known)
                old = known.get(rel)
                if sig is None:
                    return f"{rel} missing"
                if old is None or sig[2] != old[2]:
                    return f"{rel} changed" if kind == "inputs" else f"{rel} changed since {stage.name} wrote it"
    return None


def _set_changed(kind: str, pattern: str, before: List[str], now: List[str]) -> str:
    if not now:
        return f"{pattern} missing"
    if kind == "outputs" and not before:
        return f"{pattern} changed since it was written"
    added = [rel for rel in now if rel not in before]
    gone = [rel for rel in before if rel not in now]
    if added:
        return f"{pattern} now matches {added[0]}" + (f" and {len(added) - 1} more" if len(added) > 1 else "")
    return f"{gone[0]} missing" + (f" and {len(gone) - 1} more" if len(gone) > 1 else "")


def _params_changed(now: Mapping[str, object], before: object) -> Optional[str]:
    if not isinstance(before, dict):
        return "its record is damaged"
    # Compared as JSON would hold them: a tuple and a list of the same values are the same param.
    now = json.loads(json.dumps(now))
    if now == before:
        return None
    changes = []
    for key in [*before, *(k for k in now if k not in before)]:
        if key not in now:
            changes.append(f"{key} removed")
        elif key not in before:
            changes.append(f"{key} added ({_show(now[key])})")
        elif now[key] != before[key]:
            changes.append(f"{key} {_show(before[key])} -> {_show(now[key])}")
    return "params changed: " + ", ".join(changes)


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


class Records:
    """The records of one state, read once; a success's record is appended before its SUCCESS."""

    def __init__(self, state_path: Path) -> None:
        self.path = StatePaths(state_path).fresh
        self.latest: Dict[str, Dict[str, object]] = _read(self.path)
        self._appended = False

    def get(self, name: str) -> Optional[Dict[str, object]]:
        return self.latest.get(name)

    def append(self, name: str, record: Dict[str, object]) -> None:
        """Durable before it returns: the caller records the SUCCESS after this."""
        line = json.dumps({"stage": name, **record}, ensure_ascii=False, separators=(",", ":")) + "\n"
        new = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            fsync_folder(self.path.parent)
        self.latest[name] = record
        self._appended = True

    def compact(self, names: Iterable[str]) -> None:
        """One line per stage of the pipeline, the latest: the file stays the size of the pipeline."""
        if not self._appended:
            return
        keep = [{"stage": name, **self.latest[name]} for name in names if name in self.latest]
        text = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in keep)
        write_atomically(self.path, text.encode("utf-8"))


def _read(path: Path) -> Dict[str, Dict[str, object]]:
    """Each stage's latest record; a damaged line (a crash mid-append) is skipped with a note, and
    its stage then has no record, so it runs again."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        note_skipped(path, 1, f"cannot be read: {e}; the stages it records will run again")
        return {}
    latest: Dict[str, Dict[str, object]] = {}
    damaged = 0
    for line in text.splitlines():
        try:
            record = json.loads(line)
            name = record.pop("stage")
        except (ValueError, KeyError, TypeError, AttributeError):
            damaged += 1
            continue
        if isinstance(name, str) and isinstance(record, dict):
            latest[name] = record
    note_skipped(path, damaged, "damaged, as a crash can leave the last line; such a stage runs again")
    return latest


__all__ = ["Records", "Sig", "digest_file", "expand", "make_record", "missing_outputs", "snapshot", "why_stale"]
