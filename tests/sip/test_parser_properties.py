"""Property tests for everything in softswitch/sip/message.py that reads untrusted bytes.

Nothing the network sends may raise anything but RemoteProtocolError, whatever is done to it;
whatever parses must survive serialise-and-parse unchanged; a TCP stream cut anywhere must frame
into the same messages.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.framing import StreamFramer
from softswitch.sip.message import Request, Response, parse_message

DATA = Path(__file__).resolve().parent.parent / "data"


def _seeds() -> list[bytes]:
    """Every message in tests/data that parses: the valid torture messages and our captures."""
    seeds = []
    for path in sorted([*DATA.glob("sip-torture/rfc*/*"), *DATA.glob("sip/*.raw")]):
        data = path.read_bytes()
        try:
            parse_message(data)
        except RemoteProtocolError:
            continue
        seeds.append(data)
    return seeds


SEEDS = _seeds()
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPECIAL = [b"\r", b"\n", b"\r\n", b"\x00", b'"', b"<", b">", b" ", b"\t", b":", b";", b",", b"%"]
SPECIAL += [b"[", b"]", b"@", b"\\", b"=", b"?", b"\xff", b"\r\n ", b"\r\n\r\n", "é".encode()]


def test_seeds_cover_the_corpus() -> None:
    assert len(SEEDS) >= 35  # the 35 accepted torture messages plus the captures


def _use(message: Request | Response) -> None:
    """Read every typed view a caller might: each may only fail with the declared error."""
    for view in (
        lambda: message.vias,
        lambda: message.top_via.sent_by,
        lambda: message.cseq,
        lambda: message.call_id,
        lambda: message.from_.tag,
        lambda: message.to.tag,
        lambda: [c.params for c in message.contacts],
        lambda: [c.sip_uri() for c in message.contacts if c.uri[:3].lower() == "sip"],
        lambda: message.content_type,
        lambda: message.expires(),
        lambda: [message.values(name) for name, _ in message.headers],
    ):
        with contextlib.suppress(RemoteProtocolError):
            view()


def _check(data: bytes) -> None:
    """The two promises: only RemoteProtocolError, and an exact round trip when it parses."""
    for stream in (False, True):
        try:
            message = parse_message(data, stream=stream)
        except RemoteProtocolError as exc:
            assert 400 <= exc.status_hint <= 699
            continue
        _use(message)
        wire = message.serialize()
        again = parse_message(wire, stream=True)
        assert type(again) is type(message)
        if isinstance(message, Request):
            assert isinstance(again, Request)
            assert (again.method, again.uri) == (message.method, message.uri)
        else:
            assert isinstance(again, Response)
            assert (again.status, again.reason) == (message.status, message.reason)
        assert _without_length(again.headers) == _without_length(message.headers)
        assert again.body == message.body
        assert again.serialize() == wire


def _without_length(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # serialize() writes the Content-Length of the body it holds, present or not before
    return [h for h in headers if h[0] != "Content-Length"]


@PROPERTY
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    _check(data)


@PROPERTY
@given(st.sampled_from(SEEDS).flatmap(lambda s: st.tuples(st.just(s), st.data())))
def test_byte_flips(seed_and_data: tuple[bytes, st.DataObject]) -> None:
    seed, draw = seed_and_data
    data = bytearray(seed)
    for _ in range(draw.draw(st.integers(1, 4))):
        data[draw.draw(st.integers(0, len(data) - 1))] = draw.draw(st.integers(0, 255))
    _check(bytes(data))


@PROPERTY
@given(st.sampled_from(SEEDS), st.data())
def test_truncation(seed: bytes, draw: st.DataObject) -> None:
    _check(seed[: draw.draw(st.integers(0, len(seed)))])


@PROPERTY
@given(st.sampled_from(SEEDS), st.data())
def test_inserted_delimiters(seed: bytes, draw: st.DataObject) -> None:
    data = seed
    for _ in range(draw.draw(st.integers(1, 3))):
        at = draw.draw(st.integers(0, len(data)))
        data = data[:at] + draw.draw(st.sampled_from(SPECIAL)) + data[at:]
    _check(data)


@PROPERTY
@given(st.sampled_from(SEEDS), st.data())
def test_header_duplication_and_removal(seed: bytes, draw: st.DataObject) -> None:
    head, sep, body = seed.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    i = draw.draw(st.integers(1, len(lines) - 1)) if len(lines) > 1 else 0
    if draw.draw(st.booleans()):
        lines.insert(draw.draw(st.integers(1, len(lines))), lines[i])
    else:
        del lines[i]
    _check(b"\r\n".join(lines) + sep + body)


HEADER_NAMES = ["Via", "v", "Contact", "m", "Route", "Record-Route", "Supported", "Expires"]
HEADER_NAMES += ["Subject", "s", "X-Anything", "Accept", "Allow", "Require", "Date", "Warning"]
VALUE_TEXT = st.lists(
    st.sampled_from([*'abcZ09 \t.,;:=<>"\\@[]?%/*', "é", "大", "sip:", "SIP/2.0/UDP "]),
    max_size=30,
).map("".join)


@PROPERTY
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.sampled_from(HEADER_NAMES), VALUE_TEXT), min_size=1, max_size=5),
)
def test_added_headers_with_any_value(seed: bytes, added: list[tuple[str, str]]) -> None:
    start, sep, rest = seed.partition(b"\r\n")
    lines = b"".join(f"{name}: {value}\r\n".encode() for name, value in added)
    _check(start + sep + lines + rest)


def test_duplicated_single_header_is_refused() -> None:
    """A parse that survives duplication must not be one that picked a value at random."""
    seed = next(s for s in SEEDS if s.startswith(b"INVITE sip:1002@"))
    head, _, body = seed.partition(b"\r\n\r\n")
    for name in (b"Call-ID:", b"CSeq:", b"From:", b"To:", b"Max-Forwards:", b"Content-Length:"):
        line = next(x for x in head.split(b"\r\n") if x.startswith(name))
        with pytest.raises(RemoteProtocolError, match="more than one"):
            parse_message(head + b"\r\n" + line + b"\r\n\r\n" + body)


# ---------------------------------------------------------------------------------------------
# StreamFramer: TCP gives bytes in arbitrary pieces; the framing must not depend on them.
def _framed() -> list[bytes]:
    """Whole messages as they may come on TCP, Content-Length last, first, or in compact form."""
    out = []
    for seed in SEEDS:
        wire = parse_message(seed).serialize()
        head, _, body = wire.partition(b"\r\n\r\n")
        start, *lines = head.split(b"\r\n")
        length = lines.pop()  # serialize() writes Content-Length last
        out.append(wire)
        out.append(b"\r\n".join([start, length, *lines]) + b"\r\n\r\n" + body)
        compact = length.replace(b"Content-Length: ", b"l:")
        out.append(b"\r\n".join([start, *lines[:1], compact, *lines[1:]]) + b"\r\n\r\n" + body)
    return out


FRAMED = _framed()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(FRAMED), st.integers(0, 3), st.booleans()), min_size=1, max_size=6
    ),
    st.data(),
)
def test_stream_cut_anywhere_frames_the_same(
    plan: list[tuple[bytes, int, bool]], draw: st.DataObject
) -> None:
    # before each message: `pings` double-CRLF keepalives and maybe one stray CRLF, which
    # RFC 3261 §7.5 says to ignore before a start line
    stream = b"".join(b"\r\n\r\n" * pings + b"\r\n" * stray + m for m, pings, stray in plan)
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    framer = StreamFramer()
    messages: list[bytes] = []
    pings = 0
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got, n = framer.feed(stream[start:end])
        messages += got
        pings += n
    assert messages == [m for m, _, _ in plan]
    assert pings == sum(p for _, p, _ in plan)
    for m in messages:
        parse_message(m, stream=True)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(FRAMED), st.integers(16, 4000), st.integers(1, 300))
def test_stream_oversize_is_513(message: bytes, max_size: int, chunk: int) -> None:
    framer = StreamFramer(max_size)
    fed: list[bytes] = []
    try:
        for i in range(0, len(message), chunk):
            fed += framer.feed(message[i : i + chunk])[0]
    except RemoteProtocolError as exc:
        assert exc.status_hint == 513
        assert len(message) > max_size
        return
    assert len(message) <= max_size
    assert fed == [message]


def test_stream_endless_head_is_513() -> None:
    framer = StreamFramer(1000)
    framer.feed(b"INVITE sip:a@example.com SIP/2.0\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(100):
            framer.feed(b"X-Filler: " + b"a" * 20 + b"\r\n")
    assert info.value.status_hint == 513
