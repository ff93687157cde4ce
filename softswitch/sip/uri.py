"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), and name-addr values (RFC 3261 §25.1).

Parsing follows the RFC 3261 grammar where a wrong guess would misroute a call (host, port,
scheme, where a URI ends and its parameters begin) and keeps what it does not interpret (unknown
parameters, URI headers) as it came. IPv6 references follow RFC 5118.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Self, cast
from urllib.parse import unquote

from softswitch.sip.errors import RemoteProtocolError

# RFC 3261 §25.1 token; the character classes below are the grammar's, ASCII only.
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_TOKEN_RE = re.compile(_TOKEN + r"\Z")
_DOMAINLABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_TOPLABEL = r"[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
# host = hostname / IPv4address: a name's last label starts with a letter, an address's octets
# are at most 255 (RFC 3261 §25.1). Public so that other grammars (Via sent-by) can embed it.
_IPV4 = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
HOST_NAME_PATTERN = rf"(?:{_IPV4}|(?:{_DOMAINLABEL}\.)*{_TOPLABEL}\.?)"
_HOST_NAME_RE = re.compile(HOST_NAME_PATTERN + r"\Z")
_IPV4_RE = re.compile(_IPV4 + r"\Z")
_IPV6_CHARS_RE = re.compile(r"[0-9A-Fa-f:.]+\Z")
# user = 1*( unreserved / escaped / user-unreserved ); a password has neither ';', '?' nor '/'.
_USER = r"[A-Za-z0-9\-_.!~*'()%&=+$,;?/]+"
_PASSWORD = r"[A-Za-z0-9\-_.!~*'()%&=+$,]*"
_USER_RE = re.compile(_USER + r"\Z")
_PASSWORD_RE = re.compile(_PASSWORD + r"\Z")
# paramchar = param-unreserved / unreserved / escaped
_PARAMCHAR = r"[A-Za-z0-9\-_.!~*'()%\[\]/:&+$]"
_PARAMCHARS_RE = re.compile(_PARAMCHAR + r"+\Z")
# headers = "?" header *( "&" header ); header = hname "=" hvalue (hnv-unreserved / unreserved)
_HNV = r"[A-Za-z0-9\-_.!~*'()%\[\]/?:+$]"
_URI_HEADERS_RE = re.compile(rf"{_HNV}+={_HNV}*(?:&{_HNV}+={_HNV}*)*\Z")
_URI_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):")
# The whole sip/sips grammar in one pass; the user class has no '@', so the first '@' ends the
# userinfo even when the user part holds ';' or '?' (RFC 4475 §3.1.1.9 and §3.1.1.2).
_SIP_URI_RE = re.compile(
    rf"[Ss][Ii][Pp]([Ss]?):(?:({_USER})(?::({_PASSWORD}))?@)?"
    rf"(\[[0-9A-Fa-f:.]+\]|{HOST_NAME_PATTERN})(?::([0-9]{{1,5}}))?"
    rf"((?:;{_PARAMCHAR}+(?:={_PARAMCHAR}+)?)*)"
    rf"(?:\?({_HNV}+={_HNV}*(?:&{_HNV}+={_HNV}*)*))?\Z"
)
# Any other scheme's URI (RFC 3986 characters): kept as text, never interpreted.
_ABSOLUTE_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:[A-Za-z0-9\-_.!~*'()%;/?:@&=+$,\[\]#]+\Z")
_TEL_NUMBER_RE = re.compile(r"[0-9+\-.()*#A-Da-dpwPW]+\Z")

# quoted-string = DQUOTE *(qdtext / quoted-pair) DQUOTE, RFC 3261 §25.1; qdtext is LWS, visible
# ASCII but '"' and '\', or UTF-8 beyond ASCII; quoted-pair escapes any ASCII but CR and LF.
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"'
_QUOTED_RE = re.compile(_QUOTED)
# generic-param = token [ EQUAL gen-value ]; gen-value = token / host / quoted-string. A bare
# IPv6 address is the value RFC 3261 gives Via's received (RFC 5118 §4.5 also allows brackets).
_GEN_VALUE = rf"{_QUOTED}|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*|{_TOKEN}"
_GENERIC_PARAM_RE = re.compile(rf"[ \t]*;[ \t]*({_TOKEN})(?:[ \t]*=[ \t]*({_GEN_VALUE}))?[ \t]*")
# name-addr whose display name is tokens: *(token LWS) LAQUOT; LWS may be absent before '<'.
_TOKEN_DISPLAY_RE = re.compile(rf"(?:({_TOKEN}(?:[ \t]+{_TOKEN})*)[ \t]*)?<")

KNOWN_SCHEMES = frozenset({"sip", "sips", "tel"})

# Fast path for the forms phones and SIPp send, matched in one go: no whitespace, escapes,
# password, URI headers, IPv6, quoted parameter values or port with leading zeros. What it
# accepts, the full grammar accepts with the same result (tests/sip/test_uri.py holds the full
# parsers as its oracle); anything else goes to the full grammar, which also names the error.
PORT_PATTERN = (
    r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
)
SIMPLE_PARAMS_PATTERN = rf"(?:;{_TOKEN}(?:={_TOKEN})?)*"
_SIMPLE_URI_PARAMCHAR = r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$]"
_SIMPLE_SIP_URI = (
    rf"[Ss][Ii][Pp][Ss]?:(?:[A-Za-z0-9\-_.!~*'()&=+$/]+@)?{HOST_NAME_PATTERN}(?::{PORT_PATTERN})?"
)
_SIMPLE_SIP_URI_RE = re.compile(
    rf"{_SIMPLE_SIP_URI}(?:;{_SIMPLE_URI_PARAMCHAR}+(?:={_SIMPLE_URI_PARAMCHAR}+)?)*\Z"
)
_SIMPLE_NAME_ADDR_RE = re.compile(
    rf"(?:({_TOKEN}(?:[ \t]+{_TOKEN})*|{_QUOTED})[ \t]*)?"
    rf"<({_SIMPLE_SIP_URI}(?:;{_SIMPLE_URI_PARAMCHAR}+(?:={_SIMPLE_URI_PARAMCHAR}+)?)*)>"
    rf"({SIMPLE_PARAMS_PATTERN})\Z"
    # addr-spec: the URI has no ';' of its own, so the parameters are the header's
    rf"|({_SIMPLE_SIP_URI})({SIMPLE_PARAMS_PATTERN})\Z"
)


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
    """Split `host[:port]`: a hostname, an IPv4 address or an IPv6 reference (RFC 5118).

    An IPv6 address must be in brackets; without them its colons would be read as a port
    (RFC 5118 §4.1), so `2001:db8::10` is rejected rather than guessed at.
    """
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            raise RemoteProtocolError(f"unterminated IPv6 reference {text!r}")
        host = text[: end + 1]
        _check_ipv6(host[1:-1])
        rest = text[end + 1 :]
        if not rest:
            return host, None
        if rest[0] != ":":
            raise RemoteProtocolError(f"bad host {text!r}")
        return host, parse_port(rest[1:])
    if text.count(":") > 1:
        raise RemoteProtocolError(f"IPv6 address without [] in {text!r}")
    host, sep, port_text = text.partition(":")
    _check_host_name(host)
    return host, parse_port(port_text) if sep else None


def _check_host_name(host: str) -> None:
    if _HOST_NAME_RE.match(host) is None:
        raise RemoteProtocolError(f"bad host {host!r}")


def _check_ipv6(text: str) -> None:
    # ipaddress also takes a "%zone" suffix, which RFC 3261 has no room for.
    if _IPV6_CHARS_RE.match(text) is None:
        raise RemoteProtocolError(f"bad IPv6 address {text!r}")
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        raise RemoteProtocolError(f"bad IPv6 address {text!r}") from None


def check_ip_address(text: str) -> None:
    """IPv4address / IPv6address, bracketed or not: the value of Via's `received`."""
    if text.startswith("[") and text.endswith("]"):
        _check_ipv6(text[1:-1])
    elif ":" in text:
        _check_ipv6(text)
    elif _IPV4_RE.match(text) is None:
        raise RemoteProtocolError(f"bad IP address {text!r}")


def parse_port(text: str) -> int:
    """port = 1*DIGIT, 1 to 65535."""
    if not text.isascii() or not text.isdigit() or len(text) > 5 or not 0 < int(text) <= 65535:
        raise RemoteProtocolError(f"bad port {text!r}")
    return int(text)


def host_without_brackets(host: str) -> str:
    return host[1:-1] if host.startswith("[") else host


def _parse_uri_params(text: str) -> dict[str, str | None]:
    """`;name[=value]` URI parameters (RFC 3261 §19.1.1); `text` is empty or starts with ';'."""
    params: dict[str, str | None] = {}
    if not text:
        return params
    for item in text[1:].split(";"):
        name, sep, value = item.partition("=")
        if _PARAMCHARS_RE.match(name) is None or (sep and _PARAMCHARS_RE.match(value) is None):
            raise RemoteProtocolError(f"bad URI parameter {item!r}")
        if "%" in item:
            _check_escapes(item, "URI parameter")
        params[name.lower()] = value if sep else None
    return params


def parse_generic_params(text: str) -> dict[str, str | None]:
    """Header parameters `*( SEMI generic-param )` (RFC 3261 §25.1), names lower-cased.

    A quoted-string value keeps its quotes, so that it serialises as it came.
    """
    params: dict[str, str | None] = {}
    pos = 0
    end = len(text)
    while pos < end:
        m = _GENERIC_PARAM_RE.match(text, pos)
        if m is None:
            raise RemoteProtocolError(f"bad header parameter {text[pos : pos + 40]!r}")
        params[m.group(1).lower()] = m.group(2)
        pos = m.end()
    return params


def split_simple_params(text: str) -> dict[str, str | None]:
    """Parameters already matched by SIMPLE_PARAMS_PATTERN, as parse_generic_params gives them."""
    params: dict[str, str | None] = {}
    if text:
        for item in text[1:].split(";"):
            if "=" in item:
                name, value = item.split("=", 1)
                params[name.lower()] = value
            else:
                params[item.lower()] = None
    return params


def is_simple_sip_uri(text: str) -> bool:
    """A sip/sips URI in the fast-path form: valid, and without URI headers."""
    return _SIMPLE_SIP_URI_RE.match(text) is not None


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
        """`sip:[userinfo@]hostport *(;param) [?headers]` per RFC 3261 §25.1."""
        secure, user, password, host, port_text, param_text, headers = _match_sip_uri(text)
        params: dict[str, str | None] = {}
        if param_text:
            for item in param_text[1:].split(";"):
                name, sep, value = item.partition("=")
                params[name.lower()] = value if sep else None
        port = None if port_text is None else int(port_text)
        return cls("sips" if secure else "sip", user, host, port, password, params, headers)

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
        number, semi, param_text = text[4:].partition(";")
        if _TEL_NUMBER_RE.match(number) is None:
            raise RemoteProtocolError(f"bad tel number {number!r}")
        return cls(number, _parse_uri_params(semi + param_text))

    def serialize(self) -> str:
        return "tel:" + self.number + _format_params(self.params)

    def __str__(self) -> str:
        return self.serialize()


Uri = SipUri | TelUri
# secure ("s" or ""), user, password, host, port, ";params", headers: _SIP_URI_RE's groups
_SipUriParts = tuple[str, str | None, str | None, str, str | None, str, str | None]


def _match_sip_uri(text: str) -> _SipUriParts:
    """Validate a SIP URI and give its parts, as _SIP_URI_RE groups them."""
    m = _SIP_URI_RE.match(text)
    if m is None:
        raise _sip_uri_error(text)
    parts = cast(_SipUriParts, m.groups())
    host = parts[3]
    if host[0] == "[":
        _check_ipv6(host[1:-1])
    port = parts[4]
    if port is not None and not 0 < int(port) <= 65535:
        raise RemoteProtocolError(f"bad port {port!r}")
    if "%" in text:
        _check_escapes(text, "URI")
    return parts


def _sip_uri_error(text: str) -> RemoteProtocolError:
    """Say which part of a SIP URI broke the grammar: walks it the way _SIP_URI_RE reads it."""
    m = _URI_SCHEME_RE.match(text)
    if m is None:
        return RemoteProtocolError(f"not a URI: {text[:80]!r}")
    scheme = m.group(1).lower()
    if scheme not in ("sip", "sips"):
        return RemoteProtocolError(f"unsupported URI scheme {scheme!r}", 416)
    rest = text[m.end() :]
    userinfo, at, after = rest.partition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if _USER_RE.match(user) is None:
            return RemoteProtocolError(f"bad user part in {text[:80]!r}")
        if colon and _PASSWORD_RE.match(password) is None:
            return RemoteProtocolError(f"bad password in {text[:80]!r}")
        rest = after
    end = len(rest)
    for delimiter in ";?":
        i = rest.find(delimiter)
        if i != -1 and i < end:
            end = i
    param_text, question, headers = rest[end:].partition("?")
    try:
        parse_host(rest[:end])
        _parse_uri_params(param_text)
    except RemoteProtocolError as exc:
        return exc
    if question and _URI_HEADERS_RE.match(headers) is None:
        return RemoteProtocolError(f"bad URI headers in {text[:80]!r}")
    return RemoteProtocolError(f"bad SIP URI {text[:80]!r}")


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


def _check_uri_text(uri_text: str, any_scheme: bool) -> None:
    m = _URI_SCHEME_RE.match(uri_text)
    if m is None:
        raise RemoteProtocolError(f"bad URI {uri_text!r}")
    scheme = m.group(1).lower()
    if scheme in ("sip", "sips"):
        _match_sip_uri(uri_text)
    elif scheme == "tel":
        TelUri.parse(uri_text)
    elif not any_scheme:
        raise RemoteProtocolError(f"unsupported URI scheme {scheme!r}", 416)
    elif _ABSOLUTE_URI_RE.match(uri_text) is None:
        raise RemoteProtocolError(f"bad URI {uri_text!r}")


@dataclass(slots=True)
class NameAddr:
    """A From, To, Contact, Route or Record-Route value: display name, URI text and params.

    The URI is kept as text (validated at parse time) because a B2BUA mostly copies it; `sip_uri`
    parses it on demand. `display_name` is kept as written, quotes included.
    """

    uri: str
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    bracketed: bool = True

    @classmethod
    def parse(cls, text: str, *, any_scheme: bool = True) -> Self:
        """`( name-addr / addr-spec ) *( SEMI generic-param )`, RFC 3261 §20.10 and §25.1."""
        m = _SIMPLE_NAME_ADDR_RE.match(text.strip(" \t"))
        if m is None:
            return cls.parse_full(text, any_scheme=any_scheme)
        display, uri_text, param_text, spec_text, spec_params = m.groups()
        if uri_text is None:
            return cls(spec_text, None, split_simple_params(spec_params), False)
        return cls(uri_text, display, split_simple_params(param_text))

    @classmethod
    def parse_full(cls, text: str, *, any_scheme: bool = True) -> Self:
        """The whole grammar, for what the fast path in `parse` leaves; its test oracle."""
        text = text.strip(" \t")
        display: str | None = None
        rest: str | None = None  # what follows LAQUOT in the name-addr form
        if text.startswith('"'):
            q = _QUOTED_RE.match(text)
            if q is None:
                raise RemoteProtocolError("unterminated or malformed quoted display name")
            display = q.group()
            rest = text[q.end() :].lstrip(" \t")
            if not rest.startswith("<"):
                raise RemoteProtocolError("display name without <URI>")
            rest = rest[1:]
        elif "<" in text:
            m = _TOKEN_DISPLAY_RE.match(text)
            if m is not None:
                display = m.group(1)
                rest = text[m.end() :]
        if rest is not None:
            end = rest.find(">")
            if end == -1:
                raise RemoteProtocolError("unterminated <URI>")
            uri_text = rest[:end]
            param_text = rest[end + 1 :]
            # LAQUOT = SWS "<" and RAQUOT = ">" SWS: no whitespace inside (RFC 4475 §3.1.2.14)
            if uri_text != uri_text.strip() or " " in uri_text or "\t" in uri_text:
                raise RemoteProtocolError(f"whitespace inside <{uri_text}>")
            bracketed = True
        else:
            if "<" in text.partition(";")[0]:
                raise RemoteProtocolError(f"bad display name in {text[:60]!r}")
            # addr-spec form: parameters after the URI belong to the header (RFC 3261 §20.10),
            # and a URI holding ',', '?' or ';' must have been put in <> by the sender.
            semi = text.find(";")
            uri_text = text if semi == -1 else text[:semi].rstrip(" \t")
            param_text = "" if semi == -1 else text[semi:]
            if "?" in uri_text or "," in uri_text:
                raise RemoteProtocolError(f"addr-spec needs <> around {uri_text!r}")
            bracketed = False
        _check_uri_text(uri_text, any_scheme)
        return cls(uri_text, display, parse_generic_params(param_text), bracketed)

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
