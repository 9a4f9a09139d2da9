"""The content hash is hashlib's BLAKE2b, whichever module it comes from."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from dagrun.core.digest import digest


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=64))
def test_digest_is_hashlibs_blake2b(data: bytes, size: int) -> None:
    assert digest(data, size) == hashlib.blake2b(data, digest_size=size).hexdigest()


def test_the_default_is_32_bytes() -> None:
    assert len(digest(b"stages")) == 64


def test_digest_gives_the_published_blake2b_values() -> None:
    # Known answers from outside this machine's hashlib: RFC 7693's BLAKE2b-512 of "abc", and the
    # widely published BLAKE2b-256 of the empty string.
    assert digest(b"") == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
    assert digest(b"abc", 64) == (
        "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
        "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
    )
