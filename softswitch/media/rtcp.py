"""Sans-IO RTCP (RFC 3550 §6): sender and receiver reports, SDES, BYE, APP, parsed and built.

A datagram is a compound packet (§6.1): `RtcpCompound.parse(data)` splits it into typed packets
(`SenderReport`, `ReceiverReport`, `SourceDescription`, `Goodbye`, `AppDefined`, and
`UnknownRtcp` for feedback and XR types we only pass over) and `serialize()` builds it again.
The first packet is not required to be SR or RR: RFC 5506 reduced-size RTCP is read as well.
`report_compound(...)` builds what the switch sends every interval: SR or RR plus SDES CNAME.

Times on the wire are NTP timestamps (§4): `ntp_timestamp(unix_s)` converts a wall-clock time
passed in, `round_trip_s(block, unix_s)` is the §6.4.1 round trip from a report block that
answers one of our SRs.

Errors::

    RtcpParseError(ValueError)   the bytes are not well-formed RTCP (remote's fault)
    ValueError                   serialize() was given fields that do not fit (local bug)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

RTCP_VERSION = 2  # RFC 3550 §6.4.1
HEADER_SIZE = 4  # RFC 3550 §6.4.1: V, P, RC, PT, length
REPORT_BLOCK_SIZE = 24  # RFC 3550 §6.4.1
MAX_COUNT = 31  # RFC 3550 §6.4.1: RC/SC is 5 bits
NTP_UNIX_OFFSET_S = 2_208_988_800  # RFC 868: seconds from 1900-01-01 to 1970-01-01

PT_SR = 200  # RFC 3550 §12.1
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
PT_APP = 204

SDES_CNAME = 1  # RFC 3550 §6.5.1
MAX_SDES_TEXT = 255  # RFC 3550 §6.5: one length octet

_HEADER = struct.Struct("!BBH")
_SSRC = struct.Struct("!I")
_SENDER_INFO = struct.Struct("!IQIII")
_REPORT_BLOCK = struct.Struct("!IIIIII")


class RtcpParseError(ValueError):
    """The bytes are not well-formed RTCP."""


def _header(packet_type: int, count: int, body_size: int, padding: bool = False) -> bytes:
    if not 0 <= count <= MAX_COUNT:
        raise ValueError(f"RTCP count {count} does not fit in 5 bits")
    if body_size % 4:
        raise ValueError("RTCP packet bodies are whole 32-bit words")
    first = RTCP_VERSION << 6 | (0x20 if padding else 0) | count
    return _HEADER.pack(first, packet_type, body_size // 4)


def _pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """Reception statistics about one source (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int  # lost/expected since the last report, times 256
    cumulative_lost: int  # signed 24 bits: duplicates can make it negative
    highest_sequence: int  # extended: cycles << 16 | highest sequence number
    jitter: int  # interarrival jitter in timestamp units (§6.4.1, A.8)
    last_sr: int  # middle 32 bits of the NTP timestamp of the last SR from the source
    delay_since_last_sr: int  # units of 1/65536 s

    @classmethod
    def parse(cls, data: bytes | memoryview, offset: int = 0) -> Self:
        if len(data) - offset < REPORT_BLOCK_SIZE:
            raise RtcpParseError("RTCP report block truncated")
        ssrc, lost_word, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        cumulative = lost_word & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        return cls(ssrc, lost_word >> 24, cumulative, highest, jitter, lsr, dlsr)

    def serialize(self) -> bytes:
        if not 0 <= self.fraction_lost <= 255:
            raise ValueError("fraction_lost is 8 bits")
        if not -0x800000 <= self.cumulative_lost <= 0x7FFFFF:
            raise ValueError("cumulative_lost is a signed 24-bit number")
        lost_word = self.fraction_lost << 24 | (self.cumulative_lost & 0xFFFFFF)
        return _REPORT_BLOCK.pack(
            self.ssrc,
            lost_word,
            self.highest_sequence,
            self.jitter,
            self.last_sr,
            self.delay_since_last_sr,
        )


def _parse_blocks(body: memoryview, offset: int, count: int) -> tuple[ReportBlock, ...]:
    if len(body) - offset < count * REPORT_BLOCK_SIZE:
        raise RtcpParseError(f"RTCP report too short for {count} report blocks")
    return tuple(ReportBlock.parse(body, offset + i * REPORT_BLOCK_SIZE) for i in range(count))


@dataclass(frozen=True, slots=True)
class SenderInfo:
    """The sender's half of an SR: what it sent, and when by both clocks (RFC 3550 §6.4.1)."""

    ntp_timestamp: int  # 64-bit NTP: seconds since 1900 in the high word
    rtp_timestamp: int
    packet_count: int
    octet_count: int


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR, packet type 200 (RFC 3550 §6.4.1)."""

    packet_type: ClassVar[int] = PT_SR
    ssrc: int
    sender: SenderInfo
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""  # profile-specific, whole words (§6.4.1)

    @classmethod
    def parse_body(cls, count: int, body: memoryview) -> Self:
        if len(body) < 24:
            raise RtcpParseError("RTCP SR shorter than its sender info")
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body, 0)
        reports = _parse_blocks(body, 24, count)
        extension = bytes(body[24 + count * REPORT_BLOCK_SIZE :])
        return cls(ssrc, SenderInfo(ntp, rtp_ts, packets, octets), reports, extension)

    def serialize(self) -> bytes:
        info = self.sender
        body = b"".join(
            (
                _SENDER_INFO.pack(
                    self.ssrc,
                    info.ntp_timestamp,
                    info.rtp_timestamp,
                    info.packet_count,
                    info.octet_count,
                ),
                *(block.serialize() for block in self.reports),
                self.extension,
            )
        )
        return _header(PT_SR, len(self.reports), len(body)) + body


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR, packet type 201 (RFC 3550 §6.4.2)."""

    packet_type: ClassVar[int] = PT_RR
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    @classmethod
    def parse_body(cls, count: int, body: memoryview) -> Self:
        if len(body) < 4:
            raise RtcpParseError("RTCP RR shorter than its SSRC")
        (ssrc,) = _SSRC.unpack_from(body, 0)
        reports = _parse_blocks(body, 4, count)
        return cls(ssrc, reports, bytes(body[4 + count * REPORT_BLOCK_SIZE :]))

    def serialize(self) -> bytes:
        body = b"".join(
            (_SSRC.pack(self.ssrc), *(block.serialize() for block in self.reports), self.extension)
        )
        return _header(PT_RR, len(self.reports), len(body)) + body


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """One source's items (RFC 3550 §6.5): (item type, text) pairs, CNAME being type 1."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...]

    @property
    def cname(self) -> bytes | None:
        return next((text for kind, text in self.items if kind == SDES_CNAME), None)


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES, packet type 202 (RFC 3550 §6.5)."""

    packet_type: ClassVar[int] = PT_SDES
    chunks: tuple[SdesChunk, ...]

    @classmethod
    def parse_body(cls, count: int, body: memoryview) -> Self:
        chunks: list[SdesChunk] = []
        offset = 0
        for _ in range(count):
            if len(body) - offset < 4:
                raise RtcpParseError("RTCP SDES chunk truncated")
            (ssrc,) = _SSRC.unpack_from(body, offset)
            offset += 4
            items: list[tuple[int, bytes]] = []
            while True:
                if offset >= len(body):
                    raise RtcpParseError("RTCP SDES chunk has no terminating null item")
                kind = body[offset]
                if kind == 0:
                    # The null item ends the chunk; nulls pad it to a word boundary (§6.5).
                    offset = (offset + 4) & ~3
                    break
                if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                    raise RtcpParseError("RTCP SDES item runs past the packet")
                size = body[offset + 1]
                items.append((kind, bytes(body[offset + 2 : offset + 2 + size])))
                offset += 2 + size
            chunks.append(SdesChunk(ssrc, tuple(items)))
        if offset > len(body):
            raise RtcpParseError("RTCP SDES chunk padding runs past the packet")
        return cls(tuple(chunks))

    def serialize(self) -> bytes:
        parts: list[bytes] = []
        for chunk in self.chunks:
            encoded = [_SSRC.pack(chunk.ssrc)]
            for kind, text in chunk.items:
                if not 1 <= kind <= 255 or len(text) > MAX_SDES_TEXT:
                    raise ValueError("SDES items have a type 1..255 and at most 255 octets")
                encoded.append(bytes((kind, len(text))) + text)
            # At least one null octet ends the item list, then pad to a word (§6.5).
            raw = b"".join(encoded) + b"\x00"
            parts.append(_pad4(raw))
        body = b"".join(parts)
        return _header(PT_SDES, len(self.chunks), len(body)) + body


@dataclass(frozen=True, slots=True)
class Goodbye:
    """BYE, packet type 203 (RFC 3550 §6.6): these sources leave, with an optional reason."""

    packet_type: ClassVar[int] = PT_BYE
    ssrcs: tuple[int, ...]
    reason: bytes | None = None

    @classmethod
    def parse_body(cls, count: int, body: memoryview) -> Self:
        if len(body) < 4 * count:
            raise RtcpParseError(f"RTCP BYE too short for {count} SSRCs")
        ssrcs = struct.unpack_from(f"!{count}I", body, 0)
        offset = 4 * count
        reason = None
        if offset < len(body):
            size = body[offset]
            if offset + 1 + size > len(body):
                raise RtcpParseError("RTCP BYE reason runs past the packet")
            reason = bytes(body[offset + 1 : offset + 1 + size])
        return cls(ssrcs, reason)

    def serialize(self) -> bytes:
        body = struct.pack(f"!{len(self.ssrcs)}I", *self.ssrcs)
        if self.reason is not None:
            if len(self.reason) > MAX_SDES_TEXT:
                raise ValueError("a BYE reason is at most 255 octets")
            body += _pad4(bytes((len(self.reason),)) + self.reason)
        return _header(PT_BYE, len(self.ssrcs), len(body)) + body


@dataclass(frozen=True, slots=True)
class AppDefined:
    """APP, packet type 204 (RFC 3550 §6.7)."""

    packet_type: ClassVar[int] = PT_APP
    subtype: int
    ssrc: int
    name: bytes  # four ASCII octets
    data: bytes = b""

    @classmethod
    def parse_body(cls, count: int, body: memoryview) -> Self:
        if len(body) < 8:
            raise RtcpParseError("RTCP APP shorter than its SSRC and name")
        (ssrc,) = _SSRC.unpack_from(body, 0)
        return cls(count, ssrc, bytes(body[4:8]), bytes(body[8:]))

    def serialize(self) -> bytes:
        if len(self.name) != 4:
            raise ValueError("an APP name is four octets")
        body = _SSRC.pack(self.ssrc) + self.name + self.data
        return _header(PT_APP, self.subtype, len(body)) + body


@dataclass(frozen=True, slots=True)
class UnknownRtcp:
    """A packet type we carry but do not read (RTPFB, PSFB, XR, ...): kept byte for byte."""

    packet_type: int
    count: int
    body: bytes

    def serialize(self) -> bytes:
        return _header(self.packet_type, self.count, len(self.body)) + self.body


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | AppDefined | UnknownRtcp

_PARSERS: dict[
    int,
    type[SenderReport]
    | type[ReceiverReport]
    | type[SourceDescription]
    | type[Goodbye]
    | type[AppDefined],
] = {
    PT_SR: SenderReport,
    PT_RR: ReceiverReport,
    PT_SDES: SourceDescription,
    PT_BYE: Goodbye,
    PT_APP: AppDefined,
}


@dataclass(frozen=True, slots=True)
class RtcpCompound:
    """One RTCP datagram: packets stacked back to back (RFC 3550 §6.1)."""

    packets: tuple[RtcpPacket, ...]

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        view = memoryview(data)
        if len(view) < HEADER_SIZE:
            raise RtcpParseError(f"RTCP datagram of {len(view)} bytes is shorter than 4")
        packets: list[RtcpPacket] = []
        offset = 0
        while offset < len(view):
            if len(view) - offset < HEADER_SIZE:
                raise RtcpParseError("RTCP datagram ends inside a packet header")
            first, packet_type, words = _HEADER.unpack_from(view, offset)
            if first >> 6 != RTCP_VERSION:
                raise RtcpParseError(f"RTCP version {first >> 6}, expected 2")
            end = offset + HEADER_SIZE + 4 * words
            if end > len(view):
                raise RtcpParseError("RTCP packet length runs past the datagram")
            body = view[offset + HEADER_SIZE : end]
            if first & 0x20:
                # Only the last packet of a compound may be padded (RFC 3550 A.2).
                if end != len(view):
                    raise RtcpParseError("RTCP padding on a packet that is not the last")
                padding = body[-1] if len(body) else 0
                if padding == 0 or padding > len(body):
                    raise RtcpParseError(f"RTCP padding of {padding} bytes does not fit")
                body = body[: len(body) - padding]
            count = first & 0x1F
            parser = _PARSERS.get(packet_type)
            packet: RtcpPacket
            if parser is None:
                packet = UnknownRtcp(packet_type, count, bytes(body))
            else:
                packet = parser.parse_body(count, body)
            packets.append(packet)
            offset = end
        return cls(tuple(packets))

    def serialize(self) -> bytes:
        return b"".join(packet.serialize() for packet in self.packets)

    def first(self, kind: type[RtcpPacket]) -> RtcpPacket | None:
        """The first packet of this type, e.g. `first(SenderReport)`."""
        return next((packet for packet in self.packets if isinstance(packet, kind)), None)


def report_compound(
    ssrc: int,
    cname: bytes,
    reports: tuple[ReportBlock, ...] = (),
    sender: SenderInfo | None = None,
) -> RtcpCompound:
    """What a participant sends each interval (RFC 3550 §6.1): SR when it sent media, else RR,
    then SDES with its CNAME."""
    report: RtcpPacket = (
        ReceiverReport(ssrc, reports) if sender is None else SenderReport(ssrc, sender, reports)
    )
    return RtcpCompound((report, SourceDescription((SdesChunk(ssrc, ((SDES_CNAME, cname),)),))))


def ntp_timestamp(unix_s: float) -> int:
    """64-bit NTP timestamp (RFC 3550 §4) of a wall-clock time in seconds since 1970."""
    return round((unix_s + NTP_UNIX_OFFSET_S) * (1 << 32)) & 0xFFFF_FFFF_FFFF_FFFF


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: what LSR carries (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFF_FFFF


def round_trip_s(block: ReportBlock, unix_s: float) -> float | None:
    """Round trip to the reporter (RFC 3550 §6.4.1: A - LSR - DLSR), or None without an SR."""
    if block.last_sr == 0:
        return None
    arrival = ntp_middle(ntp_timestamp(unix_s))
    units = (arrival - block.last_sr - block.delay_since_last_sr) & 0xFFFF_FFFF
    if units & 0x8000_0000:
        return None  # negative: the clocks or the report are wrong
    return units / 65536.0
