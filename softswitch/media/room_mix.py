"""The numpy side of a conference tick, for calls/conference.py (calls/ imports no numpy).

`RoomMixPass.run` gathers every member's decoded frame from the engine's rows into the mixer's
rows, mixes every room in one `Mixer.mix`, and scatters what each member hears back to the
engine's rows; `overlay` adds a prompt or beep on top of a row, saturated to int16.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from softswitch.media.mixer import INT16_MAX, INT16_MIN, Int16Frames, Mixer
from softswitch.media.tones import Tone, ToneKind, tone_plan


class RoomMixPass:
    """Keeps the mixer's input array from tick to tick (a fresh one costs page faults)."""

    def __init__(self, mixer: Mixer) -> None:
        self.mixer = mixer
        self._mix_in = np.zeros((0, mixer.frame_samples), dtype=np.int16)

    def run(
        self,
        heard: Int16Frames,
        say: Int16Frames,
        send: npt.NDArray[np.bool_],
        engine_rows: Sequence[int],
        mixer_rows: Sequence[int],
    ) -> None:
        mixer = self.mixer
        if self._mix_in.shape != (mixer.rows, mixer.frame_samples):
            self._mix_in = np.zeros((mixer.rows, mixer.frame_samples), dtype=np.int16)
        engine = np.asarray(engine_rows, dtype=np.intp)
        rows = np.asarray(mixer_rows, dtype=np.intp)
        self._mix_in[rows] = heard[engine]
        out = mixer.mix(self._mix_in)
        say[engine] = out[rows]
        send[engine] = True


def overlay(say: Int16Frames, row: int, chunk: Int16Frames) -> None:
    """Add `chunk` (at most a frame) to the start of `say[row]`, saturated."""
    if chunk.size:
        mixed = say[row, : chunk.size].astype(np.int32) + chunk
        say[row, : chunk.size] = np.clip(mixed, np.int32(INT16_MIN), np.int32(INT16_MAX))


def beep(country: str) -> Int16Frames:
    """The country's beep tone, once, as int16 samples at 8 kHz."""
    tone = Tone(tone_plan(country).tone(ToneKind.BEEP))
    samples: Int16Frames = tone.render(np.zeros(1, dtype=np.int64), tone.length)[0]
    return samples


def joined(pieces: Sequence[Int16Frames]) -> Int16Frames:
    """Prompts played one after the other, as one array."""
    if not pieces:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate(list(pieces))
