"""Loopback UDP "phones" and RTP helpers shared by the media tests.

A phone proves it received nothing by sending itself a sentinel and getting it first:
loopback queues datagrams in the order they were sent, so anything sent to it earlier
would come before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from softswitch.media.endpoint import MediaEndpoint
from softswitch.media.ports import PortAllocator
from softswitch.media.relay import MediaRelay
from softswitch.media.rtp import RtpHeader, RtpPacket

DEADLINE_S = 5.0
HOST = "127.0.0.1"
SENTINEL = b"sentinel"

Runner = Callable[[Coroutine[Any, Any, None]], None]


class Phone(asyncio.DatagramProtocol):
    """A UDP socket that collects what it receives."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[bytes, tuple[Any, ...]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport
        self.address: tuple[str, int]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.inbox.put_nowait((data, addr))

    def send_to(self, ep: MediaEndpoint, data: bytes, rtcp: bool = False) -> None:
        self.transport.sendto(data, (ep.host, ep.rtcp_port if rtcp else ep.port))

    async def recv(self) -> tuple[bytes, tuple[Any, ...]]:
        return await asyncio.wait_for(self.inbox.get(), DEADLINE_S)

    async def recv_rtp(self, count: int) -> list[RtpPacket]:
        return [RtpPacket.parse((await self.recv())[0]) for _ in range(count)]

    async def assert_received_nothing(self) -> None:
        self.transport.sendto(SENTINEL, self.address)
        data, _ = await self.recv()
        assert data == SENTINEL, f"unexpected packet {data!r}"


async def open_phone(host: str = HOST) -> Phone:
    loop = asyncio.get_running_loop()
    transport, phone = await loop.create_datagram_endpoint(Phone, local_addr=(host, 0))
    phone.transport = transport
    phone.address = transport.get_extra_info("sockname")[:2]
    return phone


def rtp(
    seq: int, ts: int, ssrc: int, payload: bytes = b"\xd5" * 160, marker: bool = False
) -> bytes:
    header = RtpHeader(payload_type=8, sequence=seq, timestamp=ts, ssrc=ssrc, marker=marker)
    return header.serialize() + payload


async def wait_until(condition: Callable[[], bool]) -> None:
    """Let the loop run until `condition` holds; fail at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not condition():
        assert loop.time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.001)


def make_relay(allowed: Callable[[str], bool] = lambda host: True) -> MediaRelay:
    return MediaRelay(HOST, PortAllocator(41000, 41999), allowed)


async def bridged_call(
    relay: MediaRelay,
) -> tuple[MediaEndpoint, MediaEndpoint, Phone, Phone]:
    """Two phones whose SDP addresses are their real sockets, bridged through the relay.

    Each phone takes RTP and RTCP on one socket: its SDP would say so with a=rtcp (RFC 3605).
    """
    a, b = await relay.open_endpoint(), await relay.open_endpoint()
    pa, pb = await open_phone(), await open_phone()
    a.set_remote(*pa.address, rtcp_port=pa.address[1])
    b.set_remote(*pb.address, rtcp_port=pb.address[1])
    relay.bridge(a, b)
    return a, b, pa, pb
