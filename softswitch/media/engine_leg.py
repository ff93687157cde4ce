"""One leg in the tick path: what the engine keeps per endpoint between ticks.

Per packet (`EngineLeg.rtp_received`, the endpoint's CONSUMER sink) only the 12-byte header is
read and the payload queued: audio into the leg's jitter buffer, telephone-event payloads into
its RFC 4733 receiver, RTCP into its report state. Everything else waits for the tick.

Per tick the engine pops the jitter buffer, decodes and sends; what leaves the leg is one stream
(the endpoint keeps SSRC, sequence and timestamp continuous across the relay and the engine).
Packets follow the peer's `a=ptime` (10 to 60 ms in 10 ms steps); without one, the length of
the packets the peer sends (many phones, pjsua2 among them, send 30 ms without saying so), 20
ms until it sent any: a tick's encoded frame is cut into two 10 ms packets, or queued until a
30 or 40 ms packet is full (two 30 ms packets every three ticks). What is queued goes out
before a digit's events or when the audio stops, so the timestamps stay continuous.
RFC 4733 digits queued with `send_digit` go out as events in place of audio, one update per
tick, the end packet three times (RFC 4733 §2.5.1.4), then audio resumes at the timestamp the
event's duration reached.

Malformed input is counted, never raised: the network cannot stop a tick.
"""

from __future__ import annotations

import secrets
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from softswitch.media.dtmf import DigitEvent, TelephoneEventReceiver
from softswitch.media.endpoint import MediaEndpoint
from softswitch.media.jitter import JitterBuffer
from softswitch.media.rtcp import (
    ReceiverReport,
    RtcpCompound,
    RtcpParseError,
    SenderReport,
    ntp_middle,
    round_trip_s,
)
from softswitch_codecs.telephone_event import TelephoneEvent, event_for_digit

_HEADER = struct.Struct("!BBHII")  # RFC 3550 §5.1
_EXTENSION_LENGTH = struct.Struct("!2xH")
FIXED_HEADER = 12
END_RETRANSMISSIONS = 3  # RFC 4733 §2.5.1.4: the final packet is sent three times
DEFAULT_DIGIT_MS = 100  # long enough for every receiver, short enough for a fast IVR
DEFAULT_DIGIT_GAP_MS = 60  # silence between two queued digits
DIGIT_VOLUME = 10  # −10 dBm0, RFC 4733 §2.3.4's typical level
FILL_BYTE = {"PCMU": 0xFF, "PCMA": 0xD5}  # the codec's silence, for partly lost ticks
DEFAULT_PTIME_MS = 20  # RFC 3551 §4.5: G.711's default packetisation, and the tick
PTIMES_MS = (10, 20, 30, 40, 50, 60)  # what the engine sends; others fall back to 20


def packet_ms(ptime_ms: int | None) -> int | None:
    """The packet length the engine sends for a peer's `a=ptime` (RFC 4566 §6: what it wants
    to receive); None without one (or one the engine does not send): follow the peer's."""
    return ptime_ms if ptime_ms in PTIMES_MS else None


class DtmfDetection(Enum):
    """How digits from a leg are found, beside SIP INFO which the call layer reads.

    RFC4733 listens to telephone-event packets (when the SDP negotiated them); INBAND also
    runs the Goertzel detector over the decoded audio (gateways that send tones as audio).
    """

    RFC4733 = "rfc4733"
    INBAND = "inband"


@dataclass(frozen=True, slots=True)
class LegCodec:
    """What the SDP negotiated for a leg: the voice codec and the telephone-event type."""

    name: str  # SDP encoding name, as the codec registry knows it (PCMU, PCMA, G722)
    payload_type: int
    event_payload_type: int | None = None  # RFC 4733 telephone-event/8000, None if not agreed
    ptime_ms: int | None = None  # the peer's a=ptime (`packet_ms`); None: as the peer sends


@dataclass(frozen=True, slots=True)
class LegQuality:
    """What a leg's reception was like, for the CDR and /metrics when the call ends."""

    packets: int
    expected: int
    lost: int
    loss_ratio: float
    jitter_ms: float  # RFC 3550 A.8 interarrival jitter of the current source
    round_trip_ms: float | None  # from the peer's RTCP reports about us, when it sent any
    jitter_buffer_ms: float
    rtcp_received: int
    rtcp_sent: int


class _DigitSender:
    """RFC 4733 §2.5.1 events of queued digits, one packet per tick."""

    __slots__ = ("elapsed", "gap", "queue")

    def __init__(self) -> None:
        # (event, duration in 8 kHz units, ticks of audio after it before the next digit)
        self.queue: deque[tuple[int, int, int]] = deque()
        self.elapsed = -1  # units of the current event sent so far; -1 when none is on
        self.gap = 0  # ticks of audio still due before the next digit

    @property
    def active(self) -> bool:
        return self.elapsed >= 0 or (bool(self.queue) and self.gap == 0)


class EngineLeg:
    """An endpoint the engine has taken: its buffers, detectors, and what it sends."""

    def __init__(
        self,
        endpoint: MediaEndpoint,
        codec: LegCodec,
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        jitter: JitterBuffer,
        detection: DtmfDetection,
        on_digit: Callable[[DigitEvent], None] | None,
        frame_units: int,
        events: TelephoneEventReceiver | None = None,
        digit_watch: set[EngineLeg] | None = None,
    ) -> None:
        """`digit_watch` is the engine's set of legs whose digits it must look at this tick:
        a leg joins it when an RFC 4733 packet or an in-band digit arrives."""
        self.endpoint = endpoint
        self.codec = codec
        self.detection = detection
        self.on_digit = on_digit
        self.row = -1  # index in this tick's arrays; set by the engine
        self.inband_slot: int | None = None
        self.jitter = jitter
        if events is None and codec.event_payload_type is not None:
            events = TelephoneEventReceiver()
        # The engine passes the endpoint's receiver, shared by every leg taken on it.
        self.events = events if codec.event_payload_type is not None else None
        self._leaving = False
        # The engine's batched send (media/frame_batch.py) takes this leg's audio as it is:
        # no digit being sent or due, no part of a packet queued, not released.
        self.plain = True
        self.digits: list[DigitEvent] = []  # found since the last tick, delivered at the tick
        self.digit_watch: set[EngineLeg] = set() if digit_watch is None else digit_watch
        self._clock = clock
        self._wall_clock = wall_clock
        self._frame_units = frame_units
        self._sender = _DigitSender()
        self.other_payloads = 0  # packets of a payload type the SDP did not agree
        self.malformed = 0
        self.rtcp_received = 0
        self.rtcp_sent = 0
        self._sent_before = endpoint.frame_socket.frames_sent  # what earlier legs sent
        self.round_trip_s: float | None = None
        self.report_ssrc = secrets.randbits(32)  # our RR's SSRC before we have sent audio
        # Encoded audio not sent yet (ptime above the tick), and the RTP units of a packet.
        self._pending = b""
        self._bytes_per_unit = 1
        ptime = packet_ms(codec.ptime_ms)
        self._fixed_units = None if ptime is None else frame_units * ptime // DEFAULT_PTIME_MS

    @property
    def leaving(self) -> bool:
        """Released: its row goes at the end of the current tick, and it sends nothing more."""
        return self._leaving

    @leaving.setter
    def leaving(self, value: bool) -> None:
        self._leaving = value
        self._update_plain()

    @property
    def frames_sent(self) -> int:
        """RTP packets sent toward the peer since this leg was taken (audio and events)."""
        return self.endpoint.frame_socket.frames_sent - self._sent_before

    def _update_plain(self) -> None:
        sender = self._sender
        self.plain = not (
            self._leaving or self._pending or sender.queue or sender.elapsed >= 0 or sender.gap
        )

    @property
    def tick_packets(self) -> bool:
        """Each audio packet is one tick's frame (the batched send's packet)."""
        fixed = self._fixed_units
        if fixed is not None:
            return fixed == self._frame_units
        # A length `packet_units` would not send gives False: the per-leg path decides.
        return self.jitter.packet_units == self._frame_units

    # ---- per packet ----------------------------------------------------------------------
    def rtp_received(self, data: bytes, endpoint: MediaEndpoint) -> None:
        """The endpoint's CONSUMER sink: parse the header, queue the payload."""
        try:
            first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        except struct.error:
            self.malformed += 1
            return
        if first == 0x80:  # version 2, no padding, extension or CSRC: the usual packet
            payload = data[FIXED_HEADER:]
        else:
            found = self._payload(data, first)
            if found is None:
                self.malformed += 1
                return
            payload = found
        payload_type = second & 0x7F
        if payload_type == self.codec.payload_type:
            self.jitter.push(sequence, timestamp, ssrc, second > 0x7F, payload, self._clock())
        elif payload_type == self.codec.event_payload_type and self.events is not None:
            self.digits.extend(self.events.receive(payload, timestamp, self._clock()))
            self.digit_watch.add(self)
        else:
            self.other_payloads += 1

    @staticmethod
    def _payload(data: bytes, first: int) -> bytes | None:
        """The payload of a packet with CSRCs, an extension or padding (RFC 3550 §5.1, §5.3.1)."""
        if first >> 6 != 2:
            return None
        start = FIXED_HEADER + 4 * (first & 0x0F)
        if first & 0x10:
            if len(data) < start + 4:
                return None
            start += 4 + 4 * _EXTENSION_LENGTH.unpack_from(data, start)[0]
        end = len(data)
        if first & 0x20:
            end -= data[-1] if end > start else 0
        if end <= start:
            return None
        return data[start:end]

    def rtcp_packet(self, data: bytes, endpoint: MediaEndpoint) -> None:
        """The endpoint's RTCP sink: the peer's SR feeds our LSR/DLSR, its blocks our round trip."""
        self.rtcp_received += 1
        try:
            compound = RtcpCompound.parse(data)
        except RtcpParseError:
            self.malformed += 1
            return
        mine = endpoint.sending_ssrc
        for packet in compound.packets:
            if isinstance(packet, SenderReport):
                self.jitter.sender_report(ntp_middle(packet.sender.ntp_timestamp), self._clock())
            if isinstance(packet, SenderReport | ReceiverReport):
                for block in packet.reports:
                    if block.ssrc == mine:
                        rtt = round_trip_s(block, self._wall_clock())
                        if rtt is not None:
                            self.round_trip_s = rtt

    # ---- per tick ------------------------------------------------------------------------
    def send_digit(
        self, digit: str, duration_ms: int = DEFAULT_DIGIT_MS, gap_ms: int = DEFAULT_DIGIT_GAP_MS
    ) -> None:
        """Queue one RFC 4733 digit toward the peer (raises for a non-DTMF key or when the SDP
        agreed no telephone-event)."""
        if self.codec.event_payload_type is None:
            raise ValueError("the leg's SDP agreed no telephone-event: RFC 4733 cannot be sent")
        units = min(max(self._frame_units, duration_ms * 8), 0xFFFF)
        self._sender.queue.append((event_for_digit(digit), units, max(1, gap_ms // 20)))
        self.plain = False

    @property
    def sending_digit(self) -> bool:
        """This tick goes to a telephone-event packet instead of audio."""
        return self._sender.active

    def send_event_packets(self) -> None:
        """One tick of the current RFC 4733 event (called when `sending_digit`)."""
        sender, event_pt = self._sender, self.codec.event_payload_type
        assert event_pt is not None
        frame = self._frame_units
        if sender.elapsed < 0:
            sender.elapsed = 0
        event, units, gap = sender.queue[0]
        sender.elapsed += frame
        send = self.endpoint.send_frame
        if sender.elapsed < units:
            packet = TelephoneEvent(event, False, DIGIT_VOLUME, sender.elapsed).serialize()
            send(packet, event_pt, 0, marker=sender.elapsed == frame)
            return
        end = TelephoneEvent(event, True, DIGIT_VOLUME, units).serialize()
        for copy in range(END_RETRANSMISSIONS):
            last = copy == END_RETRANSMISSIONS - 1
            # The last copy moves the timestamp on by the event's span: audio resumes there.
            send(end, event_pt, sender.elapsed if last else 0, marker=units <= frame and copy == 0)
        sender.queue.popleft()
        sender.elapsed = -1
        sender.gap = gap
        self._update_plain()

    @property
    def packet_units(self) -> int:
        """RTP units of each audio packet sent: the peer's a=ptime, else its own packets'."""
        if self._fixed_units is not None:
            return self._fixed_units
        units, tick = self.jitter.packet_units, self._frame_units
        step = tick // 2  # 10 ms
        if units % step or not step <= units <= 3 * tick:
            return tick
        return units

    @property
    def queued(self) -> bool:
        return bool(self._pending)

    def send_audio(self, payload: bytes) -> int:
        """One tick's encoded frame toward the peer, as packets of the negotiated ptime;
        returns the packets sent."""
        units, tick = self.packet_units, self._frame_units
        endpoint, payload_type = self.endpoint, self.codec.payload_type
        if units == tick and not self._pending:
            return int(endpoint.send_frame(payload, payload_type, tick))
        data = self._pending + payload
        self._bytes_per_unit = max(1, len(payload) // tick)
        size = len(payload) * units // tick  # bytes of one packet
        sent = start = 0
        while len(data) - start >= size:
            sent += endpoint.send_frame(data[start : start + size], payload_type, units)
            start += size
        self._pending = data[start:]
        self._update_plain()
        return sent

    def flush_audio(self) -> None:
        """Send the queued part of a packet now (a digit comes, the audio stops), so the next
        packet's timestamp follows on."""
        pending, self._pending = self._pending, b""
        self._update_plain()
        if pending and not self.leaving:
            units = len(pending) // self._bytes_per_unit
            self.endpoint.send_frame(pending, self.codec.payload_type, units)

    def tick_gap(self) -> None:
        """A tick of audio passed between two queued digits."""
        if self._sender.gap > 0:
            self._sender.gap -= 1
            self._update_plain()

    def take_digits(self, now: float) -> list[DigitEvent]:
        """Digits found since the last tick, with RFC 4733 events whose end timed out."""
        events = self.events
        if events is not None:
            deadline = events.next_timer()
            if deadline is not None and deadline <= now:
                self.digits.extend(events.handle_timer(now))
        digits, self.digits = self.digits, []
        if events is None or events.next_timer() is None:
            self.digit_watch.discard(self)  # nothing more can come without a new packet
        return digits

    def quality(self) -> LegQuality:
        stats = self.jitter.stats()
        source = stats.source
        jitter_ms = 0.0 if source is None else 1000.0 * source.jitter_s
        return LegQuality(
            packets=stats.packets,
            expected=stats.expected,
            lost=max(stats.lost, 0),
            loss_ratio=stats.loss_ratio,
            jitter_ms=jitter_ms,
            round_trip_ms=None if self.round_trip_s is None else 1000.0 * self.round_trip_s,
            jitter_buffer_ms=stats.target_ms,
            rtcp_received=self.rtcp_received,
            rtcp_sent=self.rtcp_sent,
        )


def fill_byte(codec_name: str) -> int:
    return FILL_BYTE.get(codec_name.upper(), 0)
