"""The one owner of the names of a state's files: every file of one state is named here, from the
state file's real path, so that a link to a state file can never split one state in two (a lock
beside the link, a journal beside the file)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Union

from dagrun.errors import StateError

MAX_STATE_NAME = 200  # bytes: its side files add a dot and up to 10 characters, within a file name's 255


class StatePaths:
    """The files of the state whose state file is `state` (absolute, links resolved)."""

    __slots__ = ("state",)

    def __init__(self, state: Path) -> None:
        self.state = state

    def _beside(self, kind: str) -> Path:
        return self.state.with_name(f".{self.state.name}.{kind}")

    @property
    def journal(self) -> Path:
        """Outcomes appended as they happen, folded into the state file."""
        return self._beside("journal")

    @property
    def lock(self) -> Path:
        return self._beside("lock")

    @property
    def owner(self) -> Path:
        """Which stages file keeps this state."""
        return self._beside("stages")

    @property
    def history(self) -> Path:
        return self._beside("history")

    @property
    def durations(self) -> Path:
        return self._beside("durations")

    @property
    def fingerprints(self) -> Path:
        return self._beside("code")

    @property
    def fresh(self) -> Path:
        """What the stages that declare inputs, outputs or params read, wrote and took."""
        return self._beside("fresh")

    @property
    def logs(self) -> Path:
        """`.dagrun/logs` for state.yml, as the seed's layout has it; each other state file has a
        folder of its own, so that two states in one folder never share (or clear) their logs."""
        name = self.state.name
        return self.state.parent / ".dagrun" / ("logs" if name == "state.yml" else f"logs.{name}")


def real_state_path(given: Union[str, Path]) -> Path:
    """The state file `given`, absolute and with links resolved. Refuses, before anything is
    written, a path that is not a file dagrun could replace (a device, a folder, a FIFO) and a name
    too long for its side files (StateError)."""
    shown = str(given)
    # Absolute from the start: a stage that calls os.chdir() must not move the state file.
    path = Path(os.path.realpath(shown))
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        pass
    except OSError as e:
        raise StateError(f"{shown}: cannot read the state file: {e.strerror}") from None
    else:
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket"
            raise StateError(
                f"{shown} is {kind}, not a state file: dagrun replaces its state file as a whole",
                hint="pass --state with the path of a file (it need not exist yet)",
            )
    if len(os.fsencode(path.name)) > MAX_STATE_NAME:
        raise StateError(
            f"{shown}: the state file's name is longer than {MAX_STATE_NAME} bytes, too long for the side "
            "files named after it",
            hint="choose a shorter --state",
        )
    return path
