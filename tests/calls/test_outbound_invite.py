"""The INVITE of a leg the switch places, read as a carrier or a phone would read it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from softswitch.calls.outbound_invite import (
    ORIGINATE_CODECS,
    ORIGINATE_SDP,
    OutboundInvite,
    Placing,
    host_of,
    outbound_invite,
)
from softswitch.config import SrtpMode
from softswitch.sip.message import Request, parse_message
from softswitch.sip.sdp import SessionDescription

PLACING = Placing("192.0.2.1", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx", "<sip:s@192.0.2.1>",
                  "softswitch/test", 70)  # fmt: skip


def _invite(**kw: object) -> Request:
    args: dict[str, object] = dict(
        session_id=7, peer_host="198.51.100.5:5060", peer_transport="udp",
        request_uri="sip:1002@198.51.100.5:5060", to_number="1002", media_port=40000,
        template=SessionDescription.parse(ORIGINATE_SDP), codecs=ORIGINATE_CODECS,
        direction="sendrecv", to_trunk=False, caller="1001",
    )  # fmt: skip
    args.update(kw)
    invite = outbound_invite(PLACING, **args).invite  # type: ignore[arg-type]
    parsed = parse_message(invite.serialize())
    assert isinstance(parsed, Request)
    return parsed


def test_a_phone_gets_our_sdp_and_no_asserted_identity() -> None:
    invite = _invite(display="Ann Lee", max_forwards=90)
    assert invite.header("P-Asserted-Identity") is None
    assert invite.header("Max-Forwards") == "70"  # capped by [calls] max_forwards
    assert invite.header("To") == "<sip:1002@198.51.100.5:5060>"
    assert (invite.header("From") or "").startswith('"Ann Lee" <sip:1001@192.0.2.1>;tag=')
    sdp = SessionDescription.parse(invite.body)
    assert sdp.audio is not None and sdp.audio.port == 40000
    assert [c.name for c in sdp.audio.codecs] == ["PCMU", "PCMA", "telephone-event"]


def test_a_trunk_is_asked_to_present_the_caller_and_extra_headers_go_in() -> None:
    invite = _invite(
        to_trunk=True, caller="+15551230000", extra=(("Call-Info", "<sip:s>;answer-after=0"),)
    )
    assert invite.header("P-Asserted-Identity") == "<sip:+15551230000@192.0.2.1>"
    assert invite.header("Call-Info") == "<sip:s>;answer-after=0"
    assert invite.header("Content-Type") == "application/sdp"


def test_srtp_is_offered_only_over_tls() -> None:
    def offer(transport: str, mode: SrtpMode) -> OutboundInvite:
        return outbound_invite(
            PLACING, session_id=1, peer_host="h", peer_transport=transport,
            request_uri="sip:1@h", to_number="1", media_port=1,
            template=SessionDescription.parse(ORIGINATE_SDP), codecs=ORIGINATE_CODECS,
            direction="sendrecv", to_trunk=False, caller="1", srtp=mode,
        )  # fmt: skip

    assert offer("udp", SrtpMode.OPTIONAL).srtp is None
    tls = offer("tls", SrtpMode.MANDATORY)
    assert tls.srtp is not None
    sdp = SessionDescription.parse(tls.invite.body)
    assert sdp.audio is not None and sdp.audio.profile == "RTP/SAVP" and sdp.audio.crypto


@given(st.text(max_size=30))
def test_any_display_name_gives_a_from_header_that_parses_with_our_uri(display: str) -> None:
    """A caller's name is untrusted: quotes, backslashes or a CR LF must not break the From."""
    invite = _invite(display=display)
    sender = invite.from_
    assert sender.uri == "sip:1001@192.0.2.1"
    assert sender.tag is not None
    assert invite.header("X-Injected") is None


@given(st.text(max_size=40))
def test_host_of_never_raises(uri: str) -> None:
    host = host_of(uri)
    assert host is None or isinstance(host, str)
    assert host_of("sip:1002@10.0.0.2:5070;transport=tcp") == "10.0.0.2:5070"
