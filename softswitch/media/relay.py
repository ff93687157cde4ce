"""The RTP relay: opens media endpoints from the port range, reuses their sockets, and routes
them for the call layer.

What an endpoint is (sockets, latching, policy, counters, continuity) and how its packets are
routed (relay, echo, consumer) live in `media/endpoint.py`; this module owns their lifecycle:
binding port pairs, parking the sockets of ended legs for reuse, totals, and closing all.

Use from the call layer::

    relay = MediaRelay("127.0.0.1", PortAllocator(20000, 30000), allowed=policy)
    a = await relay.open_endpoint()       # a.port goes into our SDP for leg A
    b = relay.open_endpoint_now()         # or None: without a loop turn, from pre-opened pairs
    a.set_remote("192.0.2.7", 4000)       # from leg A's SDP (rtcp_port from a=rtcp, RFC 3605)
    relay.bridge(a, b)                    # A's media goes out to B and B's to A
    relay.set_direction(a, Direction.RECVONLY)   # the direction in our SDP towards A
    relay.echo(a)                         # the 9196 echo test; a.deliver(sink) for the engine
    relay.close(a); await a.wait_closed() # the port returns to the allocator
    relay.stats(); a.stats(); a.idle_seconds(loop.time())   # RelayStats, plain ints
    await relay.aclose()                  # every endpoint, at shutdown

Errors::

    PortsExhausted (ports.py)        open_endpoint found no free port pair; status_hint 503
    RemoteAddressError (endpoint.py) set_remote got no usable IP address/port; status_hint 488
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
from collections import deque
from collections.abc import Callable

from softswitch.media.endpoint import (
    _DISCARD,
    DEFAULT_TS_STEP,
    Direction,
    MediaEndpoint,
    RelayStats,
    _ParkedPair,
    _RtpSocket,
)
from softswitch.media.ports import PortAllocator, PortsExhausted
from softswitch.media.rtcp_socket import RtcpSocket

DEFAULT_MAX_PARKED = 1024  # socket pairs kept open for reuse
MIN_PARKED_BEFORE_REUSE = 64  # reuse only once this many wait: a port rests between calls
DEFAULT_SPARE = 8  # pairs bound ahead for open_endpoint_now, once it was first asked
_BIND_SKIPPED = (errno.EADDRINUSE, errno.EACCES)


class MediaRelay:
    """Opens endpoints on `host` with ports from `ports`, and relays, echoes or drops their media.

    `allowed(host)` says whether media may be sent to (or latched from) that IP address.
    """

    def __init__(
        self,
        host: str,
        ports: PortAllocator,
        allowed: Callable[[str], bool],
        *,
        ts_step: int = DEFAULT_TS_STEP,
        max_parked: int = DEFAULT_MAX_PARKED,
        spare: int = DEFAULT_SPARE,
    ) -> None:
        self.host = host
        self._family = (
            socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        )
        self._ports = ports
        self._allowed = allowed
        self._ts_step = ts_step
        self._endpoints: set[MediaEndpoint] = set()
        # Socket pairs of ended calls, oldest first: opening and closing two UDP sockets per leg
        # is a fifth of a call's CPU, so they are reused. Oldest first, as PortAllocator does,
        # lets the last call's late packets die out before the port carries a new call.
        self._parked: deque[_ParkedPair] = deque()
        self._max_parked = max_parked
        # Pairs bound ahead, never used: an agent's INVITE leaves in the tick the ACD decides,
        # instead of waiting for binds and two loop turns (bench/RESULTS.md, ACD end to end).
        self._spare: deque[_ParkedPair] = deque()
        self._spare_target = spare
        self._filling: asyncio.Task[None] | None = None
        self._closed_stats = RelayStats()

    async def open_endpoint(self) -> MediaEndpoint:
        """Bind a free even port and the odd one above; ports another process holds are skipped.

        Raises PortsExhausted when no pair could be bound, OSError when `host` cannot be bound
        at all (not an address of this machine).
        """
        loop = asyncio.get_running_loop()
        if self._parked and len(self._parked) >= min(self._max_parked, MIN_PARKED_BEFORE_REUSE):
            return self._reuse(loop, self._parked.popleft())
        try:
            port, rtp_sock, rtcp_sock = self._bind_pair()
        except PortsExhausted:
            for pool in (self._parked, self._spare):
                if pool:
                    return self._reuse(loop, pool.popleft())
            raise
        return await self._open(loop, port, rtp_sock, rtcp_sock)

    def open_endpoint_now(self) -> MediaEndpoint | None:
        """An endpoint without yielding to the loop: a parked pair `open_endpoint` would reuse,
        else one bound ahead; None when neither is ready (then `open_endpoint`). Each call
        tops the pairs bound ahead up in the background."""
        loop = asyncio.get_running_loop()
        pair = None
        if self._parked and len(self._parked) >= min(self._max_parked, MIN_PARKED_BEFORE_REUSE):
            pair = self._parked.popleft()
        elif self._spare:
            pair = self._spare.popleft()
        self._fill(loop)
        return self._reuse(loop, pair) if pair is not None else None

    def _fill(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._filling is None and len(self._spare) < self._spare_target:
            self._filling = loop.create_task(self._fill_spare(loop))

    async def _fill_spare(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while len(self._spare) < self._spare_target:
                try:
                    port, rtp_sock, rtcp_sock = self._bind_pair()
                except (PortsExhausted, OSError):  # calls hold the ports: open_endpoint tells
                    return
                transports: list[asyncio.DatagramTransport] = []
                try:
                    for sock in (rtp_sock, rtcp_sock):
                        transport, _ = await loop.create_datagram_endpoint(
                            lambda: _DISCARD, sock=sock
                        )
                        transports.append(transport)
                except BaseException:
                    for transport in transports:
                        transport.close()
                    for sock in (rtp_sock, rtcp_sock)[len(transports) :]:
                        sock.close()
                    self._ports.release(port)
                    raise
                self._spare.append(_ParkedPair(port, transports[0], transports[1]))
        finally:
            self._filling = None

    def _bind_pair(self) -> tuple[int, socket.socket, socket.socket]:
        for _ in range(self._ports.capacity):
            port = self._ports.allocate()
            try:
                rtp_sock = self._bind(port)
                try:
                    rtcp_sock = self._bind(port + 1)
                except OSError:
                    rtp_sock.close()
                    raise
            except OSError as exc:
                self._ports.release(port)
                if exc.errno in _BIND_SKIPPED:
                    continue
                raise
            return port, rtp_sock, rtcp_sock
        raise PortsExhausted(f"no bindable RTP port pair on {self.host}")

    def _reuse(self, loop: asyncio.AbstractEventLoop, parked: _ParkedPair) -> MediaEndpoint:
        rtp = _RtpSocket(self._allowed, self._ts_step)
        rtcp = RtcpSocket(self._allowed)
        parked.rtp.set_protocol(rtp)
        parked.rtcp.set_protocol(rtcp)
        rtp.connection_made(parked.rtp)
        rtcp.connection_made(parked.rtcp)
        return self._register(loop, parked.port, rtp, rtcp)

    async def _open(
        self,
        loop: asyncio.AbstractEventLoop,
        port: int,
        rtp_sock: socket.socket,
        rtcp_sock: socket.socket,
    ) -> MediaEndpoint:
        rtp = _RtpSocket(self._allowed, self._ts_step)
        rtcp = RtcpSocket(self._allowed)
        try:
            await loop.create_datagram_endpoint(lambda: rtp, sock=rtp_sock)
            await loop.create_datagram_endpoint(lambda: rtcp, sock=rtcp_sock)
        except BaseException:
            for proto, sock in ((rtp, rtp_sock), (rtcp, rtcp_sock)):
                if proto.transport is not None:
                    proto.transport.close()
                else:
                    sock.close()
            self._ports.release(port)
            raise
        return self._register(loop, port, rtp, rtcp)

    def _register(
        self, loop: asyncio.AbstractEventLoop, port: int, rtp: _RtpSocket, rtcp: RtcpSocket
    ) -> MediaEndpoint:
        endpoint = MediaEndpoint(
            self.host,
            port,
            self._family,
            rtp,
            rtcp,
            self._ports,
            loop.time(),
            loop.create_future(),
        )
        self._endpoints.add(endpoint)
        return endpoint

    def _bind(self, port: int) -> socket.socket:
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((self.host, port))
        except OSError:
            sock.close()
            raise
        return sock

    def bridge(self, a: MediaEndpoint, b: MediaEndpoint) -> None:
        """Relay A's media out of B and B's out of A; whatever either took part in ends."""
        a.bridge(b)

    def echo(self, ep: MediaEndpoint) -> None:
        """Send every RTP packet back to where it came from; absorb RTCP."""
        ep.echo()

    def unbridge(self, ep: MediaEndpoint) -> None:
        """Stop relaying to and from `ep`: its bridge partner (or its echo) is left unrouted."""
        ep.unroute()

    def set_direction(self, ep: MediaEndpoint, direction: Direction) -> None:
        ep.set_direction(direction)

    def close(self, ep: MediaEndpoint) -> None:
        """End the endpoint: its sockets are parked for reuse, or closed and the port returned
        to the allocator once both have closed."""
        if ep.closed:
            return
        self._closed_stats += ep.stats()
        self._endpoints.discard(ep)
        if len(self._parked) < self._max_parked and ep._rtp.transport and ep._rtcp.transport:
            self._parked.append(ep._park())
        else:
            ep._close()

    async def aclose(self) -> None:
        """Close every endpoint and wait until their sockets are closed."""
        endpoints = list(self._endpoints)
        for ep in endpoints:
            self._closed_stats += ep.stats()
            self._endpoints.discard(ep)
            ep._close()
        for ep in endpoints:
            await ep.wait_closed()
        if self._filling is not None:
            self._filling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._filling
        self._parked.extend(self._spare)
        self._spare.clear()
        while self._parked:
            parked = self._parked.popleft()
            parked.rtp.close()
            parked.rtcp.close()
            self._ports.release(parked.port)

    def stats(self) -> RelayStats:
        """Totals over every endpoint this relay has had, open or closed."""
        total = self._closed_stats
        for ep in self._endpoints:
            total += ep.stats()
        return total

    @property
    def open_endpoints(self) -> int:
        return len(self._endpoints)

    @property
    def spare_endpoints(self) -> int:
        """Pairs bound ahead for `open_endpoint_now`, not yet taken."""
        return len(self._spare)
