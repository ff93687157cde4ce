"""SRTP and SRTCP (RFC 3711) for one media endpoint, through libsrtp (`pylibsrtp`).

A `SrtpContext` holds the two libsrtp sessions of one leg: outbound with our master key (the one
our SDP toward the leg carries), inbound with the peer's. `MediaEndpoint.secure(context)` puts it
on the endpoint's sockets: every datagram received is unprotected before the endpoint sees it
(`Unprotecting`, the socket's protocol while SRTP is on), and everything the endpoint sends is
protected last, so latching, loss counting, continuity, the relay and the engine all work on
plain RTP. A plain endpoint keeps its path untouched: SRTP costs only the legs that use it.

The outbound session allows repeated sequence numbers (`allow_repeat_tx`): the relay forwards
what the other leg sends, duplicates included, and libsrtp would otherwise refuse them. A packet
that fails authentication or replay checks is dropped and counted as malformed, before latching,
so a forged packet can neither latch the endpoint nor reach the other leg.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

import pylibsrtp

# By the SDES suite names of RFC 4568 §6.2 (sip/sdes.py), which media/ may not import.
_PROFILES: Final = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}

SrtpError = pylibsrtp.Error
"""What libsrtp raises for a packet it refuses (authentication, replay, too short)."""


class SrtpContext:
    """The SRTP sessions of one leg: protect with `local_key`, unprotect with `remote_key`."""

    __slots__ = ("protect", "protect_rtcp", "suite", "unprotect", "unprotect_rtcp")

    def __init__(self, suite: str, local_key: bytes, remote_key: bytes) -> None:
        profile = _PROFILES.get(suite)
        if profile is None:
            raise ValueError(f"SRTP suite {suite} is not supported")
        outbound = pylibsrtp.Policy(
            key=local_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile
        )
        outbound.allow_repeat_tx = True
        inbound = pylibsrtp.Policy(
            key=remote_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile
        )
        tx = pylibsrtp.Session(policy=outbound)
        rx = pylibsrtp.Session(policy=inbound)
        self.suite = suite
        # Bound methods, looked up once: the per-packet path is one call each way.
        self.protect: Callable[[bytes], bytes] = tx.protect
        self.protect_rtcp: Callable[[bytes], bytes] = tx.protect_rtcp
        self.unprotect: Callable[[bytes], bytes] = rx.unprotect
        self.unprotect_rtcp: Callable[[bytes], bytes] = rx.unprotect_rtcp


class Unprotecting(asyncio.DatagramProtocol):
    """A socket's protocol while SRTP is on: unprotect, then hand the packet to `inner`."""

    __slots__ = ("inner", "unprotect")

    def __init__(self, inner: Any, unprotect: Callable[[bytes], bytes]) -> None:
        self.inner = inner
        self.unprotect = unprotect

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            plain = self.unprotect(data)
        except SrtpError:
            inner = self.inner
            inner.received += 1
            inner.dropped_malformed += 1
            return
        self.inner.datagram_received(plain, addr)

    def error_received(self, exc: Exception) -> None:
        self.inner.error_received(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)


def refuse(data: bytes) -> bytes:
    """The unprotect of an endpoint whose SRTP keys are not agreed yet: nothing gets through."""
    raise SrtpError("no SRTP keys agreed yet")


def protecting(
    sendto: Callable[[Any, Any], None], protect: Callable[[bytes], bytes], counters: Any
) -> Callable[[Any, Any], None]:
    """`sendto` that sends `protect(packet)`; a packet libsrtp refuses counts as a send error."""

    def send(packet: Any, address: Any) -> None:
        try:
            sendto(protect(bytes(packet)), address)  # bytes(b) is b; a remapped one is a bytearray
        except SrtpError:
            counters.send_errors += 1

    return send
