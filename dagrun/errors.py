"""dagrun's own exceptions: each carries a message for the user, a hint, and an exit code."""

from __future__ import annotations

from typing import Optional


class DagrunError(Exception):
    """A problem the user can fix; the CLI prints it as one readable message, never a traceback."""

    exit_code = 2

    def __init__(self, message: str, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class SpecError(DagrunError):
    """The stages file cannot be read or is not a valid pipeline."""


class JobsError(DagrunError):
    """The jobs module cannot be imported or lacks a function for a stage."""


class StateError(DagrunError):
    """The state file cannot be read or written."""


class LockHeldError(DagrunError):
    """Another dagrun process is using the same state file."""

    exit_code = 3


class UsageError(DagrunError):
    """The command line asks for something that cannot be done."""
