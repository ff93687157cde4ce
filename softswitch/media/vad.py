"""Voice activity in recorded audio: which 20 ms frames hold speech, and a recording's talk figures.

`SpeechDetector` asks webrtcvad (the WebRTC GMM detector) about each frame, but only about frames
louder than a gate: a frame below it is silence without a call (a listening side is most of a
call, and each call costs microseconds of Python and C). 16 kHz audio is halved to 8 kHz first:
webrtcvad itself downsamples 16 kHz input to 8 kHz before its analysis, so this only changes the
cost (measured here: 6.0 us per 16 kHz frame, 2.5 us per 8 kHz frame).

`TalkCounter` turns those decisions, chunk by chunk, into talk time per side, overtalk, silence
and the longest silence, in whole frames (exact integers); paused frames count in none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import webrtcvad
from numpy.typing import NDArray

FRAME_S: Final = 0.02  # one tick; webrtcvad accepts 10, 20 or 30 ms frames
VAD_RATE_HZ: Final = 8000
DEFAULT_MODE: Final = 2  # webrtcvad aggressiveness, 0 (least) to 3 (most eager to say "no")
# A frame's peak, about 20 dB under the quietest speech a phone line carries and above its idle
# noise (-70 dBFS of white noise peaks near -57 dBFS); webrtcvad alone takes -60 dBFS (RMS) of
# white noise for speech in 5 % of frames here.
DEFAULT_GATE_DBFS: Final = -50.0
FULL_SCALE: Final = 32768.0

BoolArray = NDArray[np.bool_]


class SpeechDetector:
    """Per-frame speech decisions over `int16[frames, samples]` at 8 or 16 kHz, for one stream.

    webrtcvad adapts its noise and speech models to what it has heard and holds a decision over a
    few frames, so each channel of each recording needs a detector of its own.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        mode: int = DEFAULT_MODE,
        gate_dbfs: float = DEFAULT_GATE_DBFS,
    ) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError(f"voice activity at 8000 or 16000 Hz, not {sample_rate}")
        self.sample_rate = sample_rate
        self.frame_samples = round(sample_rate * FRAME_S)
        self._vad = webrtcvad.Vad(mode)
        samples_8k = round(VAD_RATE_HZ * FRAME_S)
        self._gate_peak = round(FULL_SCALE * 10 ** (gate_dbfs / 20))
        self._frame_bytes = samples_8k * 2

    def speech(self, frames: NDArray[np.int16], skip: BoolArray | None = None) -> BoolArray:
        """True for each frame (a row, may be strided) that holds speech; frames marked in
        `skip` are not looked at."""
        if frames.ndim != 2 or frames.shape[1] != self.frame_samples:
            raise ValueError(f"frames must be int16[n, {self.frame_samples}], got {frames.shape}")
        # Peak, not power: two int16 reductions, no conversion of the whole chunk.
        peak = np.maximum(frames.max(axis=1).astype(np.int32), -frames.min(axis=1).astype(np.int32))
        candidates = peak > self._gate_peak
        if skip is not None:
            candidates &= ~skip
        decided = np.zeros(frames.shape[0], dtype=np.bool_)
        if not candidates.any():
            return decided
        indices = np.flatnonzero(candidates)
        loud = frames[indices]  # a contiguous copy of just those frames
        if self.sample_rate == 16000:
            # The mean of each sample pair: a 2-tap low-pass, enough against aliasing into a
            # detector that weighs bands below 4 kHz.
            wide = loud.astype(np.int32)
            loud = ((wide[:, 0::2] + wide[:, 1::2]) >> 1).astype(np.int16)
        data = memoryview(loud.tobytes())
        size = self._frame_bytes
        is_speech = self._vad.is_speech
        decided[indices] = [
            is_speech(data[start : start + size], VAD_RATE_HZ)
            for start in range(0, len(data), size)
        ]
        return decided


@dataclass(frozen=True)
class TalkFigures:
    """A recording's conversation figures in seconds; the sides are None for a mono mix."""

    left_talk_s: float  # the caller (or, for a mix, anyone)
    right_talk_s: float | None  # the other party
    overtalk_s: float | None  # both at once
    silence_s: float  # nobody
    longest_silence_s: float
    paused_s: float  # not analysed: recorded as silence on request


class TalkCounter:
    """Incremental talk figures of one recording, fed its frames' decisions chunk by chunk."""

    __slots__ = (
        "_left",
        "_longest",
        "_overtalk",
        "_paused",
        "_right",
        "_run",
        "_silence",
        "stereo",
    )

    def __init__(self, *, stereo: bool) -> None:
        self.stereo = stereo
        self._left = self._right = self._overtalk = self._silence = self._paused = 0
        self._longest = 0
        self._run = 0  # silent frames at the end of what was added so far

    def add(self, left: BoolArray, right: BoolArray | None, paused: BoolArray) -> None:
        """Add consecutive frames: speech on each side and which frames were paused."""
        if (right is not None) != self.stereo:
            raise ValueError("right-side decisions are given exactly for stereo recordings")
        active = ~paused
        talking = left if right is None else left | right
        self._paused += int(paused.sum())
        self._left += int((left & active).sum())
        if right is not None:
            self._right += int((right & active).sum())
            self._overtalk += int((left & right & active).sum())
        silent = ~talking & active
        self._silence += int(silent.sum())
        longest, self._run = silence_runs(silent, self._run)
        self._longest = max(self._longest, longest)

    def figures(self) -> TalkFigures:
        def seconds(frames: int) -> float:
            return round(frames * FRAME_S, 2)

        return TalkFigures(
            left_talk_s=seconds(self._left),
            right_talk_s=seconds(self._right) if self.stereo else None,
            overtalk_s=seconds(self._overtalk) if self.stereo else None,
            silence_s=seconds(self._silence),
            longest_silence_s=seconds(self._longest),
            paused_s=seconds(self._paused),
        )


def silence_runs(silent: BoolArray, carried: int) -> tuple[int, int]:
    """(longest run of True, trailing run) in `silent`, its first run extending `carried`.

    A paused frame is False here, so a pause ends a silence: what was not heard is not counted.
    """
    breaks = np.flatnonzero(~silent)
    if breaks.size == 0:
        run = carried + int(silent.size)
        return run, run
    first = carried + int(breaks[0])
    trailing = int(silent.size - 1 - breaks[-1])
    inner = int((np.diff(breaks) - 1).max()) if breaks.size > 1 else 0
    return max(first, inner, trailing), trailing
