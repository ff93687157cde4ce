"""Test signals at 8 kHz: DTMF digits with level, twist and frequency error, noise, and speech.

Speech comes two ways: espeak-ng reading a text (when installed), and a synthetic talker that
needs no program: glottal pulse trains at a wandering pitch through vowel formants, noisy
fricatives, syllable envelopes and pauses. Both are what an in-band detector must stay silent
on.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from softswitch.media.dtmf_inband import COLUMNS_HZ, FULL_SCALE_DBM0, KEYPAD, ROWS_HZ

RATE = 8000


def amplitude(dbm0: float) -> float:
    return 32767.0 * 10 ** ((dbm0 - FULL_SCALE_DBM0) / 20)


def dtmf(
    digit: str,
    ms: float,
    dbm0: float = -10.0,
    twist_db: float = 0.0,
    offset: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A digit's tone pair, float64; `twist_db` > 0 makes the column (high) tone louder;
    `offset` shifts both frequencies by that fraction."""
    rng = rng or np.random.default_rng(0)
    row, column = next(
        (r, c) for r, keys in enumerate(KEYPAD) for c, k in enumerate(keys) if k == digit
    )
    t = np.arange(int(RATE * ms / 1000)) / RATE
    low = amplitude(dbm0 - twist_db / 2) * np.sin(
        2 * np.pi * ROWS_HZ[row] * (1 + offset) * t + rng.uniform(0, 2 * np.pi)
    )
    high = amplitude(dbm0 + twist_db / 2) * np.sin(
        2 * np.pi * COLUMNS_HZ[column] * (1 + offset) * t + rng.uniform(0, 2 * np.pi)
    )
    return low + high


def silence(ms: float) -> np.ndarray:
    return np.zeros(int(RATE * ms / 1000))


def noise(ms: float, dbm0: float, rng: np.random.Generator) -> np.ndarray:
    """White noise of that total power (dBm0 of a sine of equal power)."""
    return rng.normal(0, amplitude(dbm0) / np.sqrt(2), int(RATE * ms / 1000))


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def frames(x: np.ndarray, samples: int = 160) -> np.ndarray:
    """int16[ticks, samples], padding the end with silence."""
    pad = -len(x) % samples
    return to_int16(np.concatenate([x, np.zeros(pad)])).reshape(-1, samples)


# Formants (F1, F2, F3 in Hz) of a few vowels, adult male, after Peterson & Barney (1952).
VOWELS = (
    (730, 1090, 2440),
    (270, 2290, 3010),
    (530, 1840, 2480),
    (660, 1720, 2410),
    (300, 870, 2240),
    (640, 1190, 2390),
    (490, 1350, 1690),
    (440, 1020, 2240),
)


def _formant_filter(freqs_hz: tuple[int, ...], n: int) -> np.ndarray:
    """Frequency response (rfft bins of length n) of resonators at those formants."""
    f = np.fft.rfftfreq(n, 1 / RATE)
    response = np.zeros_like(f)
    for k, formant in enumerate(freqs_hz):
        bandwidth = 60.0 + 40.0 * k
        response += (1.0 / (k + 1)) / (1 + ((f - formant) / (bandwidth / 2)) ** 2)
    return response


def synthetic_speech(seconds: float, rng: np.random.Generator, dbm0: float = -15.0) -> np.ndarray:
    """A speech-like signal: syllables of voiced vowels and noisy consonants with pauses."""
    out: list[np.ndarray] = []
    total = int(seconds * RATE)
    made = 0
    while made < total:
        if rng.random() < 0.15:
            piece = np.zeros(int(RATE * rng.uniform(0.05, 0.4)))  # a pause
        else:
            n = int(RATE * rng.uniform(0.12, 0.35))
            t = np.arange(n) / RATE
            # Pitch wanders like intonation, with vibrato and jitter: 80..260 Hz.
            f0 = rng.uniform(80, 260) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(1, 5) * t))
            f0 *= 1 + 0.01 * rng.standard_normal(n)
            phase = np.cumsum(2 * np.pi * f0 / RATE)
            pulses = np.diff(np.floor(phase / (2 * np.pi)), prepend=0.0)  # one per period
            voiced = np.fft.irfft(
                np.fft.rfft(pulses) * _formant_filter(VOWELS[rng.integers(len(VOWELS))], n), n
            )
            if rng.random() < 0.4:
                hiss = rng.standard_normal(n)
                spectrum = np.fft.rfft(hiss)
                spectrum[np.fft.rfftfreq(n, 1 / RATE) < rng.uniform(1500, 3000)] *= 0.05
                voiced = voiced / (np.std(voiced) + 1e-9) + 0.7 * np.fft.irfft(spectrum, n) / (
                    np.std(hiss) + 1e-9
                )
            envelope = np.sin(np.pi * np.arange(n) / n) ** 0.6
            piece = voiced * envelope
            piece *= amplitude(dbm0 + rng.uniform(-8, 6)) / (np.sqrt(2) * np.std(piece) + 1e-9)
        out.append(piece)
        made += len(piece)
    return np.concatenate(out)[:total]


def resample(x: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    """Band-limited resampling of a whole signal through its spectrum."""
    n_to = round(len(x) * rate_to / rate_from)
    spectrum = np.fft.rfft(x)
    keep = n_to // 2 + 1
    return np.fft.irfft(spectrum[:keep], n_to) * (n_to / len(x))


ESPEAK = shutil.which("espeak-ng")
SPEECH_TEXT = {
    "en": (
        "Thank you for calling. All of our agents are busy at the moment. Please hold, and "
        "the next available agent will be with you shortly. You are caller number three. "
        "Please leave a message after the tone. For sales, press one. For support, press two. "
        "To hear these options again, please stay on the line. Goodbye, and have a nice day. "
        "Our opening hours are nine to five, Monday to Friday. Your call is important to us. "
    ),
    "cmn": "感谢您的来电。所有座席都在忙，请稍候。您是第三位来电者。请在提示音后留言。谢谢，再见。",
}


def espeak_speech(seconds: float, voice: str = "en", dbm0: float = -15.0) -> np.ndarray:
    """espeak-ng reading the prompt texts until `seconds` are filled, at 8 kHz."""
    assert ESPEAK is not None
    pieces: list[np.ndarray] = []
    speed = 130
    with tempfile.TemporaryDirectory() as tmp:
        while sum(map(len, pieces)) < seconds * RATE:
            path = Path(tmp) / f"{len(pieces)}.wav"
            subprocess.run(
                [
                    ESPEAK,
                    "-v",
                    voice,
                    "-s",
                    str(speed),
                    "-p",
                    str(30 + 10 * len(pieces) % 50),
                    "-w",
                    str(path),
                    SPEECH_TEXT[voice],
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            data, rate = sf.read(str(path), dtype="float64")
            pieces.append(resample(data, rate, RATE))
            speed += 25
    speech = np.concatenate(pieces)[: int(seconds * RATE)]
    loud = speech[np.abs(speech) > 1e-3]
    return speech * amplitude(dbm0) / (np.sqrt(2) * np.std(loud))
