"""REFER (RFC 3515) and Replaces (RFC 3891): what a transferor asks for, parsed from its
Refer-To header, and the sipfrag NOTIFY bodies that report how the transfer went (§2.4.5).

Refer-To is untrusted input: anything that is not one name-addr or addr-spec with a sip, sips
or tel URI is a `RemoteProtocolError` with status hint 400, and a Replaces value inside it
that does not name a dialog (call-id, to-tag, from-tag) is one too.

Errors::

    RemoteProtocolError (sip/errors.py)  a missing, repeated or malformed Refer-To; status 400
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self
from urllib.parse import unquote

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request
from softswitch.sip.uri import NameAddr, SipUri, TelUri, is_token, parse_uri

MAX_REFER_TO_CHARS = 2048  # a Refer-To longer than this is refused before it is parsed


@dataclass(frozen=True, slots=True)
class Replaces:
    """The dialog an attended transfer replaces, RFC 3891 §6.1: `call-id;to-tag=;from-tag=`."""

    call_id: str
    to_tag: str
    from_tag: str

    @classmethod
    def parse(cls, text: str) -> Self:
        call_id, _, rest = text.strip().partition(";")
        call_id = call_id.strip()
        if not call_id or any(c in call_id for c in ' \t\r\n<>"') or len(call_id) > 256:
            raise RemoteProtocolError(f"Replaces without a usable call-id: {text[:60]!r}")
        tags: dict[str, str] = {}
        for item in rest.split(";"):
            name, sep, value = item.strip().partition("=")
            name = name.strip().lower()
            if name in ("to-tag", "from-tag"):
                value = value.strip()
                if not sep or not is_token(value):
                    raise RemoteProtocolError(f"Replaces {name} is not a token")
                tags[name] = value
        if "to-tag" not in tags or "from-tag" not in tags:
            raise RemoteProtocolError("Replaces needs both to-tag and from-tag (RFC 3891 §6.1)")
        return cls(call_id, tags["to-tag"], tags["from-tag"])


@dataclass(frozen=True, slots=True)
class ReferTo:
    """Where the transferor wants its peer to go: the number (user part) and, for an
    attended transfer, the dialog whose other party takes its place."""

    uri: str
    number: str
    replaces: Replaces | None

    @classmethod
    def parse(cls, value: str) -> Self:
        try:
            return cls._parse(value)
        except RemoteProtocolError as exc:
            if exc.status_hint == 400:
                raise
            raise RemoteProtocolError(f"bad Refer-To: {exc}") from exc  # 416 is a Request-URI's

    @classmethod
    def _parse(cls, value: str) -> Self:
        if len(value) > MAX_REFER_TO_CHARS:
            raise RemoteProtocolError("Refer-To too long")
        address = NameAddr.parse(value)
        uri = parse_uri(address.uri)
        replaces = None
        if isinstance(uri, SipUri):
            number = uri.user_unescaped or ""
            if uri.headers:
                replaces = _replaces_of(uri.headers)
        elif isinstance(uri, TelUri):
            number = uri.number
        else:
            raise RemoteProtocolError(f"Refer-To scheme not supported: {address.uri[:40]!r}")
        number = number.split(";", 1)[0]  # a user part may carry ;phone-context= and such
        if not number:
            raise RemoteProtocolError("Refer-To names no number")
        return cls(address.uri, number, replaces)

    @classmethod
    def of(cls, request: Request) -> Self:
        """The one Refer-To of a REFER (RFC 3515 §2.4.1: exactly one)."""
        values = request.header_lines("Refer-To")
        if len(values) != 1 or "," in _outside_brackets(values[0]):
            raise RemoteProtocolError("a REFER needs exactly one Refer-To (RFC 3515 §2.4.1)")
        return cls.parse(values[0])


def _outside_brackets(text: str) -> str:
    out, depth = [], 0
    for char in text:
        if char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(char)
    return "".join(out)


def _replaces_of(headers: str) -> Replaces | None:
    for item in headers.split("&"):
        name, _, value = item.partition("=")
        if name.lower() == "replaces":
            return Replaces.parse(unquote(value))
    return None


def sipfrag(status: int, reason: str) -> bytes:
    """A NOTIFY body for a REFER's progress: the status line of the new call (RFC 3420)."""
    return f"SIP/2.0 {status} {reason}\r\n".encode()
