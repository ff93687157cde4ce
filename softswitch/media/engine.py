"""The media engine: one drift-free 20 ms tick for the whole process, and the legs in it.

A leg's endpoint normally relays (the cheap pass-through of media/endpoint.py). The moment an
application needs its audio (a player, a conference, a recorder, a transcoding bridge) it calls
`take(endpoint, codec)`: the endpoint's route turns to CONSUMER on the same sockets, and the
outgoing stream continues with the same SSRC and the next sequence number and timestamp (marker
bit set), so the peer hears no gap. `release(leg)` gives it back; the caller routes it again.

Per packet only the header is parsed and the payload queued (engine_leg.py). Per tick, for every
engine leg at once: pop each jitter buffer, decode all (codecs/transcode.py, grouped by codec),
conceal lost frames, run in-band DTMF over the legs that need it, hand the decoded audio to the
processors (what the legs are attached to), then encode every row a processor chose to send
and send it with `endpoint.send_frame`. Digits found (RFC 4733, in-band) are delivered at the
tick through the leg's `on_digit`.

The API for applications is small::

    leg = engine.take(endpoint, LegCodec("PCMU", 0, 101), on_digit=...)   # EngineLeg
    engine.add_processor(processor)      # processor.process(frames) every tick
    engine.add_tap(tap)                  # tap(frames) after the processors (a recorder)
    ... frames.heard[leg.row] is what the leg sent us this tick, int16[samples]
    ... frames.say[leg.row] = audio; frames.send[leg.row] = True   # what it hears
    leg.send_digit("5")                  # RFC 4733 toward the peer
    engine.release(leg)                  # back to pass-through; the caller routes it

Rows are renumbered when legs leave, so a processor reads `leg.row` each tick, never keeps it.
`take` and `release` are safe from inside a tick (a playback's end, a digit): the endpoint
changes hands at once, the rows change when the tick ends (a leg taken in a tick has row -1
until then; a leg released in it sends nothing more). One RFC 4733 receiver per endpoint
outlives its legs, so a digit's end retransmissions are not reported again after a move.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from softswitch.media.dtmf import DigitEvent, TelephoneEventReceiver
from softswitch.media.dtmf_inband import InbandDtmfDetector
from softswitch.media.endpoint import MediaEndpoint, Route
from softswitch.media.engine_leg import DtmfDetection, EngineLeg, LegCodec, fill_byte
from softswitch.media.jitter import Frame, JitterBuffer, Lost, conceal
from softswitch.media.rtcp import SenderInfo, ntp_timestamp, report_compound
from softswitch.media.tick import TICK_S, TicksDue
from softswitch.media.tick_timer import TickTimer
from softswitch_codecs.registry import CodecRegistry, default_registry
from softswitch_codecs.transcode import Transcoder

log = logging.getLogger(__name__)

ENGINE_RATE_HZ = 8000
RTCP_INTERVAL_S = 5.0  # RFC 3550 §6.2: the recommended minimum interval
CNAME = b"softswitch"

Pcm = npt.NDArray[np.int16]


@dataclass(slots=True)
class TickFrames:
    """One tick's audio of every engine leg; row `leg.row` is that leg.

    `heard`: int16[legs, samples], what each leg sent us (decoded, lost frames concealed,
    silence when nothing came). `say`: int16[legs, samples], what each leg will be sent,
    zero at the start of the tick; a processor writes its legs' rows and sets `send`.
    `received`: bool[legs], rows that had a frame (or a concealed one) this tick.
    """

    tick: int
    now: float
    heard: Pcm
    say: Pcm
    send: npt.NDArray[np.bool_]
    received: npt.NDArray[np.bool_]
    legs: list[EngineLeg] = field(default_factory=list)


class TickProcessor(Protocol):
    """What legs in the engine are attached to: gets every tick's frames, writes its legs' rows."""

    def process(self, frames: TickFrames) -> None: ...


TickTap = Callable[[TickFrames], None]


@dataclass(slots=True)
class EngineStats:
    ticks: int = 0
    legs: int = 0
    frames_decoded: int = 0
    frames_concealed: int = 0
    frames_sent: int = 0
    digits: int = 0
    tick_seconds: float = 0.0  # CPU-clock time spent in ticks, for the cost per leg
    leg_ticks: int = 0  # legs x ticks, the denominator of the cost per leg


class MediaEngine:
    """Every engine leg's jitter buffer, codec and detector, and the one 20 ms tick."""

    def __init__(
        self,
        registry: CodecRegistry | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rtcp_interval_s: float = RTCP_INTERVAL_S,
    ) -> None:
        self._transcoder: Transcoder[EngineLeg] = Transcoder(
            registry or default_registry(), ENGINE_RATE_HZ
        )
        self.samples = self._transcoder.samples_per_frame
        self._clock = clock
        self._wall_clock = wall_clock
        self._rtcp_interval_s = rtcp_interval_s
        self._legs: list[EngineLeg] = []
        self._by_endpoint: dict[MediaEndpoint, EngineLeg] = {}
        self._processors: list[TickProcessor] = []
        self._taps: list[TickTap] = []
        self._inband = InbandDtmfDetector()
        self._last = np.zeros((0, self.samples), dtype=np.int16)  # last good frame per row
        self._timer: TickTimer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick = 0
        self._next_rtcp: float | None = None  # the first tick schedules the first reports
        # A take or release from inside a tick (a playback's end, a digit) must not renumber
        # the rows that tick is still encoding for: it is applied when the tick ends.
        self._in_tick = False
        self._leaving: list[EngineLeg] = []
        self._joining: list[EngineLeg] = []
        self._queued: set[EngineLeg] = set()  # legs of another ptime than the tick's
        # RFC 4733 state outlives a leg: the end retransmissions of the key that moved a leg
        # (IVR -> queue) reach the next leg on the same endpoint, which must not report it again.
        self._receivers: weakref.WeakKeyDictionary[MediaEndpoint, TelephoneEventReceiver] = (
            weakref.WeakKeyDictionary()
        )
        self.stats = EngineStats()

    # ---- legs ----------------------------------------------------------------------------
    def take(
        self,
        endpoint: MediaEndpoint,
        codec: LegCodec,
        *,
        detection: DtmfDetection = DtmfDetection.RFC4733,
        on_digit: Callable[[DigitEvent], None] | None = None,
    ) -> EngineLeg:
        """Put the endpoint in the tick path (its route turns to CONSUMER). Taking a leg the
        engine has already returns a new leg for it, with the new codec, detection and digit
        callback. Inside a tick the new leg gets its row (`row` stays -1) when the tick ends."""
        old = self._by_endpoint.get(endpoint)
        if old is not None:
            self._drop(old)
        events: TelephoneEventReceiver | None = None
        if codec.event_payload_type is not None:
            events = self._receivers.get(endpoint)
            if events is None:
                events = self._receivers[endpoint] = TelephoneEventReceiver()
        leg = EngineLeg(
            endpoint,
            codec,
            clock=self._clock,
            wall_clock=self._wall_clock,
            jitter=JitterBuffer(fill_byte=fill_byte(codec.name)),
            detection=detection,
            on_digit=on_digit,
            frame_units=self.samples,
            events=events,
        )
        self._by_endpoint[endpoint] = leg
        endpoint.deliver(leg.rtp_received, leg.rtcp_packet)
        if self._in_tick:
            self._joining.append(leg)
        else:
            self._add_row(leg)
        return leg

    def _add_row(self, leg: EngineLeg) -> None:
        self._transcoder.attach(leg, leg.codec.name)
        if leg.detection is DtmfDetection.INBAND:
            leg.inband_slot = self._inband.add()
        leg.row = len(self._legs)
        self._legs.append(leg)
        self._last = np.concatenate([self._last, np.zeros((1, self.samples), np.int16)])
        self.stats.legs = len(self._legs)
        if self._loop is not None and self._timer is None:
            self.start(self._loop)

    def leg_of(self, endpoint: MediaEndpoint) -> EngineLeg | None:
        return self._by_endpoint.get(endpoint)

    def release(self, leg: EngineLeg) -> None:
        """Take the leg out of the tick path; its endpoint is left UNROUTED for the caller to
        route again (bridge, echo), on the same sockets."""
        if self._by_endpoint.get(leg.endpoint) is not leg:
            return
        self._drop(leg)
        endpoint = leg.endpoint
        if endpoint.route is Route.CONSUMER and not endpoint.closed:
            endpoint.unroute()

    def _drop(self, leg: EngineLeg) -> None:
        """The leg stops being the endpoint's now; its row goes at once, or after the tick."""
        del self._by_endpoint[leg.endpoint]
        leg.leaving = True
        if leg in self._joining:
            self._joining.remove(leg)
        elif self._in_tick:
            self._leaving.append(leg)
        else:
            self._release_row(leg)

    def _end_of_tick(self) -> None:
        leaving, self._leaving = self._leaving, []
        joining, self._joining = self._joining, []
        for leg in leaving:
            self._release_row(leg)
        for leg in joining:
            self._add_row(leg)

    def _release_row(self, leg: EngineLeg) -> None:
        self._queued.discard(leg)  # what it had queued is dropped: the endpoint is not its own
        row = leg.row
        del self._legs[row]
        self._last = np.delete(self._last, row, axis=0)
        for index in range(row, len(self._legs)):
            self._legs[index].row = index
        self._transcoder.detach(leg)
        if leg.inband_slot is not None:
            self._inband.remove(leg.inband_slot)
            leg.inband_slot = None
        leg.row = -1
        self.stats.legs = len(self._legs)
        if not self._legs and self._loop is not None:
            self.close()  # an idle switch does not wake up 50 times a second

    @property
    def legs(self) -> tuple[EngineLeg, ...]:
        return tuple(self._legs)

    def add_processor(self, processor: TickProcessor) -> None:
        self._processors.append(processor)

    def remove_processor(self, processor: TickProcessor) -> None:
        if processor in self._processors:
            self._processors.remove(processor)

    def add_tap(self, tap: TickTap) -> None:
        """`tap(frames)` after every tick's processors: both directions of every engine leg
        (`heard` and `say`), for a recorder."""
        self._taps.append(tap)

    def remove_tap(self, tap: TickTap) -> None:
        if tap in self._taps:
            self._taps.remove(tap)

    # ---- the clock -----------------------------------------------------------------------
    def use_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Tick on `loop` whenever a leg is in the engine, and only then."""
        self._loop = loop
        self._clock = loop.time
        for leg in self._legs:
            leg._clock = loop.time
        if self._legs:
            self.start(loop)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run the tick on `loop`'s clock from now on (the engine reads `loop.time`)."""
        if self._timer is None:
            self._clock = loop.time
            for leg in self._legs:
                leg._clock = loop.time
            self._timer = TickTimer(loop, self._on_ticks)
            self._timer.start()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.close()
            self._timer = None

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    def _on_ticks(self, due: TicksDue) -> None:
        now = self._clock()
        for index in due.indices:
            self.tick(now, index)

    # ---- one tick ------------------------------------------------------------------------
    def tick(self, now: float, index: int | None = None) -> TickFrames:
        """Run one 20 ms tick for every engine leg (the timer calls it; tests call it too)."""
        self._in_tick = True
        try:
            return self._run_tick(now, index)
        finally:
            self._in_tick = False
            self._end_of_tick()

    def _run_tick(self, now: float, index: int | None) -> TickFrames:
        started = time.process_time()
        self._tick = self._tick + 1 if index is None else index
        legs = list(self._legs)
        count = len(legs)
        samples = self.samples
        payloads: list[bytes | None] = [None] * count
        lost_rows: list[int] = []
        lost_runs: list[int] = []
        received = np.zeros(count, dtype=np.bool_)
        for row, leg in enumerate(legs):
            frame = leg.jitter.pop()
            if type(frame) is Frame:
                payloads[row] = frame.payload
                received[row] = True
            elif type(frame) is Lost:
                lost_rows.append(row)
                lost_runs.append(frame.consecutive)
        heard = (
            self._transcoder.decode(legs, payloads)
            if count
            else np.zeros((0, samples), dtype=np.int16)
        )
        good = np.flatnonzero(received)
        if lost_rows:
            heard[lost_rows] = conceal(self._last[lost_rows], np.array(lost_runs), ENGINE_RATE_HZ)
            received[lost_rows] = True
        self._last[good] = heard[good]
        frames = TickFrames(
            self._tick,
            now,
            heard,
            np.zeros((count, samples), dtype=np.int16),
            np.zeros(count, dtype=np.bool_),
            received,
            legs,
        )
        self._detect_inband(legs, heard, now)
        for processor in list(self._processors):
            processor.process(frames)
        for tap in list(self._taps):
            tap(frames)
        self._send(frames)
        self._deliver_digits(legs, now)
        if self._next_rtcp is None:
            self._next_rtcp = now + self._rtcp_interval_s
        elif now >= self._next_rtcp:
            self._next_rtcp = now + self._rtcp_interval_s
            self.send_reports(now)
        stats = self.stats
        stats.ticks += 1
        stats.frames_decoded += len(good)
        stats.frames_concealed += len(lost_rows)
        stats.leg_ticks += count
        stats.tick_seconds += time.process_time() - started
        return frames

    def _detect_inband(self, legs: list[EngineLeg], heard: Pcm, now: float) -> None:
        detector = self._inband
        if not detector.slots:
            return
        rows = [leg.row for leg in legs if leg.inband_slot is not None]
        slots = [leg.inband_slot for leg in legs if leg.inband_slot is not None]
        if not rows:
            return
        audio = np.zeros((detector.slots, self.samples), dtype=np.int16)
        audio[slots] = heard[rows]
        by_slot = {leg.inband_slot: leg for leg in legs if leg.inband_slot is not None}
        for slot, event in detector.process(audio, now):
            leg = by_slot.get(slot)
            if leg is not None:
                leg.digits.append(event)

    def _send(self, frames: TickFrames) -> None:
        legs = frames.legs
        rows = np.flatnonzero(frames.send).tolist()
        audio_rows: list[int] = []
        for row in rows:
            leg = legs[row]
            if leg.leaving:
                continue  # released in this tick: what takes its endpoint sends from now on
            if leg.sending_digit:
                leg.flush_audio()
                leg.send_event_packets()
            else:
                leg.tick_gap()
                audio_rows.append(row)
        if self._queued:
            self._flush_stopped(frames)
        if not audio_rows:
            return
        payloads = self._transcoder.encode([legs[r] for r in audio_rows], frames.say[audio_rows])
        samples = self.samples
        sent = 0
        for row, payload in zip(audio_rows, payloads, strict=True):
            leg = legs[row]
            if leg.packet_units == samples and not leg.queued:
                if leg.endpoint.send_frame(payload, leg.codec.payload_type, samples):
                    leg.frames_sent += 1
                    sent += 1
            else:
                sent += leg.send_audio(payload)
                self._queued.add(leg)
        self.stats.frames_sent += sent

    def _flush_stopped(self, frames: TickFrames) -> None:
        """Legs of another ptime whose audio stopped this tick send what they had queued."""
        for leg in list(self._queued):
            if leg.leaving or leg.row < 0 or not frames.send[leg.row] or leg.sending_digit:
                leg.flush_audio()
                self._queued.discard(leg)

    def _deliver_digits(self, legs: list[EngineLeg], now: float) -> None:
        for leg in legs:
            if leg.leaving:
                continue
            digits = leg.take_digits(now)
            if not digits or leg.on_digit is None:
                continue
            for event in digits:
                self.stats.digits += 1
                try:
                    leg.on_digit(event)
                except Exception:
                    log.exception("a digit handler failed")

    # ---- RTCP ----------------------------------------------------------------------------
    def send_reports(self, now: float) -> None:
        """An SR (when we sent audio) or RR, with SDES CNAME, from every engine leg (RFC 3550
        §6.4); the report block is about the source the leg's jitter buffer plays."""
        wall = self._wall_clock()
        for leg in self._legs:
            ssrc = leg.endpoint.sending_ssrc
            block = leg.jitter.report_block(now)
            if ssrc is None and block is None:
                continue
            blocks = () if block is None else (block,)
            sender = None
            if ssrc is not None:
                sender = SenderInfo(ntp_timestamp(wall), 0, leg.frames_sent, leg.frames_sent * 160)
            compound = report_compound(ssrc or leg.report_ssrc, CNAME, blocks, sender)
            if leg.endpoint.send_rtcp(compound.serialize()):
                leg.rtcp_sent += 1

    @property
    def tick_cost_per_leg_s(self) -> float:
        """Mean CPU time of a tick divided by the legs in it, since the start."""
        stats = self.stats
        return stats.tick_seconds / stats.leg_ticks if stats.leg_ticks else 0.0


__all__ = [
    "TICK_S",
    "DtmfDetection",
    "EngineLeg",
    "LegCodec",
    "MediaEngine",
    "TickFrames",
    "TickProcessor",
]
