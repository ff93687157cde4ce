"""SDES (RFC 4568): the `a=crypto` attribute that carries SRTP keys in SDP, and its offer/answer.

The keys travel in the SDP in clear, so SDES is only as safe as the signalling: the call layer
uses it only on legs that signal over TLS. This module is pure: it parses and writes the
attribute, picks the offered line to accept and makes fresh keys (from `secrets`, no I/O).

    a=crypto:<tag> <crypto-suite> inline:<base64(key || salt)>[|<lifetime>][|<MKI>:<length>]
             [<session-param> ...]

Only what the switch can carry is *usable*: the two AES-CM suites of RFC 4568 §6.2 with one key,
no MKI and no session parameters (RFC 4568 §6.3: an answerer must not accept a line whose
parameters it does not understand). A line that is not a crypto attribute at all raises
`RemoteProtocolError` (status hint 488, Not Acceptable Here); the SDP parser skips such a line,
as §7.1.2 tells an answerer to ignore what it cannot use.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from typing import Final, Self

from softswitch.sip.errors import RemoteProtocolError

AES_CM_128_HMAC_SHA1_80: Final = "AES_CM_128_HMAC_SHA1_80"  # RFC 4568 §6.2.1
AES_CM_128_HMAC_SHA1_32: Final = "AES_CM_128_HMAC_SHA1_32"  # RFC 4568 §6.2.2
# Suites we carry, in our order of preference; both take a 128-bit key and a 112-bit salt.
SUITES: Final = (AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32)
KEY_SALT_BYTES: Final = 30  # 16 bytes of master key, 14 of master salt (RFC 4568 §6.2.1)
MAX_LINE: Final = 1024  # an a=crypto value longer than this is not one a phone sends
SECURE_PROFILES: Final = frozenset({"RTP/SAVP", "RTP/SAVPF"})  # RFC 3711 §12, RFC 5124


def _fail(why: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"bad a=crypto: {why}", 488)


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """One `a=crypto` line: its tag, suite, master key and salt, and what else it said."""

    tag: int
    suite: str
    key_salt: bytes
    lifetime: str | None = None  # as written ("2^31" or digits); libsrtp keys outlive calls
    mki: str | None = None  # "<value>:<length>" as written
    session_params: tuple[str, ...] = ()
    extra_keys: tuple[str, ...] = ()  # further ';'-separated key-params, as written

    @property
    def usable(self) -> bool:
        """Whether the switch can run SRTP with this line as it stands (see the module doc)."""
        return (
            self.suite in SUITES
            and len(self.key_salt) == KEY_SALT_BYTES
            and self.mki is None
            and not self.session_params
            and not self.extra_keys
        )

    @classmethod
    def parse(cls, value: str) -> Self:
        """The attribute from the text after `a=crypto:`; RemoteProtocolError if malformed."""
        if len(value) > MAX_LINE:
            raise _fail("line too long")
        parts = value.split()
        if len(parts) < 3:
            raise _fail("needs a tag, a suite and key parameters")
        tag_text, suite, key_params, *session = parts
        if not (tag_text.isascii() and tag_text.isdigit()) or len(tag_text) > 9:
            raise _fail(f"tag {tag_text[:12]!r} is not 1 to 9 digits")  # RFC 4568 §9.1
        if not suite.isascii() or not suite.replace("_", "").isalnum():
            raise _fail(f"suite {suite[:40]!r} is not a token")
        first, *others = key_params.split(";")
        method, colon, info = first.partition(":")
        if not colon or method.lower() != "inline":
            raise _fail("only the inline key method exists (RFC 4568 §6.1)")
        key_text, *fields = info.split("|")
        if len(fields) > 2:
            raise _fail("too many key fields")
        try:
            key_salt = base64.b64decode(key_text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise _fail("key is not base64") from None
        if not key_salt:
            raise _fail("empty key")
        lifetime: str | None = None
        mki: str | None = None
        for field in fields:
            if ":" in field:
                mki = _mki(field)
            elif lifetime is None and mki is None:
                lifetime = _lifetime(field)
            else:
                raise _fail(f"unexpected key field {field[:20]!r}")
        return cls(int(tag_text), suite, key_salt, lifetime, mki, tuple(session), tuple(others))

    def serialize(self) -> str:
        """The text after `a=crypto:` (what `parse` reads back to an equal attribute)."""
        key = base64.b64encode(self.key_salt).decode("ascii")
        fields = "".join(f"|{f}" for f in (self.lifetime, self.mki) if f is not None)
        others = "".join(f";{k}" for k in self.extra_keys)
        params = "".join(f" {p}" for p in self.session_params)
        return f"{self.tag} {self.suite} inline:{key}{fields}{others}{params}"

    def with_fresh_key(self) -> CryptoAttribute:
        """Our answer to this offered line: same tag and suite, our own new key (§7.1.3)."""
        return CryptoAttribute(self.tag, self.suite, secrets.token_bytes(KEY_SALT_BYTES))


def _lifetime(field: str) -> str:
    text = field[2:] if field.startswith("2^") else field
    if not (text.isascii() and text.isdigit()) or not 0 < len(text) <= 20:
        raise _fail(f"bad key lifetime {field[:20]!r}")
    return field


def _mki(field: str) -> str:
    value, _, length = field.partition(":")
    for text in (value, length):
        if not (text.isascii() and text.isdigit()) or not 0 < len(text) <= 20:
            raise _fail(f"bad MKI {field[:20]!r}")
    return field


def offer_lines() -> tuple[CryptoAttribute, ...]:
    """Fresh keys for an offer of ours: one line per suite we carry, tags 1, 2, ..."""
    return tuple(
        CryptoAttribute(tag, suite, secrets.token_bytes(KEY_SALT_BYTES))
        for tag, suite in enumerate(SUITES, start=1)
    )


def choose(offered: tuple[CryptoAttribute, ...]) -> CryptoAttribute | None:
    """The offered line to accept: the first usable one in the offerer's order (§7.1.3)."""
    return next((line for line in offered if line.usable), None)


def accepted(
    ours: tuple[CryptoAttribute, ...], answer: tuple[CryptoAttribute, ...]
) -> tuple[CryptoAttribute, CryptoAttribute] | None:
    """(our offered line, the answerer's line) when the answer accepts one of ours: same tag
    and suite, and usable (§7.1.4); None when it accepts none."""
    for line in answer:
        mine = next((o for o in ours if o.tag == line.tag), None)
        if mine is not None and mine.suite == line.suite and line.usable:
            return mine, line
    return None
