"""Password hashes: round trip, wrong passwords, and any hash string either parses or is refused
with PasswordHashError (it comes from a config file)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.security.passwords import PasswordHash, PasswordHashError, hash_password


@pytest.mark.parametrize("scheme", ["scrypt", "pbkdf2_sha256"])
def test_a_hash_matches_its_password_only(scheme: str) -> None:
    text = hash_password("s3cret ü", scheme)
    parsed = PasswordHash.parse(text)
    assert parsed.serialize() == text
    assert parsed.matches("s3cret ü")
    assert not parsed.matches("s3cret u")
    assert not parsed.matches("x" * 5000)  # over the bound: refused before hashing
    assert hash_password("s3cret ü", scheme) != text  # salted


def test_a_known_pbkdf2_vector() -> None:
    # hashlib.pbkdf2_hmac("sha256", b"password", b"saltsalt", 1000), in our format.
    parsed = PasswordHash.parse(
        "pbkdf2_sha256$1000$c2FsdHNhbHQ$E196ZhRPzw-wA84EjzHwJO1cv_MFJdO6C_sxmUeTYqY"
    )
    assert parsed.matches("password")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "md5$abc",
        "scrypt$3$8$1$c2FsdHNhbHQ$aGFzaGhhc2g",  # N not a power of 2
        "scrypt$2097152$8$1$c2FsdHNhbHQ$aGFzaGhhc2g",  # N over 2^20
        "scrypt$16384$8$1$!!$aGFzaGhhc2g",
        "pbkdf2_sha256$0$c2FsdHNhbHQ$aGFzaGhhc2g",
        "pbkdf2_sha256$99999999$c2FsdHNhbHQ$aGFzaGhhc2g",
        "pbkdf2_sha256$1000$c2FsdA$aGFzaGhhc2g",  # salt of 5 bytes
    ],
)
def test_bad_hash_strings_are_refused(text: str) -> None:
    with pytest.raises(PasswordHashError):
        PasswordHash.parse(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="scryptbkdf2_sha256$0123456789abcAB-_=!", max_size=80))
def test_any_hash_string_parses_or_is_refused(text: str) -> None:
    with contextlib.suppress(PasswordHashError):
        PasswordHash.parse(text)
