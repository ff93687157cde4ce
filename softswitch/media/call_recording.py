"""Recorded calls: the two sides of a call fed to the recorder (caller left, other party right),
and conference mixes fed to it mono.

Two ways in. A call the bridge relays (both legs in one G.711 codec) is recorded off the relay:
`start_pair(..., relayed=True)` taps each endpoint's packets (media/packet_tap.py) and every
`DRAIN_TICKS` ticks all tapped sides are decoded at once and placed by RTP timestamp, then fed
to the recorder `HOLDBACK_TICKS` behind the clock so that late packets still find their place.
The tap holds whatever route the endpoints take meanwhile (hold and music on hold, a
supervisor's mix in the engine), so none of those changes the recording. It costs one list
append per packet instead of the tick path's jitter buffer, decode, encode and `send_frame`
(bench/RESULTS.md). Pause, resume and stop first place everything tapped up to that moment, so
their marks fall where they were asked.

A call the engine carries (transcoded, or a codec the tap does not decode) is recorded from the
tick: each side is what its engine leg heard, with lost frames concealed as for everything else.

`RecordingTaps` is a tap after the processors: it only listens. Whoever connects the two sides
(calls/bridge.py's crossing, in one codec or two) relays them; music on hold takes one side
meanwhile. A pair is kept by its two media endpoints, not by their engine legs, so the recording
goes on across hold and resume, a transcoded bridge and any other change of the legs on those
endpoints: each tick a side is what the engine leg on its endpoint heard, or silence while
nothing in the engine listens to it. It ends when the call layer stops it or an endpoint closes.
The seconds due are written after the tick, deferred. It is also calls/conference.py's
`MixRecorder`. The call layer (calls/recording.py) decides which calls are recorded and keys
pairs by call id; rows go to a `RecordingStore` (app.py, over store/).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from softswitch.call_record import ChannelLayout
from softswitch.media.packet_tap import TICK_SAMPLES, PacketTimeline, TapSide
from softswitch.media.recorder import Recorder, RecorderError, Recording, RecordingSummary
from softswitch.media.tick import TICK_S, TickClock, TicksDue
from softswitch.media.tick_timer import TickTimer
from softswitch_codecs.resample import ResampleStream, resample_many

if TYPE_CHECKING:
    import asyncio

    from softswitch.media.endpoint import MediaEndpoint
    from softswitch.media.engine import MediaEngine, TickFrames

log = logging.getLogger(__name__)

Pcm = NDArray[np.int16]
ENGINE_RATE_HZ = 8000
DRAIN_TICKS = 5  # relayed calls' tapped packets are placed every 100 ms
HOLDBACK_TICKS = 4  # and fed 80 ms behind the clock: a packet up to 100 ms late keeps its place
# Relayed recordings are written this many ticks before their second is full: what a kill
# loses stays within a second.
LAG_TICKS = DRAIN_TICKS + HOLDBACK_TICKS + 1
FLUSH_BATCH = 8  # files written per loop callback (VAD and a write: about 0.3 ms each)


class RecordingStore(Protocol):
    """Where recordings' rows go (store/recordings.py through the switch's write queue)."""

    def opened(self, recording: Recording, sample_rate: int, agent: str | None) -> None: ...

    def paused(self, recording: Recording, marks: Sequence[tuple[float, float]]) -> None: ...

    def closed(self, recording: Recording, summary: RecordingSummary, end_ts: float) -> None: ...


@dataclass(eq=False)
class _Pair:
    key: int  # the call's id
    caller: MediaEndpoint
    callee: MediaEndpoint
    recording: Recording
    resamplers: tuple[ResampleStream, ResampleStream] | None


@dataclass(eq=False)
class _TapPair:
    key: int  # the call's id
    caller: MediaEndpoint
    callee: MediaEndpoint
    recording: Recording
    sides: tuple[TapSide, TapSide]
    resamplers: tuple[ResampleStream, ResampleStream] | None
    fed: int  # the next tick of the process clock (seconds x 50) to feed


@dataclass(eq=False)
class _Mix:
    recording: Recording
    resampler: ResampleStream | None
    pending: list[Pcm]


class RecordingTaps:
    """Every recorded two-party call and conference mix of the switch, on one recorder."""

    def __init__(
        self,
        engine: MediaEngine,
        recorder: Recorder,
        store: RecordingStore,
        *,
        defer: Callable[[Callable[[], None]], object] | None = None,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.engine = engine
        self.recorder = recorder
        self.store = store
        self._defer = defer
        self._wall_clock = wall_clock
        # The relay's arrival clock (media/endpoint.py stamps packets with time.monotonic).
        self._clock = clock
        self._loop = loop  # None: whoever owns the taps calls drain() (tests)
        self._timer: TickTimer | None = None
        self._pairs: dict[int, _Pair] = {}  # by call id
        self._tapped: dict[int, _TapPair] = {}  # relayed calls, by call id
        self.timeline = PacketTimeline()
        self._mixes: list[_Mix] = []
        self._flush_scheduled = False
        engine.add_tap(self.tap)

    # ---- two-party calls --------------------------------------------------------------
    def start_pair(
        self,
        key: int,
        call_id: str,
        caller: MediaEndpoint,
        callee: MediaEndpoint,
        *,
        caller_name: str,
        callee_name: str,
        agent: str | None = None,
        relayed: bool = False,
    ) -> Recording | None:
        """Start recording the two endpoints under `key` (`call_id` is the CDR's); None when the
        file cannot be created (the call goes on, unrecorded). `relayed`: the bridge relays
        them (one G.711 codec), so their packets are tapped instead of the engine's frames."""
        self.stop(key)
        try:
            recording = self.recorder.start(
                call_id=call_id,
                caller=caller_name,
                callee=callee_name,
                layout=ChannelLayout.STEREO,
                start_ts=self._wall_clock(),
                lag_ticks=LAG_TICKS if relayed else 0,
            )
        except RecorderError as exc:
            log.error("call %d not recorded: %s", key, exc)
            return None
        resamplers = None
        if self.recorder.sample_rate != ENGINE_RATE_HZ:
            rate = self.recorder.sample_rate
            resamplers = (
                ResampleStream(ENGINE_RATE_HZ, rate),
                ResampleStream(ENGINE_RATE_HZ, rate),
            )
        if relayed:
            self._tap(key, caller, callee, recording, resamplers)
        else:
            self._pairs[key] = _Pair(key, caller, callee, recording, resamplers)
        self.store.opened(recording, self.recorder.sample_rate, agent)
        log.info("call %d recorded to %s", key, recording.path)
        return recording

    def recording_of(self, key: int) -> Recording | None:
        pair = self._pairs.get(key) or self._tapped.get(key)
        return None if pair is None else pair.recording

    def pause(self, key: int) -> bool:
        """Silence in the file from now on (a card number); False if not recorded."""
        recording = self._up_to_now(key)
        if recording is None:
            return False
        self.recorder.pause(recording)
        self.store.paused(recording, self._marks(recording))
        return True

    def resume(self, key: int) -> bool:
        recording = self._up_to_now(key)
        if recording is None:
            return False
        self.recorder.resume(recording)
        self.store.paused(recording, self._marks(recording))
        return True

    def _up_to_now(self, key: int) -> Recording | None:
        """The recording of `key`, a relayed one fed with everything tapped until now first."""
        tapped = self._tapped.get(key)
        if tapped is not None:
            self._drain([tapped], self._clock(), 0)
            return tapped.recording
        pair = self._pairs.get(key)
        return None if pair is None else pair.recording

    def stop(self, key: int) -> None:
        tapped = self._tapped.get(key)
        if tapped is not None:
            self._drain([tapped], self._clock(), 0)
            self._untap(tapped)
            self._close(tapped.recording)
        pair = self._pairs.pop(key, None)
        if pair is not None:
            self._close(pair.recording)

    def stop_all(self) -> None:
        for key in list(self._tapped):
            self.stop(key)
        for key in list(self._pairs):
            self._close(self._pairs.pop(key).recording)
        for mix in list(self._mixes):
            self._close_mix(mix)

    # ---- relayed calls: packets tapped off the relay ------------------------------------
    def _tap(
        self,
        key: int,
        caller: MediaEndpoint,
        callee: MediaEndpoint,
        recording: Recording,
        resamplers: tuple[ResampleStream, ResampleStream] | None,
    ) -> None:
        sides = (self.timeline.add_side(), self.timeline.add_side())
        start = math.floor(self._clock() / TICK_S)
        self._tapped[key] = _TapPair(key, caller, callee, recording, sides, resamplers, start)
        caller.tap_packets(sides[0].packets)
        callee.tap_packets(sides[1].packets)
        if self._loop is not None and self._timer is None:
            loop = self._loop
            clock = TickClock(origin=loop.time(), period_s=DRAIN_TICKS * TICK_S)
            self._timer = TickTimer(loop, self._drain_due, clock)
            self._timer.start()

    def _untap(self, pair: _TapPair) -> None:
        del self._tapped[pair.key]
        for endpoint, side in zip((pair.caller, pair.callee), pair.sides, strict=True):
            endpoint.tap_packets(None)
            self.timeline.remove_side(side)
        if not self._tapped and self._timer is not None:
            self._timer.close()  # an idle switch does not wake up for nothing
            self._timer = None

    def _drain_due(self, due: TicksDue) -> None:
        self.drain()

    def drain(self, now: float | None = None) -> None:
        """Place every relayed call's tapped packets and feed the recorder up to
        `HOLDBACK_TICKS` before `now` (the process clock); the timer calls it."""
        pairs = []
        for pair in list(self._tapped.values()):
            if pair.caller.closed or pair.callee.closed:
                self.stop(pair.key)  # the call's media went: the recording ends
            else:
                pairs.append(pair)
        if pairs:
            self._drain(pairs, self._clock() if now is None else now, HOLDBACK_TICKS)

    def _drain(self, pairs: list[_TapPair], now: float, holdback: int) -> None:
        self.timeline.place(
            [side for pair in pairs for side in pair.sides],
            [pair.fed * TICK_SAMPLES for pair in pairs for _ in pair.sides],
        )
        upto = math.floor(now / TICK_S) - holdback  # ticks before it are final
        due = [pair for pair in pairs if pair.fed < upto]
        if not due:
            return
        recorder, timeline = self.recorder, self.timeline
        resample = recorder.sample_rate != ENGINE_RATE_HZ
        for tick in range(min(pair.fed for pair in due), upto):
            fed = [pair for pair in due if pair.fed <= tick]
            frames = timeline.take(
                [pair.sides[0].row for pair in fed], [pair.sides[1].row for pair in fed], tick
            )
            if resample:
                streams = [s for pair in fed for s in pair.resamplers or ()]
                sides = frames.transpose(0, 2, 1).reshape(2 * len(fed), -1)
                sides = resample_many(streams, np.ascontiguousarray(sides))
                frames = np.ascontiguousarray(sides.reshape(len(fed), 2, -1).transpose(0, 2, 1))
            recorder.feed(np.array([pair.recording.slot for pair in fed], dtype=np.intp), frames)
        for pair in due:
            pair.fed = upto
        self._flush_soon()

    # ---- the engine tap ---------------------------------------------------------------
    def tap(self, frames: TickFrames) -> None:
        pairs = [pair for pair in list(self._pairs.values()) if self._open(pair)]
        if pairs:
            self._feed_pairs(pairs, frames)
        if self._mixes:
            self._feed_mixes()
        if pairs or self._mixes:
            self._flush_soon()

    def _flush_soon(self) -> None:
        """The seconds due are written in callbacks of their own, after the packets that came
        meanwhile have been relayed (the engine's: after the tick's packets have gone out); a
        feed that finds a second still unwritten writes it first (Recorder.feed)."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            if self._defer is None:
                self._flush()
            else:
                self._defer(self._flush)

    def _feed_pairs(self, pairs: list[_Pair], frames: TickFrames) -> None:
        """Each side's row this tick, or silence (row -1: a zero row appended) when no engine
        leg on its endpoint has one (the holder during music on hold, a leg just taken)."""
        leg_of = self.engine.leg_of
        silent = len(frames.heard)
        rows = []
        for pair in pairs:
            for endpoint in (pair.caller, pair.callee):
                leg = leg_of(endpoint)
                rows.append(silent if leg is None or leg.row < 0 else leg.row)
        heard = frames.heard
        if silent in rows:
            heard = np.concatenate([heard, np.zeros((1, heard.shape[1]), dtype=np.int16)])
        sides = heard[rows]  # int16[2 * pairs, samples]: caller, callee, caller, ...
        if self.recorder.sample_rate != ENGINE_RATE_HZ:
            streams = [s for pair in pairs for s in pair.resamplers or ()]
            sides = resample_many(streams, sides)
        stereo = np.ascontiguousarray(sides.reshape(len(pairs), 2, -1).transpose(0, 2, 1))
        slots = np.array([pair.recording.slot for pair in pairs], dtype=np.intp)
        self.recorder.feed(slots, stereo)

    def _flush(self) -> None:
        """Write the seconds due, `FLUSH_BATCH` files per callback when deferred: a drain
        makes several ticks' worth due at once, and writing them in one go held the loop long
        enough for bursts of relayed packets to overflow a peer's socket (bench media)."""
        self._flush_scheduled = False
        if self._defer is None:
            self.recorder.flush_due()
            return
        self.recorder.flush_due(FLUSH_BATCH)
        if self.recorder.due_count:
            self._flush_scheduled = True
            self._defer(self._flush)

    def _open(self, pair: _Pair) -> bool:
        """Both endpoints still open; a closed one (the call's media went) ends the recording."""
        if pair.caller.closed or pair.callee.closed:
            self.stop(pair.key)
            return False
        return True

    # ---- conference mixes (calls/conference.py's MixRecorder) -------------------------
    def start(self, room: str, call_ids: Sequence[int]) -> RoomRecording | None:
        try:
            recording = self.recorder.start(
                call_id=f"conference-{room}",
                caller=f"conference-{room}",
                callee=room,
                layout=ChannelLayout.MIX,
                start_ts=self._wall_clock(),
            )
        except RecorderError as exc:
            log.error("conference %s not recorded: %s", room, exc)
            return None
        resampler = None
        if self.recorder.sample_rate != ENGINE_RATE_HZ:
            resampler = ResampleStream(ENGINE_RATE_HZ, self.recorder.sample_rate)
        mix = _Mix(recording, resampler, [])
        self._mixes.append(mix)
        self.store.opened(recording, self.recorder.sample_rate, None)
        log.info("conference %s recorded to %s", room, recording.path)
        return RoomRecording(self, mix)

    def _feed_mixes(self) -> None:
        samples = self.recorder.frame_samples
        fed = [mix for mix in self._mixes if mix.pending]
        if not fed:
            return
        frames = np.zeros((len(fed), samples, 2), dtype=np.int16)
        for index, mix in enumerate(fed):
            pcm = mix.pending.pop()
            mix.pending.clear()
            if mix.resampler is not None:
                pcm = mix.resampler.process(pcm)
            frames[index, :, 0] = pcm[:samples]
        slots = np.array([mix.recording.slot for mix in fed], dtype=np.intp)
        self.recorder.feed(slots, frames)

    def _close_mix(self, mix: _Mix) -> None:
        if mix in self._mixes:
            self._mixes.remove(mix)
            self._close(mix.recording)

    # ---- closing ------------------------------------------------------------------------
    def _close(self, recording: Recording) -> None:
        try:
            summary = self.recorder.stop(recording)
        except ValueError:
            return
        self.store.closed(recording, summary, self._wall_clock())
        log.info("recording %s closed: %.2f s", recording.path, summary.duration_s)

    def _marks(self, recording: Recording) -> list[tuple[float, float]]:
        return [(m.start_s, m.end_s) for m in self.recorder.pause_marks(recording)]


class RoomRecording:
    """One conference room's mix recording (calls/conference.py's MixRecording)."""

    def __init__(self, owner: RecordingTaps, mix: _Mix) -> None:
        self._owner = owner
        self._mix = mix

    def write(self, pcm: Pcm) -> None:
        """The room's mix this tick, `int16[samples]`; fed to the recorder in the tap."""
        self._mix.pending.append(pcm.copy())

    def close(self) -> None:
        self._owner._close_mix(self._mix)
