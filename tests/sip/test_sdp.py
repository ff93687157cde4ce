"""softswitch/sip/sdp.py: SDP as phones and gateways send it, and as the switch shows it.

SDP comes from the network in every INVITE and answer, so besides the unit tests there are
property tests: nothing may raise anything but RemoteProtocolError, a description that parses
must serialise into one that parses to the same thing, and media the switch does not anchor are
always declined (port 0) in the m-line order of the offer (RFC 3264 §6).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.sip.errors import LocalProtocolError, RemoteProtocolError
from softswitch.sip.sdp import (
    ANSWER_DIRECTION,
    DEFAULT_MAX_SDP_SIZE,
    DIRECTIONS,
    AudioStream,
    Codec,
    SessionDescription,
    answer_codecs,
    has_voice_codec,
    rewrite,
    supported_codecs,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "sdp"
SEEDS = {path.name: path.read_bytes() for path in sorted(DATA.glob("*.sdp"))}


def parse(name: str) -> SessionDescription:
    return SessionDescription.parse(SEEDS[name])


def m_lines(wire: bytes) -> list[list[str]]:
    return [line[2:].split() for line in wire.decode().split("\r\n") if line.startswith("m=")]


def refused(data: bytes) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        SessionDescription.parse(data)
    return info.value


# ---- captures and RFC examples ------------------------------------------------------------------


def test_pjsua2_offer() -> None:
    sdp = parse("pjsua2-offer.sdp")
    audio = sdp.audio
    assert audio is not None
    assert (audio.address, audio.port, audio.rtcp_port, audio.direction) == (
        "127.0.0.1",
        4000,
        4001,
        "sendrecv",
    )
    assert [c.payload_type for c in audio.codecs] == [96, 97, 98, 99, 3, 0, 8, 9, 120, 121, 122]
    assert audio.codec_named("ilbc") == Codec(99, "iLBC", 8000, "mode=30")
    assert (sdp.session_id, sdp.session_version, sdp.origin_address) == (
        4004596742,
        4004596742,
        "127.0.0.1",
    )
    # What the relay can carry: G.711 and 8 kHz telephone-event, in the phone's order.
    assert supported_codecs(audio) == (
        Codec(0, "PCMU", 8000),
        Codec(8, "PCMA", 8000),
        Codec(121, "telephone-event", 8000, "0-16"),
    )
    assert answer_codecs(audio) == (
        Codec(0, "PCMU", 8000),
        Codec(121, "telephone-event", 8000, "0-16"),
    )


def test_sipp_offer_takes_the_session_connection_address() -> None:
    audio = parse("sipp-offer.sdp").audio
    assert audio == AudioStream("127.0.0.1", 6008, (Codec(0, "PCMU", 8000),))
    assert not audio.on_hold


def test_audio_and_video_offer_declines_the_video_in_place() -> None:
    sdp = parse("rfc4317-audio-video-offer.sdp")
    assert sdp.session_name == "-"  # an empty s= is shown as "-" (RFC 4566 §5.3 wants text)
    assert sdp.audio is not None and sdp.audio.codecs[2] == Codec(97, "iLBC", 8000)
    assert sdp.other_media == ["video 51372 RTP/AVP 31 32"]
    assert m_lines(sdp.serialize()) == [
        ["audio", "49170", "RTP/AVP", "0", "8", "97"],
        ["video", "0", "RTP/AVP", "31", "32"],
    ]


def test_video_first_keeps_the_m_line_order_and_the_media_level_address() -> None:
    sdp = parse("video-first-offer.sdp")
    audio = sdp.audio
    assert audio is not None
    assert (audio.address, audio.port, audio.rtcp_port, audio.ptime_ms) == (
        "2001:db8::11",
        49170,
        49175,
        20,
    )
    assert audio.direction == "sendonly" and audio.on_hold
    answer = rewrite(
        sdp,
        address="2001:db8::1",
        port=20000,
        codecs=audio.codecs,
        direction=ANSWER_DIRECTION[audio.direction],
        session_id=7,
        version=1,
    )
    wire = answer.serialize()
    # RFC 3264 §6: as many m-lines as the offer, in its order; the video is declined.
    assert m_lines(wire) == [
        ["video", "0", "RTP/AVP", "96"],
        ["audio", "20000", "RTP/AVP", "8", "101"],
    ]
    assert "c=IN IP6 2001:db8::1\r\n" in wire.decode()
    assert "a=recvonly\r\n" in wire.decode()
    assert SessionDescription.parse(wire).audio == AudioStream(
        "2001:db8::1", 20000, audio.codecs, "recvonly", None, 20
    )


def test_rfc2543_hold_and_a_static_payload_type_without_rtpmap() -> None:
    audio = parse("rfc2543-hold.sdp").audio
    assert audio == AudioStream("0.0.0.0", 5004, (Codec(0, "PCMU", 8000),))
    assert audio.on_hold


# ---- what the parser reads, what it skips, what it refuses --------------------------------------


def sdp_text(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


HEAD = ("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0")


def test_unknown_payload_types_and_attributes_are_skipped() -> None:
    audio = SessionDescription.parse(
        sdp_text(
            *HEAD,
            "m=audio 7000 RTP/AVP 0 96 200 x 8",
            "a=rtpmap:bad",
            "a=rtcp:0",
            "a=ptime:soon",
            "a=foo:bar",
            "a=rtpmap:8 PCMA/8000/1",
        )
    ).audio
    # 96 has no rtpmap, 200 is no payload type, x is no number; PCMA keeps its rate, not channels
    assert audio == AudioStream("192.0.2.1", 7000, (Codec(0, "PCMU", 8000), Codec(8, "PCMA", 8000)))


def test_lf_line_ends_blank_lines_and_a_second_audio_stream() -> None:
    text = "\n".join([*HEAD, "", "m=audio 7000 RTP/AVP 0", "m=audio 7002 RTP/AVP 8", ""])
    sdp = SessionDescription.parse(text.encode())
    assert sdp.audio is not None and sdp.audio.port == 7000
    assert sdp.other_media == ["audio 7002 RTP/AVP 8"]  # declined: the switch anchors one stream


@pytest.mark.parametrize(
    ("data", "status", "says"),
    [
        pytest.param(b"v=0\r\n" + b"a=x\r\n" * 4000, 513, "too large", id="too-large"),
        pytest.param(b"v=0\r\ns=\xff\r\n", 400, "UTF-8", id="not-utf8"),
        pytest.param(sdp_text(*HEAD[1:]), 400, "v=", id="no-version"),
        pytest.param(sdp_text("v=1", *HEAD[1:]), 400, "version", id="version-1"),
        pytest.param(sdp_text("v=0", "o=- 1 1 IN IP4"), 400, "o=", id="short-origin"),
        pytest.param(sdp_text("v=0", "o=- x 1 IN IP4 a"), 400, "session id", id="origin-id"),
        pytest.param(
            sdp_text("v=0", "o=- 1 " + "9" * 21 + " IN IP4 a"),
            400,
            "version",
            id="origin-version-too-long",
        ),
        pytest.param(sdp_text("v=0", "c=IN IP4"), 400, "c=", id="short-connection"),
        pytest.param(sdp_text("v=0", "c=ATM NSAP x"), 400, "c=", id="not-internet"),
        pytest.param(sdp_text("v=0", "c=IN IP4 pbx.example.com"), 400, "not an IP", id="host-name"),
        pytest.param(
            sdp_text("v=0", "m=audio 7000 RTP/AVP 0"),
            400,
            "connection address",
            id="audio-without-address",
        ),
        pytest.param(sdp_text(*HEAD, "m=audio 7000 RTP/AVP"), 400, "m=", id="short-media"),
        pytest.param(sdp_text(*HEAD, "m=audio 70000 RTP/AVP 0"), 400, "port", id="port"),
        pytest.param(sdp_text(*HEAD, "x"), 400, "bad SDP line", id="no-equals"),
    ],
)
def test_refused_with_a_status_hint(data: bytes, status: int, says: str) -> None:
    error = refused(data)
    assert error.status_hint == status
    assert says in str(error)


def test_size_limit_is_a_constructor_argument() -> None:
    data = sdp_text(*HEAD)
    assert SessionDescription.parse(data, max_size=len(data)).audio is None
    assert refused(data + b"a=x\r\n" * (DEFAULT_MAX_SDP_SIZE // 5)).status_hint == 513
    with pytest.raises(RemoteProtocolError):
        SessionDescription.parse(data, max_size=len(data) - 1)


# ---- offer/answer helpers -----------------------------------------------------------------------


def test_answer_directions_are_rfc3264_section_6_1() -> None:
    assert set(ANSWER_DIRECTION) == set(DIRECTIONS)
    assert ANSWER_DIRECTION == {
        "sendrecv": "sendrecv",
        "sendonly": "recvonly",
        "recvonly": "sendonly",
        "inactive": "inactive",
    }


def test_voice_codec_and_events_only() -> None:
    events = (Codec(101, "telephone-event", 8000, "0-15"),)
    assert not has_voice_codec(events)
    assert has_voice_codec((*events, Codec(8, "PCMA", 8000)))
    offer = AudioStream("192.0.2.1", 7000, (Codec(9, "G722", 8000), *events))
    assert answer_codecs(offer) == events  # nothing to talk with: the caller gets 488 upstream


def test_rewrite_shows_the_switch_and_forgets_the_peer() -> None:
    sdp = parse("pjsua2-offer.sdp")
    assert sdp.audio is not None
    shown = rewrite(
        sdp,
        address="192.0.2.99",
        port=16000,
        codecs=supported_codecs(sdp.audio),
        direction="sendrecv",
        session_id=42,
        version=3,
    )
    assert (shown.origin_user, shown.session_id, shown.session_version) == ("softswitch", 42, 3)
    assert shown.audio == AudioStream(
        "192.0.2.99", 16000, supported_codecs(sdp.audio), "sendrecv", None, None
    )
    wire = shown.serialize().decode()
    assert "127.0.0.1" not in wire and "a=rtcp" not in wire  # nothing of the phone leaks
    assert sdp.audio.port == 4000  # the offer itself is untouched


# ---- properties ---------------------------------------------------------------------------------

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes) -> None:
    """Only the declared error; whatever parses serialises into a stable, equivalent SDP."""
    try:
        sdp = SessionDescription.parse(data)
    except RemoteProtocolError as exc:
        assert 400 <= exc.status_hint <= 699
        return
    if sdp.audio is not None and not sdp.audio.codecs:
        # Nothing we know was offered: the B2BUA answers 488 and never shows such a stream.
        with pytest.raises(LocalProtocolError):
            sdp.serialize()
        return
    wire = sdp.serialize()
    again = SessionDescription.parse(wire)
    assert again.audio == sdp.audio
    assert (again.session_id, again.session_version) == (sdp.session_id, sdp.session_version)
    assert again.serialize() == wire
    lines = m_lines(wire)
    assert len(lines) == len(sdp.other_media) + (sdp.audio is not None)
    for fields in lines:
        if sdp.audio is None or fields[0] != "audio" or fields[1] != str(sdp.audio.port):
            assert fields[1] == "0", wire  # every stream but the anchored audio is declined


@PROPERTY
@given(st.binary(max_size=1500))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


# Lines that look like SDP, with the values that trip parsers: non-ASCII digits, tabs, huge numbers.
WORDS = (
    "0 8 96 127 128 65535 65536 ² ٣ １ -1 / IN IP4 IP6 127.0.0.1 ::1 0.0.0.0 fe80::1%lo RTP/AVP"
    " audio video PCMU/8000 telephone-event/8000 sendonly rtpmap: fmtp: rtcp: ptime: é"
)
TRICKY = st.sampled_from([*WORDS.split(), "9" * 25, "", " ", "\t", "\x00", "\x0b", "\x1c"])
VALUE = st.lists(TRICKY, max_size=8).map(" ".join) | st.text(max_size=30).filter(
    lambda s: "\n" not in s and "\r" not in s
)
LINE = st.tuples(st.sampled_from("vosctmabkeiuzrp"), VALUE).map(lambda kv: f"{kv[0]}={kv[1]}")


@PROPERTY
@given(st.lists(LINE, max_size=25), st.booleans())
def test_sdp_shaped_lines(lines: list[str], valid_head: bool) -> None:
    head = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "c=IN IP4 192.0.2.1"] if valid_head else []
    check(("\r\n".join(head + lines) + "\r\n").encode())


@PROPERTY
@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_mutated_captures(name: str, draw: st.DataObject) -> None:
    data = bytearray(SEEDS[name])
    for _ in range(draw.draw(st.integers(1, 4))):
        at = draw.draw(st.integers(0, len(data)))
        action = draw.draw(st.sampled_from(["flip", "insert", "delete"]))
        piece = draw.draw(st.sampled_from([b" ", b"\t", b"\r\n", b"/", b":", b"=", b"\xc2\xb2"]))
        if action == "insert":
            data[at:at] = piece
        elif action == "delete" and at < len(data):
            del data[at : at + draw.draw(st.integers(1, 8))]
        elif at < len(data):
            data[at] = draw.draw(st.integers(0, 255))
    check(bytes(data))


TOKEN = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-._+"), min_size=1, max_size=12
)
ADDRESS = st.one_of(
    st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(lambda a: str(ipaddress.ip_address(a)))
)
CODEC = st.builds(
    Codec,
    payload_type=st.integers(0, 127),
    name=TOKEN,
    clock_rate=st.sampled_from([8000, 16000, 48000, 90000]),
    fmtp=st.none()
    | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20),
)
AUDIO = st.builds(
    AudioStream,
    address=ADDRESS,
    port=st.integers(1, 65535),
    # at least one format: an m= line without one is not SDP (RFC 4566 §5.14)
    codecs=st.lists(CODEC, min_size=1, max_size=6, unique_by=lambda c: c.payload_type).map(tuple),
    direction=st.sampled_from(DIRECTIONS),
    rtcp_port=st.none() | st.integers(1, 65535),
    ptime_ms=st.none() | st.integers(1, 200),
)
PROTO = st.sampled_from(["RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", "udp"])
FORMATS = st.lists(st.integers(0, 127).map(str), min_size=1, max_size=3).map(" ".join)
# Declined streams as parse() keeps them; an audio one before the anchored audio would be it.
NOT_AUDIO = st.tuples(st.sampled_from(["video", "text", "application"]), PROTO, FORMATS)
ANY_KIND = st.tuples(st.sampled_from(["video", "audio", "image"]), PROTO, FORMATS)


@PROPERTY
@given(
    audio=st.none() | AUDIO,
    before=st.lists(NOT_AUDIO, max_size=2),
    after=st.lists(ANY_KIND, max_size=2),
    session_id=st.integers(0, 10**19),
    version=st.integers(0, 10**19),
    user=TOKEN,
    origin=ADDRESS,
    name=TOKEN,
)
def test_round_trip(
    audio: AudioStream | None,
    before: list[tuple[str, str, str]],
    after: list[tuple[str, str, str]],
    session_id: int,
    version: int,
    user: str,
    origin: str,
    name: str,
) -> None:
    if audio is None:
        before, after = [], [m for m in before + after if m[0] != "audio"]
    other_media = [f"{kind} 0 {proto} {formats}" for kind, proto, formats in before + after]
    sdp = SessionDescription(
        user, session_id, version, origin, name, audio, other_media, len(before)
    )
    wire = sdp.serialize()
    again = SessionDescription.parse(wire)

    assert again == sdp
    assert again.serialize() == wire
    check(wire)


def test_an_empty_fmtp_is_no_fmtp() -> None:
    """Found by the mutated-capture property: `a=fmtp:120` with nothing after it parsed as an
    empty string, was dropped on the wire, and came back as None."""
    data = (
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 120\r\n"
        b"c=IN IP4 127.0.0.1\r\na=rtpmap:120 telephone-event/8000\r\na=fmtp:120\r\n"
    )
    sdp = SessionDescription.parse(data)
    assert sdp.audio is not None and sdp.audio.codecs[1].fmtp is None
    check(data)


def test_a_zero_ptime_is_no_ptime() -> None:
    """Found by the mutated-capture property: `a=ptime:0` parsed as 0 and vanished on the wire."""
    data = (
        b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
        b"c=IN IP4 127.0.0.1\r\na=ptime:0\r\n"
    )
    sdp = SessionDescription.parse(data)
    assert sdp.audio is not None and sdp.audio.ptime_ms is None
    check(data)
