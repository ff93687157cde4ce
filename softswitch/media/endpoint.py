"""A media endpoint: one leg's RTP/RTCP socket pair, and where its packets go.

The endpoint owns what belongs to the leg's address: the sockets (even port, odd port above),
latching, the destination policy, direction, counters, and the continuity of the stream it
sends. Where its received packets go is its route, switched without touching the sockets and
without losing a packet (the loop runs one callback at a time, so no packet is in flight):

- RELAY: to the endpoint it is bridged with, as they come. A two-party same-codec call needs
  no decoding, so this is the cheap path (ARCHITECTURE.md: a bare uvloop relay spends
  3.6-4.2 µs of CPU per packet): one `struct` call, plain int counters and `sendto`;
  everything else (latching, a new source, a refused packet) leaves it for a method of its own.
- ECHO: back to where they came from (the 9196 test line); RTCP is absorbed.
- CONSUMER: to a `PacketSink(data, endpoint)`, the seam of the tick engine (media/engine.py),
  a recorder or a mixer. The engine sends audio back out with `send_frame`.
- UNROUTED: counted and dropped.

Behaviour the call layer can rely on:

- Latching (symmetric RTP, RFC 4961): until a socket has received a packet it sends to the
  address from `set_remote`; the first packet, from any source the policy allows, fixes the
  remote to that source (the peer may be behind NAT). Later packets from other sources are
  dropped (`dropped_source`) until `set_remote` is called again, as for a re-INVITE, which
  lets the next packet latch anew. RTP and RTCP latch apart.
- Destination policy: `allowed(host)` is asked when a remote is set and when a source would
  latch. A refused remote is never sent to, a refused source is neither latched nor relayed
  (`dropped_policy`); the first refusal of an endpoint is logged once. An unspecified SDP
  address (c=0.0.0.0, the old hold of RFC 3264 §8.4) means no remote until the peer sends.
- Direction, from the switch's side as written in our SDP towards that leg (RFC 3264 §6.1):
  SENDONLY means we send to the leg and drop what it sends; RECVONLY means we take its media
  and send it nothing; INACTIVE both. A packet from A reaches B only if A's direction
  receives and B's sends (`dropped_direction` otherwise); a consumer gets A's packets only
  if A receives, and `send_frame` sends only if A sends.
- Continuity: everything leaving one endpoint carries one SSRC. When the source behind it
  changes (a new SSRC on the bridged leg, a rewired bridge, the engine taking over or giving
  back), sequence number and timestamp continue from the last packet sent (timestamp + the
  last frame's samples, marker bit set on the first so the receiver re-syncs playout,
  RFC 3551 §4.1). Until the first such change relayed packets go out untouched. RTCP is
  relayed as it is.
- Loss: sequence gaps below RFC 3550's MAX_DROPOUT on received RTP count as `lost`, across
  the 16-bit wrap; late or duplicate packets don't, nor does a new SSRC.
- SRTP (media/srtp.py): `secure(context)` unprotects what the sockets receive before anything
  above sees it and protects what they send last; None turns it off. A plain endpoint's path
  is unchanged.
- Idle: `idle_seconds(now)` samples the receive counters when called instead of reading a
  clock per packet, so its answer is exact to the interval between calls.

Errors::

    RemoteAddressError(ValueError)   set_remote got no usable IP address/port; status_hint 488
    ValueError                       a route or frame the endpoint's state does not allow
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
import logging
import operator
import secrets
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, cast

from softswitch.media.ports import PortAllocator
from softswitch.media.quality import LegMediaQuality, received_quality, reported_quality
from softswitch.media.rtp import RTP_VERSION, rewrite_header
from softswitch.media.srtp import SrtpContext, SrtpError, Unprotecting, protecting, refuse

if TYPE_CHECKING:
    from softswitch.media.rtcp_socket import RtcpSocket

logger = logging.getLogger(__name__)

Address = tuple[Any, ...]

DEFAULT_TS_STEP = 160  # 20 ms at the 8000 Hz RTP clock of PCMU, PCMA and G.722 (RFC 3551 §4.5)
MAX_DROPOUT = 3000  # RFC 3550 appendix A.1: a larger forward jump is a restart, not loss
MAX_MISORDER = 100  # RFC 3550 appendix A.1: this far behind is a late packet

_SEQUENCE_TIMESTAMP_SSRC = struct.Struct("!2xHII")
JITTER_CLOCK_HZ = 8000.0  # the RTP clock of every codec the switch carries
JITTER_MAX_STEP = 8000.0  # a transit change of a second or more is a jump, not jitter
_SEQUENCE_TIMESTAMP = struct.Struct("!HI")
_TIMESTAMP = struct.Struct("!I")
_monotonic = time.monotonic  # the arrival clock of the jitter figure
_NO_SSRC = -1  # never equal to a 32-bit SSRC: the first packet always counts as a new source
_FIXED_HEADER = struct.Struct("!BBHII")  # RFC 3550 §5.1, no CSRC, no extension

PacketSink = Callable[[bytes, "MediaEndpoint"], None]
"""Takes every packet a consumer-routed endpoint receives: (datagram, the endpoint)."""


class Route(Enum):
    """Where an endpoint's received packets go (see the module docstring)."""

    UNROUTED = "unrouted"
    RELAY = "relay"
    ECHO = "echo"
    CONSUMER = "consumer"


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
    frames_sent: int = 0  # packets the engine sent with send_frame

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
        "frames_sent",
        "lost",
        "out",
        "peer",
        "protect",
        "received",
        "relayed",
        "remote",
        "remote_allowed",
        "send",
        "send_errors",
        "sink",
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
        # The cached send path: out.transport.sendto and out.remote, or the sink and the
        # endpoint, or None when nothing may be sent.
        self.send: Callable[[Any, Any], None] | None = None
        self.dest: Any = ()
        self.absorb = False
        self.sink: PacketSink | None = None  # CONSUMER route: who gets what this socket receives
        self.protect: Callable[[bytes], bytes] | None = None  # SRTP on: protects what we send
        self.received = self.relayed = self.lost = self.send_errors = self.frames_sent = 0
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
        sink = self.sink
        if sink is not None:
            endpoint = self.endpoint
            receives = endpoint is not None and endpoint.direction.receives
            self.send = sink if receives and self.transport is not None else None
            self.dest = endpoint
            return
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
            protect = out.protect
            sendto = out.transport.sendto
            self.send = sendto if protect is None else protecting(sendto, protect, out)
            self.dest = out.remote

    def _drop(self) -> None:
        """Count a packet that `refresh` left no way to send, under the reason why."""
        out = self.out
        if self.sink is not None:
            self.dropped_direction += 1
        elif out is None or out.endpoint is None or self.endpoint is None:
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

    def connect_sink(self, sink: PacketSink | None) -> None:
        """Hand what this socket receives to `sink` (None: absorb it) from now on."""
        self.disconnect()
        if sink is None:
            self.absorb = True
        else:
            self.sink = sink
        self.refresh()

    def disconnect(self) -> None:
        out = self.out
        if out is not None:
            out.feeder = None
            self.out = None
        self.absorb = False
        self.sink = None
        self.refresh()


class _RtpSocket(_Socket):
    """The RTP socket: adds loss counting and SSRC/sequence/timestamp continuity."""

    __slots__ = (
        "event_pt",
        "event_tap",
        "expected_seq",
        "jitter",
        "last_sent",
        "octets_sent",
        "out_ssrc",
        "packets",
        "pending",
        "recorded",
        "remapping",
        "rewrite_ssrc",
        "seq_offset",
        "ssrc",
        "tail",
        "tail_samples",
        "transit",
        "ts_offset",
        "ts_step",
    )

    def __init__(self, allowed: Callable[[str], bool], ts_step: int) -> None:
        super().__init__(allowed)
        self.ts_step = ts_step
        self.ssrc = _NO_SSRC  # SSRC of the stream arriving here
        self.expected_seq = -1  # next sequence number of that stream; -1 before its first
        # RFC 3550 A.8 interarrival jitter of that stream, in RTP units, and the packets from it,
        # for the CDR: counted here, so the figures hold whatever routes the packets.
        self.packets = 0
        self.jitter = 0.0
        self.transit = 0.0
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
        self.octets_sent = 0  # payload bytes the engine sent, for the RTCP SR (RFC 3550 §6.4.1)
        self.tail: bytes | bytearray | None = None
        # RTP clock units the next packet's timestamp is ahead of `tail`'s when the engine sent
        # it (0 between the packets of one RFC 4733 event); -1 when the relay did (its packets
        # are `ts_step` apart).
        self.tail_samples = -1
        # RFC 4733 packets of this payload type go to `event_tap` first; True swallows one.
        self.event_pt = -1
        self.event_tap: Callable[[bytes], bool] | None = None
        # A recorded relayed call's side (media/packet_tap.py): (packet, transit) per packet.
        self.recorded: list[tuple[bytes, float]] | None = None

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.received += 1
        try:
            seq, timestamp, ssrc = _SEQUENCE_TIMESTAMP_SSRC.unpack_from(data)
        except struct.error:
            self.dropped_malformed += 1
            return
        if addr != self.peer and not self._latch(addr, data):
            return
        if ssrc != self.ssrc and not self._new_source(data, ssrc):
            return
        self.packets += 1
        transit = _monotonic() * JITTER_CLOCK_HZ - timestamp
        step = abs(transit - self.transit)
        self.transit = transit
        if step < JITTER_MAX_STEP:  # not the first packet, a wrap or a restart of the sender
            self.jitter += (step - self.jitter) * 0.0625  # RFC 3550 A.8: gain 1/16
        if seq == self.expected_seq:
            self.expected_seq = (seq + 1) & 0xFFFF
        else:
            self._sequence_jump(seq)
        tap = self.event_tap
        if tap is not None and data[1] & 0x7F == self.event_pt and tap(data):
            return
        send = self.send
        if send is None:
            self._drop()
            return
        recorded = self.recorded
        if recorded is not None:
            recorded.append((data, transit))
        if self.remapping:
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
            out.tail_samples = -1
        self.last_sent = None
        self.pending = self.remapping = out is not None

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
            step = out.tail_samples if out.tail_samples >= 0 else self.ts_step
            self.seq_offset = (last_seq + 1 - seq) & 0xFFFF
            self.ts_offset = (last_ts + step - timestamp) & 0xFFFFFFFF
        self.rewrite_ssrc = out.out_ssrc
        self.remapping = bool(self.ssrc != out.out_ssrc or self.seq_offset or self.ts_offset)
        return self.remapping

    def connect(self, out: _Socket) -> None:
        super().connect(out)
        self.pending = self.remapping = True

    def connect_sink(self, sink: PacketSink | None) -> None:
        super().connect_sink(sink)
        self.pending = self.remapping = False

    def disconnect(self) -> None:
        self._hand_over()
        super().disconnect()

    def send_frame(self, payload: bytes, payload_type: int, samples: int, marker: bool) -> bool:
        """Send one frame as the next packet of this socket's outgoing stream."""
        if self.feeder is not None:
            raise ValueError("the endpoint is relayed: the engine cannot send into it")
        transport, remote, endpoint = self.transport, self.remote, self.endpoint
        if (
            transport is None
            or remote is None
            or not self.remote_allowed
            or endpoint is None
            or not endpoint.direction.sends
        ):
            return False
        if self.out_ssrc == _NO_SSRC:
            self.out_ssrc = secrets.randbits(32)
        tail = self.tail
        if tail is None:
            seq, timestamp, marker = secrets.randbits(16), secrets.randbits(32), True
        else:
            last_seq, last_ts = _SEQUENCE_TIMESTAMP.unpack_from(tail, 2)
            seq = (last_seq + 1) & 0xFFFF
            relayed = self.tail_samples < 0
            step = self.ts_step if relayed else self.tail_samples
            timestamp = (last_ts + step) & 0xFFFFFFFF
            marker = marker or relayed  # the first frame after the relay's
        second = (0x80 if marker else 0) | (payload_type & 0x7F)
        packet = _FIXED_HEADER.pack(RTP_VERSION << 6, second, seq, timestamp, self.out_ssrc)
        packet += payload
        protect = self.protect
        try:
            transport.sendto(packet if protect is None else protect(packet), remote)
        except SrtpError:
            self.send_errors += 1
            return False
        self.tail = packet
        self.tail_samples = samples
        self.frames_sent += 1
        self.octets_sent += len(payload)
        return True


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
        rtcp: RtcpSocket,
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
        self._srtp: SrtpContext | None = None
        self.srtp_pending = False  # expect_srtp: nothing is let in until the keys come
        rtp.endpoint = rtcp.endpoint = self
        rtcp.rtp = rtp

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

    @property
    def route(self) -> Route:
        rtp = self._rtp
        if rtp.sink is not None:
            return Route.CONSUMER
        if rtp.out is rtp:
            return Route.ECHO
        return Route.UNROUTED if rtp.out is None else Route.RELAY

    @property
    def ssrc(self) -> int | None:
        """The SSRC of the RTP stream this endpoint receives (None before its first packet)."""
        return None if self._rtp.ssrc == _NO_SSRC else self._rtp.ssrc

    def bridge(self, other: MediaEndpoint) -> None:
        """RELAY: this endpoint's media out of `other` and `other`'s out of this one; whatever
        either was routed to before ends."""
        self._check_open()
        other._check_open()
        if other is self:
            raise ValueError("an endpoint cannot be bridged to itself; use echo()")
        self.unroute()
        other.unroute()
        self._rtp.connect(other._rtp)
        other._rtp.connect(self._rtp)
        self._rtcp.connect(other._rtcp)
        other._rtcp.connect(self._rtcp)

    def echo(self) -> None:
        """ECHO: every RTP packet goes back to where it came from; RTCP is absorbed."""
        self._check_open()
        self.unroute()
        self._rtp.connect(self._rtp)
        self._rtcp.absorb = True

    def deliver(self, sink: PacketSink, rtcp_sink: PacketSink | None = None) -> None:
        """CONSUMER: received RTP goes to `sink`, RTCP to `rtcp_sink` (absorbed if None)."""
        self._check_open()
        self.unroute()
        self._rtp.connect_sink(sink)
        self._rtcp.connect_sink(rtcp_sink)

    def tap_events(self, payload_type: int, tap: Callable[[bytes], bool] | None) -> None:
        """Show the received RFC 4733 packets of `payload_type` to `tap` before they are
        relayed (None: stop); a True from `tap` keeps that packet from the far end. The only
        per-packet cost without a tap is one attribute test."""
        self._rtp.event_pt = payload_type
        self._rtp.event_tap = tap

    def tap_packets(self, packets: list[tuple[bytes, float]] | None) -> None:
        """Append every RTP audio packet this endpoint passes on (relayed, or handed to its
        consumer) to `packets` as (datagram, transit: arrival x 8000 - its timestamp), so a
        recording holds what the other party or the engine got; None stops."""
        self._rtp.recorded = packets

    def unroute(self) -> None:
        """UNROUTED: stop relaying to and from this endpoint (a bridge partner is left
        unrouted too), stop echoing or delivering."""
        for sock in (self._rtp, self._rtcp):
            if sock.feeder is not None:
                sock.feeder.disconnect()
            sock.disconnect()

    def set_direction(self, direction: Direction) -> None:
        self._direction = direction
        self._refresh()

    def send_frame(
        self, payload: bytes, payload_type: int, samples: int, *, marker: bool = False
    ) -> bool:
        """Send one audio frame of `samples` RTP clock ticks to the peer, continuing the
        endpoint's outgoing stream (SSRC, sequence, timestamp); False when nothing may be
        sent (no remote, refused, closed, or our direction does not send).

        `samples` is how far the next packet's timestamp moves on: 0 keeps it, as the packets
        of one RFC 4733 event share the event's start timestamp (RFC 4733 §2.5.1.1)."""
        return self._rtp.send_frame(payload, payload_type, samples, marker)

    @property
    def frame_socket(self) -> _RtpSocket:
        """The RTP socket `send_frame` sends from: media/frame_batch.py continues its stream."""
        return self._rtp

    @property
    def sending_ssrc(self) -> int | None:
        """The SSRC of what the engine sends out of this endpoint (None before its first)."""
        ssrc = self._rtp.out_ssrc
        return None if ssrc == _NO_SSRC else ssrc

    def send_rtcp(self, packet: bytes) -> bool:
        """Send one RTCP compound packet to the peer's RTCP address (the engine's reports);
        False when it may not be sent (no remote, refused, closed)."""
        sock = self._rtcp
        if sock.transport is None or sock.remote is None or not sock.remote_allowed:
            return False
        try:
            sock.transport.sendto(
                packet if sock.protect is None else sock.protect(packet), sock.remote
            )
        except SrtpError:
            sock.send_errors += 1
            return False
        return True

    @property
    def srtp(self) -> SrtpContext | None:
        return self._srtp

    @property
    def secured(self) -> bool:
        """SRTP is on, or held for keys (`expect_srtp`)."""
        return self._srtp is not None or self.srtp_pending

    def expect_srtp(self) -> None:
        """Drop what arrives until `secure` gives the keys: an SRTP offer is out, and the peer
        may send before its answer is read (relayed as it is, it would be protected twice)."""
        self._check_open()
        self.secure(None)
        self.srtp_pending = True
        for sock in (self._rtp, self._rtcp):
            if sock.transport is not None:
                sock.transport.set_protocol(Unprotecting(sock, refuse))

    def secure(self, context: SrtpContext | None) -> None:
        """SRTP/SRTCP with `context` from now on (None: plain RTP again); a re-key replaces it."""
        self._check_open()
        self._srtp = context
        self.srtp_pending = False
        pairs = (
            (self._rtp, (context.protect, context.unprotect) if context else None),
            (self._rtcp, (context.protect_rtcp, context.unprotect_rtcp) if context else None),
        )
        for sock, pair in pairs:
            sock.protect = None if pair is None else pair[0]
            if sock.transport is not None:
                sock.transport.set_protocol(sock if pair is None else Unprotecting(sock, pair[1]))
        self._refresh()

    def _check_open(self) -> None:
        if self._closing:
            raise ValueError(f"media endpoint on port {self.port} is closed")

    def idle_seconds(self, now: float) -> float:
        """Seconds since a packet was last seen, to the resolution of the calls to this."""
        received = self._rtp.received + self._rtcp.received
        if received != self._seen_received:
            self._seen_received = received
            self._active_at = now
        return now - self._active_at

    def media_quality(self) -> LegMediaQuality:
        """Both directions of this leg so far (media/quality.py), for the CDR and /metrics."""
        rtp, rtcp = self._rtp, self._rtcp
        return LegMediaQuality(
            received_quality(rtp.packets, rtp.lost, rtp.jitter),
            reported_quality(rtcp.first_report, rtcp.last_report),
        )

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
        self.unroute()
        for sock in (self._rtp, self._rtcp):
            if sock.transport is not None:
                sock.transport.close()

    def _park(self) -> _ParkedPair:
        """Hand the open sockets back for another call: this endpoint is closed, its port not."""
        self._closing = True
        self.unroute()
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
