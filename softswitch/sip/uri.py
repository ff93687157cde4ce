"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), and name-addr values (RFC 3261 §25.1).

Parsing is strict where a wrong guess would misroute a call (host, port, scheme) and lenient
where a phone's quirk harms nobody (unknown parameters are kept as they are).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import unquote

from softswitch.sip.errors import RemoteProtocolError

# RFC 3261 §25.1 token and the characters a URI may carry unescaped.
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_TOKEN_RE = re.compile(_TOKEN + r"\Z")
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9.])?\Z")
_USER_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+\Z")
_PARAM_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]*\Z")
_URI_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):")

KNOWN_SCHEMES = frozenset({"sip", "sips", "tel"})


def is_token(text: str) -> bool:
    return _TOKEN_RE.match(text) is not None


def _check_escapes(text: str, what: str) -> None:
    i = text.find("%")
    while i != -1:
        pair = text[i + 1 : i + 3]
        if len(pair) < 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
            raise RemoteProtocolError(f"bad escape in {what}")
        i = text.find("%", i + 3)


def parse_host(text: str) -> tuple[str, int | None]:
    """Split `host[:port]`, validating IPv6 references (RFC 5118) and port range."""
    if not text:
        raise RemoteProtocolError("empty host")
    port: int | None = None
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            raise RemoteProtocolError(f"unterminated IPv6 reference {text!r}")
        host = text[: end + 1]
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise RemoteProtocolError(f"bad IPv6 address {host!r}") from None
        rest = text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise RemoteProtocolError(f"bad host {text!r}")
            port = _parse_port(rest[1:])
        return host, port
    host, sep, port_text = text.partition(":")
    if sep:
        port = _parse_port(port_text)
    if not _HOSTNAME_RE.match(host):
        raise RemoteProtocolError(f"bad host {host!r}")
    return host, port


def _parse_port(text: str) -> int:
    if not text.isdigit() or len(text) > 5 or not 0 < int(text) <= 65535:
        raise RemoteProtocolError(f"bad port {text!r}")
    return int(text)


def host_without_brackets(host: str) -> str:
    return host[1:-1] if host.startswith("[") else host


def _parse_params(text: str, what: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    if not text:
        return params
    for item in text.split(";"):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not name or not _PARAM_RE.match(name):
            raise RemoteProtocolError(f"bad {what} parameter {item!r}")
        if sep:
            value = value.strip()
            if not _PARAM_RE.match(value):
                raise RemoteProtocolError(f"bad {what} parameter {item!r}")
            _check_escapes(value, what)
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass(slots=True)
class SipUri:
    """sip: or sips: URI. `host` keeps IPv6 brackets so that it serialises as it came."""

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    password: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str | None = None

    @classmethod
    def parse(cls, text: str) -> Self:
        m = _URI_SCHEME_RE.match(text)
        if m is None:
            raise RemoteProtocolError(f"not a URI: {text!r}")
        scheme = m.group(1).lower()
        if scheme not in ("sip", "sips"):
            raise RemoteProtocolError(f"unsupported URI scheme {scheme!r}", 416)
        rest = text[m.end() :]
        if any(c in rest for c in ' \t\r\n<>"'):
            raise RemoteProtocolError(f"bad characters in URI {text!r}")
        headers: str | None = None
        if "?" in rest:
            rest, _, headers = rest.partition("?")
        user: str | None = None
        password: str | None = None
        if "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            user, sep, pw = userinfo.partition(":")
            if sep:
                password = pw
            if not user or not _USER_RE.match(user):
                raise RemoteProtocolError(f"bad user part in {text!r}")
            _check_escapes(user, "user part")
        hostport, _, param_text = rest.partition(";")
        host, port = parse_host(hostport)
        return cls(scheme, user, host, port, password, _parse_params(param_text, "URI"), headers)

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unquote(self.user)

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value else None

    def serialize(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(_format_params(self.params))
        if self.headers is not None:
            out.append("?" + self.headers)
        return "".join(out)

    def __str__(self) -> str:
        return self.serialize()


@dataclass(slots=True)
class TelUri:
    """tel: URI (RFC 3966): a number with parameters, no host."""

    number: str
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Self:
        if text[:4].lower() != "tel:":
            raise RemoteProtocolError(f"not a tel URI: {text!r}")
        number, _, param_text = text[4:].partition(";")
        if not number or any(c not in "0123456789+-.()*#ABCDabcdpwPW" for c in number):
            raise RemoteProtocolError(f"bad tel number {number!r}")
        return cls(number, _parse_params(param_text, "tel URI"))

    def serialize(self) -> str:
        return "tel:" + self.number + _format_params(self.params)

    def __str__(self) -> str:
        return self.serialize()


Uri = SipUri | TelUri


def parse_uri(text: str) -> Uri:
    """Parse a Request-URI. An unknown scheme is a 416 (RFC 3261 §8.2.2.1)."""
    m = _URI_SCHEME_RE.match(text)
    if m is None:
        raise RemoteProtocolError(f"not a URI: {text!r}")
    scheme = m.group(1).lower()
    if scheme == "tel":
        return TelUri.parse(text)
    if scheme in ("sip", "sips"):
        return SipUri.parse(text)
    raise RemoteProtocolError(f"unsupported URI scheme {scheme!r}", 416)


def uri_user(uri: Uri) -> str:
    """The dialled number or user of a URI, unescaped; '' when it has none."""
    if isinstance(uri, TelUri):
        return re.sub(r"[-.()]", "", uri.number)
    return uri.user_unescaped or ""


_DISPLAY_TOKENS_RE = re.compile(rf"(?:{_TOKEN})(?:[ \t]+{_TOKEN})*\Z")


@dataclass(slots=True)
class NameAddr:
    """A From, To, Contact, Route or Record-Route value: display name, URI text and params.

    The URI is kept as text (validated at parse time) because a B2BUA mostly copies it; `sip_uri`
    parses it on demand.
    """

    uri: str
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    bracketed: bool = True

    @classmethod
    def parse(cls, text: str, *, any_scheme: bool = True) -> Self:
        text = text.strip()
        display: str | None = None
        if text.startswith('"'):
            i = 1
            while True:
                if i >= len(text):
                    raise RemoteProtocolError("unterminated quoted display name")
                c = text[i]
                if c == "\\":
                    i += 2
                    continue
                if c == '"':
                    break
                i += 1
            display = text[: i + 1]
            text = text[i + 1 :].lstrip()
            if not text.startswith("<"):
                raise RemoteProtocolError("display name without <URI>")
        elif "<" in text:
            lt = text.index("<")
            raw_display = text[:lt].strip()
            if raw_display:
                if not _DISPLAY_TOKENS_RE.match(raw_display):
                    raise RemoteProtocolError(f"bad display name {raw_display!r}")
                display = raw_display
            text = text[lt:]
        if text.startswith("<"):
            end = text.find(">")
            if end == -1:
                raise RemoteProtocolError("unterminated <URI>")
            uri_text = text[1:end]
            param_text = text[end + 1 :].strip()
            if param_text and not param_text.startswith(";"):
                raise RemoteProtocolError(f"junk after URI: {param_text!r}")
            bracketed = True
        else:
            # addr-spec form: parameters after the URI belong to the header (RFC 3261 §20.10)
            uri_text, _, param_text = text.partition(";")
            param_text = ";" + param_text if param_text else ""
            if "?" in uri_text or "," in uri_text:
                raise RemoteProtocolError(f"addr-spec needs <> around {uri_text!r}")
            bracketed = False
        uri_text = uri_text.strip()
        m = _URI_SCHEME_RE.match(uri_text)
        if m is None or any(c in uri_text for c in " \t<>"):
            raise RemoteProtocolError(f"bad URI {uri_text!r}")
        scheme = m.group(1).lower()
        if scheme in ("sip", "sips"):
            SipUri.parse(uri_text)
        elif scheme == "tel":
            TelUri.parse(uri_text)
        elif not any_scheme:
            raise RemoteProtocolError(f"unsupported URI scheme {scheme!r}", 416)
        return cls(uri_text, display, _parse_params(param_text.lstrip(";"), "header"), bracketed)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def sip_uri(self) -> SipUri:
        return SipUri.parse(self.uri)

    def serialize(self) -> str:
        head = f"{self.display_name} " if self.display_name else ""
        return f"{head}<{self.uri}>{_format_params(self.params)}"

    def __str__(self) -> str:
        return self.serialize()
