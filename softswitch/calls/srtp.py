"""SRTP per leg (SDES, RFC 4568): what a leg's SDP says and which keys its endpoint runs.

Each leg's SRTP is its own: the switch answers and offers with keys of its own toward each
party, and its media endpoint unprotects what that party sends and protects what it is sent
(media/srtp.py), so an SRTP leg bridges to a plain one, or to another SRTP leg with other keys.
Keys travel in the SDP, so SDES is only used on a leg that signals over TLS.

The decisions are pure (`answer_offer`, `offer_for`, `LegSrtp.answered`, `LegSrtp.reoffered`,
`refuses_reoffer`: a mandatory party's re-INVITE without usable crypto is answered 488);
`apply` is the one place that hands keys to the endpoint, called by the signalling after every
step of a leg, so a re-key in a re-INVITE reaches the endpoint as an answer does.

Errors::

    SrtpRefused(Exception)   the party's setting and the offer or transport do not meet;
                             status_hint 488 (RFC 3261 §21.4.26 Not Acceptable Here)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from softswitch.config import SrtpMode
from softswitch.media.srtp import SrtpContext
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request
from softswitch.sip.sdes import CryptoAttribute, accepted, choose, offer_lines
from softswitch.sip.sdp import AudioStream, SessionDescription

if TYPE_CHECKING:
    from softswitch.calls.leg import Leg

SECURE_TRANSPORT = "tls"


class SrtpRefused(Exception):
    """SRTP and the party's setting, offer or transport do not agree: answer 488."""

    status_hint = 488

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class LegSrtp:
    """The SDES state of one leg: the profile and lines our SDP carries, the agreed keys."""

    profile: str  # what our m-line says toward the leg: RTP/SAVP, or RTP/AVP for best effort
    mandatory: bool
    offered: tuple[CryptoAttribute, ...] = ()  # our lines in an offer still unanswered
    local: CryptoAttribute | None = None  # our accepted line: we protect with its key
    remote: CryptoAttribute | None = None  # the party's accepted line: we unprotect with it
    applied: tuple[str, bytes, bytes] | None = None  # (suite, ours, theirs) on the endpoint
    failed: bool = False  # a mandatory leg's answer accepted none of our lines: end the call
    # No local line and no offer out: a best-effort offer was answered plain (plain RTP).

    @property
    def lines(self) -> tuple[CryptoAttribute, ...]:
        """The a=crypto lines our SDP toward the leg carries."""
        return (self.local,) if self.local is not None else self.offered

    def answered(self, answer: AudioStream) -> bool:
        """The party answered our offer: take its line; False if it accepted none of ours."""
        if not self.offered:
            return self.reoffered(answer)
        pick = accepted(self.offered, answer.crypto)
        if pick is None:
            return False
        self.local, self.remote = pick
        self.offered = ()
        return True

    def reoffered(self, offer: AudioStream) -> bool:
        """A new offer from the party (re-INVITE): follow its key and tag, keep ours (RFC 4568
        §7.1.4 lets the answerer keep its key); False when it offers nothing we can use."""
        if self.local is None:
            return False
        if self.remote is not None and self.remote in offer.crypto:
            line = self.remote
        else:
            found = choose(offer.crypto)
            if found is None:
                return False
            line = found
        self.remote = line
        if self.local.suite != line.suite:
            self.local = line.with_fresh_key()
        elif self.local.tag != line.tag:
            self.local = CryptoAttribute(line.tag, line.suite, self.local.key_salt)
        return True


def answer_offer(mode: SrtpMode, transport: str, offer: AudioStream) -> LegSrtp | None:
    """How the switch answers a party's offer: SRTP (its state), plain RTP (None), or refused."""
    wants = offer.secure or bool(offer.crypto)
    if not wants:
        if mode is SrtpMode.MANDATORY:
            raise SrtpRefused("SRTP is mandatory for this party: offer RTP/SAVP with a=crypto")
        return None
    if mode is SrtpMode.OFF:
        chosen = None
        why = "SRTP is off for this party"
    elif transport != SECURE_TRANSPORT:
        chosen = None
        why = "SRTP (SDES) needs signalling over TLS"
    else:
        chosen = choose(offer.crypto)
        why = "no a=crypto line with a suite the switch supports"
    if chosen is None:
        if offer.secure or mode is SrtpMode.MANDATORY:
            raise SrtpRefused(why)
        return None  # best-effort SRTP in an RTP/AVP offer: answer plain
    return LegSrtp(
        offer.profile if offer.secure else "RTP/AVP",
        mode is SrtpMode.MANDATORY,
        local=chosen.with_fresh_key(),
        remote=chosen,
    )


def offer_for(mode: SrtpMode, transport: str) -> LegSrtp | None:
    """What our offer to a party carries: RTP/SAVP when mandatory, RTP/AVP with a=crypto when
    optional (best effort), nothing when off or not over TLS; refused if mandatory without TLS."""
    if mode is SrtpMode.OFF:
        return None
    if transport != SECURE_TRANSPORT:
        if mode is SrtpMode.MANDATORY:
            raise SrtpRefused("SRTP is mandatory and the party is not reached over TLS")
        return None
    mandatory = mode is SrtpMode.MANDATORY
    return LegSrtp("RTP/SAVP" if mandatory else "RTP/AVP", mandatory, offered=offer_lines())


def refuses_reoffer(srtp: LegSrtp | None, offer: AudioStream) -> str | None:
    """Why a party's new offer (re-INVITE) must get 488, or None: a mandatory leg may not drop
    to plain RTP, so an offer with no a=crypto line we can use is refused, the keys kept."""
    if srtp is None or not srtp.mandatory:
        return None
    if srtp.remote is not None and srtp.remote in offer.crypto:
        return None
    if choose(offer.crypto) is not None:
        return None
    return "SRTP is mandatory for this party: re-offer RTP/SAVP with a=crypto"


def reinvite_refusal(leg: Leg, request: Request) -> str | None:
    """`refuses_reoffer` for an in-dialog request, checked by the signalling before the leg sees
    it, so a refused offer changes nothing on the leg; None for anything else (the leg's job)."""
    if request.method != "INVITE" or not request.body or leg.srtp is None:
        return None
    try:
        offer = SessionDescription.parse(request.body)
    except RemoteProtocolError:
        return None  # the leg answers a malformed body
    if offer.audio is None:
        return None
    return refuses_reoffer(leg.srtp, offer.audio)


def reachable(mode: SrtpMode, transport: str) -> bool:
    """Whether a party with this setting may be dialled over `transport`."""
    return mode is not SrtpMode.MANDATORY or transport == SECURE_TRANSPORT


def apply(leg: Leg) -> None:
    """Put the leg's agreed keys on its media endpoint if they changed; while our offer is
    unanswered let nothing in; plain RTP again when the answer declined it."""
    media = leg.media
    if media is None or media.closed:
        return
    srtp = leg.srtp
    if srtp is None:
        # A plain fork that answered (or sent early media) on an endpoint it shares with a
        # fork that offered SRTP: its media is plain, so nothing may stay held for keys.
        if leg.remote_audio is not None and media.secured:
            media.secure(None)
        return
    if srtp.local is None or srtp.remote is None:
        if srtp.offered:  # our offer is out: nothing may be relayed unopened
            if not media.srtp_pending:
                media.expect_srtp()
        elif media.secured:
            media.secure(None)  # the answer declined our best-effort offer: plain RTP
        return
    keys = (srtp.local.suite, srtp.local.key_salt, srtp.remote.key_salt)
    if keys != srtp.applied or media.srtp is None:
        media.secure(SrtpContext(*keys))
        srtp.applied = keys
