"""The programs that stages start: found, and stopped with the run, so none is left behind.

A stage in a thread starts programs as children of dagrun itself; a program that a stage's program
left behind (`sh -c 'sleep 60 &'`) would be adopted by init and lost, unless dagrun adopts such
orphans itself (Linux's child subreaper, which the command line asks for). Stopping means SIGTERM to
each, a moment to exit, then SIGKILL: a program that ignores SIGTERM is still stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Dict, Iterable, Iterator, List, Optional, Set

GRACE = 2.0  # seconds between SIGTERM and SIGKILL
PR_SET_CHILD_SUBREAPER = 36


_starting = threading.Lock()  # the current folder is the process's: one start at a time
_empty: List[str] = []


@contextlib.contextmanager
def started_elsewhere() -> Iterator[None]:
    """Start Python processes (worker processes, a local Dask cluster) inside, in an empty folder.

    A new interpreter imports much of the standard library with its current folder first on its
    path, before it learns dagrun's: a `signal.py` or `types.py` beside the jobs would replace the
    real module there. The processes started inside are told dagrun's folder and move to it."""
    with _starting:
        if not _empty:
            import atexit
            import tempfile

            _empty.append(tempfile.mkdtemp(prefix="dagrun-start-"))
            atexit.register(os.rmdir, _empty[0])
        here = os.getcwd()
        os.chdir(_empty[0])
        try:
            yield
        finally:
            os.chdir(here)


def adopt_orphans() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux), so that a program a stage
    started in the background stays findable. For a process that runs one pipeline and exits: an
    adopted orphan that ends stays a zombie until then. Returns whether it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _parents() -> Dict[int, int]:
    """Every process's parent, by pid, as the system says now."""
    parents: Dict[int, int] = {}
    if os.path.isdir("/proc/self"):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:  # it ended meanwhile
                continue
            # "pid (name) state ppid ...": the name may hold spaces and parentheses.
            fields = stat[stat.rfind(b")") + 2 :].split()
            if len(fields) > 1 and fields[0] != b"Z":  # a zombie has ended already
                parents[int(entry)] = int(fields[1])
        return parents
    import subprocess  # where there is no /proc (macOS)

    try:
        command = ["ps", "-A", "-o", "pid=", "-o", "ppid=", "-o", "stat="]
        listing = subprocess.run(command, capture_output=True, text=True)
    except OSError:
        return parents
    for line in listing.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit() and parts[1].isdigit() and not parts[2].startswith("Z"):
            parents[int(parts[0])] = int(parts[1])
    return parents


def descendants(roots: Iterable[int], parents: Optional[Dict[int, int]] = None) -> List[int]:
    """The living processes below `roots` (not the roots themselves), parents before children."""
    parents = _parents() if parents is None else parents
    children: Dict[int, List[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: List[int] = []
    queue = list(roots)
    while queue:
        for child in children.get(queue.pop(), ()):
            if child not in found:
                found.append(child)
                queue.append(child)
    return found


def children_now() -> Set[int]:
    """This process's children and everything below them, now: what a run must not stop later."""
    direct: Set[int] = set()
    try:
        for task in os.listdir(f"/proc/{os.getpid()}/task"):
            with open(f"/proc/{os.getpid()}/task/{task}/children") as f:
                direct.update(int(pid) for pid in f.read().split())
    except (OSError, ValueError):  # no such listing here: ask the system about every process
        return set(descendants([os.getpid()]))
    return direct | set(descendants(direct)) if direct else direct


def thread_children(native_id: int) -> List[int]:
    """The processes that one thread of this process started (Linux), with everything below them."""
    try:
        with open(f"/proc/{os.getpid()}/task/{native_id}/children") as f:
            direct = [int(pid) for pid in f.read().split()]
    except (OSError, ValueError):
        return []
    return direct + descendants(direct)


def stop_processes(pids: Iterable[int], grace: float = GRACE) -> None:
    """SIGTERM each, wait until they have ended (or `grace` passed), then SIGKILL what is left."""
    pids = list(pids)
    pending: Set[int] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
            pending.add(pid)
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        alive = _parents()
        pending &= set(alive)
        if pending:
            time.sleep(0.02)
    for pid in pending:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:  # those that were ours: no zombie left behind
        with contextlib.suppress(OSError):
            os.waitpid(pid, os.WNOHANG)


__all__ = ["adopt_orphans", "children_now", "descendants", "started_elsewhere", "stop_processes", "thread_children"]
