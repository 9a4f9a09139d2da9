"""Persist statuses while a run goes: each change is one journal line at once (O(1)), and state.yml
is rewritten atomically from memory at most about once a second and at the end."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from dagrun.core.status import TEXT, StageStatus, State
from dagrun.errors import StateError
from dagrun.store import journal
from dagrun.store.files import temp_prefix, write_atomically
from dagrun.store.paths import StatePaths, real_state_path
from dagrun.store.state_file import dump_state, parse_state, read_state_text

SNAPSHOT_INTERVAL = 1.0  # seconds: how far state.yml may lag behind the journal during a run


def read_state(path: Path, names: Sequence[str]) -> State:
    """The current statuses, as a run would see them, without writing anything (for plan and status)."""
    path = real_state_path(path)
    state = _load(path, names)[0]
    records, _ = journal.replay(StatePaths(path).journal)
    _apply(state, records)
    return state


def _load(path: Path, names: Sequence[str]) -> Tuple[State, Optional[str]]:
    """The statuses in state.yml (all PENDING if there is none) and the file's text."""
    text = read_state_text(path)
    if text is None:
        return {name: StageStatus.PENDING for name in names}, None
    return parse_state(text, path, names), text


def _apply(state: State, records: Iterable[journal.Record]) -> None:
    for name, status in records:
        if name in state:  # a stage removed from the pipeline since is dropped
            state[name] = StageStatus.from_text(status)


class StateStore:
    """The one writer of a state file; open it only while holding the run lock."""

    def __init__(
        self,
        path: Path,
        state: State,
        *,
        interval: float = SNAPSHOT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._state = state
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._dirty = False
        self._closed = False
        self._last_snapshot = clock()
        self._journal: Optional[journal.Journal] = None
        self.dropped_damaged_journal = False
        self.error: Optional[StateError] = None

    @classmethod
    def open(cls, path: Path, names: Sequence[str], **kwargs: object) -> StateStore:
        """Load state.yml, replay what a crashed run left in the journal, and fold it all into
        state.yml before starting a new journal, so nothing recorded is ever lost."""
        path = real_state_path(path)
        _remove_leftover_temp_files(path)
        state, old_text = _load(path, names)
        jpath = StatePaths(path).journal
        records, damaged = journal.replay(jpath)
        _apply(state, records)
        store = cls(path, state, **kwargs)  # type: ignore[arg-type]
        store.dropped_damaged_journal = damaged
        text = dump_state(state)
        if text != old_text:
            write_atomically(path, text.encode("utf-8"))
        try:
            store._journal = journal.Journal(jpath)
            store._journal.sync()
        except OSError as e:
            raise StateError(f"{jpath}: cannot write the journal: {e.strerror}") from None
        return store

    @property
    def state(self) -> State:
        with self._lock:
            return dict(self._state)

    def record(self, changes: Dict[str, StageStatus]) -> bool:
        """Record status changes now, from any thread; False if they could not be: the store was
        closed first, or the journal cannot be written (then nothing more may start: `check`
        raises the error in the run loop)."""
        with self._lock:
            return self._record_locked(changes)

    def release_running(self, names: Iterable[str]) -> None:
        """Set stages still RUNNING back to PENDING, leaving any that finished meanwhile as they are."""
        with self._lock:
            changes = {n: StageStatus.PENDING for n in names if self._state.get(n) is StageStatus.RUNNING}
            if changes:
                self._record_locked(changes)

    def _record_locked(self, changes: Dict[str, StageStatus]) -> bool:
        if self._closed or self.error is not None:
            return False
        if self._journal is not None:
            try:
                self._journal.append([(name, TEXT[status]) for name, status in changes.items()])
            except OSError as e:
                # Called from worker threads, which cannot stop the run: check() raises it in the loop.
                self.error = StateError(
                    f"{self._journal.path}: cannot write the journal: {e.strerror}; "
                    "the run stops so that no outcome goes unrecorded",
                    hint="check free space and permissions of the folder, then run again",
                )
                return False  # a stage after an outcome that was never recorded must not start
        self._state.update(changes)
        self._dirty = True
        return True

    def check(self) -> None:
        """Raise the error a worker thread met while recording, if any."""
        if self.error is not None:
            raise self.error

    def seconds_to_snapshot(self) -> float:
        """How long until state.yml is due for a rewrite; a full interval when nothing is waiting."""
        if not self._dirty:
            return self._interval
        return max(0.0, self._last_snapshot + self._interval - self._clock())

    def snapshot_if_due(self) -> None:
        if self._dirty and self.seconds_to_snapshot() <= 0:
            self.snapshot()

    def snapshot(self) -> None:
        """Rewrite state.yml from memory; records that arrive meanwhile stay in the journal."""
        with self._lock:
            self._dirty = False
            text = dump_state(self._state)
        self._last_snapshot = self._clock()
        try:
            write_atomically(self.path, text.encode("utf-8"))
        except StateError:
            self._dirty = True
            raise

    def close(self) -> None:
        """Write the final state.yml, then drop the journal it now contains. Later records are ignored."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._dirty = False
            text = dump_state(self._state)
        write_atomically(self.path, text.encode("utf-8"))  # on failure the journal keeps everything
        if self._journal is not None:
            self._journal.close()
            journal.remove(self._journal.path)

    def abandon(self) -> None:
        """Stop recording without the final write (after a write already failed); the journal stays."""
        with self._lock:
            self._closed = True
            if self._journal is not None:
                self._journal.close()


def reset_state(
    path: Path, names: Sequence[str], choose: Optional[Callable[[State], Sequence[str]]] = None
) -> Optional[State]:
    """Set stages back to PENDING: all of them, or those `choose` picks from the current state.
    Returns the cleared stages' statuses before, or None if the file was missing or unreadable and
    everything was cleared. Hold the run lock while calling this."""
    try:
        store = StateStore.open(path, names)
    except StateError:
        if choose is not None or not real_state_path(path).exists():
            raise  # clearing some stages needs the others' state: only a full reset repairs the file
        # The user asked for a clean slate; an unreadable file is exactly what reset is for.
        real = real_state_path(path)
        journal.remove(StatePaths(real).journal)
        write_atomically(real, dump_state({n: StageStatus.PENDING for n in names}).encode("utf-8"))
        return None
    state = store.state
    chosen = names if choose is None else choose(state)
    store.record({name: StageStatus.PENDING for name in chosen})
    try:
        store.check()
    except StateError:
        store.abandon()
        raise
    store.close()
    return {name: state[name] for name in chosen}


def _remove_leftover_temp_files(path: Path) -> None:
    prefix = temp_prefix(path)
    try:
        entries: List[str] = os.listdir(path.parent)
    except OSError:
        return
    for entry in entries:
        if entry.startswith(prefix):
            with contextlib.suppress(OSError):
                os.unlink(path.parent / entry)
