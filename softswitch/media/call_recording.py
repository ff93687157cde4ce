"""Recorded calls in the tick: the two sides of a call fed to the recorder (caller left, other
party right), and conference mixes fed to it mono.

Why through the engine rather than beside the pass-through relay: the recording must hold each
side's audio on one timeline, with lost and late packets concealed the same way the engine does
for everything else; a packet copy tapped off the relay would need its own jitter buffer and
decoder per side, which is the engine leg again. The cost is a decode and an encode per leg per
tick (batched in numpy), measured in the README.

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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from softswitch.call_record import ChannelLayout
from softswitch.media.recorder import Recorder, RecorderError, Recording, RecordingSummary
from softswitch_codecs.resample import ResampleStream, resample_many

if TYPE_CHECKING:
    from softswitch.media.endpoint import MediaEndpoint
    from softswitch.media.engine import MediaEngine, TickFrames

log = logging.getLogger(__name__)

Pcm = NDArray[np.int16]
ENGINE_RATE_HZ = 8000


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
    ) -> None:
        self.engine = engine
        self.recorder = recorder
        self.store = store
        self._defer = defer
        self._wall_clock = wall_clock
        self._pairs: dict[int, _Pair] = {}  # by call id
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
    ) -> Recording | None:
        """Start recording the two endpoints under `key` (`call_id` is the CDR's); None when the
        file cannot be created (the call goes on, unrecorded)."""
        self.stop(key)
        try:
            recording = self.recorder.start(
                call_id=call_id,
                caller=caller_name,
                callee=callee_name,
                layout=ChannelLayout.STEREO,
                start_ts=self._wall_clock(),
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
        self._pairs[key] = _Pair(key, caller, callee, recording, resamplers)
        self.store.opened(recording, self.recorder.sample_rate, agent)
        log.info("call %d recorded to %s", key, recording.path)
        return recording

    def recording_of(self, key: int) -> Recording | None:
        pair = self._pairs.get(key)
        return None if pair is None else pair.recording

    def pause(self, key: int) -> bool:
        """Silence in the file from the next tick (a card number); False if not recorded."""
        pair = self._pairs.get(key)
        if pair is None:
            return False
        self.recorder.pause(pair.recording)
        self.store.paused(pair.recording, self._marks(pair.recording))
        return True

    def resume(self, key: int) -> bool:
        pair = self._pairs.get(key)
        if pair is None:
            return False
        self.recorder.resume(pair.recording)
        self.store.paused(pair.recording, self._marks(pair.recording))
        return True

    def stop(self, key: int) -> None:
        pair = self._pairs.pop(key, None)
        if pair is not None:
            self._close(pair.recording)

    def stop_all(self) -> None:
        for key in list(self._pairs):
            self._close(self._pairs.pop(key).recording)
        for mix in list(self._mixes):
            self._close_mix(mix)

    # ---- the engine tap ---------------------------------------------------------------
    def tap(self, frames: TickFrames) -> None:
        pairs = [pair for pair in list(self._pairs.values()) if self._open(pair)]
        if pairs:
            self._feed_pairs(pairs, frames)
        if self._mixes:
            self._feed_mixes()
        if (pairs or self._mixes) and not self._flush_scheduled:
            # The seconds due are written after this tick's packets have gone out.
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
        self._flush_scheduled = False
        self.recorder.flush_due()

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
