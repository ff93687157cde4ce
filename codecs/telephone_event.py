"""The RFC 4733 telephone-event payload: which DTMF key, whether it has ended, level, duration.

    0                   1                   2                   3
    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
   |     event     |E|R| volume    |          duration             |
   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

This module is the wire format only (RFC 4733 §2.3); the per-stream receiver that counts an
event once across its retransmissions lives with the engine's DTMF code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final, Self

from softswitch_codecs.errors import CodecUsageError, MalformedPayloadError

ENCODING_NAME: Final = "telephone-event"
CLOCK_RATE_HZ: Final = 8000
PAYLOAD_BYTES: Final = 4
MAX_EVENT: Final = 255
MAX_VOLUME: Final = 63  # 6 bits, power level in −dBm0 (RFC 4733 §2.3.4)
MAX_DURATION: Final = 0xFFFF  # timestamp units; longer events are split (RFC 4733 §2.5.1.3)

# RFC 4733 §3.2 table 7: DTMF named events.
DTMF_EVENTS: Final = "0123456789*#ABCD"
FLASH_EVENT: Final = 16
_STRUCT: Final = struct.Struct("!BBH")
_END_BIT: Final = 0x80
_RESERVED_BIT: Final = 0x40


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One telephone-event block; `duration` is in RTP timestamp units since the event began."""

    event: int
    end: bool
    volume: int
    duration: int

    def __post_init__(self) -> None:
        if not 0 <= self.event <= MAX_EVENT:
            raise CodecUsageError(f"event {self.event} is outside 0..{MAX_EVENT}")
        if not 0 <= self.volume <= MAX_VOLUME:
            raise CodecUsageError(f"volume {self.volume} is outside 0..{MAX_VOLUME}")
        if not 0 <= self.duration <= MAX_DURATION:
            raise CodecUsageError(f"duration {self.duration} is outside 0..{MAX_DURATION}")

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """The first event block of a payload; a packed payload (RFC 4733 §2.5.1.5) carries more."""
        if len(data) < PAYLOAD_BYTES:
            raise MalformedPayloadError(
                f"telephone-event payload is {PAYLOAD_BYTES} bytes, got {len(data)}"
            )
        event, flags, duration = _STRUCT.unpack_from(data)
        # The R bit is reserved: senders must clear it, receivers must ignore it (§2.3.3).
        return cls(event, bool(flags & _END_BIT), flags & MAX_VOLUME, duration)

    @classmethod
    def parse_all(cls, data: bytes) -> list[Self]:
        """Every block of a packed payload, in order (RFC 4733 §2.5.1.5: consecutive events)."""
        if not data or len(data) % PAYLOAD_BYTES:
            raise MalformedPayloadError(
                f"telephone-event payload is a multiple of {PAYLOAD_BYTES} bytes, got {len(data)}"
            )
        return [cls.parse(data[i : i + PAYLOAD_BYTES]) for i in range(0, len(data), PAYLOAD_BYTES)]

    def serialize(self) -> bytes:
        flags = (_END_BIT if self.end else 0) | self.volume
        return _STRUCT.pack(self.event, flags, self.duration)

    @property
    def digit(self) -> str | None:
        """The DTMF key this event is ('0'…'9', '*', '#', 'A'…'D'), None for any other event."""
        return DTMF_EVENTS[self.event] if self.event < len(DTMF_EVENTS) else None


def event_for_digit(digit: str) -> int:
    """The event code of a DTMF key (RFC 4733 §3.2); raises for anything else."""
    index = DTMF_EVENTS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise CodecUsageError(f"{digit!r} is not a DTMF key ({DTMF_EVENTS})")
    return index
