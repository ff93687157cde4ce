"""The RTP relay: each leg's UDP socket pair, and packets forwarded between legs as they come.

A call whose two legs share a codec needs no decoding: the switch relays their packets,
which costs the system calls and little else (ARCHITECTURE.md: a bare uvloop relay spends
3.6-4.2 µs of CPU per packet). So the per-packet path below reads the sequence number and
SSRC with one `struct` call, bumps plain int counters and sends the bytes it got; everything
else (latching, a new source, a sequence gap, a refused packet) leaves the fast path for a
method of its own.

Use from the call layer::

    relay = MediaRelay("127.0.0.1", PortAllocator(20000, 30000), allowed=policy)
    a = await relay.open_endpoint()       # a.port goes into our SDP for leg A
    a.set_remote("192.0.2.7", 4000)       # from leg A's SDP (rtcp_port from a=rtcp, RFC 3605)
    relay.bridge(a, b)                    # A's media goes out to B and B's to A
    relay.set_direction(a, Direction.RECVONLY)   # the direction in our SDP towards A
    relay.unbridge(a); relay.echo(a)      # the 9196 echo test
    relay.close(a); await a.wait_closed() # the port returns to the allocator
    relay.stats(); a.stats(); a.idle_seconds(loop.time())   # RelayStats, plain ints
    await relay.aclose()                  # every endpoint, at shutdown

Behaviour the call layer can rely on:

- Latching (symmetric RTP, RFC 4961): until an endpoint's socket has received a packet it
  sends to the address from `set_remote`; the first packet, from any source the policy
  allows, fixes the remote to that source (the peer may be behind NAT). Later packets
  from other sources are dropped (`dropped_source`) until `set_remote` is called again,
  as for a re-INVITE, which lets the next packet latch anew. RTP and RTCP latch apart.
- Destination policy: `allowed(host)` is asked when a remote is set and when a source would
  latch. A refused remote is never sent to, a refused source is neither latched nor relayed
  (`dropped_policy`); the first refusal of an endpoint is logged once. An unspecified SDP
  address (c=0.0.0.0, the old hold of RFC 3264 §8.4) means no remote until the peer sends.
- Direction, from the switch's side as written in our SDP towards that leg (RFC 3264 §6.1):
  SENDONLY means we send to the leg and drop what it sends; RECVONLY means we take its media
  and send it nothing; INACTIVE both. A packet from A reaches B only if A's direction
  receives and B's sends (`dropped_direction` otherwise).
- Continuity: everything leaving one endpoint carries the SSRC of the first packet it sent.
  When the source behind it changes (a new SSRC arrives on the bridged leg, or the bridge
  is rewired to another leg), packets are copied and rewritten to continue sequence number
  and timestamp from the last one sent (timestamp + `ts_step`, marker bit set on the first
  so the receiver re-syncs playout, RFC 3551 §4.1). Until the first such change packets go
  out untouched. RTCP is relayed as it is.
- Echo: RTP goes back to its source from the same socket; RTCP is absorbed (reflecting a
  phone's own reports back to it tells it nothing).
- Loss: sequence gaps below RFC 3550's MAX_DROPOUT on an endpoint's received RTP count as
  `lost`, across the 16-bit wrap; late or duplicate packets don't, nor does a new SSRC.
- Idle: `idle_seconds(now)` samples the receive counters when called instead of reading a
  clock per packet, so its answer is exact to the interval between calls; call it with the
  loop's clock, e.g. every few seconds from the call layer's sweep.

Errors::

    RemoteAddressError(ValueError)   set_remote got no usable IP address/port; status_hint 488
    PortsExhausted (ports.py)        open_endpoint found no free port pair; status_hint 503
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import ipaddress
import logging
import operator
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from softswitch.media.ports import PortAllocator, PortsExhausted
from softswitch.media.rtp import RTP_VERSION, rewrite_header

logger = logging.getLogger(__name__)

Address = tuple[Any, ...]

DEFAULT_MAX_PARKED = 1024  # socket pairs kept open for reuse
MIN_PARKED_BEFORE_REUSE = 64  # reuse only once this many wait: a port rests between calls
DEFAULT_TS_STEP = 160  # 20 ms at the 8000 Hz RTP clock of PCMU, PCMA and G.722 (RFC 3551 §4.5)
MAX_DROPOUT = 3000  # RFC 3550 appendix A.1: a larger forward jump is a restart, not loss
MAX_MISORDER = 100  # RFC 3550 appendix A.1: this far behind is a late packet

_SEQUENCE_SSRC = struct.Struct("!2xH4xI")
_SEQUENCE_TIMESTAMP = struct.Struct("!HI")
_TIMESTAMP = struct.Struct("!I")
_NO_SSRC = -1  # never equal to a 32-bit SSRC: the first packet always counts as a new source
_BIND_SKIPPED = (errno.EADDRINUSE, errno.EACCES)


class RemoteAddressError(ValueError):
    """The remote media address from SDP is not an IP address and port this endpoint can use."""

    status_hint = 488  # RFC 3261 §21.4.26 Not Acceptable Here


class Direction(StrEnum):
    """Media direction as our SDP towards a leg says it (RFC 3264 §6.1)."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)


@dataclass(frozen=True, slots=True)
class RelayStats:
    """Packet counters of one endpoint or of the whole relay, RTP and RTCP together."""

    received: int = 0
    relayed: int = 0
    lost: int = 0
    dropped_source: int = 0  # from another source than the latched one
    dropped_policy: int = 0  # refused source or refused destination
    dropped_direction: int = 0
    dropped_unrouted: int = 0  # not bridged, or the destination is not known yet
    dropped_malformed: int = 0
    send_errors: int = 0

    @property
    def dropped(self) -> int:
        return (
            self.dropped_source
            + self.dropped_policy
            + self.dropped_direction
            + self.dropped_unrouted
            + self.dropped_malformed
        )

    def __add__(self, other: RelayStats) -> RelayStats:
        return RelayStats(*map(operator.add, _counters_of(self), _counters_of(other)))


_COUNTERS = tuple(f.name for f in dataclasses.fields(RelayStats))
# One C call reads every counter of a RelayStats or of a socket: stats are summed on every
# endpoint close, so this stays off the Python-level loop.
_counters_of = operator.attrgetter(*_COUNTERS)


class _Socket(asyncio.DatagramProtocol):
    """One UDP socket of an endpoint: latching, policy and forwarding; RTCP uses it as it is."""

    __slots__ = (
        "absorb",
        "allowed",
        "dest",
        "dropped_direction",
        "dropped_malformed",
        "dropped_policy",
        "dropped_source",
        "dropped_unrouted",
        "endpoint",
        "feeder",
        "lost",
        "out",
        "peer",
        "received",
        "relayed",
        "remote",
        "remote_allowed",
        "send",
        "send_errors",
        "transport",
    )

    def __init__(self, allowed: Callable[[str], bool]) -> None:
        self.allowed = allowed
        self.endpoint: MediaEndpoint | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.peer: Address | None = None  # latched source; None until a packet latches
        self.remote: Address | None = None  # where this socket sends to
        self.remote_allowed = True
        self.out: _Socket | None = None  # the socket that sends what this one receives
        self.feeder: _Socket | None = None  # the socket whose packets this one sends
        # out.transport.sendto and out.remote, or None when nothing may be sent.
        self.send: Callable[[bytes | bytearray, Address], None] | None = None
        self.dest: Address = ()
        self.absorb = False
        self.received = self.relayed = self.lost = self.send_errors = 0
        self.dropped_source = self.dropped_policy = self.dropped_direction = 0
        self.dropped_unrouted = self.dropped_malformed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.endpoint is not None:
            self.endpoint._socket_closed()

    def error_received(self, exc: Exception) -> None:
        self.send_errors += 1

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.received += 1
        if addr != self.peer and not self._latch(addr, data):
            return
        send = self.send
        if send is None:
            self._drop()
        else:
            send(data, self.dest)
            self.relayed += 1

    def _latch(self, addr: Address, data: bytes) -> bool:
        """A packet from an address other than the latched one: latch to it if we may."""
        if self.peer is not None:
            self.dropped_source += 1
            return False
        if not self.allowed(addr[0]):
            self.dropped_policy += 1
            self._refused(addr[0])
            return False
        self.peer = self.remote = addr
        self.remote_allowed = True
        if self.feeder is not None:
            self.feeder.refresh()
        return True

    def set_remote(self, remote: Address | None) -> None:
        self.peer = None
        self.remote = remote
        self.remote_allowed = remote is None or self.allowed(remote[0])
        if not self.remote_allowed:
            self._refused(remote[0] if remote else "")
        if self.feeder is not None:
            self.feeder.refresh()

    def _refused(self, host: str) -> None:
        if self.endpoint is not None:
            self.endpoint._refused(host)

    def refresh(self) -> None:
        """Recompute the cached send path after a route, remote, direction or close changed."""
        out = self.out
        if (
            out is None
            or out.transport is None
            or out.remote is None
            or not out.remote_allowed
            or self.endpoint is None
            or out.endpoint is None
            or not self.endpoint.direction.receives
            or not out.endpoint.direction.sends
        ):
            self.send = None
        else:
            self.send = out.transport.sendto
            self.dest = out.remote

    def _drop(self) -> None:
        """Count a packet that `refresh` left no way to send, under the reason why."""
        out = self.out
        if out is None or out.endpoint is None or self.endpoint is None:
            if not self.absorb:
                self.dropped_unrouted += 1
        elif not (self.endpoint.direction.receives and out.endpoint.direction.sends):
            self.dropped_direction += 1
        elif out.remote is not None and not out.remote_allowed:
            self.dropped_policy += 1
        else:
            self.dropped_unrouted += 1

    def connect(self, out: _Socket) -> None:
        """Send what this socket receives out of `out` from now on."""
        self.disconnect()
        if out.feeder is not None:
            out.feeder.disconnect()
        self.out = out
        out.feeder = self
        self.refresh()

    def disconnect(self) -> None:
        out = self.out
        if out is not None:
            out.feeder = None
            self.out = None
        self.absorb = False
        self.refresh()


class _RtpSocket(_Socket):
    """The RTP socket: adds loss counting and SSRC/sequence/timestamp continuity."""

    __slots__ = (
        "expected_seq",
        "last_sent",
        "out_ssrc",
        "pending",
        "remapping",
        "rewrite_ssrc",
        "seq_offset",
        "ssrc",
        "tail",
        "ts_offset",
        "ts_step",
    )

    def __init__(self, allowed: Callable[[str], bool], ts_step: int) -> None:
        super().__init__(allowed)
        self.ts_step = ts_step
        self.ssrc = _NO_SSRC  # SSRC of the stream arriving here
        self.expected_seq = -1  # next sequence number of that stream; -1 before its first
        # Continuity of what this socket feeds into `out`: the first packet after a new
        # source or route decides (pending) whether packets need rewriting (remapping).
        self.pending = False
        self.remapping = False
        self.seq_offset = 0
        self.ts_offset = 0
        self.rewrite_ssrc = _NO_SSRC  # out.out_ssrc, kept here for the rewrite path
        self.last_sent: bytes | bytearray | None = None  # the last packet sent into `out`
        # Of the stream this socket sends: its one SSRC, and its last packet when a feeder
        # stopped feeding it (None while it has never sent anything).
        self.out_ssrc = _NO_SSRC
        self.tail: bytes | bytearray | None = None

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.received += 1
        try:
            seq, ssrc = _SEQUENCE_SSRC.unpack_from(data)
        except struct.error:
            self.dropped_malformed += 1
            return
        if addr != self.peer and not self._latch(addr, data):
            return
        if ssrc != self.ssrc and not self._new_source(data, ssrc):
            return
        if seq == self.expected_seq:
            self.expected_seq = (seq + 1) & 0xFFFF
        else:
            self._sequence_jump(seq)
        send = self.send
        if send is None:
            self._drop()
        elif self.remapping:
            self._send_remapped(send, data, seq)
        else:
            send(data, self.dest)
            self.last_sent = data
            self.relayed += 1

    def _latch(self, addr: Address, data: bytes) -> bool:
        # Garbage must not latch: only an RTP version 2 packet may claim the endpoint.
        if self.peer is None and data[0] >> 6 != RTP_VERSION:
            self.dropped_malformed += 1
            return False
        return super()._latch(addr, data)

    def _new_source(self, data: bytes, ssrc: int) -> bool:
        if data[0] >> 6 != RTP_VERSION:  # e.g. STUN keepalives on the RTP port
            self.dropped_malformed += 1
            return False
        self.ssrc = ssrc
        self.expected_seq = -1
        self._hand_over()
        return True

    def _hand_over(self) -> None:
        """The stream fed into `out` changes: remember where it stopped, re-decide rewriting."""
        out = self.out
        if out is not None and isinstance(out, _RtpSocket) and self.last_sent is not None:
            out.tail = self.last_sent
        self.last_sent = None
        self.pending = self.remapping = True

    def _sequence_jump(self, seq: int) -> None:
        expected = self.expected_seq
        if expected >= 0:
            gap = (seq - expected) & 0xFFFF
            if gap < MAX_DROPOUT:
                self.lost += gap
            elif gap >= 0x10000 - MAX_MISORDER:
                return  # late or duplicate: the expectation stands
            # Otherwise the sender restarted its numbering: follow it without counting loss.
        self.expected_seq = (seq + 1) & 0xFFFF

    def _send_remapped(
        self, send: Callable[[bytes | bytearray, Address], None], data: bytes, seq: int
    ) -> None:
        timestamp = _TIMESTAMP.unpack_from(data, 4)[0]
        start_talkspurt = self.pending
        if start_talkspurt and not self._resync(seq, timestamp):
            send(data, self.dest)
            self.last_sent = data
            self.relayed += 1
            return
        packet = bytearray(data)
        rewrite_header(
            packet,
            (seq + self.seq_offset) & 0xFFFF,
            (timestamp + self.ts_offset) & 0xFFFFFFFF,
            self.rewrite_ssrc,
        )
        if start_talkspurt:
            packet[1] |= 0x80
        send(packet, self.dest)
        self.last_sent = packet
        self.relayed += 1

    def _resync(self, seq: int, timestamp: int) -> bool:
        """First packet of a new source or route: fix the offsets; False if none are needed."""
        self.pending = False
        out = self.out
        assert isinstance(out, _RtpSocket)
        tail = out.tail
        if tail is None:  # nothing has left `out` yet: this stream becomes its stream
            out.out_ssrc = self.ssrc
            self.seq_offset = self.ts_offset = 0
        else:
            last_seq, last_ts = _SEQUENCE_TIMESTAMP.unpack_from(tail, 2)
            self.seq_offset = (last_seq + 1 - seq) & 0xFFFF
            self.ts_offset = (last_ts + self.ts_step - timestamp) & 0xFFFFFFFF
        self.rewrite_ssrc = out.out_ssrc
        self.remapping = bool(self.ssrc != out.out_ssrc or self.seq_offset or self.ts_offset)
        return self.remapping

    def connect(self, out: _Socket) -> None:
        super().connect(out)
        self.pending = self.remapping = True

    def disconnect(self) -> None:
        self._hand_over()
        super().disconnect()


def _ip_address(host: str, family: socket.AddressFamily) -> str | None:
    """The canonical text of an SDP connection address; None for the unspecified address."""
    version, canonical = _parse_ip(host)
    if (version == 6) != (family == socket.AF_INET6):
        raise RemoteAddressError(f"media address {host} is not of this endpoint's family")
    return canonical


@functools.lru_cache(maxsize=4096)
def _parse_ip(host: str) -> tuple[int, str | None]:
    """(IP version, canonical text or None when unspecified); cached, as peers repeat."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise RemoteAddressError(f"media address {host!r} is not an IP address") from None
    return ip.version, None if ip.is_unspecified else str(ip)


def _check_port(port: int) -> None:
    if not 0 < port <= 65535:
        raise RemoteAddressError(f"media port {port} is out of range")


class MediaEndpoint:
    """One leg's RTP socket (even port) and RTCP socket (port + 1); made by `open_endpoint`."""

    def __init__(
        self,
        host: str,
        port: int,
        family: socket.AddressFamily,
        rtp: _RtpSocket,
        rtcp: _Socket,
        ports: PortAllocator,
        now: float,
        closed: asyncio.Future[None],
    ) -> None:
        self.host = host
        self.port = port
        self._family = family
        self._rtp = rtp
        self._rtcp = rtcp
        self._ports = ports
        self._closed = closed
        self._open_sockets = 2
        self._closing = False
        self._direction = Direction.SENDRECV
        self._policy_logged = False
        self._seen_received = 0
        self._active_at = now
        rtp.endpoint = rtcp.endpoint = self

    @property
    def rtcp_port(self) -> int:
        return self.port + 1

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def direction(self) -> Direction:
        return self._direction

    @property
    def remote_rtp(self) -> Address | None:
        """Where RTP goes: the latched source, else the SDP address, else None."""
        return self._rtp.remote

    @property
    def remote_rtcp(self) -> Address | None:
        return self._rtcp.remote

    def set_remote(self, host: str, rtp_port: int, rtcp_port: int | None = None) -> None:
        """Take the peer's media address from its SDP and let the next packet latch anew."""
        address = _ip_address(host, self._family)
        if rtcp_port is None:
            rtcp_port = rtp_port + 1  # RFC 3550 §11; RFC 3605 a=rtcp overrides it
        _check_port(rtp_port)
        _check_port(rtcp_port)
        self._rtp.set_remote(None if address is None else (address, rtp_port))
        self._rtcp.set_remote(None if address is None else (address, rtcp_port))

    def idle_seconds(self, now: float) -> float:
        """Seconds since a packet was last seen, to the resolution of the calls to this."""
        received = self._rtp.received + self._rtcp.received
        if received != self._seen_received:
            self._seen_received = received
            self._active_at = now
        return now - self._active_at

    def stats(self) -> RelayStats:
        return RelayStats(*map(operator.add, _counters_of(self._rtp), _counters_of(self._rtcp)))

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def _refused(self, host: str) -> None:
        if not self._policy_logged:
            self._policy_logged = True
            logger.warning(
                "media endpoint %s:%d: destination policy refuses %s; not sending there",
                self.host,
                self.port,
                host or "(none)",
            )

    def _refresh(self) -> None:
        for sock in (self._rtp, self._rtcp):
            sock.refresh()
            if sock.feeder is not None:
                sock.feeder.refresh()

    def _close(self) -> None:
        self._closing = True
        self._detach()
        for sock in (self._rtp, self._rtcp):
            if sock.transport is not None:
                sock.transport.close()

    def _detach(self) -> None:
        for sock in (self._rtp, self._rtcp):
            if sock.feeder is not None:
                sock.feeder.disconnect()
            sock.disconnect()

    def _park(self) -> _ParkedPair:
        """Hand the open sockets back for another call: this endpoint is closed, its port not."""
        self._closing = True
        self._detach()
        rtp, rtcp = self._rtp.transport, self._rtcp.transport
        assert rtp is not None and rtcp is not None
        parked = _ParkedPair(self.port, rtp, rtcp)
        rtp.set_protocol(_DISCARD)
        rtcp.set_protocol(_DISCARD)
        self._rtp.transport = self._rtcp.transport = None
        if not self._closed.done():
            self._closed.set_result(None)
        return parked

    def _socket_closed(self) -> None:
        self._open_sockets -= 1
        if self._open_sockets == 0:
            self._ports.release(self.port)
            if not self._closed.done():
                self._closed.set_result(None)


class _Discard(asyncio.DatagramProtocol):
    """What a parked socket runs: late packets of its last call are dropped unread."""

    def datagram_received(self, data: bytes, addr: Address) -> None:
        pass


_DISCARD = _Discard()


@dataclass(frozen=True, slots=True)
class _ParkedPair:
    port: int
    rtp: asyncio.DatagramTransport
    rtcp: asyncio.DatagramTransport


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
        self._closed_stats = RelayStats()

    async def open_endpoint(self) -> MediaEndpoint:
        """Bind a free even port and the odd one above; ports another process holds are skipped.

        Raises PortsExhausted when no pair could be bound, OSError when `host` cannot be bound
        at all (not an address of this machine).
        """
        loop = asyncio.get_running_loop()
        if self._parked and len(self._parked) >= min(self._max_parked, MIN_PARKED_BEFORE_REUSE):
            return self._reuse(loop, self._parked.popleft())
        for _ in range(self._ports.capacity):
            try:
                port = self._ports.allocate()
            except PortsExhausted:
                if self._parked:
                    return self._reuse(loop, self._parked.popleft())
                raise
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
            return await self._open(loop, port, rtp_sock, rtcp_sock)
        if self._parked:
            return self._reuse(loop, self._parked.popleft())
        raise PortsExhausted(f"no bindable RTP port pair on {self.host}")

    def _reuse(self, loop: asyncio.AbstractEventLoop, parked: _ParkedPair) -> MediaEndpoint:
        rtp = _RtpSocket(self._allowed, self._ts_step)
        rtcp = _Socket(self._allowed)
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
        rtcp = _Socket(self._allowed)
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
        self, loop: asyncio.AbstractEventLoop, port: int, rtp: _RtpSocket, rtcp: _Socket
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
        self._check_open(a, b)
        if a is b:
            raise ValueError("an endpoint cannot be bridged to itself; use echo()")
        self.unbridge(a)
        self.unbridge(b)
        a._rtp.connect(b._rtp)
        b._rtp.connect(a._rtp)
        a._rtcp.connect(b._rtcp)
        b._rtcp.connect(a._rtcp)

    def echo(self, ep: MediaEndpoint) -> None:
        """Send every RTP packet back to where it came from; absorb RTCP."""
        self._check_open(ep)
        self.unbridge(ep)
        ep._rtp.connect(ep._rtp)
        ep._rtcp.absorb = True

    def unbridge(self, ep: MediaEndpoint) -> None:
        """Stop relaying to and from `ep`: its bridge partner (or its echo) is left unrouted."""
        for sock in (ep._rtp, ep._rtcp):
            if sock.feeder is not None:
                sock.feeder.disconnect()
            sock.disconnect()

    def set_direction(self, ep: MediaEndpoint, direction: Direction) -> None:
        ep._direction = direction
        ep._refresh()

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

    @staticmethod
    def _check_open(*endpoints: MediaEndpoint) -> None:
        for ep in endpoints:
            if ep.closed:
                raise ValueError(f"media endpoint on port {ep.port} is closed")
