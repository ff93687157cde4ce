"""SRTP on one leg of a bridge and plain RTP on the other (softswitch/media/srtp.py through
MediaEndpoint.secure), over real loopback sockets: the plain phone hears the plain packets,
the secure phone gets packets only its key opens, RTCP both ways too, forgeries go nowhere."""

from __future__ import annotations

import os

import pytest
from phones import Runner, bridged_call, make_relay, rtp, wait_until

from softswitch.media.endpoint import Route
from softswitch.media.srtp import SrtpContext, SrtpError
from softswitch.sip.sdes import AES_CM_128_HMAC_SHA1_32, AES_CM_128_HMAC_SHA1_80

RTCP_RR = bytes([0x81, 201, 0, 7]) + b"\x00\x00\x00\x0a" + b"\x00" * 24  # an RR, one block


@pytest.mark.parametrize("suite", [AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32])
def test_srtp_leg_bridged_to_a_plain_leg_both_ways(run: Runner, suite: str) -> None:
    async def main() -> None:
        relay = make_relay()
        secure, plain, phone_s, phone_p = await bridged_call(relay)
        switch_key, phone_key = os.urandom(30), os.urandom(30)
        secure.secure(SrtpContext(suite, switch_key, phone_key))
        phone = SrtpContext(suite, phone_key, switch_key)  # the secure phone's own view
        tag = 10 if suite == AES_CM_128_HMAC_SHA1_80 else 4  # RFC 3711 §5.2 / RFC 4568 §6.2.2

        # Secure phone -> switch -> plain phone: the plain phone gets the plain packet.
        sent = [rtp(500 + i, 160 * i, 0x5EC, payload=bytes([i]) * 160) for i in range(3)]
        for packet in sent:
            protected = phone.protect(packet)
            assert len(protected) == len(packet) + tag and protected[12:] != packet[12:]
            phone_s.send_to(secure, protected)
        assert [(await phone_p.recv())[0] for _ in sent] == sent

        # Plain phone -> switch -> secure phone: ciphertext on the wire, the key opens it.
        back = [rtp(900 + i, 160 * i, 0x9A1, payload=b"\xff" * 160) for i in range(3)]
        for packet in back:
            phone_p.send_to(plain, packet)
        received = [(await phone_s.recv())[0] for _ in back]
        assert all(r[12:172] != b"\xff" * 160 for r in received)
        assert [phone.unprotect(r) for r in received] == back

        # SRTCP both ways (each phone's RTCP shares its RTP socket here).
        phone_s.send_to(secure, phone.protect_rtcp(RTCP_RR), rtcp=True)
        assert (await phone_p.recv())[0] == RTCP_RR
        phone_p.send_to(plain, RTCP_RR, rtcp=True)
        assert phone.unprotect_rtcp((await phone_s.recv())[0]) == RTCP_RR

        # A forged, a replayed and a plain packet to the secure side go nowhere.
        forged = bytearray(phone.protect(rtp(503, 480, 0x5EC)))
        forged[20] ^= 1
        for bad in (bytes(forged), phone.protect(sent[0]), rtp(504, 640, 0x5EC)):
            phone_s.send_to(secure, bad)
        await wait_until(lambda: secure.stats().dropped_malformed == 3)
        await phone_p.assert_received_nothing()
        assert secure.stats().relayed == 4  # 3 RTP + 1 RTCP

        # Off again: plain both ways on the same sockets.
        secure.secure(None)
        phone_s.send_to(secure, rtp(505, 800, 0x5EC, payload=b"\x42" * 160))
        assert (await phone_p.recv())[0][12:] == b"\x42" * 160
        assert secure.route is Route.RELAY
        await relay.aclose()

    run(main())


def test_engine_frames_and_echo_are_protected(run: Runner) -> None:
    async def main() -> None:
        relay = make_relay()
        endpoint, _, phone_s, _ = await bridged_call(relay)
        key_a, key_b = os.urandom(30), os.urandom(30)
        endpoint.secure(SrtpContext(AES_CM_128_HMAC_SHA1_80, key_a, key_b))
        phone = SrtpContext(AES_CM_128_HMAC_SHA1_80, key_b, key_a)

        endpoint.unroute()
        assert endpoint.send_frame(b"\x7f" * 160, 0, 160)
        assert endpoint.send_rtcp(RTCP_RR)
        frame = phone.unprotect((await phone_s.recv())[0])
        assert frame[12:] == b"\x7f" * 160
        assert phone.unprotect_rtcp((await phone_s.recv())[0]) == RTCP_RR

        endpoint.echo()
        packet = rtp(7, 1120, 0x77)
        phone_s.send_to(endpoint, phone.protect(packet))
        # The echo continues the endpoint's stream (its SSRC and sequence), same payload.
        assert phone.unprotect((await phone_s.recv())[0])[12:] == packet[12:]
        await relay.aclose()

    run(main())


def test_a_wrong_key_opens_nothing() -> None:
    switch = SrtpContext(AES_CM_128_HMAC_SHA1_80, os.urandom(30), os.urandom(30))
    stranger = SrtpContext(AES_CM_128_HMAC_SHA1_80, os.urandom(30), os.urandom(30))
    with pytest.raises(SrtpError):
        switch.unprotect(stranger.protect(rtp(1, 160, 0x1)))
    with pytest.raises(ValueError, match="not supported"):
        SrtpContext("F8_128_HMAC_SHA1_80", os.urandom(30), os.urandom(30))
