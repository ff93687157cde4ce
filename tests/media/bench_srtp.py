"""Micro-bench of SRTP on the relay's per-packet path: CPU per relayed RTP packet, plain and
with SRTP on the receiving side, the sending side or both (media/srtp.py via secure()).

    .venv/bin/python tests/media/bench_srtp.py [--packets 20000] [--rounds 5]

Packets (PCMU, 160 bytes of payload) are handed to the receiving socket's protocol directly and
leave through a real loopback `sendto`, so the figure is the relay's own cost plus the send
system call, without the kernel's receive path; the SRTP figures minus the plain one are what
libsrtp adds. Lives beside the tests (bench/ may not import the switch).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import time
from typing import Any

import uvloop

from softswitch.media.endpoint import MediaEndpoint
from softswitch.media.ports import PortAllocator
from softswitch.media.relay import MediaRelay
from softswitch.media.srtp import SrtpContext

SUITE = "AES_CM_128_HMAC_SHA1_80"
HEADER = struct.Struct("!BBHII")
PHONE = ("127.0.0.1", 9)  # the source every packet claims; it latches once


def _packets(count: int, ssrc: int) -> list[bytes]:
    payload = os.urandom(160)
    return [HEADER.pack(0x80, 0, i & 0xFFFF, 160 * i, ssrc) + payload for i in range(count)]


async def _case(relay: MediaRelay, count: int, secure_in: bool, secure_out: bool) -> float:
    """CPU µs per packet relayed from A to B."""
    a, b = await relay.open_endpoint(), await relay.open_endpoint()
    loop = asyncio.get_running_loop()
    sink, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    b.set_remote("127.0.0.1", sink.get_extra_info("sockname")[1])
    relay.bridge(a, b)
    packets = _packets(count, 0xA)
    if secure_in:
        phone_key, switch_key = os.urandom(30), os.urandom(30)
        a.secure(SrtpContext(SUITE, switch_key, phone_key))
        phone = SrtpContext(SUITE, phone_key, switch_key)
        packets = [phone.protect(p) for p in packets]
    if secure_out:
        b.secure(SrtpContext(SUITE, os.urandom(30), os.urandom(30)))
    protocol: Any = _rtp_protocol(a)
    received = protocol.datagram_received
    started = time.process_time()
    for packet in packets:
        received(packet, PHONE)
    elapsed = time.process_time() - started
    assert a.stats().relayed == count, a.stats()
    sink.close()
    relay.close(a)
    relay.close(b)
    return elapsed / count * 1e6


def _rtp_protocol(endpoint: MediaEndpoint) -> asyncio.BaseProtocol:
    transport = endpoint._rtp.transport  # a bench reaches into the socket for its protocol
    assert transport is not None
    return transport.get_protocol()


def _primitives(count: int) -> tuple[float, float]:
    """µs per protect and per unprotect of one packet, libsrtp alone."""
    key = os.urandom(30)
    context = SrtpContext(SUITE, key, key)
    packets = _packets(count, 0xB)
    started = time.process_time()
    protected = [context.protect(p) for p in packets]
    middle = time.process_time()
    for p in protected:
        context.unprotect(p)
    done = time.process_time()
    return (middle - started) / count * 1e6, (done - middle) / count * 1e6


async def main(count: int, rounds: int) -> None:
    relay = MediaRelay("127.0.0.1", PortAllocator(45000, 45999), lambda host: True)
    cases = {
        "plain -> plain": (False, False),
        "SRTP -> plain": (True, False),
        "plain -> SRTP": (False, True),
        "SRTP -> SRTP": (True, True),
    }
    best = {
        name: min([await _case(relay, count, *c) for _ in range(rounds)])
        for name, c in cases.items()
    }
    protect, unprotect = min(_primitives(count) for _ in range(rounds))
    print(f"{count} packets x {rounds} rounds, best round, CPU µs per relayed packet:")
    for name, value in best.items():
        extra = value - best["plain -> plain"]
        print(f"  {name:15s} {value:6.2f}  (+{extra:.2f})")
    print(f"  libsrtp alone: protect {protect:.2f}, unprotect {unprotect:.2f}")
    await relay.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    uvloop.run(main(args.packets, args.rounds))
