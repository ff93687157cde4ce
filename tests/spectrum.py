"""Signals and measurements over numpy arrays, for tests of codecs, resamplers and tones."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def sine(freq_hz: float, rate_hz: int, seconds: float, amplitude: float = 10000.0) -> np.ndarray:
    """An int16 sine starting at phase 0."""
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return np.asarray(np.rint(amplitude * np.sin(2 * np.pi * freq_hz * t)), dtype=np.int16)


def frames(samples: np.ndarray, size: int) -> list[np.ndarray]:
    """`samples` cut into consecutive frames of `size` (the tail that does not fill one dropped)."""
    return [samples[i : i + size] for i in range(0, samples.size - size + 1, size)]


def peaks_hz(
    samples: np.ndarray, rate_hz: int, count: int = 1, apart_hz: float = 20.0
) -> list[float]:
    """The `count` strongest spectral peaks (Hz, strongest first), at least `apart_hz` apart."""
    x = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1.0 / rate_hz)
    spectrum[freqs < 50] = 0.0
    found: list[float] = []
    for index in np.argsort(spectrum)[::-1]:
        f = float(freqs[index])
        if all(abs(f - g) >= apart_hz for g in found):
            found.append(f)
        if len(found) == count:
            break
    return found


def level_db(samples: np.ndarray, freq_hz: float, rate_hz: int) -> float:
    """Power at `freq_hz` (±20 Hz) relative to the whole signal's power, in dB."""
    x = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / rate_hz)
    band = spectrum[np.abs(freqs - freq_hz) <= 20].sum()
    return float(10 * np.log10(band / spectrum.sum() + 1e-30))


def best_delay(reference: np.ndarray, signal: np.ndarray, max_delay: int) -> int:
    """The delay (samples) by which `signal` lags `reference` most closely."""
    ref = reference.astype(np.float64)
    sig = signal.astype(np.float64)
    n = ref.size - max_delay
    errors = [np.sum((ref[:n] - sig[d : d + n]) ** 2) for d in range(max_delay + 1)]
    return int(np.argmin(errors))


def snr_db(reference: NDArray[np.generic], signal: NDArray[np.generic]) -> float:
    """Signal-to-noise ratio of `signal` against an aligned `reference` of the same length."""
    ref = reference.astype(np.float64)
    noise = signal.astype(np.float64) - ref
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(noise**2), 1e-30)))


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0
