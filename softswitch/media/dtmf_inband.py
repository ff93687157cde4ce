"""In-band DTMF detection over many legs at once: tone pairs found in int16 audio at 8 kHz.

For gateways that send digits as tones in the audio. Each tick the engine hands in
`int16[slots, samples]` (one row per leg that needs detection, `samples` a multiple of 40) and
gets back `(slot, DigitStarted | DigitEnded)` pairs; the events are those of `dtmf.py`.

How a 20 ms window is judged, every 5 ms (ITU-T Q.23 frequencies, Q.24's receiver basics):

- the single-bin DFTs a Goertzel filter would compute, at the eight DTMF frequencies and the
  column tones' second harmonics, for all legs in one matrix product per 5 ms quarter; a
  window's bins are its four quarters' bins rotated into place;
- the strongest row and column tones must each carry `min_level_dbm0`; the column may be
  `max_twist_high_db` above the row, the row `max_twist_low_db` above the column (twist);
- each must stand `group_margin_db` above the other tones of its group;
- together they must hold `min_tone_ratio` of the window's energy: speech, music and noise
  spread theirs (this is the out-of-band check), and the column tone's second harmonic must
  stay `harmonic_margin_db` below it (voiced speech has strong harmonics, DTMF none; the row
  tones' harmonics lie within 60-70 Hz of column tones, 2 x 697 = 1394 Hz against 1336 Hz,
  and cannot be told from them in 20 ms, so they are not checked);
- each tone's frequency, measured from the phase turn between the window's two halves, must
  lie within `frequency_tolerance` of its nominal value (Q.24: accept 1.5 %, reject 3.5 %).

A digit is reported when `min_on_windows` windows in a row agree (about `min_duration_ms` of
tone: shorter bursts are not digits) and ends after `min_off_windows` windows without it, so
that a break of up to 10 ms does not split a digit and a pause of 40 ms separates two.

Cost: a cheap test (the two strongest tones hold a fifth of the window's energy) runs on
every window of every leg; the checks above run only on the windows that pass it.
Pure numpy, sans-IO; no Python loop over samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from softswitch.media.dtmf import DigitEnd, DigitEnded, DigitEvent, DigitStarted, DtmfMethod

RATE_HZ = 8000
ROWS_HZ = (697.0, 770.0, 852.0, 941.0)  # ITU-T Q.23
COLUMNS_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")  # KEYPAD[row][column]
QUARTER = 40  # samples: 5 ms, the hop between windows
WINDOW_QUARTERS = 4  # 20 ms windows
WINDOW = QUARTER * WINDOW_QUARTERS
# G.711: a sine at full scale (amplitude 32767 here) is +3.14 dBm0 (A-law; 3.17 for µ-law).
FULL_SCALE_DBM0 = 3.14

DEFAULT_MIN_LEVEL_DBM0 = -32.0
DEFAULT_MAX_TWIST_HIGH_DB = 8.0
DEFAULT_MAX_TWIST_LOW_DB = 8.0
DEFAULT_GROUP_MARGIN_DB = 8.0
DEFAULT_MIN_TONE_RATIO = 0.7
DEFAULT_HARMONIC_MARGIN_DB = 15.0
DEFAULT_FREQUENCY_TOLERANCE = 0.025
DEFAULT_MIN_ON_WINDOWS = 5  # measured: 23 ms bursts reach 4 windows, 40 ms tones 6 or more
DEFAULT_MIN_OFF_WINDOWS = 4  # measured: a 40 ms pause empties 5 or more, a 10 ms break none
DEFAULT_HOLD_RATIO = 0.6
DEFAULT_HOLD_BELOW_DB = 6.0
DEFAULT_MAX_SLOTS = 4096

_FREQS = np.array(ROWS_HZ + COLUMNS_HZ, dtype=np.float64)
_ALL = np.concatenate([_FREQS, 2 * _FREQS[4:]])  # 0-3 rows, 4-7 columns, 8-11 2 x columns
_OMEGA = 2 * np.pi * _ALL / RATE_HZ
_m = np.arange(QUARTER)
# One quarter's DFT at each frequency: x @ (cos - j sin), as one real product.
_BASIS = np.concatenate(
    [np.cos(np.outer(_m, _OMEGA)), -np.sin(np.outer(_m, _OMEGA))], axis=1
).astype(np.float32)
_ROT = np.exp(-1j * _OMEGA * QUARTER).astype(np.complex64)  # shift by one quarter
_ROT2 = (_ROT * _ROT).astype(np.complex64)  # by one half window
_GATE_RATIO = 0.2  # the two bins before any correction: up to 5x below the strict test
_MAX_CORRECTION_BINS = 0.6


def level_energy(dbm0: float) -> float:
    """Energy over one window of a sine at `dbm0` (what a tone bin's estimate gives)."""
    amplitude = 32767.0 * 10 ** ((dbm0 - FULL_SCALE_DBM0) / 20)
    return amplitude * amplitude * WINDOW / 2


def _corrected(
    power: npt.NDArray[np.float32],
    first: npt.NDArray[np.complex64],
    second: npt.NDArray[np.complex64],
    bins: npt.NDArray[np.intp],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A tone's energy and frequency offset (Hz) from its bin and the window's two halves.

    The phase turn between the halves (80 samples apart) gives the offset; a tone off its bin
    loses power by the window's response, sinc² of the offset in bins, which is given back.
    """
    turn = second * np.conj(first) * _ROT2[bins]
    offset_hz = np.angle(turn).astype(np.float64) * RATE_HZ / (2 * np.pi * 2 * QUARTER)
    off_bins = np.minimum(np.abs(offset_hz) * (WINDOW / RATE_HZ), np.float64(_MAX_CORRECTION_BINS))
    return power / np.square(np.sinc(off_bins)), offset_hz


@dataclass(frozen=True, slots=True)
class Features:
    """What the detector measured in each window, [slots, windows]: for tests and tuning."""

    digit: npt.NDArray[np.int8]  # 0..15 into "123A456B789C*0#D" read by rows, -1 none
    tone_ratio: npt.NDArray[np.float32]  # strongest row + column bins over window energy


@dataclass(frozen=True, slots=True)
class _Windows:
    digit: npt.NDArray[np.int8]  # [slots, windows]
    power: npt.NDArray[np.float32]  # [slots, windows, 8] tone energy at the nominal bins
    energy: npt.NDArray[np.float32]  # [slots, windows]
    first: npt.NDArray[np.complex64]  # [slots, windows, 12] first half's bins
    second: npt.NDArray[np.complex64]


class InbandDtmfDetector:
    """Q.24-style DTMF detection for up to `max_slots` legs, one numpy pass per tick."""

    def __init__(
        self,
        max_slots: int = DEFAULT_MAX_SLOTS,
        *,
        min_level_dbm0: float = DEFAULT_MIN_LEVEL_DBM0,
        max_twist_high_db: float = DEFAULT_MAX_TWIST_HIGH_DB,
        max_twist_low_db: float = DEFAULT_MAX_TWIST_LOW_DB,
        group_margin_db: float = DEFAULT_GROUP_MARGIN_DB,
        min_tone_ratio: float = DEFAULT_MIN_TONE_RATIO,
        harmonic_margin_db: float = DEFAULT_HARMONIC_MARGIN_DB,
        frequency_tolerance: float = DEFAULT_FREQUENCY_TOLERANCE,
        min_on_windows: int = DEFAULT_MIN_ON_WINDOWS,
        min_off_windows: int = DEFAULT_MIN_OFF_WINDOWS,
        hold_ratio: float = DEFAULT_HOLD_RATIO,
        hold_below_db: float = DEFAULT_HOLD_BELOW_DB,
    ) -> None:
        self.max_slots = max_slots
        self._min_energy = np.float64(level_energy(min_level_dbm0))
        self._twist_high = 10 ** (max_twist_high_db / 10)
        self._twist_low = 10 ** (max_twist_low_db / 10)
        self._margin = 10 ** (-group_margin_db / 10)
        self._ratio = np.float64(min_tone_ratio)
        self._harmonic = 10 ** (-harmonic_margin_db / 10)
        self._tolerance = frequency_tolerance
        self.min_on_windows = min_on_windows
        self.min_off_windows = min_off_windows
        self._hold_ratio = hold_ratio
        self._hold_energy = np.float64(level_energy(min_level_dbm0 - hold_below_db))
        self._slots = 0
        self._free: list[int] = []
        self._used = np.zeros(0, dtype=bool)
        # Per slot: the last three quarters' bins and energies (a window spans four).
        self._bins = np.zeros((0, WINDOW_QUARTERS - 1, _ALL.size), dtype=np.complex64)
        self._energy = np.zeros((0, WINDOW_QUARTERS - 1), dtype=np.float32)
        # Per slot run state: the candidate digit and its run, the reported digit and misses.
        self._candidate = np.zeros(0, dtype=np.int8)
        self._run = np.zeros(0, dtype=np.int32)
        self._run_start = np.zeros(0, dtype=np.int64)
        self._active = np.zeros(0, dtype=np.int8)
        self._misses = np.zeros(0, dtype=np.int32)
        self._last_hit = np.zeros(0, dtype=np.int64)
        self._active_start = np.zeros(0, dtype=np.int64)
        self._windows = 0  # windows judged so far, the same for every slot

    @property
    def slots(self) -> int:
        """Rows of the arrays `process` takes (free slots among them are ignored)."""
        return self._slots

    def add(self) -> int:
        """A slot for one more leg; its history starts empty."""
        if self._free:
            slot = self._free.pop()
        elif self._slots < self.max_slots:
            slot = self._slots
            self._slots += 1
            self._grow()
        else:
            raise OverflowError(f"all {self.max_slots} DTMF detector slots are taken")
        self._bins[slot] = 0
        self._energy[slot] = 0
        self._candidate[slot] = -1
        self._run[slot] = 0
        self._active[slot] = -1
        self._misses[slot] = 0
        self._used[slot] = True
        return slot

    def remove(self, slot: int) -> None:
        if not 0 <= slot < self._slots or not self._used[slot]:
            raise KeyError(slot)
        self._used[slot] = False
        self._active[slot] = -1
        self._free.append(slot)

    def _grow(self) -> None:
        n = self._slots
        self._used = _extended(self._used, n)
        self._bins = _extended(self._bins, n)
        self._energy = _extended(self._energy, n)
        self._candidate = _extended(self._candidate, n)
        self._run = _extended(self._run, n)
        self._run_start = _extended(self._run_start, n)
        self._active = _extended(self._active, n)
        self._misses = _extended(self._misses, n)
        self._last_hit = _extended(self._last_hit, n)
        self._active_start = _extended(self._active_start, n)

    def _analyse(self, frames: npt.NDArray[np.int16]) -> _Windows:
        slots, samples = frames.shape
        if slots != self._slots or samples % QUARTER:
            raise ValueError(f"process takes int16[{self._slots}, 40*k], got {frames.shape}")
        quarters = samples // QUARTER
        x = frames.astype(np.float32).reshape(slots * quarters, QUARTER)
        real_imag = (x @ _BASIS).reshape(slots, quarters, 2, _ALL.size)
        new_bins = np.empty((slots, quarters, _ALL.size), dtype=np.complex64)
        new_bins.real = real_imag[:, :, 0]
        new_bins.imag = real_imag[:, :, 1]
        new_energy = np.einsum("ij,ij->i", x, x).reshape(slots, quarters)
        bins = np.concatenate([self._bins, new_bins], axis=1)  # [slots, 3 + quarters, 12]
        energy = np.concatenate([self._energy, new_energy], axis=1)
        keep = WINDOW_QUARTERS - 1
        self._bins = bins[:, -keep:].copy()
        self._energy = energy[:, -keep:].copy()
        # Window k covers quarters k..k+3; each quarter's bin is referred to its own start,
        # so quarter q of the window turns by _ROT**q.
        halves = bins[:, :-1] + _ROT * bins[:, 1:]  # halves[k]: quarters k and k + 1
        first = halves[:, :quarters]
        second = halves[:, 2 : 2 + quarters]
        window = first[..., :8] + _ROT2[:8] * second[..., :8]
        power = (np.square(window.real) + np.square(window.imag)) * np.float32(2.0 / WINDOW)
        window_energy = (
            energy[:, :quarters] + energy[:, 1 : 1 + quarters] + energy[:, 2 : 2 + quarters]
        ) + energy[:, 3 : 3 + quarters]
        row_power = power[..., :4].max(axis=-1)
        column_power = power[..., 4:].max(axis=-1)
        floor = self._min_energy * _GATE_RATIO
        gate = (
            (row_power >= floor)
            & (column_power >= floor)
            & (row_power + column_power >= _GATE_RATIO * self._ratio * window_energy)
        )
        digit = np.full((slots, quarters), -1, dtype=np.int8)
        where = np.nonzero(gate)
        if where[0].size:
            digit[where] = self._judge(
                power[where], window_energy[where], first[where], second[where]
            )
        return _Windows(digit, power, window_energy, first, second)

    def _judge(
        self,
        power: npt.NDArray[np.float32],
        energy: npt.NDArray[np.float32],
        first: npt.NDArray[np.complex64],
        second: npt.NDArray[np.complex64],
    ) -> npt.NDArray[np.int8]:
        """The strict Q.24 checks for windows that passed the gate: [n] digit or -1."""
        n = np.arange(power.shape[0])
        r = power[:, :4].argmax(axis=1)
        c = power[:, 4:].argmax(axis=1)
        column_bin = 4 + c
        row_power, row_offset = _corrected(power[n, r], first[n, r], second[n, r], r)
        column_power, column_offset = _corrected(
            power[n, column_bin], first[n, column_bin], second[n, column_bin], column_bin
        )
        rows = power[:, :4].copy()
        rows[n, r] = 0
        columns = power[:, 4:].copy()
        columns[n, c] = 0
        harmonic_bin = 8 + c
        harmonic = first[n, harmonic_bin] + _ROT2[harmonic_bin] * second[n, harmonic_bin]
        harmonic_power = np.square(np.abs(harmonic)) * (2.0 / WINDOW)
        ratio = (row_power + column_power) / np.maximum(energy, np.float32(1.0))
        ok = (
            (row_power >= self._min_energy)
            & (column_power >= self._min_energy)
            & (column_power <= row_power * self._twist_high)
            & (row_power <= column_power * self._twist_low)
            & (rows.max(axis=1) <= row_power * self._margin)
            & (columns.max(axis=1) <= column_power * self._margin)
            & (ratio >= self._ratio)
            & (harmonic_power <= column_power * self._harmonic)
            & (np.abs(row_offset) <= self._tolerance * _FREQS[r])
            & (np.abs(column_offset) <= self._tolerance * _FREQS[column_bin])
        )
        judged: npt.NDArray[np.int8] = np.where(ok, r * 4 + c, np.intp(-1)).astype(np.int8)
        return judged

    def _held(
        self, windows: _Windows, slots: npt.NDArray[np.intp], k: int
    ) -> npt.NDArray[np.bool_]:
        """Whether each active slot's digit still sounds in window k: its tone pair, offset
        corrected, is loud enough and carries `hold_ratio` of the window (no other check)."""
        digit = self._active[slots].astype(np.intp)
        row_bin = digit // 4
        column_bin = 4 + digit % 4
        at = (slots, k)
        row_power, _ = _corrected(
            windows.power[(*at, row_bin)],
            windows.first[(*at, row_bin)],
            windows.second[(*at, row_bin)],
            row_bin,
        )
        column_power, _ = _corrected(
            windows.power[(*at, column_bin)],
            windows.first[(*at, column_bin)],
            windows.second[(*at, column_bin)],
            column_bin,
        )
        held: npt.NDArray[np.bool_] = (
            (row_power >= self._hold_energy)
            & (column_power >= self._hold_energy)
            & (row_power + column_power >= self._hold_ratio * windows.energy[at])
        )
        return held

    def features(self, frames: npt.NDArray[np.int16]) -> Features:
        """Judge the windows that end in these frames, without reporting digits (for tests
        and tuning); advances the slots' history as `process` does."""
        windows = self._analyse(frames)
        best = windows.power[..., :4].max(axis=-1) + windows.power[..., 4:].max(axis=-1)
        return Features(windows.digit, best / np.maximum(windows.energy, np.float32(1.0)))

    def process(self, frames: npt.NDArray[np.int16], now: float) -> list[tuple[int, DigitEvent]]:
        """The digit events of every slot for this tick's audio, `int16[slots, samples]`."""
        windows = self._analyse(frames)
        events: list[tuple[int, DigitEvent]] = []
        for k in range(windows.digit.shape[1]):
            hit = np.where(self._used, windows.digit[:, k], np.int8(-1))
            window = self._windows
            self._windows += 1
            same = (hit >= 0) & (hit == self._candidate)
            self._run_start = np.where(same, self._run_start, np.int64(window))
            self._run = np.where(same, self._run + 1, (hit >= 0).astype(np.int32))
            self._candidate = hit
            # A started digit holds while its tone pair is there, even in windows the strict
            # test refuses (a phase jump, a short break); it ends after a real pause.
            on = np.flatnonzero(self._active >= 0)
            if on.size:
                held = self._held(windows, on, k)
                self._misses[on] = np.where(held, np.int32(0), self._misses[on] + 1)
                self._last_hit[on] = np.where(held, np.int64(window), self._last_hit[on])
                for slot in on[self._misses[on] >= self.min_off_windows].tolist():
                    events.append((slot, self._ended(slot, now)))
            for slot in np.flatnonzero((self._active < 0) & (self._run >= self.min_on_windows)):
                digit = int(hit[slot])
                self._active[slot] = digit
                self._active_start[slot] = self._run_start[slot]
                self._last_hit[slot] = window
                self._misses[slot] = 0
                events.append((int(slot), DigitStarted(_digit(digit), DtmfMethod.INBAND, now)))
        return events

    def _ended(self, slot: int, now: float) -> DigitEnded:
        digit = _digit(int(self._active[slot]))
        self._active[slot] = -1
        # The first window passes about a quarter before the tone is full and the last held
        # one ends about three quarters after it stops: measured, + 2 quarters.
        span = int(self._last_hit[slot] - self._active_start[slot])
        duration = 1000.0 * (span + 2) * QUARTER / RATE_HZ
        return DigitEnded(digit, duration, DtmfMethod.INBAND, now, DigitEnd.TONE_STOPPED)


_T = TypeVar("_T", bound=np.generic)


def _extended(array: npt.NDArray[_T], rows: int) -> npt.NDArray[_T]:
    grown = np.zeros((rows, *array.shape[1:]), dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown


def _digit(index: int) -> str:
    return KEYPAD[index // 4][index % 4]
