"""Call-progress tones by country (ringback, busy, congestion, call waiting, beep) as 20 ms frames.

A tone is a cadence of segments, each a set of frequencies (or silence) for a duration, repeated
or played once. Its samples are a pure function of the absolute sample index, and each
frequency's phase is computed exactly in integers ((f·n) mod rate), so frames join without a
click and never drift however long a caller waits. On/off edges get a short raised-cosine ramp:
a hard edge is heard as a click. A `Tone` renders one exact period (cadence and phases together)
into a table once; a `TonePlayer` is one listener's position in it, and `render_many` serves
every listener of a tick with one gather per tone.

Levels are per frequency in dBm0; G.711's full scale is +3.17 dBm0 (the µ-law digital
milliwatt, ITU-T G.711 Table 5), so a sine at L dBm0 peaks at 32767·10^((L−3.17)/20).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from numpy.typing import NDArray

FULL_SCALE_DBM0: Final = 3.17  # ITU-T G.711: a full-scale µ-law sine is +3.17 dBm0
RAMP_S: Final = 0.004  # on/off ramp; short enough to keep E.180 cadence tolerances (±10 %)
FRAME_S: Final = 0.02
MAX_TABLE_S: Final = 60.0  # longest exact period kept as a table (US call waiting: 10 s)


class ToneKind(enum.Enum):
    DIAL = "dial"
    RINGBACK = "ringback"
    BUSY = "busy"
    CONGESTION = "congestion"
    CALL_WAITING = "call_waiting"
    BEEP = "beep"  # the "after the tone" beep before a message or a recording


class UnknownToneError(LookupError):
    """A country or tone that no plan defines (a config error: says what exists)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """`freqs_hz` summed for `duration_s`; no frequencies is silence."""

    duration_s: float
    freqs_hz: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ToneSpec:
    """A cadence; `repeat` loops it, otherwise the tone ends (silence) after its segments."""

    segments: tuple[Segment, ...]
    level_dbm0: float
    repeat: bool = True

    @classmethod
    def continuous(cls, freqs_hz: tuple[int, ...], level_dbm0: float) -> ToneSpec:
        return cls((Segment(1.0, freqs_hz),), level_dbm0)

    @classmethod
    def on_off(
        cls, freqs_hz: tuple[int, ...], on_s: float, off_s: float, level_dbm0: float
    ) -> ToneSpec:
        return cls((Segment(on_s, freqs_hz), Segment(off_s)), level_dbm0)

    @classmethod
    def once(cls, freqs_hz: tuple[int, ...], on_s: float, level_dbm0: float) -> ToneSpec:
        return cls((Segment(on_s, freqs_hz),), level_dbm0, repeat=False)

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)


@dataclass(frozen=True, slots=True)
class TonePlan:
    """A country's tones."""

    country: str
    tones: Mapping[ToneKind, ToneSpec]

    def tone(self, kind: ToneKind) -> ToneSpec:
        try:
            return self.tones[kind]
        except KeyError:
            raise UnknownToneError(f"no {kind.value} tone for {self.country!r}") from None


# USA: the Precise Tone Plan (Telcordia GR-506-CORE §17, ANSI T1.401), as listed for the USA in
# ITU-T E.180 Supplement 2. Levels per frequency: dial and call waiting −13 dBm0, audible
# ringing −19 dBm0, busy and reorder −24 dBm0. Beep: the 1400 Hz recorder tone (0.5 s).
_US: Final = TonePlan(
    "us",
    MappingProxyType(
        {
            ToneKind.DIAL: ToneSpec.continuous((350, 440), -13.0),
            ToneKind.RINGBACK: ToneSpec.on_off((440, 480), 2.0, 4.0, -19.0),
            ToneKind.BUSY: ToneSpec.on_off((480, 620), 0.5, 0.5, -24.0),
            ToneKind.CONGESTION: ToneSpec.on_off((480, 620), 0.25, 0.25, -24.0),
            ToneKind.CALL_WAITING: ToneSpec.on_off((440,), 0.3, 9.7, -13.0),
            ToneKind.BEEP: ToneSpec.once((1400,), 0.5, -13.0),
        }
    ),
)

# China: ITU-T E.180 Supplement 2, entry for China: 450 Hz for every tone; dial continuous,
# ringing 1.0 s on 4.0 s off, busy 0.35/0.35, congestion 0.7/0.7, call waiting 0.4 on 4.0 off;
# the beep is the 950 Hz recording tone (0.4 s). The Supplement gives cadences, not levels:
# −10 dBm0 per frequency.
_CN: Final = TonePlan(
    "cn",
    MappingProxyType(
        {
            ToneKind.DIAL: ToneSpec.continuous((450,), -10.0),
            ToneKind.RINGBACK: ToneSpec.on_off((450,), 1.0, 4.0, -10.0),
            ToneKind.BUSY: ToneSpec.on_off((450,), 0.35, 0.35, -10.0),
            ToneKind.CONGESTION: ToneSpec.on_off((450,), 0.7, 0.7, -10.0),
            ToneKind.CALL_WAITING: ToneSpec.on_off((450,), 0.4, 4.0, -10.0),
            ToneKind.BEEP: ToneSpec.once((950,), 0.4, -10.0),
        }
    ),
)

TONE_PLANS: Final[Mapping[str, TonePlan]] = MappingProxyType({"us": _US, "cn": _CN})


def tone_plan(country: str) -> TonePlan:
    """The plan for an ISO 3166-1 alpha-2 country code, as the config names it ("us", "CN")."""
    try:
        return TONE_PLANS[country.lower()]
    except KeyError:
        known = ", ".join(sorted(TONE_PLANS))
        raise UnknownToneError(f"no tone plan for country {country!r}; known: {known}") from None


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A spec in samples: segment boundaries, which frequency sounds in which segment."""

    starts: NDArray[np.int64]
    lengths: NDArray[np.int64]
    period: int
    freqs: NDArray[np.int64]  # distinct frequencies of the whole tone
    sounding: NDArray[np.float64]  # [segments, freqs]: 1 where that frequency sounds
    ramp_in: NDArray[np.bool_]  # [segments]: the sound changes where the segment starts
    ramp_out: NDArray[np.bool_]  # [segments]: the sound changes where the segment ends
    amplitude: float
    repeat: bool
    ramp: int
    rate_hz: int


def _compile(spec: ToneSpec, rate_hz: int) -> _Compiled:
    lengths = np.array([round(s.duration_s * rate_hz) for s in spec.segments], dtype=np.int64)
    freqs = sorted({f for s in spec.segments for f in s.freqs_hz})
    sounding = np.array(
        [[1.0 if f in s.freqs_hz else 0.0 for f in freqs] for s in spec.segments],
        dtype=np.float64,
    ).reshape(len(spec.segments), len(freqs))
    sets = [s.freqs_hz for s in spec.segments]
    # What sounds before the first and after the last segment: the tone again, or silence.
    before = [sets[-1] if spec.repeat else (), *sets[:-1]]
    after = [*sets[1:], sets[0] if spec.repeat else ()]
    return _Compiled(
        ramp_in=np.array([bool(c) and c != b for c, b in zip(sets, before, strict=True)]),
        ramp_out=np.array([bool(c) and c != a for c, a in zip(sets, after, strict=True)]),
        starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        lengths=lengths,
        period=int(lengths.sum()),
        freqs=np.array(freqs, dtype=np.int64),
        sounding=sounding,
        amplitude=32767.0 * 10 ** ((spec.level_dbm0 - FULL_SCALE_DBM0) / 20),
        repeat=spec.repeat,
        ramp=max(1, round(RAMP_S * rate_hz)),
        rate_hz=rate_hz,
    )


def render_exact(tone: _Compiled, first: NDArray[np.int64], samples: int) -> NDArray[np.int16]:
    """`int16[len(first), samples]` from the formula: row i starts at sample `first[i]`.

    The simple path: `Tone` renders one exact period with it, and the tests hold the table
    lookup to it.
    """
    n = first[:, None] + np.arange(samples, dtype=np.int64)[None, :]
    period = np.int64(tone.period)  # numpy scalars keep numpy's stubs exact for mypy
    position = n % period if tone.repeat else np.minimum(n, period - np.int64(1))
    segment = np.searchsorted(tone.starts, position, side="right") - 1
    into = position - tone.starts[segment]
    left = tone.lengths[segment] - into
    # Raised-cosine ramps where the sound starts or stops, inside the sounding segment.
    never = np.int64(np.iinfo(np.int64).max)
    edge = np.minimum(
        np.where(tone.ramp_in[segment], into, never), np.where(tone.ramp_out[segment], left, never)
    )
    envelope = 0.5 - 0.5 * np.cos(np.pi * np.minimum(edge / tone.ramp, np.float64(1.0)))
    if not tone.repeat:
        envelope = np.where(n < period, envelope, np.float64(0.0))
    # Exact phase: (f·n) mod rate is an integer, so no rounding error accumulates over hours.
    cycles = (tone.freqs[None, None, :] * n[:, :, None]) % np.int64(tone.rate_hz)
    waves = np.sin(2 * np.pi * cycles / tone.rate_hz)
    mix = np.einsum("lsf,lsf->ls", waves, tone.sounding[segment])
    out = np.rint(tone.amplitude * envelope * mix)
    return np.asarray(np.clip(out, np.float64(-32768), np.float64(32767)), dtype=np.int16)


def _exact_period(tone: _Compiled) -> int:
    """Samples after which the tone repeats exactly: the cadence and every frequency's phase."""
    periods = [tone.rate_hz // math.gcd(int(f), tone.rate_hz) for f in tone.freqs]
    return math.lcm(tone.period, *periods)


class Tone:
    """A spec compiled at one rate, shared by all its listeners: one exact period as a table.

    A frame is then one gather from the table (1000 listeners of a tone in one numpy index).
    A tone whose exact period would exceed `MAX_TABLE_S` is computed from the formula instead.
    """

    def __init__(self, spec: ToneSpec, rate_hz: int = 8000) -> None:
        self.spec = spec
        self.rate_hz = rate_hz
        self.samples_per_frame = round(FRAME_S * rate_hz)
        self.compiled = _compile(spec, rate_hz)
        length = _exact_period(self.compiled) if spec.repeat else self.compiled.period
        self._table: NDArray[np.int16] | None = None
        if length <= MAX_TABLE_S * rate_hz:
            self._table = render_exact(self.compiled, np.zeros(1, dtype=np.int64), length)[0]

    @property
    def repeat(self) -> bool:
        return self.spec.repeat

    @property
    def length(self) -> int:
        """Samples in one cadence (the whole tone when it plays once)."""
        return self.compiled.period

    def player(self) -> TonePlayer:
        return TonePlayer(self)

    def render(self, first: NDArray[np.int64], samples: int) -> NDArray[np.int16]:
        """`int16[len(first), samples]`: row i starts at absolute sample `first[i]`."""
        if self._table is None:
            return render_exact(self.compiled, first, samples)
        n = first[:, None] + np.arange(samples, dtype=np.int64)[None, :]
        if self.spec.repeat:
            return np.asarray(self._table[n % np.int64(self._table.size)], dtype=np.int16)
        played = n < self._table.size
        heard = self._table[np.minimum(n, np.int64(self._table.size - 1))]
        return np.asarray(np.where(played, heard, np.int16(0)), dtype=np.int16)


class TonePlayer:
    """One listener's place in a tone: call `next_frame()` once per tick (or `render_many`)."""

    def __init__(self, tone: Tone) -> None:
        self.tone = tone
        self.position = 0  # samples played so far

    @property
    def finished(self) -> bool:
        """A one-shot tone (the beep) has played all of itself; repeating tones never finish."""
        return not self.tone.repeat and self.position >= self.tone.length

    def next_frame(self) -> NDArray[np.int16]:
        return np.asarray(render_many([self])[0], dtype=np.int16)


def render_many(players: Sequence[TonePlayer]) -> NDArray[np.int16]:
    """The next frame of every player, `int16[len(players), samples]`, one gather per tone."""
    if not players:
        return np.zeros((0, 0), dtype=np.int16)
    samples = players[0].tone.samples_per_frame
    if any(p.tone.samples_per_frame != samples for p in players):
        raise ValueError("render_many needs players at one sample rate")
    out = np.empty((len(players), samples), dtype=np.int16)
    groups: dict[int, list[int]] = {}  # by id() of the Tone the players share
    for row, player in enumerate(players):
        groups.setdefault(id(player.tone), []).append(row)
    for rows in groups.values():
        first = np.array([players[r].position for r in rows], dtype=np.int64)
        out[rows] = players[rows[0]].tone.render(first, samples)
    for player in players:
        player.position += samples
    return out
