"""SIP messages (RFC 3261 §7, §20): parse bytes into Request/Response, serialise them back.

The header list is the source of truth; typed views (Via, CSeq, From/To, Contact) are parsed once,
while the message is validated, and cached until a header is changed. Parsing follows the RFC 3261
grammar, so that each RFC 4475 / RFC 5118 torture message gets its verdict for the right reason
(tests/sip/test_torture.py). Every problem in the input is a RemoteProtocolError whose status_hint
is the response a request deserves: 400 by default, 416 for an unknown Request-URI scheme, 505 for
a foreign version, 513 for a message over the size or header-count limits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, Self, cast

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.headers import (
    KNOWN_SPELLINGS,
    LIST_HEADERS,
    REASON_PHRASES,
    canonical_name,
    split_list,
)
from softswitch.sip.uri import (
    HOST_NAME_PATTERN,
    PORT_PATTERN,
    SIMPLE_PARAMS_PATTERN,
    NameAddr,
    SipUri,
    check_ip_address,
    is_simple_sip_uri,
    is_token,
    parse_generic_params,
    parse_host,
    parse_port,
    parse_uri,
    split_simple_params,
)

DEFAULT_MAX_MESSAGE_SIZE = 65535
DEFAULT_MAX_HEADERS = 128
MAX_CSEQ = 2**31 - 1  # RFC 3261 §8.1.1.5
MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7
SIP_VERSION = "SIP/2.0"

# The methods of RFC 3261 and its common extensions (RFC 3262, 3265, 3311, 3428, 3515, 3903, 6086).
COMMON_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE", "INFO"}
    | {"SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH"}
)

_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
# Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP each (RFC 4475 §3.1.2.9).
_REQUEST_LINE_RE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+) ([^ \t]+) (SIP/[0-9]+\.[0-9]+)\Z")
# Status-Line = SIP-Version SP 3DIGIT SP Reason-Phrase; the second SP is there even when the
# phrase is empty (RFC 4475 §3.1.1.13), so "4294967301" cannot pass as 429 (§3.1.2.19).
_STATUS_LINE_RE = re.compile(r"(SIP/[0-9]+\.[0-9]+) ([0-9]{3}) (.*)\Z", re.DOTALL)
# via-parm = sent-protocol LWS sent-by *( SEMI via-params ), RFC 3261 §20.42
# sent-by = host [ COLON port ], and COLON may carry whitespace (RFC 3261 §25.1)
_VIA_RE = re.compile(
    r"[ \t]*[Ss][Ii][Pp][ \t]*/[ \t]*2\.0[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+"
    rf"(\[[0-9A-Fa-f:.]+\]|{HOST_NAME_PATTERN})(?:[ \t]*:[ \t]*([0-9]{{1,5}}))?"
    r"((?:[ \t]*;.*)?)\Z",
    re.DOTALL,
)
# The fast path for _VIA_RE's common form (uri.py explains what such fast paths leave out).
_SIMPLE_VIA_RE = re.compile(
    rf"SIP/2\.0/([A-Za-z0-9\-.!%*_+`'~]+) ({HOST_NAME_PATTERN})(?::({PORT_PATTERN}))?"
    rf"({SIMPLE_PARAMS_PATTERN})\Z"
)
# The same read loosely, only to say what is wrong with a Via that _VIA_RE refused.
_LOOSE_VIA_RE = re.compile(
    r"[ \t]*SIP[ \t]*/[ \t]*([0-9]+\.[0-9]+)[ \t]*/[ \t]*[A-Za-z0-9\-.!%*_+`'~]+[ \t]+"
    r"(\[[^\]]*\]|[^;: \t]+)(?:[ \t]*:[ \t]*([^; \t]*))?(.*)\Z",
    re.IGNORECASE | re.DOTALL,
)
_CSEQ_RE = re.compile(r"[ \t]*([0-9]+)[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\Z")
_DATE_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT\Z"
)


@dataclass(slots=True)
class Via:
    """One Via entry (RFC 3261 §20.42) with the RFC 3581 rport/received parameters."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Self:
        m = _SIMPLE_VIA_RE.match(text)
        if m is None:
            return cls.parse_full(text)
        transport, host, port_text, param_text = m.groups()
        params = split_simple_params(param_text)
        if len(params) != 1 or params.get("branch") is None:  # a token branch is always valid
            _check_via_params(params)
        return cls(transport.upper(), host, None if port_text is None else int(port_text), params)

    @classmethod
    def parse_full(cls, text: str) -> Self:
        """The whole grammar, for what the fast path in `parse` leaves; its test oracle."""
        m = _VIA_RE.match(text)
        if m is None:
            raise _via_error(text)
        transport, host, port_text, param_text = m.groups()
        if host[0] == "[":
            parse_host(host)
        port = None if port_text is None else parse_port(port_text)
        params = parse_generic_params(param_text) if param_text else {}
        if params:
            _check_via_params(params)
        return cls(transport.upper(), host, port, params)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def serialize(self) -> str:
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        return f"SIP/2.0/{self.transport} {self.sent_by}{params}"


def _via_error(text: str) -> RemoteProtocolError:
    """Say what is wrong with a Via that _VIA_RE refused."""
    m = _LOOSE_VIA_RE.match(text)
    if m is None:
        return RemoteProtocolError(f"bad Via {text[:80]!r}")
    if m.group(1) != "2.0":
        return RemoteProtocolError(f"bad Via version {text[:80]!r}")
    try:
        parse_host(m.group(2))
        if m.group(3) is not None:
            parse_port(m.group(3))
        parse_generic_params(m.group(4))
    except RemoteProtocolError as exc:
        return exc
    return RemoteProtocolError(f"bad Via {text[:80]!r}")


def _check_via_params(params: dict[str, str | None]) -> None:
    """The Via parameters with a grammar of their own (RFC 3261 §20.42, RFC 3581 §3)."""
    branch = params.get("branch", "")
    # a generic value is a token unless quoted, bracketed or an IPv6 address
    if branch is None or (branch and (branch[0] in '"[' or ":" in branch)):
        raise RemoteProtocolError(f"bad Via branch {branch!r}")
    received = params.get("received", "")
    if received is None:
        raise RemoteProtocolError("Via received without a value")
    if received:
        # RFC 3261 says IPv4address / IPv6address; RFC 5118 §4.5 asks to accept [IPv6] too
        check_ip_address(received)
    rport = params.get("rport")
    if rport is not None and not (_is_digits(rport) and 0 < int(rport) <= 65535):
        raise RemoteProtocolError(f"bad Via rport {rport!r}")
    ttl = params.get("ttl", "")
    if ttl is None or (ttl and not (_is_digits(ttl) and int(ttl) <= 255)):
        raise RemoteProtocolError(f"bad Via ttl {ttl!r}")


def _is_digits(text: str, max_digits: int = 10) -> bool:
    """ASCII digits only, and few enough that int() is cheap and cannot fail."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


class CSeq(NamedTuple):
    """CSeq = 1*DIGIT LWS Method, the number below 2**31 (RFC 3261 §8.1.1.5).

    A NamedTuple rather than a frozen dataclass: it is built for every message, and this is
    cheaper to build while as immutable.
    """

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        # fast path: "<digits> <METHOD>" with one SP and a method we know
        number, _, method = text.partition(" ")
        if method in COMMON_METHODS and number.isdigit() and number.isascii() and len(number) < 10:
            return cls(int(number), method)
        return cls.parse_full(text)

    @classmethod
    def parse_full(cls, text: str) -> CSeq:
        """The whole grammar, for what the fast path in `parse` leaves; its test oracle."""
        m = _CSEQ_RE.match(text)
        if m is None:
            raise RemoteProtocolError(f"bad CSeq {text[:60]!r}")
        number = m.group(1)
        if not _is_digits(number) or int(number) > MAX_CSEQ:
            raise RemoteProtocolError(f"CSeq number out of range {number[:20]}")
        return cls(int(number), m.group(2))

    def serialize(self) -> str:
        return f"{self.seq} {self.method}"


class Message:
    """Headers and body shared by requests and responses."""

    __slots__ = ("_cache", "body", "headers", "received_at")

    def __init__(self, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        self.headers = headers
        self.body = body
        self.received_at = 0.0
        self._cache: dict[str, object] = {}

    # header access -----------------------------------------------------------------
    def header(self, name: str) -> str | None:
        """The first value of a header (the whole line: use values() for list headers)."""
        name = canonical_name(name)
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_lines(self, name: str) -> list[str]:
        name = canonical_name(name)
        return [value for key, value in self.headers if key == name]

    def values(self, name: str) -> list[str]:
        """Every value of a header, comma lists split where the header allows it."""
        name = canonical_name(name)
        lines = [value for key, value in self.headers if key == name]
        if name not in LIST_HEADERS:
            return lines
        out: list[str] = []
        for line in lines:
            out.extend(split_list(line))
        return out

    def set_header(self, name: str, value: str) -> None:
        """Replace every line of a header by one, kept at the first one's place."""
        name = canonical_name(name)
        new: list[tuple[str, str]] = []
        placed = False
        for key, old in self.headers:
            if key == name:
                if not placed:
                    new.append((name, value))
                    placed = True
            else:
                new.append((key, old))
        if not placed:
            new.append((name, value))
        self.headers = new
        self._cache.clear()

    def add_header(self, name: str, value: str, *, first: bool = False) -> None:
        name = canonical_name(name)
        if first:
            self.headers.insert(0, (name, value))
        else:
            self.headers.append((name, value))
        self._cache.clear()

    def remove_header(self, name: str) -> None:
        name = canonical_name(name)
        self.headers = [(k, v) for k, v in self.headers if k != name]
        self._cache.clear()

    # typed views --------------------------------------------------------------------
    @property
    def vias(self) -> list[Via]:
        cached = self._cache.get("via")
        if cached is None:
            cached = [Via.parse(v) for v in self.values("Via")]
            self._cache["via"] = cached
        return cached  # type: ignore[return-value]

    @property
    def top_via(self) -> Via:
        vias = self.vias
        if not vias:
            raise RemoteProtocolError("missing Via")
        return vias[0]

    @property
    def call_id(self) -> str:
        value = self.header("Call-ID")
        if value is None:
            raise RemoteProtocolError("missing Call-ID")
        return value

    @property
    def cseq(self) -> CSeq:
        cached = self._cache.get("cseq")
        if cached is None:
            value = self.header("CSeq")
            if value is None:
                raise RemoteProtocolError("missing CSeq")
            cached = CSeq.parse(value)
            self._cache["cseq"] = cached
        return cached  # type: ignore[return-value]

    def _name_addr(self, name: str) -> NameAddr:
        cached = self._cache.get(name)
        if cached is None:
            lines = self.header_lines(name)
            if not lines:
                raise RemoteProtocolError(f"missing {name}")
            if len(lines) > 1:
                raise RemoteProtocolError(f"more than one {name}")
            cached = NameAddr.parse(lines[0])
            self._cache[name] = cached
        return cached  # type: ignore[return-value]

    @property
    def from_(self) -> NameAddr:
        return self._name_addr("From")

    @property
    def to(self) -> NameAddr:
        return self._name_addr("To")

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values but `*` (the REGISTER wildcard, RFC 3261 §10.2.2)."""
        cached = self._cache.get("contacts")
        if cached is None:
            cached = [NameAddr.parse(v) for v in self.values("Contact") if v != "*"]
            self._cache["contacts"] = cached
        return list(cast(list[NameAddr], cached))

    @property
    def content_type(self) -> str | None:
        value = self.header("Content-Type")
        return None if value is None else value.split(";")[0].strip().lower()

    def expires(self) -> int | None:
        value = self.header("Expires")
        if value is None:
            return None
        value = value.strip()
        if not value.isascii() or not value.isdigit():
            raise RemoteProtocolError(f"bad Expires {value[:20]!r}")
        # delta-seconds is 1*DIGIT; a huge one means "as long as possible", not an error
        return 2**32 - 1 if len(value) > 10 else min(int(value), 2**32 - 1)

    def _serialize_headers(self, out: list[str]) -> None:
        for name, value in self.headers:
            if name != "Content-Length":
                out.append(f"{name}: {value}\r\n")
        out.append(f"Content-Length: {len(self.body)}\r\n\r\n")


class Request(Message):
    __slots__ = ("method", "uri")

    def __init__(
        self, method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> None:
        super().__init__(headers, body)
        self.method = method
        self.uri = uri

    def serialize(self) -> bytes:
        out = [f"{self.method} {self.uri} {SIP_VERSION}\r\n"]
        self._serialize_headers(out)
        return "".join(out).encode("utf-8", "surrogateescape") + self.body

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    __slots__ = ("reason", "status")

    def __init__(
        self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = reason

    def serialize(self) -> bytes:
        out = [f"{SIP_VERSION} {self.status} {self.reason}\r\n"]
        self._serialize_headers(out)
        return "".join(out).encode("utf-8", "surrogateescape") + self.body

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    end = data.find(b"\r\n\r\n")
    if end != -1:
        return data[:end], data[end + 4 :]
    end = data.find(b"\n\n")
    if end != -1:
        return data[:end], data[end + 2 :]
    # a datagram may end right after the last header's CRLF, with no body
    if data.endswith(b"\r\n"):
        return data[:-2], b""
    raise RemoteProtocolError("no end of headers")


def _header_lines(head: str) -> list[str]:
    """Logical lines of the head: continuation lines joined with one SP (RFC 3261 §7.3.1)."""
    lines = head.split("\r\n")
    crlfs = len(lines) - 1
    if head.count("\n") != crlfs or head.count("\r") != crlfs:
        # some line ends in a bare LF, which we take; a bare CR is nobody's line end
        text = head.replace("\r\n", "\n")
        if "\r" in text:
            raise RemoteProtocolError("bare CR in the message head")
        lines = text.split("\n")
    if "\n " not in head and "\n\t" not in head:
        return lines
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if len(out) < 2:
                raise RemoteProtocolError("continuation line before any header")
            out[-1] = out[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            out.append(line)
    return out


# Headers that may appear once only (RFC 3261 §7.3.1: only comma-list headers may repeat).
SINGLE_VALUED = frozenset(
    {
        "Call-ID",
        "CSeq",
        "From",
        "To",
        "Max-Forwards",
        "Content-Length",
        "Content-Type",
        "Expires",
        "Date",
    }
)


def parse_message(
    data: bytes,
    *,
    stream: bool = False,
    max_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    max_headers: int = DEFAULT_MAX_HEADERS,
) -> Request | Response:
    """Parse one whole message. On streams (TCP) Content-Length is mandatory (RFC 3261 §18.3)."""
    if len(data) > max_size:
        raise RemoteProtocolError("message too large", 513)
    head_bytes, rest = _split_head(data)
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("headers are not UTF-8") from None
    lines = _header_lines(head)
    if len(lines) > max_headers + 1:
        raise RemoteProtocolError("too many headers", 513)
    headers: list[tuple[str, str]] = []
    singles: dict[str, str] = {}
    via_lines: list[str] = []
    known = KNOWN_SPELLINGS
    single_valued = SINGLE_VALUED
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        canonical = known.get(name)
        if canonical is None or not sep:
            canonical = _header_name(name, sep, line)
        value = value.strip(" \t")
        if canonical in single_valued:
            if canonical in singles:
                raise RemoteProtocolError(f"more than one {canonical} header")
            singles[canonical] = value
        elif canonical == "Via":
            via_lines.append(value)
        headers.append((canonical, value))

    start = lines[0]
    message: Request | Response
    # a method is a token, which has no '/': only a status line can start with "SIP/"
    if not start.startswith("SIP/"):
        m = _REQUEST_LINE_RE.match(start)
        if m is None:
            raise RemoteProtocolError(f"bad start line {start[:60]!r}")
        if m.group(3) != SIP_VERSION:
            # RFC 4475 §3.1.2.16: a foreign version is 505 Version Not Supported, not 400
            raise RemoteProtocolError(f"unsupported version {m.group(3)}", 505)
        message = Request(m.group(1), m.group(2), headers)
    else:
        s = _STATUS_LINE_RE.match(start)
        if s is None:
            raise RemoteProtocolError(f"bad start line {start[:60]!r}")
        if s.group(1) != SIP_VERSION:
            raise RemoteProtocolError(f"unsupported version {s.group(1)}", 505)
        status = int(s.group(2))
        if not 100 <= status <= 699:
            raise RemoteProtocolError(f"bad status code {status}")
        message = Response(status, s.group(3), headers)

    length_text = singles.get("Content-Length")
    if length_text is not None:
        if not _is_digits(length_text):
            raise RemoteProtocolError(f"bad Content-Length {length_text[:20]!r}")
        length = int(length_text)
        if length > len(rest):
            raise RemoteProtocolError("Content-Length larger than the body")
        # on a datagram, octets past Content-Length are ignored (RFC 3261 §18.3)
        message.body = rest[:length]
    elif stream:
        raise RemoteProtocolError("missing Content-Length on a stream transport")
    else:
        message.body = rest
    _validate(message, singles, via_lines)
    return message


def _header_name(name: str, sep: str, line: str) -> str:
    """The canonical name of a header spelt in a way KNOWN_SPELLINGS does not hold."""
    name = name.rstrip(" \t")
    if not sep or _HEADER_NAME_RE.match(name) is None:
        raise RemoteProtocolError(f"bad header line {line[:40]!r}")
    return canonical_name(name)


def _validate(message: Request | Response, singles: dict[str, str], via_lines: list[str]) -> None:
    """Check the headers every element relies on (RFC 3261 §8.1.1), so later code can trust them."""
    for name in ("Call-ID", "CSeq", "From", "To"):
        if name not in singles:
            raise RemoteProtocolError(f"missing {name}")
    # parsed once here from the values already at hand, and cached for the typed views
    cache = message._cache
    vias = [Via.parse(v) for line in via_lines for v in split_list(line)]
    if not vias:
        raise RemoteProtocolError("missing Via")
    cache["via"] = vias
    call_id = singles["Call-ID"]
    if not call_id or not call_id.isprintable() or " " in call_id:
        raise RemoteProtocolError(f"bad Call-ID {call_id[:60]!r}")
    cseq = CSeq.parse(singles["CSeq"])
    cache["cseq"] = cseq
    cache["From"] = NameAddr.parse(singles["From"])
    cache["To"] = NameAddr.parse(singles["To"])
    if not isinstance(message, Request):
        return
    if cseq.method != message.method:
        raise RemoteProtocolError(f"CSeq method {cseq.method} does not match {message.method}")
    if not is_simple_sip_uri(message.uri):
        uri = parse_uri(message.uri)
        if isinstance(uri, SipUri) and uri.headers is not None:
            # RFC 3261 §19.1.1: no headers in a Request-URI (RFC 4475 §3.1.2.11)
            raise RemoteProtocolError("headers in the Request-URI")
    max_forwards = singles.get("Max-Forwards")
    if max_forwards is not None and not (_is_digits(max_forwards) and int(max_forwards) <= 255):
        raise RemoteProtocolError(f"bad Max-Forwards {max_forwards[:20]!r}")
    if "Expires" in singles:
        message.expires()
    date = singles.get("Date")
    if date is not None and not _DATE_RE.match(date):
        raise RemoteProtocolError(f"bad Date {date[:60]!r}")
    message.contacts  # noqa: B018


def warning_value(text: str) -> str:
    """A Warning header value (RFC 3261 §20.43) carrying `text`: code 399, quotes kept out."""
    return '399 softswitch "' + text.replace('"', "'").replace("\\", "/")[:200] + '"'


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """A response to `request` per RFC 3261 §8.2.6: Via, From, To, Call-ID, CSeq copied."""
    headers: list[tuple[str, str]] = []
    tagged = False
    for name, value in request.headers:
        if name in _COPIED:
            headers.append((name, value))
        elif name == "To":
            if to_tag is not None and "tag" not in request.to.params:
                value = f"{value};tag={to_tag}"
                tagged = True
            headers.append((name, value))
        elif name == "Record-Route" and 100 < status < 300:
            headers.append((name, value))
    copied = len(headers)
    headers.extend(extra)
    response = Response(status, reason or REASON_PHRASES.get(status, "Unknown"), headers, body)
    if len(headers) == copied or _SEEDED.isdisjoint([name for name, _ in headers[copied:]]):
        _seed_views(response, request, to_tag if tagged else None)
    return response


_COPIED = frozenset({"Via", "From", "Call-ID", "CSeq"})
_SEEDED = frozenset({"Via", "CSeq", "From", "To"})


def _seed_views(response: Response, request: Request, added_tag: str | None) -> None:
    """Give a response the typed views of the lines it copied from its request, instead of
    parsing them again to send it; copies, since Via and NameAddr are mutable."""
    known = request._cache
    cache = response._cache
    vias = cast("list[Via] | None", known.get("via"))
    if vias is not None:
        cache["via"] = [Via(v.transport, v.host, v.port, v.params.copy()) for v in vias]
    cseq = known.get("cseq")
    if cseq is not None:
        cache["cseq"] = cseq
    sender = cast("NameAddr | None", known.get("From"))
    if sender is not None:
        cache["From"] = _copy_name_addr(sender, None)
    to = cast("NameAddr | None", known.get("To"))
    if to is not None and (added_tag is None or is_token(added_tag)):
        cache["To"] = _copy_name_addr(to, added_tag)


def _copy_name_addr(value: NameAddr, tag: str | None) -> NameAddr:
    params = value.params.copy()
    if tag is not None:
        params["tag"] = tag
    return NameAddr(value.uri, value.display_name, params, value.bracketed)
