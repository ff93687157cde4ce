"""softswitch/calls/srtp.py: when a leg gets SRTP, what its SDP says, and when it is refused."""

from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace

import pytest
from leg_pair import PHONE, FakeMedia, LegPair, answer, phone_sdp
from sip.helpers import make_request

from softswitch.calls.leg import Leg
from softswitch.calls.srtp import (
    LegSrtp,
    SrtpRefused,
    answer_offer,
    apply,
    offer_for,
    reachable,
    refuses_reoffer,
)
from softswitch.config import SrtpMode
from softswitch.media.ports import PortAllocator
from softswitch.media.relay import MediaRelay
from softswitch.sip.sdes import (
    AES_CM_128_HMAC_SHA1_32,
    AES_CM_128_HMAC_SHA1_80,
    CryptoAttribute,
)
from softswitch.sip.sdp import AudioStream, Codec, SessionDescription

PCMU = (Codec(0, "PCMU", 8000),)
LINE_80 = CryptoAttribute(1, AES_CM_128_HMAC_SHA1_80, os.urandom(30))
LINE_32 = CryptoAttribute(2, AES_CM_128_HMAC_SHA1_32, os.urandom(30))
GCM = CryptoAttribute(3, "AEAD_AES_256_GCM", os.urandom(44))


def stream(profile: str = "RTP/AVP", *crypto: CryptoAttribute) -> AudioStream:
    return AudioStream("127.0.0.1", 4000, PCMU, profile=profile, crypto=crypto)


@pytest.mark.parametrize("mode", list(SrtpMode))
def test_a_secure_offer_over_tls_is_answered_with_our_own_key_unless_off(mode: SrtpMode) -> None:
    offer = stream("RTP/SAVP", GCM, LINE_32, LINE_80)
    if mode is SrtpMode.OFF:
        with pytest.raises(SrtpRefused, match="off") as refused:
            answer_offer(mode, "tls", offer)
        assert refused.value.status_hint == 488
        return
    srtp = answer_offer(mode, "tls", offer)
    assert srtp is not None and srtp.profile == "RTP/SAVP"
    assert srtp.remote == LINE_32  # the first line we can use, in the offerer's order
    assert srtp.local is not None and srtp.lines == (srtp.local,)
    assert (srtp.local.tag, srtp.local.suite) == (2, AES_CM_128_HMAC_SHA1_32)
    assert srtp.local.key_salt != LINE_32.key_salt


@pytest.mark.parametrize(
    ("mode", "transport", "offer", "outcome"),
    [
        (SrtpMode.MANDATORY, "tls", stream(), "mandatory"),
        (SrtpMode.MANDATORY, "udp", stream("RTP/SAVP", LINE_80), "TLS"),
        (SrtpMode.OPTIONAL, "tcp", stream("RTP/SAVP", LINE_80), "TLS"),
        (SrtpMode.OPTIONAL, "tls", stream("RTP/SAVP", GCM), "suite"),
        (SrtpMode.MANDATORY, "tls", stream("RTP/AVP", GCM), "suite"),
        (SrtpMode.OPTIONAL, "tls", stream(), None),
        (SrtpMode.OFF, "udp", stream(), None),
        (SrtpMode.OPTIONAL, "udp", stream("RTP/AVP", LINE_80), None),  # best effort, no TLS
        (SrtpMode.OFF, "tls", stream("RTP/AVP", LINE_80), None),
    ],
)
def test_refusals_and_plain_answers(
    mode: SrtpMode, transport: str, offer: AudioStream, outcome: str | None
) -> None:
    if outcome is None:
        assert answer_offer(mode, transport, offer) is None
    else:
        with pytest.raises(SrtpRefused, match=outcome):
            answer_offer(mode, transport, offer)


def test_best_effort_srtp_in_an_avp_offer_is_taken_over_tls() -> None:
    srtp = answer_offer(SrtpMode.OPTIONAL, "tls", stream("RTP/AVP", LINE_80))
    assert srtp is not None and srtp.profile == "RTP/AVP" and srtp.remote == LINE_80


def test_our_offers_and_their_answers() -> None:
    assert offer_for(SrtpMode.OFF, "tls") is None
    assert offer_for(SrtpMode.OPTIONAL, "udp") is None
    with pytest.raises(SrtpRefused, match="TLS"):
        offer_for(SrtpMode.MANDATORY, "udp")
    assert reachable(SrtpMode.MANDATORY, "tls") and not reachable(SrtpMode.MANDATORY, "udp")
    assert reachable(SrtpMode.OPTIONAL, "udp")

    mandatory = offer_for(SrtpMode.MANDATORY, "tls")
    assert mandatory is not None and mandatory.profile == "RTP/SAVP" and mandatory.mandatory
    assert [(c.tag, c.suite) for c in mandatory.lines] == [
        (1, AES_CM_128_HMAC_SHA1_80),
        (2, AES_CM_128_HMAC_SHA1_32),
    ]
    # The answer picks our second line: we protect with its key, unprotect with theirs.
    theirs = CryptoAttribute(2, AES_CM_128_HMAC_SHA1_32, os.urandom(30))
    ours = mandatory.lines[1]
    assert mandatory.answered(stream("RTP/SAVP", theirs))
    assert (mandatory.local, mandatory.remote, mandatory.offered) == (ours, theirs, ())
    assert mandatory.lines == (ours,)  # what a later re-offer of ours carries

    optional = offer_for(SrtpMode.OPTIONAL, "tls")
    assert optional is not None and optional.profile == "RTP/AVP"
    assert not optional.answered(stream())  # plain answer to best effort: no keys


def test_a_reoffer_rekeys_and_keeps_our_key() -> None:
    srtp = answer_offer(SrtpMode.MANDATORY, "tls", stream("RTP/SAVP", LINE_80))
    assert srtp is not None and srtp.local is not None
    ours = srtp.local.key_salt
    assert srtp.reoffered(stream("RTP/SAVP", LINE_80))  # the same line again: nothing changes
    assert srtp.remote == LINE_80 and srtp.local.key_salt == ours
    new = CryptoAttribute(5, AES_CM_128_HMAC_SHA1_80, os.urandom(30))
    assert srtp.reoffered(stream("RTP/SAVP", new))
    assert srtp.remote == new and (srtp.local.tag, srtp.local.key_salt) == (5, ours)
    other_suite = CryptoAttribute(6, AES_CM_128_HMAC_SHA1_32, os.urandom(30))
    assert srtp.reoffered(stream("RTP/SAVP", other_suite))
    assert srtp.local.suite == AES_CM_128_HMAC_SHA1_32 and srtp.local.key_salt != ours
    assert not srtp.reoffered(stream())  # no line we can use: the keys stay
    assert srtp.remote == other_suite
    assert not LegSrtp("RTP/SAVP", True).reoffered(stream("RTP/SAVP", LINE_80))


def test_a_mandatory_party_may_not_reoffer_without_a_usable_crypto_line() -> None:
    mandatory = answer_offer(SrtpMode.MANDATORY, "tls", stream("RTP/SAVP", LINE_80))
    optional = answer_offer(SrtpMode.OPTIONAL, "tls", stream("RTP/SAVP", LINE_80))
    assert mandatory is not None and optional is not None
    for plain in (stream(), stream("RTP/SAVP"), stream("RTP/SAVP", GCM)):
        reason = refuses_reoffer(mandatory, plain)
        assert reason is not None and "mandatory" in reason
        assert refuses_reoffer(optional, plain) is None  # best effort: the leg's own choice
    assert refuses_reoffer(None, stream()) is None  # a plain leg
    assert refuses_reoffer(mandatory, stream("RTP/SAVP", LINE_80)) is None
    assert refuses_reoffer(mandatory, stream("RTP/AVP", LINE_32)) is None  # a re-key


def test_apply_holds_a_shared_fork_endpoint_for_keys_and_frees_it_for_a_plain_fork() -> None:
    """Two forks of one call share the callee endpoint: one offered SRTP (over TLS), one did not.
    Until an answer nothing is let in; the keys of an SRTP answer go on; a plain fork's answer
    turns it back to plain RTP."""

    async def main() -> None:
        relay = MediaRelay("127.0.0.1", PortAllocator(46000, 46099), lambda host: True)
        media = await relay.open_endpoint()
        secure_fork = SimpleNamespace(media=media, srtp=offer_for(SrtpMode.OPTIONAL, "tls"))
        plain_fork = SimpleNamespace(media=media, srtp=None, remote_audio=None)
        apply(secure_fork)
        assert media.srtp_pending and media.srtp is None
        apply(plain_fork)  # a 180 without SDP changes nothing
        assert media.srtp_pending

        theirs = CryptoAttribute(1, AES_CM_128_HMAC_SHA1_80, os.urandom(30))
        assert secure_fork.srtp is not None and secure_fork.srtp.answered(stream("RTP/AVP", theirs))
        apply(secure_fork)
        assert media.srtp is not None and not media.srtp_pending
        assert media.srtp.suite == AES_CM_128_HMAC_SHA1_80

        plain_fork.remote_audio = stream()  # the plain fork answered after all
        apply(plain_fork)
        assert media.srtp is None and not media.secured
        await relay.aclose()

    asyncio.run(main())


def _with_crypto(body: bytes, profile: str, *lines: CryptoAttribute) -> bytes:
    text = body.decode().replace("RTP/AVP", profile)
    return (text + "".join(f"a=crypto:{line.serialize()}\r\n" for line in lines)).encode()


def test_a_callee_leg_offers_savp_fails_on_a_plain_183_and_recovers_with_the_200() -> None:
    lp = LegPair()
    invite = make_request("INVITE", from_tag="sw-out", call_id="srtp-1@127.0.0.1")
    invite.headers[0] = ("Via", lp.settings.via("udp"))
    leg = Leg.outbound_to(2, PHONE, invite, lp.settings, lp.outbox)
    leg.media = FakeMedia()  # type: ignore[assignment]
    leg.srtp = offer_for(SrtpMode.MANDATORY, "tls")  # the harness's phone is on UDP: no matter
    lp.legs.append(leg)
    lp.flush()
    (sent,) = lp.phone_requests()
    offer = SessionDescription.parse(leg.local_sdp(None, PCMU, "sendrecv", 9)).audio
    assert offer is not None and offer.profile == "RTP/SAVP" and len(offer.crypto) == 2

    lp.phone_responds(answer(sent, 183, body=phone_sdp(port=5555)))
    lp.take()
    assert leg.srtp is not None and leg.srtp.failed  # no line of ours: not yet SRTP
    theirs = CryptoAttribute(2, AES_CM_128_HMAC_SHA1_32, os.urandom(30))
    lp.phone_responds(answer(sent, 200, body=_with_crypto(phone_sdp(5556), "RTP/SAVP", theirs)))
    lp.take()
    assert not leg.srtp.failed and leg.srtp.remote == theirs
    assert leg.srtp.local is not None and leg.srtp.local.tag == 2
    # Our re-offer (a hold) carries our accepted line again, on RTP/SAVP.
    again = SessionDescription.parse(leg.local_sdp(None, PCMU, "sendonly", 9, bump=True)).audio
    assert again is not None and again.profile == "RTP/SAVP"
    assert again.crypto == (leg.srtp.local,)
