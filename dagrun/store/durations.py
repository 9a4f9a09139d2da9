"""How long each stage took when it last ran, kept beside the state file, so that the next run can
start the longest chains of work first. A hint, not state: losing it only costs ordering."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, Sequence

from dagrun.store.files import note_skipped, read_json_quietly, replace_quietly, sane_seconds
from dagrun.store.paths import StatePaths


def load_durations(state_path: Path) -> Dict[str, float]:
    """Seconds per stage from earlier runs; empty if there is no file or it is not readable."""
    path = StatePaths(state_path).durations
    raw = read_json_quietly(path)
    known = {str(k): float(v) for k, v in raw.items() if sane_seconds(v)}
    note_skipped(path, len(raw) - len(known), "not a number of seconds")
    return known


def save_durations(state_path: Path, known: Mapping[str, float], names: Sequence[str]) -> None:
    """Keep the stages of the pipeline, atomically; a failure to write is not worth stopping for."""
    data = {name: round(known[name], 6) for name in names if name in known}
    import json  # here: `dagrun plan` only reads

    replace_quietly(StatePaths(state_path).durations, json.dumps(data, separators=(",", ":")))


def weights(known: Mapping[str, float], names: Sequence[str]) -> Dict[str, float]:
    """Expected seconds per stage: its last duration, else the mean of the known ones (1 if none),
    so that a new stage counts as an ordinary one, not as free or as the slowest."""
    seen = [known[n] for n in names if n in known]
    default = sum(seen) / len(seen) if seen else 1.0
    return {n: known.get(n, default) for n in names}
