"""Content hashes: stage fingerprints, pipeline cache keys, the source of shipped jobs modules.

BLAKE2b comes from CPython's own _blake2, which is the very object hashlib.blake2b returns;
importing hashlib would also load OpenSSL's libcrypto for its other algorithms, which cost every
`dagrun run` about 3 ms of start-up."""

from __future__ import annotations

try:
    from _blake2 import blake2b
except ImportError:  # an interpreter that does not ship CPython's module
    from hashlib import blake2b


def digest(data: bytes, size: int = 32) -> str:
    """The hex BLAKE2b hash of `size` bytes."""
    return blake2b(data, digest_size=size).hexdigest()
