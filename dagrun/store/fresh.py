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

import contextlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from dagrun.core.pipeline import Stage, is_glob
from dagrun.store.files import fsync_folder, note_skipped, write_atomically
from dagrun.store.paths import StatePaths

Sig = Tuple[int, int, str]  # size, modification time in ns, content digest
Files = Dict[str, Sig]  # path, relative to the stages file's folder -> its signature

CHUNK = 1 << 20


def digest_file(path: Path) -> str:
    """The file's content digest (SHA-1: change detection, not security; the fastest of hashlib's
    on most machines). A file larger than one chunk is read in this thread while the chunk read
    before is hashed in another (both let go of the interpreter lock), so that hashing a large
    input costs about what reading it does (docs/performance.md: +19% to +48% from the disk)."""
    import hashlib  # here: a run without declared inputs and outputs never loads it (start-up)

    h = hashlib.sha1(usedforsecurity=False) if sys.version_info >= (3, 9) else hashlib.sha1()
    buffers = (bytearray(CHUNK), bytearray(CHUNK))
    with open(path, "rb", buffering=0) as f:
        n = f.readinto(buffers[0])
        if n < CHUNK:  # the usual small file: one read, no thread
            h.update(memoryview(buffers[0])[:n])
            return h.hexdigest()
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="dagrun-digest") as hasher:
            i = 0
            while n:
                hashing = hasher.submit(h.update, memoryview(buffers[i])[:n])
                i ^= 1
                n = f.readinto(buffers[i])  # into the other buffer, while that one is hashed
                hashing.result()
    return h.hexdigest()


def _unchanged(known: Sequence[object], st: os.stat_result) -> bool:
    """The stat cache: the same size and modification time are taken as the same content."""
    return known[0] == st.st_size and known[1] == st.st_mtime_ns


def _signature(full: str, st: os.stat_result, known: Optional[Sig]) -> Sig:
    """The file's signature, read only when its size or time differ from what is `known`."""
    if known is not None and _unchanged(known, st):
        return known
    return st.st_size, st.st_mtime_ns, digest_file(Path(full))


def scan(base: Path, pattern: str) -> Dict[str, os.stat_result]:
    """The files a declared path stands for, relative to `base` and sorted, with their stat: a file
    itself, every file under a folder, every file a glob matches (`**` for any depth). A plain file,
    the usual case, costs one stat."""
    root = str(base)
    full = os.path.join(root, pattern)  # an absolute path stays itself
    if is_glob(pattern):
        import glob  # here: only globs need it

        found: Dict[str, os.stat_result] = {}
        for match in glob.glob(full, recursive=True):
            found.update(_scan_path(root, match, None))
        return dict(sorted(found.items()))
    found = _scan_path(root, full, pattern)
    return found if len(found) < 2 else dict(sorted(found.items()))


def _scan_path(root: str, full: str, rel: Optional[str]) -> Dict[str, os.stat_result]:
    try:
        st = os.stat(full)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    if stat.S_ISREG(st.st_mode):
        return {rel or _relative(root, full): st}
    if not stat.S_ISDIR(st.st_mode):  # a pipe, a device or a socket is no file to judge by content
        return {}
    found: Dict[str, os.stat_result] = {}
    for folder, folders, names in os.walk(full):
        folders[:] = [f for f in folders if f != ".dagrun"]  # dagrun's own logs change with every run
        for name in names:
            path = os.path.join(folder, name)
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # gone while walking
                st = os.stat(path)
                if stat.S_ISREG(st.st_mode):
                    found[_relative(root, path)] = st
    return found


def _relative(root: str, path: str) -> str:
    if path.startswith(root + os.sep):
        return path[len(root) + 1 :].replace(os.sep, "/")
    return os.path.relpath(path, root).replace(os.sep, "/")


def snapshot(base: Path, patterns: Sequence[str], known: Mapping[str, Sig] = {}) -> Tuple[Dict[str, List[str]], Files]:
    """What the declared paths stand for now: each pattern's files, and each file's signature."""
    sets: Dict[str, List[str]] = {}
    files: Files = {}
    for pattern in patterns:
        found = scan(base, pattern)
        sets[pattern] = list(found)
        for rel, st in found.items():
            if rel not in files:
                files[rel] = _signature(os.path.join(str(base), rel), st, known.get(rel))
    return sets, files


def make_record(stage: Stage, base: Path, inputs: Tuple[Dict[str, List[str]], Files]) -> Dict[str, object]:
    """The record of a success: the inputs as they were when the stage started, the outputs as it
    left them, and its params."""
    sets, files = inputs
    outputs = snapshot(base, stage.outputs)
    return {
        "inputs": _sets(sets),
        "input_files": {rel: list(sig) for rel, sig in files.items()},
        "outputs": _sets(outputs[0]),
        "output_files": {rel: list(sig) for rel, sig in outputs[1].items()},
        "params": stage.kwargs,
    }


def _sets(sets: Dict[str, List[str]]) -> Dict[str, Optional[List[str]]]:
    """Each declared path's files; null for a plain file that stands for itself, the usual case,
    which keeps the records of 10,000 stages a third smaller (and quicker to read)."""
    return {pattern: None if files == [pattern] else files for pattern, files in sets.items()}


def missing_outputs(stage: Stage, base: Path) -> List[str]:
    return [output for output in stage.outputs if not (base / output).exists()]


def why_stale(
    stage: Stage, record: Optional[Mapping[str, object]], base: Path, touched: Optional[Set[str]] = None
) -> Optional[str]:
    """In words, why a stage that succeeded must run again, or None if its record still holds.
    One stat per file when nothing changed (10,000 stages take a fraction of a second). A file
    whose time changed but not its content gets its new size and time in `record`, and the stage
    goes into `touched`: a run saves that record, so the file is not read again next time."""
    if record is None:
        return "no record of its inputs and outputs (never ran with them declared)"
    before = record.get("params")
    if stage.params or before:
        reason = _params_changed(stage.kwargs, before)
        if reason:
            return reason
    root = str(base)
    for kind, patterns in (("inputs", stage.inputs), ("outputs", stage.outputs)):
        sets = record.get(kind)
        files = record.get("input_files" if kind == "inputs" else "output_files")
        if type(sets) is not dict or type(files) is not dict:
            return "its record is damaged"
        if len(sets) != len(patterns) or any(pattern not in sets for pattern in patterns):
            return f"its {kind} changed in the stages file"
        for pattern in patterns:
            recorded = sets[pattern]
            if recorded is None:  # a plain file, itself
                recorded = [pattern]
            if recorded == [pattern] and not is_glob(pattern):
                try:  # the usual case, a plain file that was there: one stat, nothing more
                    st = os.stat(os.path.join(root, pattern))
                except (FileNotFoundError, NotADirectoryError):
                    return f"{pattern} missing"
                old = files.get(pattern)
                if type(old) is list and len(old) == 3 and _unchanged(old, st) and stat.S_ISREG(st.st_mode):
                    continue
            found = scan(base, pattern)
            if len(found) != len(recorded) or list(found) != recorded:
                return _set_changed(kind, pattern, recorded, list(found))
            for rel, st in found.items():
                old = files.get(rel)
                if not (type(old) is list and len(old) == 3):
                    return "its record is damaged"
                if _unchanged(old, st):
                    continue
                if digest_file(Path(root, rel)) != old[2]:
                    return f"{rel} changed" if kind == "inputs" else f"{rel} changed since {stage.name} wrote it"
                files[rel] = [st.st_size, st.st_mtime_ns, old[2]]
                if touched is not None:
                    touched.add(stage.name)
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
    if now == before:
        return None
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
    lines = text.splitlines()
    try:  # the usual file, whole: one parse instead of one per line
        records = json.loads("[" + ",".join(lines) + "]")
        if all(isinstance(r, dict) and isinstance(r.get("stage"), str) for r in records):
            return {r.pop("stage"): r for r in records}
    except ValueError:
        pass
    for line in lines:
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


__all__ = ["Records", "Sig", "digest_file", "make_record", "missing_outputs", "snapshot", "why_stale"]
