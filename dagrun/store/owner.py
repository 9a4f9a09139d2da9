"""Which stages file a state belongs to: two pipelines in one folder both default to state.yml, and
the second must not silently drop the first's records.

The owner is kept in a side file of the state (`.state.yml.stages`), so state.yml keeps the seed's
format. A state whose recorded stages file still exists and is another file is refused; one whose
stages file is gone (renamed, moved) is taken over by the pipeline that uses it now."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Optional

from dagrun.errors import StateError
from dagrun.store.paths import StatePaths


def _recorded(state_path: Path) -> Optional[Path]:
    try:
        text = StatePaths(state_path).owner.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):  # none yet (an older state), or unreadable: a hint only
        return None
    return Path(os.path.realpath(state_path.parent / text)) if text else None


def check_owner(state_path: Path, stages_file: Path, shown: str) -> None:
    """Refuse a state that another, existing stages file wrote; `shown` is the state as the user
    named it."""
    recorded = _recorded(state_path)
    mine = Path(os.path.realpath(stages_file))
    if recorded is None or recorded == mine or not recorded.is_file():
        return
    raise StateError(
        f"{shown} holds the state of {_relative(recorded)}, not of {_relative(mine)}: "
        "two pipelines in one folder cannot share a state file",
        hint=f"give this pipeline its own with --state (such as --state {mine.stem}.state.yml)",
    )


def claim(state_path: Path, stages_file: Path) -> None:
    """Record the stages file as the state's owner, if it is not already; under the run lock."""
    mine = Path(os.path.realpath(stages_file))
    if _recorded(state_path) == mine:
        return
    with contextlib.suppress(OSError):  # the record protects against a mistake; the state is not at stake
        StatePaths(state_path).owner.write_text(os.path.relpath(mine, state_path.parent) + "\n", encoding="utf-8")


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


__all__ = ["check_owner", "claim"]
