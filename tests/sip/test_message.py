"""softswitch/sip/message.py: framing, headers, typed views, limits, responses, TCP framing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sip.fast_path_cases import VIA_VALUES, corpus_values

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.framing import StreamFramer
from softswitch.sip.headers import REASON_PHRASES, canonical_name, split_list
from softswitch.sip.message import (
    DEFAULT_MAX_HEADERS,
    CSeq,
    Request,
    Response,
    Via,
    make_response,
    parse_message,
)

DATA = Path(__file__).resolve().parent.parent / "data"
CAPTURES = DATA / "sip"

OPTIONS = (
    b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: Alice <sip:alice@example.com>;tag=1928301774\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    b"CSeq: 63104 OPTIONS\r\n"
    b"Contact: <sip:alice@192.0.2.1:5060>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def _with(*lines: bytes, body: bytes = b"", base: bytes = OPTIONS) -> bytes:
    """OPTIONS with extra header lines added before Content-Length, and a body."""
    head = base.split(b"Content-Length")[0]
    return (
        head
        + b"".join(line + b"\r\n" for line in lines)
        + (b"Content-Length: %d\r\n\r\n" % len(body) + body)
    )


def _rejected(data: bytes, status: int = 400, **kwargs: int | bool) -> str:
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(data, **kwargs)  # type: ignore[arg-type]
    assert info.value.status_hint == status
    return str(info.value)


# --- captured messages round trip ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["pjsua2-invite.raw", "sipp-uac-invite.raw", "sipp-uas-200.raw"])
def test_captured_messages_serialise_back_to_their_bytes(name: str) -> None:
    raw = (CAPTURES / name).read_bytes()
    message = parse_message(raw)
    # byte for byte, but for the padding peers put after "Content-Length:"
    length = len(message.body)
    expected = raw.replace(b"Content-Length:   %d" % length, b"Content-Length: %d" % length)
    assert message.serialize() == expected


def test_captured_pjsua2_invite_reads_as_sent() -> None:
    invite = parse_message((CAPTURES / "pjsua2-invite.raw").read_bytes())
    assert isinstance(invite, Request)
    assert invite.method == "INVITE"
    assert invite.top_via.params["rport"] is None
    assert invite.top_via.branch is not None and invite.top_via.branch.startswith("z9hG4bK")
    assert invite.from_.tag and invite.to.tag is None
    assert invite.contacts[0].sip_uri().params == {"ob": None}
    assert "100rel" in invite.values("Supported")
    assert len(invite.values("Allow")) == 12
    assert invite.content_type == "application/sdp"
    assert len(invite.body) == 620 and invite.body.startswith(b"v=0\r\n")


def test_captured_response() -> None:
    ok = parse_message((CAPTURES / "sipp-uas-200.raw").read_bytes())
    assert isinstance(ok, Response)
    assert (ok.status, ok.reason) == (200, "OK")
    assert ok.to.tag == "14883SIPpTag011"
    assert ok.cseq == CSeq(13376, "INVITE")


# --- header names --------------------------------------------------------------------------------
def test_compact_forms_and_case() -> None:
    data = (
        b"INVITE sip:bob@example.com SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        b"f: <sip:alice@example.com>;tag=1\r\n"
        b"t: sip:bob@example.com\r\n"
        b"i: abc@192.0.2.1\r\n"
        b"cseq: 1 INVITE\r\n"
        b"m: <sip:alice@192.0.2.1>\r\n"
        b"k: 100rel, timer\r\n"
        b"s: hello\r\n"
        b"c: application/sdp\r\n"
        b"L: 3\r\n"
        b"\r\nv=0"
    )
    message = parse_message(data)
    assert [name for name, _ in message.headers] == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Supported",
        "Subject",
        "Content-Type",
        "Content-Length",
    ]
    assert message.header("i") == message.header("CALL-ID") == "abc@192.0.2.1"
    assert message.values("k") == ["100rel", "timer"]
    assert message.body == b"v=0"
    assert canonical_name("www-authenticate") == "WWW-Authenticate"
    assert canonical_name("X-Custom") == "X-Custom"


def test_bad_header_lines() -> None:
    assert "bad header line" in _rejected(_with(b"No colon here"))
    assert "bad header line" in _rejected(_with(b"Bad Name: x"))
    assert "bad header line" in _rejected(_with(b": no name"))


# --- folding, lists, quoting ---------------------------------------------------------------------
def test_folded_lines_are_joined_with_one_space() -> None:
    message = parse_message(
        _with(b"Subject: first part\r\n   second part", b"X-Empty:\r\n\tfolded value")
    )
    assert message.header("Subject") == "first part second part"
    assert message.header("X-Empty") == "folded value"
    via_folded = OPTIONS.replace(b"Via: SIP/2.0/UDP", b"Via: SIP /\r\n 2.0/ UDP")
    assert parse_message(via_folded).top_via.transport == "UDP"


def test_continuation_before_any_header() -> None:
    data = b"OPTIONS sip:bob@example.com SIP/2.0\r\n folded\r\n" + OPTIONS.split(b"\r\n", 1)[1]
    _rejected(data)


def test_list_splitting_respects_quotes_and_brackets() -> None:
    contact = b'Contact: "Doe, John" <sip:john,doe@example.com;a=1>, <sip:x@example.com>;q=0.5'
    data = _with(b"Route: <sip:p1@example.com;lr>, <sip:p2@example.com;lr>").replace(
        b"Contact: <sip:alice@192.0.2.1:5060>", contact
    )
    message = parse_message(data)
    assert message.values("Route") == ["<sip:p1@example.com;lr>", "<sip:p2@example.com;lr>"]
    contacts = message.contacts
    assert [c.display_name for c in contacts] == ['"Doe, John"', None]
    assert contacts[1].params == {"q": "0.5"}
    assert split_list('a, "b, \\" c", <d,e>') == ["a", '"b, \\" c"', "<d,e>"]
    with pytest.raises(RemoteProtocolError):
        split_list('a, "b, c')


def test_single_value_headers_are_not_split() -> None:
    message = parse_message(_with(b"Date: Sat, 13 Nov 2010 23:29:00 GMT"))
    assert message.values("Date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]


def test_multiple_via_lines_and_list() -> None:
    data = OPTIONS.replace(
        b"Max-Forwards",
        b"Via: SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bK2, SIP/2.0/TLS h.example.com"
        b";branch=z9hG4bK3\r\nMax-Forwards",
    )
    vias = parse_message(data).vias
    assert [(v.transport, v.host, v.port) for v in vias] == [
        ("UDP", "192.0.2.1", 5060),
        ("TCP", "[2001:db8::1]", 5070),
        ("TLS", "h.example.com", None),
    ]


# --- Via -----------------------------------------------------------------------------------------
def test_via_parse_and_serialize() -> None:
    via = Via.parse(
        "SIP / 2.0 / udp  host.example.com : 5062 ; branch = z9hG4bKx ;rport;received=::1"
    )
    assert (via.transport, via.host, via.port) == ("UDP", "host.example.com", 5062)
    assert via.branch == "z9hG4bKx"
    assert via.sent_by == "host.example.com:5062"
    assert via.params == {"branch": "z9hG4bKx", "rport": None, "received": "::1"}
    assert via.serialize() == "SIP/2.0/UDP host.example.com:5062;branch=z9hG4bKx;rport;received=::1"
    assert Via.parse(via.serialize()) == via


@pytest.mark.parametrize(
    "text",
    [
        "SIP/3.0/UDP host",
        "SIP/2.0/UDP",
        "SIP/2.0 host",
        "SIP/2.0/UDP host;;",
        "SIP/2.0/UDP host;received=example.com",  # an address, not a name (RFC 3261 §20.42)
        "SIP/2.0/UDP host;received=[2001:db8:::1]",
        "SIP/2.0/UDP host;received",
        "SIP/2.0/UDP host;rport=0",
        "SIP/2.0/UDP host;rport=x",
        "SIP/2.0/UDP host;ttl=256",
        'SIP/2.0/UDP host;branch="quoted"',
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP 2001:db8::1",
    ],
)
def test_bad_vias(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        Via.parse(text)


def _via_same_as_full(text: str) -> None:
    """`Via.parse` (fast path first) and `Via.parse_full` agree: same value, or same error."""
    try:
        expected = Via.parse_full(text)
    except RemoteProtocolError as exc:
        with pytest.raises(RemoteProtocolError) as info:
            Via.parse(text)
        assert (str(info.value), info.value.status_hint) == (str(exc), exc.status_hint)
        return
    via = Via.parse(text)
    assert via == expected
    assert list(via.params.items()) == list(expected.params.items())


@pytest.mark.parametrize("text", corpus_values(frozenset({"Via"})))
def test_fast_via_agrees_on_the_corpus(text: str) -> None:
    _via_same_as_full(text)


@settings(max_examples=1000, deadline=None)
@given(VIA_VALUES)
def test_fast_via_agrees_on_generated_values(text: str) -> None:
    _via_same_as_full(text)


def test_common_vias_skip_the_full_grammar(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [
        "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1000-1-0",
        "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1;received=192.0.2.1;rport=5060",
        "SIP/2.0/TCP pbx.example.com;branch=z9hG4bKx;rport",
    ]
    expected = [Via.parse_full(text) for text in texts]
    monkeypatch.setattr(Via, "parse_full", None)
    assert [Via.parse(text) for text in texts] == expected


@settings(max_examples=500, deadline=None)
@given(
    st.tuples(
        st.sampled_from(["", " ", "\t"]),
        st.sampled_from(["1", "0", "007", "999999999", "2147483647", "2147483648", "9" * 12, "x"]),
        st.sampled_from([" ", "  ", "\t", ""]),
        st.sampled_from(["INVITE", "BYE", "ACK", "invite", "FOO", "INVITE\x00", "IN VITE", ""]),
        st.sampled_from(["", " ", "\t"]),
    ).map("".join)
)
def test_fast_cseq_agrees_with_the_grammar(text: str) -> None:
    try:
        expected = CSeq.parse_full(text)
    except RemoteProtocolError as exc:
        with pytest.raises(RemoteProtocolError) as info:
            CSeq.parse(text)
        assert (str(info.value), info.value.status_hint) == (str(exc), exc.status_hint)
        return
    assert CSeq.parse(text) == expected


def test_common_cseqs_skip_the_grammar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CSeq, "parse_full", None)
    assert CSeq.parse("63104 OPTIONS") == CSeq(63104, "OPTIONS")
    assert CSeq.parse("1 INVITE").method == "INVITE"


# --- start lines ---------------------------------------------------------------------------------
def test_status_lines() -> None:
    base = OPTIONS.split(b"\r\n", 1)[1]
    ok = parse_message(b"SIP/2.0 486 Busy Here\r\n" + base)
    assert isinstance(ok, Response) and (ok.status, ok.reason) == (486, "Busy Here")
    empty = parse_message(b"SIP/2.0 100 \r\n" + base)
    assert isinstance(empty, Response) and empty.reason == ""
    assert "bad start line" in _rejected(b"SIP/2.0 100\r\n" + base)  # the SP is mandatory
    assert "bad start line" in _rejected(b"SIP/2.0 4294967301 Big\r\n" + base)
    assert "bad status code" in _rejected(b"SIP/2.0 099 Low\r\n" + base)
    assert "bad status code" in _rejected(b"SIP/2.0 700 High\r\n" + base)
    assert "unsupported version" in _rejected(b"SIP/3.0 200 OK\r\n" + base, 505)


def test_request_lines() -> None:
    rest = OPTIONS.split(b"\r\n", 1)[1]
    assert "unsupported version" in _rejected(b"OPTIONS sip:b@example.com SIP/2.1\r\n" + rest, 505)
    _rejected(b"OPTIONS  sip:b@example.com SIP/2.0\r\n" + rest)
    _rejected(b"OPTIONS sip:b@example.com SIP/2.0 \r\n" + rest)
    _rejected(b"OPTIONS sip:b@example.com;x=1 ;y SIP/2.0\r\n" + rest)
    assert "headers in the Request-URI" in _rejected(
        b"OPTIONS sip:b@example.com?Route=x SIP/2.0\r\n" + rest
    )
    assert "unsupported URI scheme" in _rejected(
        b"OPTIONS mailto:b@example.com SIP/2.0\r\n" + rest, 416
    )
    tel = parse_message(b"OPTIONS tel:+15551234 SIP/2.0\r\n" + rest)
    assert isinstance(tel, Request) and tel.uri == "tel:+15551234"


# --- required headers and their values -----------------------------------------------------------
@pytest.mark.parametrize("name", [b"Via", b"Call-ID", b"CSeq", b"From", b"To"])
def test_missing_required_header(name: bytes) -> None:
    lines = [x for x in OPTIONS.split(b"\r\n") if not x.startswith(name + b":")]
    assert "missing" in _rejected(b"\r\n".join(lines))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"CSeq: 2147483648 OPTIONS", "out of range"),
        (b"CSeq: " + b"9" * 5000 + b" OPTIONS", "out of range"),
        (b"CSeq: 1 INVITE", "does not match"),
        (b"CSeq: x OPTIONS", "bad CSeq"),
        (b"Max-Forwards: 256", "bad Max-Forwards"),
        (b"Max-Forwards: \xd9\xa1", "bad Max-Forwards"),  # an Arabic-Indic digit is not a DIGIT
        (b"Call-ID: has space", "bad Call-ID"),
        (b"Expires: soon", "bad Expires"),
        (b"Date: Fri, 01 Jan 2010 16:00:00 EST", "bad Date"),
    ],
)
def test_bad_header_values(line: bytes, reason: str) -> None:
    name = line.split(b":")[0]
    lines = [x for x in OPTIONS.split(b"\r\n") if not x.startswith(name + b":")]
    data = b"\r\n".join([*lines[:2], line, *lines[2:]])
    assert reason in _rejected(data)


def test_max_forwards_and_expires() -> None:
    message = parse_message(_with(b"Expires: " + b"9" * 50).replace(b"70", b"0068"))
    assert message.header("Max-Forwards") == "0068"
    assert message.expires() == 2**32 - 1
    assert parse_message(OPTIONS).expires() is None


def test_received_at_defaults_to_zero() -> None:
    assert parse_message(OPTIONS).received_at == 0.0


# --- Content-Length and limits -------------------------------------------------------------------
def test_content_length_frames_the_body() -> None:
    data = _with(body=b"hello")
    assert parse_message(data + b"trailing junk").body == b"hello"  # RFC 3261 §18.3
    no_length = data.replace(b"Content-Length: 5\r\n", b"")
    assert parse_message(no_length).body == b"hello"
    assert "missing Content-Length" in _rejected(no_length, stream=True)
    assert "larger than the body" in _rejected(data[:-1])
    assert "bad Content-Length" in _rejected(data.replace(b"Length: 5", b"Length: -5"))
    assert "bad Content-Length" in _rejected(data.replace(b"Length: 5", b"Length: " + b"1" * 5000))
    assert "more than one Content-Length" in _rejected(
        data.replace(b"Content-Length: 5", b"Content-Length: 5\r\nl: 5")
    )


def test_body_may_be_any_bytes_but_head_must_be_utf8() -> None:
    assert parse_message(_with(body=b"\xff\x00\xfe")).body == b"\xff\x00\xfe"
    assert "UTF-8" in _rejected(_with(b"Subject: \xff"))
    assert "bare CR" in _rejected(_with(b"Subject: a\rb"))


def test_size_limit_is_513() -> None:
    data = _with(body=b"x" * 2000)
    assert parse_message(data, max_size=len(data)).body == b"x" * 2000
    assert "too large" in _rejected(data, 513, max_size=len(data) - 1)


def test_header_count_limit_is_513() -> None:
    room = DEFAULT_MAX_HEADERS - OPTIONS.count(b"\r\n") + 2
    assert parse_message(_with(*[b"X-N: %d" % i for i in range(room)]))
    assert "too many headers" in _rejected(_with(*[b"X-N: %d" % i for i in range(room + 1)]), 513)
    assert "too many headers" in _rejected(OPTIONS, 513, max_headers=5)


def test_bare_lf_line_ends_are_tolerated() -> None:
    message = parse_message(OPTIONS.replace(b"\r\n", b"\n"))
    assert message.call_id == "a84b4c76e66710@pc33.example.com"


# --- changing headers ----------------------------------------------------------------------------
def test_header_changes_refresh_typed_views() -> None:
    message = parse_message(OPTIONS)
    assert message.top_via.host == "192.0.2.1"
    message.add_header("Via", "SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp", first=True)
    assert message.top_via.host == "proxy.example.com"
    message.set_header("To", "<sip:carol@example.com>;tag=9")
    assert message.to.tag == "9"
    message.remove_header("Contact")
    assert message.contacts == []
    message.set_header("X-New", "1")
    assert message.headers[-1] == ("X-New", "1")
    assert b"X-New: 1\r\nContent-Length: 0\r\n\r\n" in message.serialize()


def test_set_header_replaces_every_line_in_place() -> None:
    message = parse_message(_with(b"Route: <sip:a@example.com>", b"Route: <sip:b@example.com>"))
    message.set_header("route", "<sip:c@example.com>")
    assert message.header_lines("Route") == ["<sip:c@example.com>"]


# --- responses -----------------------------------------------------------------------------------
def test_make_response_copies_the_dialog_headers() -> None:
    request = parse_message(_with(b"Record-Route: <sip:p.example.com;lr>"))
    assert isinstance(request, Request)
    ringing = make_response(request, 180, to_tag="xyz", extra=[("Contact", "<sip:b@h>")])
    assert ringing.reason == REASON_PHRASES[180] == "Ringing"
    assert ringing.to.tag == "xyz"
    assert ringing.header("Record-Route") == "<sip:p.example.com;lr>"
    assert ringing.header("Contact") == "<sip:b@h>"
    assert ringing.header("Max-Forwards") is None
    assert ringing.header_lines("Via") == request.header_lines("Via")
    assert ringing.cseq == request.cseq and ringing.call_id == request.call_id
    busy = make_response(request, 486, "Busy Now")
    assert busy.reason == "Busy Now" and busy.header("Record-Route") is None
    again = parse_message(busy.serialize())
    assert isinstance(again, Response) and again.status == 486


def test_make_response_keeps_an_existing_to_tag() -> None:
    request = parse_message(
        OPTIONS.replace(b"To: <sip:bob@example.com>", b"To: <sip:b@e.com>;tag=1")
    )
    assert isinstance(request, Request)
    assert make_response(request, 200, to_tag="2").to.tag == "1"


def _requests_in_the_corpus() -> list[Request]:
    requests = []
    for path in sorted([*DATA.glob("sip-torture/rfc*/*"), *CAPTURES.glob("*.raw")]):
        try:
            message = parse_message(path.read_bytes())
        except RemoteProtocolError:
            continue
        if isinstance(message, Request):
            requests.append(message)
    return requests


def _views(message: Response) -> list[object]:
    views: list[object] = []
    for view in (lambda: message.vias, lambda: message.cseq, lambda: message.from_):
        try:
            views.append(view())
        except RemoteProtocolError as exc:
            views.append(str(exc))
    to = message.to
    views += [to, list(to.params.items()), [list(v.params.items()) for v in message.vias]]
    return views


@pytest.mark.parametrize("request_", _requests_in_the_corpus(), ids=repr)
@pytest.mark.parametrize(
    ("status", "to_tag", "extra"),
    [
        (100, None, []),
        (180, "a1b2", [("Contact", "<sip:b@h>")]),
        (200, "x;y", []),  # not a token: the To view is left to parse
        (486, "t", [("Via", "SIP/2.0/UDP other.example.com")]),  # not the request's Vias any more
    ],
)
def test_responses_get_their_requests_views(
    request_: Request, status: int, to_tag: str | None, extra: list[tuple[str, str]]
) -> None:
    """The views make_response hands over equal those parsed from the response's own lines."""
    # stamped as the transport does, view and line together
    via = request_.vias[0]
    via.params["rport"] = "5060"
    at = next(i for i, (name, _) in enumerate(request_.headers) if name == "Via")
    request_.headers[at] = (
        "Via",
        ", ".join([via.serialize(), *split_list(request_.headers[at][1])[1:]]),
    )
    response = make_response(request_, status, to_tag=to_tag, extra=extra)
    fresh = Response(response.status, response.reason, list(response.headers))
    try:
        expected = _views(fresh)
    except RemoteProtocolError as exc:
        with pytest.raises(RemoteProtocolError, match=re.escape(str(exc))):
            _views(response)
        return
    assert _views(response) == expected
    response.vias[0].params["x-test"] = None
    response.to.params["x-test"] = None
    assert "x-test" not in request_.vias[0].params and "x-test" not in request_.to.params


# --- TCP framing ---------------------------------------------------------------------------------
def test_stream_framer_with_content_length_anywhere() -> None:
    body_first = (
        OPTIONS.replace(b"Content-Length: 0\r\n", b"").replace(
            b"Max-Forwards", b"l: 5\r\nMax-Forwards"
        )
        + b"hello"
    )
    framer = StreamFramer()
    assert framer.feed(body_first + OPTIONS) == ([body_first, OPTIONS], 0)


def test_stream_framer_pings_across_reads() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n") == ([], 0)
    assert framer.feed(b"\r") == ([], 0)
    assert framer.feed(b"\n\r\n\r\n") == ([], 2)  # two double-CRLF pings (RFC 5626 §4.4.1)
    assert framer.feed(b"\r\n" + OPTIONS[:10]) == ([], 0)  # one CRLF before a start line: ignored
    assert framer.feed(OPTIONS[10:]) == ([OPTIONS], 0)


def test_stream_framer_needs_content_length() -> None:
    framer = StreamFramer()
    with pytest.raises(RemoteProtocolError, match="missing Content-Length"):
        framer.feed(OPTIONS.replace(b"Content-Length: 0\r\n", b""))


def test_stream_framer_size_limit() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer(max_size=200).feed(_with(body=b"x" * 300))
    assert info.value.status_hint == 513
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer().feed(OPTIONS.replace(b"Length: 0", b"Length: 99999999999"))
    assert info.value.status_hint == 513


# --- cases that `make mutants` found untested ------------------------------------------------
def _via(params: str) -> bytes:
    return OPTIONS.replace(b";branch=z9hG4bK776;rport", params.encode())


def test_via_parameter_bounds() -> None:
    assert parse_message(_via(";branch=z9hG4bK1;rport=1")).top_via.params["rport"] == "1"
    assert parse_message(_via(";branch=z9hG4bK1;rport=65535")).top_via.params["rport"] == "65535"
    assert "bad Via rport" in _rejected(_via(";branch=z9hG4bK1;rport=65536"))
    assert "bad Via rport" in _rejected(_via(";branch=z9hG4bK1;rport=0"))
    assert parse_message(_via(";branch=z9hG4bK1;ttl=255")).top_via.params["ttl"] == "255"
    assert "bad Via ttl" in _rejected(_via(";branch=z9hG4bK1;ttl=256"))
    # a branch is a token: neither quoted nor an address, though gen-value allows both
    assert parse_message(_via(";branch=X1")).top_via.branch == "X1"
    assert "bad Via branch" in _rejected(_via(';branch="z9hG4bK1"'))
    assert "bad Via branch" in _rejected(_via(";branch=[2001:db8::1]"))
    assert "bad Via branch" in _rejected(_via(";branch=1:2"))


def test_via_with_an_ipv6_sent_by() -> None:
    via = Via.parse("SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bK1")
    assert (via.host, via.port, via.sent_by) == ("[2001:db8::9]", 5070, "[2001:db8::9]:5070")
    for text in ["SIP/2.0/UDP [2001:db8::9::1];branch=z9hG4bK1", "SIP/2.0/UDP [x]:5060"]:
        with pytest.raises(RemoteProtocolError):
            Via.parse(text)


def test_folding_with_tabs_and_trailing_whitespace() -> None:
    message = parse_message(
        _with(b"Subject: Xa \t\r\n\t Xb \t", b"X-Tail: endX\r\n Xnext"), stream=False
    )
    # the folded line's own whitespace goes, and exactly one SP joins (RFC 3261 §7.3.1)
    assert message.header("Subject") == "Xa Xb"
    assert message.header("X-Tail") == "endX Xnext"


def test_mixed_line_ends_keep_every_header() -> None:
    mixed = OPTIONS.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\n")
    message = parse_message(mixed)
    assert message.header("Max-Forwards") == "70"
    assert message.from_.tag == "1928301774"
    assert [name for name, _ in message.headers] == [
        name for name, _ in parse_message(OPTIONS).headers
    ]


def test_lf_only_message_keeps_its_body() -> None:
    data = _with(body=b"v=0\n\nbody").replace(b"\r\n", b"\n")
    assert parse_message(data).body == b"v=0\n\nbody"


def test_datagram_may_end_after_the_last_header_line() -> None:
    message = parse_message(OPTIONS[:-2])  # no blank line, no body
    assert message.body == b""
    assert message.header("Content-Length") == "0"


def test_header_names_are_tokens_and_keep_their_last_letter() -> None:
    message = parse_message(_with(b"X-FooX: 1", b"Subject : spaced"))
    assert message.header("X-FooX") == "1"
    assert message.header("Subject") == "spaced"
    assert "bad header line" in _rejected(_with(b"Subject\x0b: x"))


def test_digit_limits() -> None:
    assert parse_message(_with().replace(b"63104", b"2147483647")).cseq.seq == 2**31 - 1
    assert CSeq.parse_full("2147483647 INVITE").seq == 2**31 - 1
    with pytest.raises(RemoteProtocolError, match="out of range"):
        CSeq.parse_full("2147483648 INVITE")
    assert parse_message(_with().replace(b"70", b"0000000070")).header("Max-Forwards") == (
        "0000000070"
    )
    assert "bad Max-Forwards" in _rejected(_with().replace(b"70", b"00000000070"))


def test_call_id_must_be_printable() -> None:
    assert "bad Call-ID" in _rejected(OPTIONS.replace(b"a84b4c76", b"a84\x01c76"))


def test_status_code_range() -> None:
    response = make_response(parse_message(OPTIONS), 699)  # type: ignore[arg-type]
    assert parse_message(response.serialize()).status == 699  # type: ignore[union-attr]
    with pytest.raises(RemoteProtocolError):
        parse_message(response.serialize().replace(b" 699 ", b" 700 "))


def test_two_from_headers_are_refused() -> None:
    assert "more than one From" in _rejected(_with(b"From: <sip:eve@example.com>;tag=2"))
    # a message built by hand is checked when its From is read
    froms = [("From", "<sip:a@example.com>;tag=1"), ("From", "<sip:eve@example.com>;tag=2")]
    with pytest.raises(RemoteProtocolError, match="more than one From"):
        _ = Request("OPTIONS", "sip:b@example.com", froms).from_
    with pytest.raises(RemoteProtocolError, match="missing To"):
        _ = Request("OPTIONS", "sip:b@example.com", froms[:1]).to


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3600", 3600),
        ("0", 0),
        ("4294967294", 2**32 - 2),
        ("4294967295", 2**32 - 1),
        ("4294967296", 2**32 - 1),
        ("9999999999", 2**32 - 1),
        ("99999999999", 2**32 - 1),
        ("00000000003600", 2**32 - 1),  # more than 10 digits reads as "as long as possible"
    ],
)
def test_expires_is_capped_at_32_bits(value: str, expected: int) -> None:
    assert parse_message(_with(b"Expires: " + value.encode())).expires() == expected


def test_add_header_appends_by_default() -> None:
    message = parse_message(OPTIONS)
    message.add_header("Route", "<sip:p@example.com;lr>")
    assert message.headers[-1] == ("Route", "<sip:p@example.com;lr>")
    assert b"\r\nRoute: <sip:p@example.com;lr>\r\n" in message.serialize()


def test_set_header_keeps_the_first_place_and_drops_the_others() -> None:
    message = parse_message(_with(b"Route: <sip:a@example.com>", b"Route: <sip:b@example.com>"))
    before = [name for name, _ in message.headers]
    message.set_header("Route", "<sip:c@example.com>")
    names = [name for name, _ in message.headers]
    assert names.index("Route") == before.index("Route")
    assert names.count("Route") == 1


def test_messages_built_by_hand_have_the_body_given() -> None:
    assert Request("OPTIONS", "sip:a@example.com", []).body == b""
    assert Response(200, "OK", []).body == b""
    assert Request("MESSAGE", "sip:a@example.com", [], b"hi").body == b"hi"
    assert Response(200, "OK", [], b"v=0").body == b"v=0"


def test_make_response_body_and_record_route_by_status() -> None:
    request = parse_message(_with(b"Record-Route: <sip:p.example.com;lr>"))
    assert isinstance(request, Request)
    assert make_response(request, 200).body == b""
    assert b"Content-Length: 0\r\n" in make_response(request, 200).serialize()
    assert make_response(request, 200, body=b"v=0\r\n").body == b"v=0\r\n"
    # Record-Route is copied into the responses that can make a dialog: 101-299 (§12.1.1)
    copied = {s: make_response(request, s).header("Record-Route") is not None for s in REASONS}
    assert copied == {100: False, 101: True, 183: True, 200: True, 299: True, 300: False}
    assert make_response(request, 499).reason == "Unknown"


REASONS = (100, 101, 183, 200, 299, 300)


def test_make_response_hands_over_views_without_parsing_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The request's parsed Via, CSeq, From and To are copied into the response, not re-parsed:
    a B2BUA answers every request, and parsing each line twice is measurable at load."""
    request = parse_message(OPTIONS)
    assert isinstance(request, Request)
    views = (request.vias, request.cseq, request.from_, request.to)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed again")

    from softswitch.sip import message as message_module

    monkeypatch.setattr(message_module.Via, "parse", refuse)
    monkeypatch.setattr(message_module.CSeq, "parse", refuse)
    monkeypatch.setattr(message_module.NameAddr, "parse", refuse)
    response = make_response(request, 180, to_tag="t1")
    assert response.vias == views[0]
    assert response.cseq == views[1]
    assert response.from_ == views[2]
    assert response.to.uri == views[3].uri and response.to.tag == "t1"


def test_split_list_edges() -> None:
    assert split_list("") == []
    assert split_list("  ") == []
    assert split_list("a,b") == ["a", "b"]
    assert split_list('"x\\\\",y') == ['"x\\\\"', "y"]  # an escaped backslash ends nothing
    assert split_list('"a\\"b",c') == ['"a\\"b"', "c"]
    assert split_list("<sip:a,b@example.com>,<sip:c@example.com>") == [
        "<sip:a,b@example.com>",
        "<sip:c@example.com>",
    ]
    assert split_list("<a>>,b") == ["<a>>", "b"]  # a stray '>' does not open anything


def test_stream_framer_takes_exactly_max_size() -> None:
    data = _with(body=b"x" * 100)
    assert StreamFramer(max_size=len(data)).feed(data) == ([data], 0)
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer(max_size=len(data) - 1).feed(data)
    assert info.value.status_hint == 513
    head = data.split(b"\r\n\r\n")[0]
    assert StreamFramer(max_size=len(head)).feed(head) == ([], 0)  # the head alone may wait
    with pytest.raises(RemoteProtocolError):
        StreamFramer(max_size=len(head) - 1).feed(head)


def test_stream_framer_content_length_digits() -> None:
    ten = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 0000000003") + b"abc"
    assert StreamFramer().feed(ten) == ([ten], 0)
    eleven = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 00000000003") + b"abc"
    with pytest.raises(RemoteProtocolError) as info:
        StreamFramer().feed(eleven)
    assert info.value.status_hint == 513


def test_stream_framer_counts_pings_as_integers() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n\r\n") == ([], 1)
    messages, pings = framer.feed(b"\r\n" + OPTIONS)
    assert (messages, pings) == ([OPTIONS], 1)
    assert isinstance(pings, int)
