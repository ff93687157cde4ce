"""Music on hold: one looping source per class, heard by every leg listening to that class.

A class is a folder of tracks (media/prompts.py `moh_tracks`), decoded once when the first
listener arrives and played in a loop. Every tick the class's next 160 samples are taken once
and written to every listener's row, so a hundred callers on hold cost one frame of work, and
they all hear the same point of the music (as a radio does). A class nobody hears stops where it
is and resumes there for its next listener.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from softswitch.media.engine import TickFrames
from softswitch.media.engine_leg import EngineLeg
from softswitch.media.prompts import PromptLibrary, read_audio

FRAME = 160  # samples of one tick at the engine's 8 kHz
MOH_CLASS = "default"  # the class every held party hears unless told otherwise

Pcm = npt.NDArray[np.int16]
TrackLoader = Callable[[str], Sequence[Pcm]]  # class name -> its tracks, int16 at 8 kHz


class _Source:
    """The class's tracks joined into one loop, and where the loop is."""

    __slots__ = ("audio", "listeners", "position")

    def __init__(self, tracks: Sequence[Pcm]) -> None:
        joined = np.concatenate([np.asarray(t, dtype=np.int16) for t in tracks]) if tracks else None
        if joined is None or joined.size == 0:
            joined = np.zeros(FRAME, dtype=np.int16)  # an empty class plays silence
        self.audio: Pcm = joined
        self.position = 0
        self.listeners: set[EngineLeg] = set()

    def next_frame(self) -> Pcm:
        audio, start = self.audio, self.position
        end = start + FRAME
        if end <= audio.size:
            frame = audio[start:end]
        else:  # the loop's seam
            frame = np.concatenate([audio[start:], np.resize(audio, end - audio.size)])
        self.position = end % audio.size
        return frame


class MusicOnHold:
    """The tick processor for every music-on-hold listener, of every class."""

    def __init__(self, load: TrackLoader) -> None:
        self._load = load
        self._sources: dict[str, _Source] = {}
        self._class_of: dict[EngineLeg, str] = {}
        self.frames_made = 0  # frames taken from sources: one per class per tick, not per leg

    def listen(self, leg: EngineLeg, class_name: str = MOH_CLASS) -> None:
        """The leg hears the class from its current point (raises what `load` raises for an
        unknown class, before anything changes)."""
        source = self._sources.get(class_name)
        if source is None:
            source = self._sources[class_name] = _Source(self._load(class_name))
        self.stop(leg)
        source.listeners.add(leg)
        self._class_of[leg] = class_name

    def stop(self, leg: EngineLeg) -> None:
        class_name = self._class_of.pop(leg, None)
        if class_name is not None:
            self._sources[class_name].listeners.discard(leg)

    def listening(self, leg: EngineLeg) -> bool:
        return leg in self._class_of

    @property
    def listeners(self) -> int:
        return len(self._class_of)

    def process(self, frames: TickFrames) -> None:
        say, send = frames.say, frames.send
        for source in self._sources.values():
            rows = [leg.row for leg in source.listeners if leg.row >= 0 and not leg.leaving]
            if not rows:
                continue
            say[rows] = source.next_frame()
            send[rows] = True
            self.frames_made += 1


def library_tracks(library: PromptLibrary) -> TrackLoader:
    """Load a class's tracks from a prompt library (the user's folder first, then ours)."""

    def load(class_name: str) -> list[Pcm]:
        return [read_audio(t.read_bytes(), str(t)) for t in library.moh_tracks(class_name)]

    return load
