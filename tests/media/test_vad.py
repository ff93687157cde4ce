"""Voice activity and talk figures: the chunked counter against a frame-by-frame oracle, the
detector on speech, tones, quiet noise and digital silence at 8 and 16 kHz."""

from __future__ import annotations

import itertools
from importlib import resources

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

from softswitch.media.vad import SpeechDetector, TalkCounter, TalkFigures, silence_runs

FRAME_S = 0.02


def prompt_speech(count: int = 20) -> NDArray[np.int16]:
    """Real speech: the shipped English prompts (espeak-ng, 8 kHz), back to back."""
    folder = resources.files("softswitch_prompts").joinpath("en")
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".wav"))
    parts = []
    for name in names[:count]:
        with resources.as_file(folder.joinpath(name)) as path:
            samples, rate = sf.read(path, dtype="int16")
        assert rate == 8000
        parts.append(samples)
    return np.concatenate(parts)


def oracle(left: list[bool], right: list[bool] | None, paused: list[bool]) -> TalkFigures:
    """The figures frame by frame, the obvious way."""
    talk_l = talk_r = both = silence = longest = run = pause = 0
    for i, p in enumerate(paused):
        r = right[i] if right is not None else False
        if p:
            pause += 1
            run = 0
            continue
        talk_l += left[i]
        talk_r += r
        both += left[i] and r
        if not left[i] and not r:
            silence += 1
            run += 1
            longest = max(longest, run)
        else:
            run = 0

    def s(frames: int) -> float:
        return round(frames * FRAME_S, 2)

    return TalkFigures(
        left_talk_s=s(talk_l),
        right_talk_s=s(talk_r) if right is not None else None,
        overtalk_s=s(both) if right is not None else None,
        silence_s=s(silence),
        longest_silence_s=s(longest),
        paused_s=s(pause),
    )


frames_st = st.integers(1, 300).flatmap(
    lambda n: st.tuples(
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(st.integers(1, n), max_size=8),  # where the chunks are cut
        st.booleans(),  # stereo
    )
)


@given(frames_st)
def test_chunked_counter_equals_the_frame_by_frame_oracle(
    case: tuple[list[bool], list[bool], list[bool], list[int], bool],
) -> None:
    left, right, paused, cuts, stereo = case
    counter = TalkCounter(stereo=stereo)
    bounds = [0, *sorted(set(cuts)), len(left)]
    for start, end in itertools.pairwise(bounds):
        if start == end:
            continue
        counter.add(
            np.array(left[start:end]),
            np.array(right[start:end]) if stereo else None,
            np.array(paused[start:end]),
        )
    assert counter.figures() == oracle(left, right if stereo else None, paused)


@given(st.lists(st.booleans(), max_size=200), st.integers(0, 1000))
def test_silence_runs(silent: list[bool], carried: int) -> None:
    longest = run = carried
    for value in silent:
        run = run + 1 if value else 0
        longest = max(longest, run)
    assert silence_runs(np.array(silent, dtype=np.bool_), carried) == (longest, run)


def test_a_side_given_for_a_mono_counter_is_refused() -> None:
    with pytest.raises(ValueError, match="stereo"):
        TalkCounter(stereo=False).add(np.ones(3, bool), np.ones(3, bool), np.zeros(3, bool))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_detector_speech_tone_noise_and_silence(rate: int) -> None:
    detector = SpeechDetector(rate)
    n = rate // 50
    t = np.arange(50 * n) / rate
    tone = np.rint(8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).reshape(50, n)
    quiet = np.random.default_rng(1).normal(0, 10, 50 * n).astype(np.int16).reshape(50, n)
    silence = np.zeros((50, n), dtype=np.int16)
    speech = prompt_speech(4)
    if rate == 16000:
        speech = np.repeat(speech, 2)  # a crude 16 kHz copy: still speech
    frames = speech[: speech.size // n * n].reshape(-1, n)
    assert detector.speech(tone).all()
    assert not detector.speech(quiet).any()  # -70 dBFS line noise: under the gate
    assert not detector.speech(silence).any()
    assert detector.speech(frames).mean() > 0.85  # espeak-ng digits, trimmed: nearly all voiced
    skip = np.zeros(50, dtype=np.bool_)
    skip[10:20] = True
    decided = detector.speech(tone, skip=skip)
    assert not decided[10:20].any() and decided[:10].all() and decided[20:].all()


def test_detector_refuses_frames_of_another_size() -> None:
    with pytest.raises(ValueError, match="int16"):
        SpeechDetector(8000).speech(np.zeros((3, 320), dtype=np.int16))
    with pytest.raises(ValueError):
        SpeechDetector(11025)
