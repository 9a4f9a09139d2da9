"""An append-only log of status changes beside state.yml: O(1) per change, and it survives kill -9."""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
from pathlib import Path
from typing import List, Optional, Tuple

from dagrun.core.status import is_status_text

Record = Tuple[str, str]  # (stage name, status text)


CHUNK = 64 * 1024  # bytes the journal starts with (about 2,000 lines), doubled as it fills


class Journal:
    """Each record is one `STATUS name` line, copied into a shared memory map of the file. The
    copy is in the kernel's page cache once it is made, so it survives the death of the process
    at once, and it takes no system call: a write() releases the interpreter lock while its thread
    holds the scheduler's lock, which (with many short stages) kept the worker threads taking turns
    at every stage. The file grows ahead in chunks whose disk blocks are allocated then, so a full
    disk is an OSError from append(), never a SIGBUS from a copy. sync() makes the lines survive
    power loss too. Not thread-safe: the store appends under its lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self._map: Optional[mmap.mmap] = None  # None where it cannot be mapped: a write() per append
        self._size = self._end = 0
        try:
            self._grow(CHUNK)
        except OSError as e:
            if e.errno not in _CANNOT_MAP:
                os.close(self._fd)
                raise
            os.ftruncate(self._fd, 0)
        except BaseException:
            os.close(self._fd)
            raise

    def _grow(self, need: int) -> None:
        size = max(self._size * 2, CHUNK)
        while size < need:
            size *= 2
        _allocate(self._fd, size)
        if self._map is None:
            self._map = mmap.mmap(self._fd, size)
        else:
            self._map.resize(size)
        self._size = size

    @property
    def mapped(self) -> bool:
        return self._map is not None

    def append(self, records: List[Record]) -> None:
        data = "".join(f"{status} {name}\n" for name, status in records).encode("utf-8")
        if self._map is None:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            return
        end = self._end + len(data)
        if end > self._size:
            self._grow(end)
        self._map[self._end : end] = data
        self._end = end

    def sync(self) -> None:
        if self._map is not None:
            self._map.flush()
        os.fsync(self._fd)

    def close(self) -> None:
        """Unmap, and cut the file to its lines (a reader copes with the zeros after them anyway)."""
        if self._fd < 0:
            return
        if self._map is not None:
            self._map.close()
            self._map = None
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._end)
        os.close(self._fd)
        self._fd = -1


# What a system or file system without shared memory maps or preallocation answers (macOS, some
# network and FUSE file systems): the journal then writes each append. A full disk or a read-only
# one stays an error.
_CANNOT_MAP = {errno.ENODEV, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP}


def _allocate(fd: int, size: int) -> None:
    """Make the file `size` bytes long with its disk blocks allocated. Without posix_fallocate
    (macOS) blocks cannot be reserved, and a mapped file could meet a full disk with SIGBUS: the
    journal writes instead there."""
    allocate = getattr(os, "posix_fallocate", None)
    if allocate is None:
        raise OSError(errno.EOPNOTSUPP, "cannot reserve disk blocks here")
    allocate(fd, 0, size)


def replay(path: Path) -> Tuple[List[Record], bool]:
    """The records of a journal left behind by a run, in order, and whether a damaged tail was dropped.

    A run killed mid-write leaves at most its last line torn; anything after the first line that
    does not parse is dropped rather than guessed at, so a record is never invented."""
    try:
        data = path.read_bytes().rstrip(b"\0")  # the part of the last chunk not yet written
    except FileNotFoundError:
        return [], False
    except OSError as e:  # a folder, or anything else that is not a journal dagrun can read
        from dagrun.errors import StateError

        raise StateError(
            f"{path}: cannot read the journal: {e.strerror}",
            hint="this path belongs to dagrun's journal of the state file: move what is there away",
        ) from None
    records: List[Record] = []
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    for raw in complete:
        try:
            status, name = raw.decode("utf-8").split(" ")
        except ValueError:  # also UnicodeDecodeError
            return records, True
        if not (is_status_text(status) and name.isidentifier()):
            return records, True
        records.append((name, status))
    return records, bool(tail)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
