"""Salted password hashes for API users: what `softswitch hash-password` prints and the config
accepts as `password_hash`, so no plain password needs to sit in the file.

Two formats, both from the standard library's hashlib:

- ``scrypt$N$r$p$SALT$HASH`` (RFC 7914; the default, memory-hard),
- ``pbkdf2_sha256$ITERATIONS$SALT$HASH`` (RFC 8018, HMAC-SHA256),

SALT and HASH in unpadded URL-safe base64. A malformed hash string raises `PasswordHashError`
with the problem; verification never raises on a wrong password, it returns False.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

SCRYPT: Final = "scrypt"
PBKDF2_SHA256: Final = "pbkdf2_sha256"
# scrypt N=2^14, r=8, p=1 (RFC 7914 §2's interactive-login figure): 16 MiB and ~50 ms per check.
DEFAULT_SCRYPT_N: Final = 2**14
DEFAULT_SCRYPT_R: Final = 8
DEFAULT_SCRYPT_P: Final = 1
DEFAULT_PBKDF2_ITERATIONS: Final = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256
# Bounds on what a config may ask for, so a typo cannot make each login take minutes.
MAX_SCRYPT_N: Final = 2**20
MAX_PBKDF2_ITERATIONS: Final = 10_000_000
MAX_PASSWORD_BYTES: Final = 1024  # a longer password from the network is refused unhashed
SALT_BYTES: Final = 16
HASH_BYTES: Final = 32


class PasswordHashError(ValueError):
    """A stored hash string that is not one of the formats above."""


@dataclass(frozen=True, slots=True)
class PasswordHash:
    scheme: str
    params: tuple[int, ...]  # scrypt: (N, r, p); pbkdf2_sha256: (iterations,)
    salt: bytes
    digest: bytes

    @classmethod
    def parse(cls, text: str) -> PasswordHash:
        parts = text.split("$")
        if parts[0] == SCRYPT and len(parts) == 6:
            n, r, p = (_positive(part, name) for part, name in zip(parts[1:4], "Nrp", strict=True))
            if n > MAX_SCRYPT_N or n & (n - 1) or n < 2:
                raise PasswordHashError(f"scrypt N must be a power of 2 up to 2^20, got {n}")
            if r * p > 64:
                raise PasswordHashError(f"scrypt r*p must be at most 64, got {r * p}")
            return cls(SCRYPT, (n, r, p), _b64(parts[4], "salt"), _b64(parts[5], "hash"))
        if parts[0] == PBKDF2_SHA256 and len(parts) == 4:
            iterations = _positive(parts[1], "iterations")
            if iterations > MAX_PBKDF2_ITERATIONS:
                raise PasswordHashError(f"at most {MAX_PBKDF2_ITERATIONS} iterations")
            return cls(PBKDF2_SHA256, (iterations,), _b64(parts[2], "salt"), _b64(parts[3], "hash"))
        raise PasswordHashError(
            "expected scrypt$N$r$p$SALT$HASH or pbkdf2_sha256$ITERATIONS$SALT$HASH"
            " (softswitch hash-password prints one)"
        )

    def serialize(self) -> str:
        fields = [self.scheme, *map(str, self.params), _unb64(self.salt), _unb64(self.digest)]
        return "$".join(fields)

    def matches(self, password: str) -> bool:
        secret = password.encode()
        if len(secret) > MAX_PASSWORD_BYTES:
            return False
        return hmac.compare_digest(
            _derive(self.scheme, self.params, secret, self.salt), self.digest
        )


def hash_password(password: str, scheme: str = SCRYPT) -> str:
    """A new salted hash of `password`, as the config's `password_hash` takes it."""
    params: tuple[int, ...]
    if scheme == SCRYPT:
        params = (DEFAULT_SCRYPT_N, DEFAULT_SCRYPT_R, DEFAULT_SCRYPT_P)
    elif scheme == PBKDF2_SHA256:
        params = (DEFAULT_PBKDF2_ITERATIONS,)
    else:
        raise PasswordHashError(f"unknown scheme {scheme!r}")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _derive(scheme, params, password.encode(), salt)
    return PasswordHash(scheme, params, salt, digest).serialize()


def _derive(scheme: str, params: tuple[int, ...], secret: bytes, salt: bytes) -> bytes:
    if scheme == SCRYPT:
        n, r, p = params
        return hashlib.scrypt(
            secret, salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2**20, dklen=HASH_BYTES
        )
    return hashlib.pbkdf2_hmac("sha256", secret, salt, params[0], dklen=HASH_BYTES)


def _positive(text: str, name: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise PasswordHashError(f"{name} must be a positive integer, got {text!r}")
    return int(text)


def _b64(text: str, name: str) -> bytes:
    try:
        value = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise PasswordHashError(f"{name} is not base64") from exc
    if len(value) < 8:
        raise PasswordHashError(f"{name} is shorter than 8 bytes")
    return value


def _unb64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode().rstrip("=")
