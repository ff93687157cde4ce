"""Tones to play into calls and the measurements that tell what a peer really heard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SILENCE_RMS = 0.01  # full scale 1.0: below this a 20 ms frame counts as silence
FRAME_S = 0.02


def write_tone(path: Path, freq_hz: float, seconds: float, rate_hz: int = 8000) -> Path:
    """Write a mono 16-bit sine at half scale, so that G.711 carries it without clipping."""
    t = np.arange(int(seconds * rate_hz), dtype=np.float64) / rate_hz
    samples = 0.5 * np.sin(2.0 * np.pi * freq_hz * t)
    sf.write(str(path), samples, rate_hz, subtype="PCM_16")
    return path


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """Samples as float64 in [-1, 1] (first channel when there are several) and the rate."""
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return data[:, 0], int(rate)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0


def voiced(samples: np.ndarray, rate_hz: int, skip_s: float = 0.5) -> np.ndarray:
    """The samples after `skip_s`, keeping only 20 ms frames louder than silence.

    The start of a call carries ringback, jitter-buffer fill and codec start-up, so it is skipped.
    """
    frame = int(rate_hz * FRAME_S)
    body = samples[int(skip_s * rate_hz) :]
    n = body.size // frame
    if n == 0:
        return body[:0]
    frames = body[: n * frame].reshape(n, frame)
    loud = np.sqrt(np.mean(np.square(frames), axis=1)) >= SILENCE_RMS
    voiced_frames: np.ndarray = frames[loud]
    return voiced_frames.reshape(-1)


def dominant_frequency(path: Path, skip_s: float = 0.5) -> float:
    """Frequency (Hz) of the strongest peak in the non-silent part of a WAV; 0 when silent."""
    samples, rate = read_mono(path)
    body = voiced(samples, rate, skip_s)
    if body.size < rate // 10:
        return 0.0
    window = np.hanning(body.size)
    spectrum = np.abs(np.fft.rfft(body * window))
    spectrum[0] = 0.0
    freqs = np.fft.rfftfreq(body.size, 1.0 / rate)
    return float(freqs[int(np.argmax(spectrum))])


def voiced_seconds(path: Path, skip_s: float = 0.5) -> float:
    """How many seconds of a recording are louder than silence."""
    samples, rate = read_mono(path)
    return voiced(samples, rate, skip_s).size / rate
