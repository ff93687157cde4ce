"""Sans-IO RTP fixed header (RFC 3550 §5.1): parse, serialise, and rewrite in place.

`RtpHeader.parse(data)` reads the fixed header, the CSRC list and the header extension
(§5.3.1); `RtpPacket.parse(data)` also splits off the payload and strips padding. Both raise
`RtpParseError` and nothing else on bad input.

`rewrite_header(buf, sequence, timestamp, ssrc)` and its single-field siblings patch a
`bytearray` in place with `struct.pack_into`: the relay uses them to keep one SSRC with
continuous sequence numbers and timestamps when the source behind a leg changes.

Errors::

    RtpParseError(ValueError)   the bytes are not an RTP version 2 packet (remote's fault)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Self

RTP_VERSION = 2  # RFC 3550 §5.1
FIXED_HEADER_SIZE = 12  # RFC 3550 §5.1
MAX_CSRC = 15  # RFC 3550 §5.1: the CC field is 4 bits

_FIXED = struct.Struct("!BBHII")
_EXTENSION = struct.Struct("!HH")
_SEQUENCE = struct.Struct("!H")
_WORD = struct.Struct("!I")
_SEQUENCE_TIMESTAMP_SSRC = struct.Struct("!HII")


class RtpParseError(ValueError):
    """The bytes are not a well-formed RTP version 2 packet."""


@dataclass(frozen=True, slots=True)
class RtpHeader:
    """The RTP header of RFC 3550 §5.1, with the CSRC list and the §5.3.1 extension."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool = False
    padding: bool = False
    csrcs: tuple[int, ...] = ()
    # RFC 3550 §5.3.1: 16 bits defined by profile, then a whole number of 32-bit words.
    extension_profile: int | None = None
    extension_data: bytes = b""

    @property
    def size(self) -> int:
        """Bytes the header occupies on the wire: where the payload starts."""
        size = FIXED_HEADER_SIZE + 4 * len(self.csrcs)
        if self.extension_profile is not None:
            size += 4 + len(self.extension_data)
        return size

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        if len(data) < FIXED_HEADER_SIZE:
            raise RtpParseError(f"RTP packet of {len(data)} bytes is shorter than 12")
        first, second, sequence, timestamp, ssrc = _FIXED.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise RtpParseError(f"RTP version {first >> 6}, expected 2")
        csrc_count = first & 0x0F
        offset = FIXED_HEADER_SIZE + 4 * csrc_count
        if len(data) < offset:
            raise RtpParseError(f"RTP packet too short for {csrc_count} CSRCs")
        csrcs = struct.unpack_from(f"!{csrc_count}I", data, FIXED_HEADER_SIZE)
        extension_profile = None
        extension_data = b""
        if first & 0x10:
            if len(data) < offset + 4:
                raise RtpParseError("RTP packet too short for its header extension")
            extension_profile, words = _EXTENSION.unpack_from(data, offset)
            end = offset + 4 + 4 * words
            if len(data) < end:
                raise RtpParseError("RTP header extension runs past the packet")
            extension_data = bytes(data[offset + 4 : end])
        return cls(
            payload_type=second & 0x7F,
            sequence=sequence,
            timestamp=timestamp,
            ssrc=ssrc,
            marker=bool(second & 0x80),
            padding=bool(first & 0x20),
            csrcs=csrcs,
            extension_profile=extension_profile,
            extension_data=extension_data,
        )

    def serialize(self) -> bytes:
        if len(self.csrcs) > MAX_CSRC:
            raise ValueError(f"at most {MAX_CSRC} CSRCs fit in an RTP header")
        if len(self.extension_data) % 4:
            raise ValueError("RTP header extension data must be whole 32-bit words")
        has_extension = self.extension_profile is not None
        first = (
            RTP_VERSION << 6
            | (0x20 if self.padding else 0)
            | (0x10 if has_extension else 0)
            | len(self.csrcs)
        )
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [_FIXED.pack(first, second, self.sequence, self.timestamp, self.ssrc)]
        parts.extend(_WORD.pack(csrc) for csrc in self.csrcs)
        if self.extension_profile is not None:
            words = len(self.extension_data) // 4
            parts.append(_EXTENSION.pack(self.extension_profile, words))
            parts.append(self.extension_data)
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """A whole RTP packet: header, payload, and the padding length (RFC 3550 §5.1, P bit)."""

    header: RtpHeader
    payload: bytes
    padding_size: int = 0

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        header = RtpHeader.parse(data)
        end = len(data)
        padding_size = 0
        if header.padding:
            # The last octet counts the padding octets, itself included (RFC 3550 §5.1).
            padding_size = data[-1]
            if padding_size == 0 or header.size + padding_size > end:
                raise RtpParseError(f"RTP padding of {padding_size} bytes does not fit")
            end -= padding_size
        return cls(header, bytes(data[header.size : end]), padding_size)

    def serialize(self) -> bytes:
        if self.header.padding != (self.padding_size > 0) or self.padding_size > 255:
            raise ValueError("padding_size must be 1..255 exactly when the P bit is set")
        padding = (
            bytes(self.padding_size - 1) + bytes((self.padding_size,)) if self.padding_size else b""
        )
        return self.header.serialize() + self.payload + padding


def rewrite_header(buf: bytearray, sequence: int, timestamp: int, ssrc: int) -> None:
    """Overwrite sequence number, timestamp and SSRC of the RTP packet in `buf`."""
    _SEQUENCE_TIMESTAMP_SSRC.pack_into(buf, 2, sequence, timestamp, ssrc)


def set_sequence(buf: bytearray, sequence: int) -> None:
    _SEQUENCE.pack_into(buf, 2, sequence)


def set_timestamp(buf: bytearray, timestamp: int) -> None:
    _WORD.pack_into(buf, 4, timestamp)


def set_ssrc(buf: bytearray, ssrc: int) -> None:
    _WORD.pack_into(buf, 8, ssrc)


def set_marker(buf: bytearray) -> None:
    """Mark the packet as the start of a talkspurt, so receivers re-sync playout (RFC 3551 §4.1)."""
    buf[1] |= 0x80
