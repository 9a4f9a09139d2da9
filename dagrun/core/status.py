"""A stage's status, as state.yml writes it."""

from __future__ import annotations

from enum import Enum
from typing import Dict


class StageStatus(Enum):
    """What state.yml says of a stage; PENDING is written `null` (not run, or blocked)."""

    PENDING = None
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"

    # Members are singletons compared by identity, so identity can hash them too; Enum's own
    # __hash__ is a Python call, and statuses are looked up in dicts several times per stage.
    __hash__ = object.__hash__

    @property
    def text(self) -> str:
        return "null" if self.value is None else str(self.value)

    @classmethod
    def from_text(cls, text: str) -> StageStatus:
        return cls.PENDING if text == "null" else cls(text)


State = Dict[str, StageStatus]
_BY_VALUE = {s.value: s for s in StageStatus}
TEXT = {s: s.text for s in StageStatus}  # a dict lookup; the enum property is slow on hot paths
_TEXTS = set(TEXT.values())


def is_status_text(text: str) -> bool:
    return text in _TEXTS
