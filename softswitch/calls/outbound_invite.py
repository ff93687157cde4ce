"""The INVITE of a leg the switch places (a call's next leg, a call it starts itself, a phone
re-rung to answer from a screen), built from plain values: what goes on the wire is read and
tested here apart from the signalling that sends it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from softswitch.calls.leg import ALLOWED_METHODS
from softswitch.calls.srtp import LegSrtp, offer_for
from softswitch.config import SrtpMode
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request
from softswitch.sip.sdp import SWITCH_VOICE_CODECS, Codec, SessionDescription, rewrite
from softswitch.sip.uri import SipUri

ALLOW = ", ".join(ALLOWED_METHODS)
# What a call the switch places offers: its voice codecs and RFC 4733 (address and port are
# rewritten per leg).
ORIGINATE_SDP = (
    b"v=0\r\no=softswitch 0 0 IN IP4 0.0.0.0\r\ns=softswitch\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
    b"m=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
)
ORIGINATE_CODECS = (*SWITCH_VOICE_CODECS[:2], Codec(101, "telephone-event", 8000, "0-16"))


@dataclass(frozen=True, slots=True)
class Placing:
    """Where and as whom the INVITE goes: the switch's side of it."""

    advertise: str  # the switch's address in From, Call-ID and the SDP
    via: str
    contact: str
    user_agent: str
    max_forwards_cap: int  # [calls] max_forwards


@dataclass(frozen=True, slots=True)
class OutboundInvite:
    invite: Request
    srtp: LegSrtp | None  # the keys offered, when the leg is SRTP


def outbound_invite(
    placing: Placing,
    *,
    session_id: int,
    peer_host: str,
    peer_transport: str,
    request_uri: str,
    to_number: str,
    media_port: int,
    template: SessionDescription,
    codecs: tuple[Codec, ...],
    direction: str,
    to_trunk: bool,
    caller: str,
    display: str = "",
    max_forwards: int = 70,
    srtp: SrtpMode = SrtpMode.OFF,
    extra: tuple[tuple[str, str], ...] = (),
) -> OutboundInvite:
    """The INVITE with our SDP (template rewritten to our media port and the codecs offered);
    toward a trunk it asserts the caller's identity (RFC 3325, P-Asserted-Identity)."""
    sdp = rewrite(
        template,
        address=placing.advertise,
        port=media_port,
        codecs=codecs,
        direction=direction,
        session_id=session_id,
        version=1,
    )
    leg_srtp = offer_for(srtp, peer_transport)  # the caller checked `srtp.reachable` first
    if leg_srtp is not None and sdp.audio is not None:
        sdp.audio = replace(sdp.audio, profile=leg_srtp.profile, crypto=leg_srtp.lines)
    from_display = f"{quoted(display)} " if display else ""
    callee_host = host_of(request_uri) or peer_host
    headers = [
        ("Via", placing.via),
        ("Max-Forwards", str(min(max_forwards, placing.max_forwards_cap))),
        ("From", f"{from_display}<sip:{caller}@{placing.advertise}>;tag={secrets.token_hex(6)}"),
        ("To", f"<sip:{to_number}@{callee_host}>"),
        ("Call-ID", secrets.token_hex(12) + "@" + placing.advertise),
        ("CSeq", "1 INVITE"),
        ("Contact", placing.contact),
        ("Allow", ALLOW),
        ("User-Agent", placing.user_agent),
        *extra,
        ("Content-Type", "application/sdp"),
    ]
    if to_trunk:  # RFC 3325: the identity the carrier is asked to present
        headers.insert(5, ("P-Asserted-Identity", f"<sip:{caller}@{placing.advertise}>"))
    return OutboundInvite(Request("INVITE", request_uri, headers, sdp.serialize()), leg_srtp)


def quoted(display: str) -> str:
    """A display name as an RFC 3261 quoted-string: `\\` and `"` escaped, control characters
    (a CR or LF would start a header of its own) dropped."""
    clean = "".join(ch for ch in display if ch >= " " and ch != "\x7f")
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def host_of(uri: str) -> str | None:
    """host[:port] of a SIP URI, None when it does not parse."""
    try:
        parsed = SipUri.parse(uri)
    except RemoteProtocolError:
        return None
    return parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
