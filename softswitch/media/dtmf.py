"""DTMF digits as the call layer gets them, and the RFC 4733 telephone-event receiver.

Every way a digit arrives (RFC 4733 packets here, tones in the audio in `dtmf_inband.py`, SIP
INFO in the call layer) gives the same two typed events: `DigitStarted` as soon as it is known
(a prompt can stop at once) and `DigitEnded` with its duration.

`TelephoneEventReceiver` is sans-IO, one per RTP source (RFC 4733 §2.5.2): an event is
identified by its RTP timestamp; updates of the same timestamp lengthen it; the end bit ends
it, and its usual two retransmissions are counted, not reported again; a packet with a newer
timestamp ends the previous event if its end was lost, and silence for `end_timeout_s` ends
it as well (`next_timer()` / `handle_timer(now)`). Segments of an event longer than the 16-bit
duration field (§2.5.1.3) continue the same digit. Reordered packets of older events are
dropped and counted.

The payload's wire format is `softswitch_codecs.telephone_event`; a payload it refuses
(`MalformedPayloadError`, the remote's fault) is counted here (`malformed`), never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from softswitch.media.reception import signed32
from softswitch_codecs.errors import MalformedPayloadError
from softswitch_codecs.telephone_event import (
    CLOCK_RATE_HZ,
    DTMF_EVENTS,
    MAX_DURATION,
    TelephoneEvent,
)

DIGITS = DTMF_EVENTS  # event code -> digit (RFC 4733 §3.2), for the call layer too

DEFAULT_CLOCK_RATE = CLOCK_RATE_HZ  # telephone-event/8000 (RFC 4733 §7.1.1)
DEFAULT_END_TIMEOUT_S = 0.25  # several lost 50 ms updates in a row (RFC 4733 §2.5.1.2)


class DtmfMethod(Enum):
    RFC4733 = "rfc4733"
    INBAND = "inband"
    SIP_INFO = "info"


class DigitEnd(Enum):
    """Why a digit was known to be over."""

    END_BIT = "end_bit"
    NEXT_EVENT = "next_event"  # a newer event started: the end packets were lost
    TIMEOUT = "timeout"  # nothing more came for end_timeout_s
    TONE_STOPPED = "tone_stopped"  # in-band: the tone pair is gone


@dataclass(frozen=True, slots=True)
class DigitStarted:
    digit: str
    method: DtmfMethod
    at: float


@dataclass(frozen=True, slots=True)
class DigitEnded:
    digit: str
    duration_ms: float
    method: DtmfMethod
    at: float
    end: DigitEnd


DigitEvent = DigitStarted | DigitEnded


class EventState(Enum):
    IDLE = "idle"  # no event seen yet
    ACTIVE = "active"  # an event is on; its end is not known yet
    ENDED = "ended"  # the last event ended; its end may still be retransmitted


class _Input(Enum):
    NEW = "new"  # a packet with a newer timestamp, no end bit
    NEW_ENDED = "new_ended"  # a newer timestamp whose first packet we see has the end bit
    UPDATE = "update"  # the current timestamp, no end bit
    END = "end"  # the current timestamp with the end bit
    TIMEOUT = "timeout"


class _Action(Enum):
    NONE = "none"
    START = "start"
    END = "end"
    START_END = "start_end"  # only the end of a short event arrived
    END_START = "end_start"  # the previous event's end was lost
    END_START_END = "end_start_end"
    RETRANSMISSION = "retransmission"


# The whole state machine: (state, input) -> (next state, what to report). Anything else is a
# bug in the classification below and raises.
_TRANSITIONS: dict[tuple[EventState, _Input], tuple[EventState, _Action]] = {
    (EventState.IDLE, _Input.NEW): (EventState.ACTIVE, _Action.START),
    (EventState.IDLE, _Input.NEW_ENDED): (EventState.ENDED, _Action.START_END),
    (EventState.ACTIVE, _Input.UPDATE): (EventState.ACTIVE, _Action.NONE),
    (EventState.ACTIVE, _Input.END): (EventState.ENDED, _Action.END),
    (EventState.ACTIVE, _Input.NEW): (EventState.ACTIVE, _Action.END_START),
    (EventState.ACTIVE, _Input.NEW_ENDED): (EventState.ENDED, _Action.END_START_END),
    (EventState.ACTIVE, _Input.TIMEOUT): (EventState.ENDED, _Action.END),
    (EventState.ENDED, _Input.NEW): (EventState.ACTIVE, _Action.START),
    (EventState.ENDED, _Input.NEW_ENDED): (EventState.ENDED, _Action.START_END),
    (EventState.ENDED, _Input.END): (EventState.ENDED, _Action.RETRANSMISSION),
    (EventState.ENDED, _Input.UPDATE): (EventState.ENDED, _Action.NONE),  # reordered
}


class TelephoneEventReceiver:
    """RFC 4733 §2.5.2 reception for one RTP source: packets in, digit events out."""

    def __init__(
        self,
        clock_rate: int = DEFAULT_CLOCK_RATE,
        end_timeout_s: float = DEFAULT_END_TIMEOUT_S,
    ) -> None:
        self.clock_rate = clock_rate
        self.end_timeout_s = end_timeout_s
        self.state = EventState.IDLE
        self._timestamp = 0  # RTP timestamp of the current (or last) event
        self._event = -1
        self._base = 0  # units of earlier segments of a long event (§2.5.1.3)
        self._duration = 0  # units of the current segment, the largest seen
        self._last_packet_at = 0.0
        self.digits = 0
        self.retransmitted_ends = 0
        self.stale = 0
        self.unsupported = 0
        self.malformed = 0

    def receive(self, payload: bytes, timestamp: int, now: float) -> list[DigitEvent]:
        """One telephone-event RTP packet (its payload and RTP timestamp) arrived at `now`."""
        try:
            packet = TelephoneEvent.parse(payload)
        except MalformedPayloadError:
            self.malformed += 1
            return []
        if packet.event >= len(DIGITS):
            self.unsupported += 1  # flash and the tones of RFC 4734: not digits
            return []
        if self.state is EventState.IDLE:
            kind = _Input.NEW_ENDED if packet.end else _Input.NEW
        else:
            age = signed32(timestamp - self._timestamp)
            if age < 0:
                self.stale += 1  # a packet of an older event, reordered
                return []
            if age > 0 and self._continues(packet, age):
                # The next segment of a long event: same digit, a new timestamp.
                self._base += age
                self._timestamp = timestamp
                self._duration = 0
                age = 0
            if age == 0:
                kind = _Input.END if packet.end else _Input.UPDATE
            else:
                kind = _Input.NEW_ENDED if packet.end else _Input.NEW
        previous = (DIGITS[self._event] if self._event >= 0 else "", self._total_ms())
        if kind in (_Input.NEW, _Input.NEW_ENDED):
            self._timestamp = timestamp
            self._event = packet.event
            self._base = 0
            self._duration = packet.duration
        elif self.state is EventState.ACTIVE:
            self._duration = max(self._duration, packet.duration)
        self._last_packet_at = now
        return self._step(kind, now, previous)

    def _continues(self, packet: TelephoneEvent, age: int) -> bool:
        return (
            self.state is EventState.ACTIVE
            and packet.event == self._event
            and self._duration >= MAX_DURATION - 2 * self.clock_rate // 50
            and abs(age - self._duration) <= self.clock_rate // 10
        )

    def _total_ms(self) -> float:
        return 1000.0 * (self._base + self._duration) / self.clock_rate

    def next_timer(self) -> float | None:
        """When the current event ends for lack of packets, if one is on."""
        if self.state is EventState.ACTIVE:
            return self._last_packet_at + self.end_timeout_s
        return None

    def handle_timer(self, now: float) -> list[DigitEvent]:
        deadline = self.next_timer()
        if deadline is None or now < deadline:
            return []
        digit = (DIGITS[self._event], self._total_ms())
        return self._step(_Input.TIMEOUT, now, digit)

    def _step(self, kind: _Input, now: float, previous: tuple[str, float]) -> list[DigitEvent]:
        try:
            self.state, action = _TRANSITIONS[(self.state, kind)]
        except KeyError:
            raise AssertionError(f"no RFC 4733 transition from {self.state} on {kind}") from None
        digit = DIGITS[self._event]
        method = DtmfMethod.RFC4733
        events: list[DigitEvent] = []
        if action in (_Action.END_START, _Action.END_START_END):
            events.append(DigitEnded(previous[0], previous[1], method, now, DigitEnd.NEXT_EVENT))
        if action in (_Action.START, _Action.START_END, _Action.END_START, _Action.END_START_END):
            self.digits += 1
            events.append(DigitStarted(digit, method, now))
        if action in (_Action.START_END, _Action.END_START_END, _Action.END):
            end = DigitEnd.TIMEOUT if kind is _Input.TIMEOUT else DigitEnd.END_BIT
            events.append(DigitEnded(digit, self._total_ms(), method, now, end))
        if action is _Action.RETRANSMISSION:
            self.retransmitted_ends += 1
        return events
