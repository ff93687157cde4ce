"""Plays audio to engine legs: prompt lists, TTS output, tones, silence; one processor per tick.

A `Player` is a tick processor (media/engine.py). `play(leg, items, on_finished)` queues clips
for a leg; every tick each playing leg gets its next 160 samples in `frames.say` (silence
between and after clips, so the leg's stream never stops while it is attached here). When the
last clip has played, `on_finished(PlaybackFinished)` is called in that tick. `stop(leg)` ends
the leg's playback at once: whatever takes the leg next owns the very next tick, so an agent
answering cuts a prompt with no 20 ms of it left over.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from softswitch.media.engine import TickFrames
from softswitch.media.engine_leg import EngineLeg
from softswitch.media.tones import Tone, TonePlayer

FRAME = 160  # samples of one tick at the engine's 8 kHz


@dataclass(frozen=True, slots=True)
class Clip:
    """Audio to play once: a prompt or TTS output, `int16[samples]` at 8 kHz."""

    audio: npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class ToneClip:
    """A tone (media/tones.py) for `seconds`; a one-shot tone also stops at its own end."""

    tone: Tone
    seconds: float


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float


PlayItem = Clip | ToneClip | Pause


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """Every queued item of a leg has played (`interrupted` False) or `stop` cut it."""

    leg: EngineLeg
    interrupted: bool


class _Playback:
    __slots__ = ("current", "items", "on_finished", "position", "tone")

    def __init__(self, on_finished: Callable[[PlaybackFinished], None] | None) -> None:
        self.items: deque[PlayItem] = deque()
        self.current: PlayItem | None = None
        self.position = 0  # samples of `current` played
        self.tone: TonePlayer | None = None
        self.on_finished = on_finished

    def next_frame(self, out: npt.NDArray[np.int16]) -> bool:
        """Write the next frame into `out` (zeroed); False when nothing is left to play."""
        filled = 0
        while filled < FRAME:
            item = self.current
            if item is None:
                if not self.items:
                    return filled > 0
                item = self.current = self.items.popleft()
                self.position = 0
                self.tone = item.tone.player() if isinstance(item, ToneClip) else None
            want = FRAME - filled
            if isinstance(item, Clip):
                chunk = item.audio[self.position : self.position + want]
                out[filled : filled + chunk.size] = chunk
                taken = chunk.size
                done = self.position + taken >= item.audio.size
            elif isinstance(item, ToneClip):
                assert self.tone is not None
                total = round(item.seconds * 8000)
                taken = min(want, total - self.position)
                if taken == FRAME and filled == 0:
                    out[:] = self.tone.next_frame()
                elif taken > 0:
                    out[filled : filled + taken] = self.tone.next_frame()[:taken]
                done = self.position + taken >= total or self.tone.finished
            else:
                total = round(item.seconds * 8000)
                taken = min(want, total - self.position)
                done = self.position + taken >= total
            self.position += taken
            filled += taken
            if done:
                self.current = None
        return True


class Player:
    """The tick processor that plays queued items to its legs."""

    def __init__(self) -> None:
        self._playing: dict[EngineLeg, _Playback] = {}
        self._idle: set[EngineLeg] = set()  # attached, nothing queued: they hear silence

    def hold(self, leg: EngineLeg) -> None:
        """Send the leg silence until something is played to it (the stream keeps going)."""
        self._idle.add(leg)

    def play(
        self,
        leg: EngineLeg,
        items: Iterable[PlayItem],
        on_finished: Callable[[PlaybackFinished], None] | None = None,
    ) -> None:
        """Queue `items` after what the leg is playing; `on_finished` replaces the earlier one."""
        playback = self._playing.get(leg)
        if playback is None:
            playback = self._playing[leg] = _Playback(on_finished)
        elif on_finished is not None:
            playback.on_finished = on_finished
        playback.items.extend(items)
        self._idle.add(leg)

    def stop(self, leg: EngineLeg, *, forget: bool = False) -> None:
        """Cut the leg's playback now (its `on_finished` says interrupted); `forget` also stops
        its silence: the leg is leaving the player."""
        playback = self._playing.pop(leg, None)
        if forget:
            self._idle.discard(leg)
        if playback is not None and playback.on_finished is not None:
            playback.on_finished(PlaybackFinished(leg, True))

    def playing(self, leg: EngineLeg) -> bool:
        return leg in self._playing

    def process(self, frames: TickFrames) -> None:
        say, send = frames.say, frames.send
        finished: list[tuple[EngineLeg, _Playback]] = []
        for leg in self._idle:
            row = leg.row
            if row < 0:
                continue
            send[row] = True
            playback = self._playing.get(leg)
            if playback is not None and not playback.next_frame(say[row]):
                finished.append((leg, playback))
        for leg, playback in finished:
            if self._playing.get(leg) is playback:
                del self._playing[leg]
                if playback.on_finished is not None:
                    playback.on_finished(PlaybackFinished(leg, False))
