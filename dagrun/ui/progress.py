"""The registry of `--progress` reporters: the command line's choices are made from it. A reporter's
module is imported only when it is chosen: the live view's rich costs start-up."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Dict, NamedTuple, TextIO

if TYPE_CHECKING:
    from dagrun.core.events import Reporter


class ProgressEntry(NamedTuple):
    target: str  # "module:callable" that makes the reporter from (out, state_path)
    help: str


PROGRESS: Dict[str, ProgressEntry] = {
    "live": ProgressEntry("dagrun.ui.live:live_reporter", "a terminal view"),
    "plain": ProgressEntry("dagrun.ui.plain:PlainReporter", "timestamped lines"),
    "quiet": ProgressEntry("dagrun.ui.plain:QuietReporter", "only failures"),
}


def make_reporter(kind: str, out: TextIO, state_path: str) -> Reporter:
    """The reporter for `--progress kind`, writing to `out`."""
    module, _, name = PROGRESS[kind].target.partition(":")
    reporter: Reporter = getattr(import_module(module), name)(out, state_path)
    return reporter
