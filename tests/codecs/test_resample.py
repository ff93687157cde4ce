"""8 ⇄ 16 kHz resampling: continuous across 20 ms frames, faithful in band, clean out of band."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st
from spectrum import frames, level_db, peaks_hz, rms, sine, snr_db

from softswitch_codecs import CodecUsageError, ResampleStream, resample_many, resample_offline
from softswitch_codecs.resample import DELAY_SAMPLES_16K

FRAME = {8000: 160, 16000: 320}


def _stream_through(from_hz: int, to_hz: int, samples: np.ndarray) -> np.ndarray:
    stream = ResampleStream(from_hz, to_hz)
    return np.concatenate([stream.process(f) for f in frames(samples, FRAME[from_hz])])


def _speech_band_noise(rate_hz: int, seconds: float, seed: int) -> np.ndarray:
    """Noise with nothing outside 100–3400 Hz: what a telephone channel carries."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(int(rate_hz * seconds)))
    freqs = np.fft.rfftfreq(int(rate_hz * seconds), 1.0 / rate_hz)
    spectrum[(freqs < 100) | (freqs > 3400)] = 0
    noise = np.fft.irfft(spectrum, int(rate_hz * seconds))
    return np.asarray(np.rint(noise / np.abs(noise).max() * 12000), dtype=np.int16)


@pytest.mark.parametrize(("from_hz", "to_hz"), [(8000, 16000), (16000, 8000)])
def test_frame_by_frame_equals_one_pass_so_no_frame_boundary_is_heard(
    from_hz: int, to_hz: int
) -> None:
    """100 frames of 20 ms, each alone, give what one call over the whole tone gives.

    Within one LSB: float32 sums in another order can round a sample the other way.
    """
    tone = sine(1000.0, from_hz, 2.0)
    whole = ResampleStream(from_hz, to_hz).process(tone).astype(np.int32)
    framed = _stream_through(from_hz, to_hz, tone).astype(np.int32)
    assert framed.shape == whole.shape
    assert np.abs(framed - whole).max() <= 1


@pytest.mark.parametrize(("from_hz", "to_hz"), [(8000, 16000), (16000, 8000)])
def test_tone_across_many_frames_has_no_click(from_hz: int, to_hz: int) -> None:
    """A click is a sample-to-sample jump larger than the sine itself can make."""
    freq_hz, amplitude = 1000.0, 10000.0
    out = _stream_through(from_hz, to_hz, sine(freq_hz, from_hz, 2.0, amplitude))
    steady = out[4 * DELAY_SAMPLES_16K :].astype(np.float64)
    largest_step = 2 * np.pi * freq_hz / to_hz * amplitude
    assert np.abs(np.diff(steady)).max() <= largest_step * 1.01
    assert abs(peaks_hz(steady, to_hz)[0] - freq_hz) <= 3
    assert rms(steady) == pytest.approx(amplitude / np.sqrt(2), rel=0.01)


@pytest.mark.parametrize(("from_hz", "to_hz"), [(8000, 16000), (16000, 8000)])
def test_matches_soxr_at_its_best_quality_in_the_telephone_band(from_hz: int, to_hz: int) -> None:
    """soxr 'VHQ' (non-streaming, delay-compensated) is the oracle; ours lags it by 2 ms."""
    noise = _speech_band_noise(from_hz, 2.0, seed=7)
    ours = _stream_through(from_hz, to_hz, noise).astype(np.float64)
    oracle = soxr.resample(noise.astype(np.float64), from_hz, to_hz, quality="VHQ")
    lag = DELAY_SAMPLES_16K * to_hz // 16000
    skip = to_hz // 10
    n = ours.size - lag - 2 * skip
    assert snr_db(oracle[skip : skip + n], ours[skip + lag : skip + lag + n]) >= 60  # measured 77


@pytest.mark.parametrize("freq_hz", [4700.0, 6000.0, 7500.0])
def test_down_removes_what_8khz_cannot_carry_instead_of_aliasing_it(freq_hz: float) -> None:
    out = _stream_through(16000, 8000, sine(freq_hz, 16000, 1.0))
    assert rms(out[800:]) < 10000 / np.sqrt(2) * 10 ** (-60 / 20)


@pytest.mark.parametrize("freq_hz", [300.0, 1000.0, 3400.0])
def test_up_leaves_no_image_above_4khz(freq_hz: float) -> None:
    out = _stream_through(8000, 16000, sine(freq_hz, 8000, 1.0))
    # Zero-stuffing mirrors every tone about 4 kHz; the filter must take the mirror out.
    assert level_db(out[1600:], 8000 - freq_hz, 16000) < -60


def test_batch_of_legs_equals_each_leg_alone() -> None:
    rng = np.random.default_rng(3)
    signals = rng.integers(-20000, 20000, size=(5, 1600), dtype=np.int16)
    streams = [ResampleStream(8000, 16000) for _ in range(5)]
    batched = np.concatenate(
        [resample_many(streams, signals[:, i : i + 160]) for i in range(0, 1600, 160)], axis=1
    )
    for row in range(5):
        alone = _stream_through(8000, 16000, signals[row]).astype(np.int32)
        assert np.abs(batched[row].astype(np.int32) - alone).max() <= 1  # float32 rounding only


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 8), st.integers(1, 20), st.sampled_from([8000, 16000]))
def test_full_scale_noise_never_wraps_around(legs: int, pairs: int, from_hz: int) -> None:
    rng = np.random.default_rng(legs * 100 + pairs)
    pcm = rng.choice(np.array([-32768, 32767], np.int16), size=(legs, 2 * pairs))
    to_hz = 24000 - from_hz
    out = resample_many([ResampleStream(from_hz, to_hz) for _ in range(legs)], pcm)
    assert out.dtype == np.int16 and out.shape == (legs, 2 * pairs * to_hz // from_hz)


def test_misuse_is_a_usage_error() -> None:
    with pytest.raises(CodecUsageError):
        ResampleStream(8000, 44100)
    with pytest.raises(CodecUsageError):
        resample_many(
            [ResampleStream(8000, 16000), ResampleStream(16000, 8000)], np.zeros((2, 4), np.int16)
        )
    with pytest.raises(CodecUsageError):
        resample_many([ResampleStream(16000, 8000)], np.zeros((1, 3), np.int16))
    with pytest.raises(CodecUsageError):
        resample_many([], np.zeros((0, 4), np.int16))


def test_offline_resampling_of_a_whole_file_keeps_pitch_and_level() -> None:
    """espeak-ng speaks at 22 050 Hz: prompts come down to 8 kHz through soxr."""
    t = np.arange(22050) / 22050
    tone = 0.5 * np.sin(2 * np.pi * 700 * t)
    out = resample_offline(tone, 22050, 8000)
    assert out.size == 8000
    assert abs(peaks_hz(out, 8000)[0] - 700) <= 2
    assert rms(out[400:-400]) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
