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
import struct
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
from softswitch.media.frame_batch import FrameBatch
from softswitch.media.jitter import PLAYED, Frame, JitterBuffer, Lost, conceal
from softswitch.media.rtcp import SenderInfo, ntp_timestamp, report_compound
from softswitch.media.tick import TICK_S, TicksDue
from softswitch.media.tick_timer import TickTimer
from softswitch_codecs.errors import CodecUsageError
from softswitch_codecs.registry import CodecRegistry, default_registry
from softswitch_codecs.transcode import Transcoder

log = logging.getLogger(__name__)

ENGINE_RATE_HZ = 8000
RTCP_INTERVAL_S = 5.0  # RFC 3550 §6.2: the recommended minimum interval
CNAME = b"softswitch"

Pcm = npt.NDArray[np.int16]
_TIMESTAMP_AT_4 = struct.Struct("!I")  # an RTP packet's timestamp, at byte 4


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
class TickPhases:
    """CPU seconds (process_time) spent in each phase of the ticks so far, for the cost per leg."""

    pop_s: float = 0.0  # jitter-buffer pops
    decode_s: float = 0.0  # decode, concealment, in-band DTMF
    process_s: float = 0.0  # the processors (the conference mix) and taps (recorders)
    encode_s: float = 0.0  # choosing what to send and encoding it
    send_s: float = 0.0  # building the packets and sendto
    rest_s: float = 0.0  # digits delivered, RTCP reports


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
    phases: TickPhases = field(default_factory=TickPhases)


class MediaEngine:
    """Every engine leg's jitter buffer, codec and detector, and the one 20 ms tick."""

    def __init__(
        self,
        registry: CodecRegistry | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rtcp_interval_s: float = RTCP_INTERVAL_S,
        batched: bool = True,
    ) -> None:
        """`batched=False` runs the simple per-leg tick (one `pop` and one `send_frame` per
        leg), the test oracle of the batched one (tests/media/test_engine_batch.py)."""
        self._transcoder: Transcoder[EngineLeg] = Transcoder(
            registry or default_registry(), ENGINE_RATE_HZ
        )
        self.samples = self._transcoder.samples_per_frame
        self._clock = clock
        self._wall_clock = wall_clock
        self._rtcp_interval_s = rtcp_interval_s
        self._batched = batched
        self._legs: list[EngineLeg] = []
        self._jitters: list[JitterBuffer] = []  # per row, for the batched pops
        self._frame_bytes = JitterBuffer().frame_units  # one tick of G.711/G.722, 1 byte a unit
        self._slab = bytearray()  # the batched pops' payloads, row after row
        self._frames = FrameBatch()
        self._report_cursor = 0  # the next row whose RTCP report is due
        self._digit_legs: set[EngineLeg] = set()  # legs with digits or an RFC 4733 timer due
        self._by_endpoint: dict[MediaEndpoint, EngineLeg] = {}
        self._processors: list[TickProcessor] = []
        self._taps: list[TickTap] = []
        self._inband = InbandDtmfDetector()
        self._last = np.zeros((0, self.samples), dtype=np.int16)  # last good frame per row
        self._timer: TickTimer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick = 0
        self._next_rtcp: float | None = None  # the first tick schedules the first reports
        self._reports_per_tick = 0.0  # rows reported per tick, spread over the interval
        self._report_credit = 0.0
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
            digit_watch=self._digit_legs,
        )
        self._by_endpoint[endpoint] = leg
        if events is not None and events.next_timer() is not None:
            self._digit_legs.add(leg)  # a digit the last leg heard start may time out here
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
        self._jitters.append(leg.jitter)
        self._frames.add_row(leg.endpoint, leg.codec.payload_type)
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
        del self._jitters[row]
        self._frames.remove_row(row)
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
        clock = time.process_time
        phases = self.stats.phases
        mark = clock()
        self._tick = self._tick + 1 if index is None else index
        legs = list(self._legs)
        count = len(legs)
        samples = self.samples
        received, lost_rows, lost_runs, heard = (
            self._pop_batched(legs) if self._batched else self._pop_simple(legs)
        )
        mark = _lap(phases, "pop_s", mark, clock)
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
        mark = _lap(phases, "decode_s", mark, clock)
        for processor in list(self._processors):
            processor.process(frames)
        for tap in list(self._taps):
            tap(frames)
        mark = _lap(phases, "process_s", mark, clock)
        mark = self._send(frames, mark)
        self._deliver_digits(legs, now)
        self._report_due(now)
        _lap(phases, "rest_s", mark, clock)
        stats = self.stats
        stats.ticks += 1
        stats.frames_decoded += len(good)
        stats.frames_concealed += len(lost_rows)
        stats.leg_ticks += count
        stats.tick_seconds += time.process_time() - started
        return frames

    def _pop_simple(
        self, legs: list[EngineLeg]
    ) -> tuple[npt.NDArray[np.bool_], list[int], list[int], Pcm]:
        """One `pop` per leg, each frame its own bytes: the oracle of `_pop_batched`."""
        count = len(legs)
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
            else np.zeros((0, self.samples), dtype=np.int16)
        )
        return received, lost_rows, lost_runs, heard

    def _pop_batched(
        self, legs: list[EngineLeg]
    ) -> tuple[npt.NDArray[np.bool_], list[int], list[int], Pcm]:
        """Every leg's frame written into one slab (no bytes or Frame per leg), decoded from it
        by codec group."""
        count, width = len(legs), self._frame_bytes
        if len(self._slab) != count * width:
            self._slab = bytearray(count * width)
        slab = self._slab
        outcome = [jitter.pop_into(slab, row * width) for row, jitter in enumerate(self._jitters)]
        states = np.array(outcome, dtype=np.int64)
        received = states == PLAYED
        lost = np.flatnonzero(states > 0)
        if not count:
            return received, [], [], np.zeros((0, self.samples), dtype=np.int16)
        codes = np.frombuffer(slab, dtype=np.uint8).reshape(count, width)
        heard = self._transcoder.decode_rows(legs, codes, received)
        return received, lost.tolist(), states[lost].tolist(), heard

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
                self._digit_legs.add(leg)

    def _send(self, frames: TickFrames, mark: float) -> float:
        """Encode and send what the processors chose; returns the phase clock's last mark."""
        clock, phases = time.process_time, self.stats.phases
        legs = frames.legs
        rows = np.flatnonzero(frames.send).tolist()
        batched = self._batched
        audio_rows: list[int] = []
        plain_rows: list[int] = []  # one packet per tick, nothing queued: the batched send
        for row in rows:
            leg = legs[row]
            if batched and leg.plain and leg.tick_packets:
                plain_rows.append(row)
                continue
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
        sent = 0
        if plain_rows:
            codes = self._encode_rows(legs, plain_rows, frames.say)
            if codes is None:
                audio_rows.extend(plain_rows)  # codecs of different payload sizes: one by one
                audio_rows.sort()
            else:
                mark = _lap(phases, "encode_s", mark, clock)
                sent += self._frames.send(plain_rows, codes, self.samples)
                mark = _lap(phases, "send_s", mark, clock)
        if audio_rows:
            sent += self._send_each(frames, audio_rows)
        self.stats.frames_sent += sent
        return _lap(phases, "send_s", mark, clock)

    def _encode_rows(
        self, legs: list[EngineLeg], rows: list[int], say: Pcm
    ) -> npt.NDArray[np.uint8] | None:
        chosen = [legs[r] for r in rows]
        try:
            return self._transcoder.encode_rows(chosen, say[rows])
        except CodecUsageError:
            return None

    def _send_each(self, frames: TickFrames, audio_rows: list[int]) -> int:
        """One `send_frame` (or ptime-cut packets) per leg: the simple path."""
        legs = frames.legs
        payloads = self._transcoder.encode([legs[r] for r in audio_rows], frames.say[audio_rows])
        samples = self.samples
        sent = 0
        for row, payload in zip(audio_rows, payloads, strict=True):
            leg = legs[row]
            if leg.packet_units == samples and not leg.queued:
                if leg.endpoint.send_frame(payload, leg.codec.payload_type, samples):
                    sent += 1
            else:
                sent += leg.send_audio(payload)
                self._queued.add(leg)
        return sent

    def _flush_stopped(self, frames: TickFrames) -> None:
        """Legs of another ptime whose audio stopped this tick send what they had queued."""
        for leg in list(self._queued):
            if leg.leaving or leg.row < 0 or not frames.send[leg.row] or leg.sending_digit:
                leg.flush_audio()
                self._queued.discard(leg)

    def _deliver_digits(self, legs: list[EngineLeg], now: float) -> None:
        """Only the legs digits arrived on (a loop over every leg was ~1 µs each a tick)."""
        watched = self._digit_legs
        if not watched:
            return
        for leg in sorted(watched, key=lambda leg: leg.row):
            if leg.leaving or leg.row < 0:
                watched.discard(leg)
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
    def _report_due(self, now: float) -> None:
        """Each tick, the next few rows' reports, so that every leg reports once per interval
        and no tick sends them all (900 legs' SRs at once cost 23 ms of CPU)."""
        if self._next_rtcp is None:
            self._next_rtcp = now + self._rtcp_interval_s  # nobody reports before an interval
            return
        count = len(self._legs)
        if now < self._next_rtcp or not count:
            return
        self._report_credit += count * TICK_S / self._rtcp_interval_s
        due = min(int(self._report_credit), count)
        if not due:
            return
        self._report_credit -= due
        wall = self._wall_clock()
        for _ in range(due):
            self._report_cursor %= count
            self._report(self._legs[self._report_cursor], now, wall)
            self._report_cursor += 1

    def send_reports(self, now: float) -> None:
        """An SR (when we sent audio) or RR, with SDES CNAME, from every engine leg at once
        (RFC 3550 §6.4); the report block is about the source the leg's jitter buffer plays."""
        wall = self._wall_clock()
        for leg in self._legs:
            self._report(leg, now, wall)

    def _report(self, leg: EngineLeg, now: float, wall: float) -> None:
        ssrc = leg.endpoint.sending_ssrc
        block = leg.jitter.report_block(now)
        if ssrc is None and block is None:
            return
        blocks = () if block is None else (block,)
        sender = None
        if ssrc is not None:
            sock = leg.endpoint.frame_socket
            # RFC 3550 §6.4.1: packets and payload octets sent with this SSRC; the RTP time is
            # the last packet's (within a tick of the NTP time).
            tail = sock.tail
            rtp_time = 0 if tail is None else _TIMESTAMP_AT_4.unpack_from(tail, 4)[0]
            sender = SenderInfo(ntp_timestamp(wall), rtp_time, sock.frames_sent, sock.octets_sent)
        compound = report_compound(ssrc or leg.report_ssrc, CNAME, blocks, sender)
        if leg.endpoint.send_rtcp(compound.serialize()):
            leg.rtcp_sent += 1

    @property
    def tick_cost_per_leg_s(self) -> float:
        """Mean CPU time of a tick divided by the legs in it, since the start."""
        stats = self.stats
        return stats.tick_seconds / stats.leg_ticks if stats.leg_ticks else 0.0


def _lap(phases: TickPhases, name: str, mark: float, clock: Callable[[], float]) -> float:
    """Add the time since `mark` to one phase; returns the new mark."""
    now = clock()
    setattr(phases, name, getattr(phases, name) + now - mark)
    return now


__all__ = [
    "TICK_S",
    "DtmfDetection",
    "EngineLeg",
    "LegCodec",
    "MediaEngine",
    "TickFrames",
    "TickProcessor",
]
