"""The content hash is hashlib's BLAKE2b, whichever module it comes from."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from dagrun.digest import digest


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=64))
def test_digest_is_hashlibs_blake2b(data: bytes, size: int) -> None:
    assert digest(data, size) == hashlib.blake2b(data, digest_size=size).hexdigest()


def test_the_default_is_32_bytes() -> None:
    assert len(digest(b"stages")) == 64
