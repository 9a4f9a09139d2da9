"""What many test modules share: the command line in-process, and a reporter that keeps events."""

from __future__ import annotations

from typing import List

from click.testing import CliRunner, Result

from dagrun.cli import cli
from dagrun.core.events import Event, Reporter, StageStarted


def invoke(*args: str, env: dict = {}) -> Result:  # noqa: B006 - never mutated
    """`dagrun ARGS` in this process; an exception that is not a user error fails the test."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False, prog_name="dagrun")


class Recorder(Reporter):
    """Keeps every event, in order."""

    def __init__(self) -> None:
        self.events: List[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def started(self) -> List[str]:
        return [e.name for e in self.events if isinstance(e, StageStarted)]
