"""Compose the default music on hold: soft chords and arpeggios, synthesized with numpy.

Nothing is sampled or copied: every note is a sum of sine partials with a plucked or a pad
envelope, over a chord progression in C major written out below, with a reverb tail made from
seeded noise. The result is deterministic and royalty-free by construction:

    python scripts/make_moh.py                          # prompts/moh/default/arpeggios.wav
    python scripts/make_moh.py --seconds 30 --out /tmp/moh.wav

Written as a µ-law WAV at 8 kHz: the encoding a G.711 call carries anyway, half the size of
16-bit PCM (about 1.1 MB for the 137 s piece). All partials stay under 3.6 kHz and the bass is
voiced through its harmonics, so a telephone (300–3400 Hz) hears all of it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "prompts" / "moh" / "default" / "arpeggios.wav"
RATE_HZ = 8000
BPM = 72.0
BEAT_S = 60.0 / BPM
BAR_S = 4 * BEAT_S
NYQUIST_GUARD_HZ = 3600.0

# Chords as MIDI note numbers (C4 = 60), one chord per bar.
CHORDS = {
    "Cmaj7": (60, 64, 67, 71),
    "Am7": (57, 60, 64, 67),
    "Fmaj7": (53, 57, 60, 64),
    "G6": (55, 59, 62, 64),
    "Dm7": (50, 53, 57, 60),
    "G7": (55, 59, 62, 65),
    "Em7": (52, 55, 59, 62),
    "Fm6": (53, 56, 60, 62),
}
SECTION_A = ("Cmaj7", "Am7", "Fmaj7", "G6") * 2
SECTION_B = ("Dm7", "G7", "Em7", "Am7", "Fmaj7", "Fm6", "Cmaj7", "G7")
FORM = (SECTION_A, SECTION_B, SECTION_A, SECTION_B, SECTION_A)
# Eighth-note arpeggios as indexes into the chord (4.. = the chord an octave up).
PATTERN_A = (0, 1, 2, 3, 4, 3, 2, 1)
PATTERN_B = (0, 2, 4, 5, 6, 5, 4, 2)
# A slow melody over section B: (beat within the bar, chord index an octave up, beats long).
MELODY_B = ((0.0, 6, 1.5), (1.5, 5, 0.5), (2.0, 4, 2.0))


def midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


@dataclass(frozen=True)
class Voice:
    """A timbre: relative partial amplitudes, attack and decay (decay None: held, then released)."""

    partials: tuple[float, ...]
    attack_s: float
    decay_s: float | None
    release_s: float


PLUCK = Voice((1.0, 0.45, 0.2, 0.08), attack_s=0.006, decay_s=0.9, release_s=0.15)
PAD = Voice((1.0, 0.3, 0.1), attack_s=0.6, decay_s=None, release_s=0.8)
BASS = Voice((0.35, 1.0, 0.7, 0.4, 0.2), attack_s=0.01, decay_s=1.6, release_s=0.3)
BELL = Voice((1.0, 0.25, 0.1), attack_s=0.01, decay_s=1.4, release_s=0.3)


def add_note(
    track: NDArray[np.float64],
    voice: Voice,
    note: float,
    start_s: float,
    length_s: float,
    gain: float,
) -> None:
    """Mix one note into `track` (in place)."""
    start = round(start_s * RATE_HZ)
    total = round((length_s + voice.release_s) * RATE_HZ)
    total = min(total, track.size - start)
    if total <= 0:
        return
    t = np.arange(total) / RATE_HZ
    envelope = np.minimum(t / voice.attack_s, 1.0)
    if voice.decay_s is not None:
        envelope = envelope * np.exp(-t / voice.decay_s)
    held = t < length_s
    envelope = np.where(held, envelope, envelope * np.exp(-(t - length_s) / (voice.release_s / 4)))
    base = midi_hz(note)
    sound = np.zeros(total)
    for k, amplitude in enumerate(voice.partials, start=1):
        for detune in (0.9985, 1.0015) if voice is PAD else (1.0,):
            freq = base * k * detune
            if freq < NYQUIST_GUARD_HZ:
                sound += amplitude * np.sin(2 * np.pi * freq * t)
    track[start : start + total] += gain * envelope * sound


def reverb(
    dry: NDArray[np.float64], seconds: float = 1.2, wet: float = 0.22
) -> NDArray[np.float64]:
    """A small room: convolution with exponentially decaying seeded noise."""
    rng = np.random.default_rng(8000)
    n = round(seconds * RATE_HZ)
    impulse = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.25 * RATE_HZ))
    impulse /= np.sqrt(np.sum(impulse**2))
    size = 1 << int(np.ceil(np.log2(dry.size + n)))
    tail = np.fft.irfft(np.fft.rfft(dry, size) * np.fft.rfft(impulse, size), size)[: dry.size]
    return np.asarray((1 - wet) * dry + wet * tail, dtype=np.float64)


def compose(seconds: float) -> NDArray[np.float64]:
    """The piece, looped through its form to `seconds` long, in [-1, 1]."""
    bars = [(chord, section) for section in FORM for chord in section]
    count = int(np.ceil(seconds / BAR_S))
    track = np.zeros(round(seconds * RATE_HZ) + RATE_HZ)
    for bar in range(count):
        chord_name, section = bars[bar % len(bars)]
        chord = CHORDS[chord_name]
        start = bar * BAR_S
        tones = [*chord, *(n + 12 for n in chord)]
        for note in chord:
            add_note(track, PAD, note, start, BAR_S, 0.05)
        add_note(track, BASS, chord[0] - 12, start, 2 * BEAT_S, 0.09)
        add_note(track, BASS, chord[0] - 12 + 7, start + 2 * BEAT_S, 2 * BEAT_S, 0.06)
        pattern = PATTERN_A if section is SECTION_A else PATTERN_B
        for step, index in enumerate(pattern):
            accent = 1.0 if step % 4 == 0 else 0.75
            add_note(
                track,
                PLUCK,
                tones[index] + 12,
                start + step * BEAT_S / 2,
                BEAT_S / 2,
                0.11 * accent,
            )
        if section is SECTION_B:
            for beat, index, beats in MELODY_B:
                add_note(
                    track, BELL, tones[index] + 12, start + beat * BEAT_S, beats * BEAT_S, 0.12
                )
    track = reverb(track[: round(seconds * RATE_HZ)])
    fade = round(0.5 * RATE_HZ)  # the loop point: in and out of silence, not a cut mid-note
    track[:fade] *= np.linspace(0.0, 1.0, fade)
    track[-fade:] *= np.linspace(1.0, 0.0, fade)
    return np.asarray(track * (0.5 / np.abs(track).max()), dtype=np.float64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # The form once, then one more bar of the tonic to end on.
    parser.add_argument("--seconds", type=float, default=(len(FORM) * 8 + 1) * BAR_S)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(args.out), compose(args.seconds), RATE_HZ, subtype="ULAW", format="WAV")
    print(f"{args.out}: {args.seconds:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
