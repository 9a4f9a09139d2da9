"""Descriptors that are dagrun's own (the run's lock, the terminal kept aside while output is
captured): a stage that forks without exec must not take them along, or its helper would hold the
lock, or keep a pipe that dagrun writes to open after dagrun exits."""

from __future__ import annotations

import contextlib
import os
from typing import Set

_fds: Set[int] = set()


def keep_private(fd: int) -> int:
    """Close `fd` in every child forked from now on (until `release`); returns it."""
    _fds.add(fd)
    return fd


def release(fd: int) -> None:
    """Stop tracking `fd`, before it is closed."""
    _fds.discard(fd)


def _close_in_child() -> None:
    for fd in list(_fds):
        with contextlib.suppress(OSError):
            os.close(fd)  # only this process's copy: a flock held through it stays the parent's
    _fds.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)

__all__ = ["keep_private", "release"]
