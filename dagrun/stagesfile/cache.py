"""Remember validated pipelines by the hash of their stages file, so a re-run of an unchanged file
(the usual case after a failure) skips parsing and validating it: for 100,000 stages that is most
of the start-up. Entries are keyed by content, never trusted blindly, and never required."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from dagrun import __version__
from dagrun.core.digest import digest
from dagrun.store.files import replace_quietly

MIN_BYTES = 64 * 1024  # smaller files parse faster than a cache entry is found and read
MAX_ENTRIES = 32  # the oldest entries beyond this are removed when one is added

# Stages (name, line, needs, the options of the mapping form as JSON values), and the order.
Entry = Tuple[List[Tuple[str, int, List[str], Dict[str, Any]]], List[str]]


def cache_dir() -> Optional[Path]:
    """$DAGRUN_CACHE_DIR, else $XDG_CACHE_HOME/dagrun, else ~/.cache/dagrun; None if DAGRUN_NO_CACHE."""
    if os.environ.get("DAGRUN_NO_CACHE"):
        return None
    explicit = os.environ.get("DAGRUN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dagrun" / "pipelines"


def lookup(data: bytes) -> Optional[Entry]:
    """The entry for these exact bytes, or None (absent, unreadable, or not a valid entry)."""
    folder = cache_dir()
    if folder is None or len(data) < MIN_BYTES:
        return None
    import json

    try:
        raw: Any = json.loads((folder / f"{digest(data)}.json").read_bytes())
        if raw.get("dagrun") != __version__:
            return None
        stages = [
            (str(name), int(line), [str(d) for d in needs], dict(options))
            for name, line, needs, options in raw["stages"]
        ]
        order = [str(name) for name in raw["order"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return stages, order


def store(data: bytes, entry: Entry) -> None:
    """Save an entry; any failure (read-only home, full disk) only costs the next run some time."""
    folder = cache_dir()
    if folder is None or len(data) < MIN_BYTES:
        return
    import json

    stages, order = entry
    payload = json.dumps({"dagrun": __version__, "stages": stages, "order": order}, separators=(",", ":"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        replace_quietly(folder / f"{digest(data)}.json", payload)  # readers see the whole entry or none
        _prune(folder)
    except OSError:
        pass


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[MAX_ENTRIES:]:
        old.unlink()
