"""Call-progress tones checked by FFT (frequencies), envelope (cadence), sample steps (clicks)."""

from __future__ import annotations

import numpy as np
import pytest
from spectrum import peaks_hz, rms

from softswitch.media.tones import (
    FULL_SCALE_DBM0,
    TONE_PLANS,
    Tone,
    ToneKind,
    TonePlayer,
    ToneSpec,
    UnknownToneError,
    render_exact,
    render_many,
    tone_plan,
)

RATE = 8000
CASES = [(country, kind) for country in sorted(TONE_PLANS) for kind in ToneKind]

# What the standards say, written out again here so that a typo in the table fails a test.
EXPECTED = {
    ("us", ToneKind.DIAL): ((350, 440), None, None),
    ("us", ToneKind.RINGBACK): ((440, 480), 2.0, 4.0),
    ("us", ToneKind.BUSY): ((480, 620), 0.5, 0.5),
    ("us", ToneKind.CONGESTION): ((480, 620), 0.25, 0.25),
    ("us", ToneKind.CALL_WAITING): ((440,), 0.3, 9.7),
    ("us", ToneKind.BEEP): ((1400,), 0.5, None),
    ("cn", ToneKind.DIAL): ((450,), None, None),
    ("cn", ToneKind.RINGBACK): ((450,), 1.0, 4.0),
    ("cn", ToneKind.BUSY): ((450,), 0.35, 0.35),
    ("cn", ToneKind.CONGESTION): ((450,), 0.7, 0.7),
    ("cn", ToneKind.CALL_WAITING): ((450,), 0.4, 4.0),
    ("cn", ToneKind.BEEP): ((950,), 0.4, None),
}


def _play(spec: ToneSpec, seconds: float, rate_hz: int = RATE) -> np.ndarray:
    player = Tone(spec, rate_hz).player()
    return np.concatenate([player.next_frame() for _ in range(round(seconds * 50))])


def _first_burst(spec: ToneSpec, on_s: float | None) -> np.ndarray:
    """The samples of the first sounding segment (two seconds of a continuous tone)."""
    seconds = 2.0 if on_s is None else min(on_s, 2.0)
    return _play(spec, max(seconds, 0.02))[: round(seconds * RATE)]


def _runs(samples: np.ndarray, rate_hz: int = RATE) -> list[tuple[bool, float]]:
    """(sounding, seconds) runs, from the energy in 1 ms windows.

    Two close frequencies beat (440 + 480 Hz falls silent every 25 ms for a moment), so quiet
    spells under 30 ms between sounding ones are the beat, not the cadence; the first
    millisecond is the 4 ms ramp-in, too quiet for the threshold.
    """
    window = rate_hz // 1000
    usable = samples[: samples.size // window * window].astype(np.float64)
    energy = np.sqrt(np.mean(usable.reshape(-1, window) ** 2, axis=1))
    on = energy > 0.05 * energy.max()
    runs: list[tuple[bool, float]] = []
    start = 0
    for i in range(1, on.size + 1):
        if i == on.size or on[i] != on[start]:
            runs.append((bool(on[start]), (i - start) / 1000))
            start = i
    merged: list[tuple[bool, float]] = []
    for index, (sounding, length) in enumerate(runs):
        beat = not sounding and length < 0.03 and 0 < index < len(runs) - 1
        if (beat or sounding) and merged and merged[-1][0]:
            merged[-1] = (True, merged[-1][1] + length)
        else:
            merged.append((sounding or beat, length))
    if len(merged) > 1 and not merged[0][0] and merged[0][1] < 0.005:
        merged[1] = (True, merged[0][1] + merged[1][1])
        del merged[0]
    return merged


def test_every_country_has_every_tone_and_the_standard_values() -> None:
    assert set(EXPECTED) == set(CASES)


@pytest.mark.parametrize(("country", "kind"), CASES)
def test_frequencies_by_fft(country: str, kind: ToneKind) -> None:
    freqs, on_s, _ = EXPECTED[(country, kind)]
    sounding = _first_burst(tone_plan(country).tone(kind), on_s)
    found = sorted(peaks_hz(sounding, RATE, count=len(freqs)))
    assert found == pytest.approx(list(freqs), abs=4)
    # Nothing else of note: the named frequencies hold nearly all the power.
    spectrum = np.abs(np.fft.rfft(sounding * np.hanning(sounding.size))) ** 2
    grid = np.fft.rfftfreq(sounding.size, 1 / RATE)
    near = np.zeros_like(grid, dtype=bool)
    for f in freqs:
        near |= np.abs(grid - f) <= 15
    assert spectrum[near].sum() / spectrum.sum() > 0.99


@pytest.mark.parametrize(("country", "kind"), CASES)
def test_cadence_by_envelope(country: str, kind: ToneKind) -> None:
    _, on_s, off_s = EXPECTED[(country, kind)]
    spec = tone_plan(country).tone(kind)
    if on_s is None:  # dial tone: continuous
        assert _runs(_play(spec, 3.0)) == [(True, 3.0)]
        return
    cycles = 3
    seconds = cycles * (on_s + (off_s or 1.0))
    runs = _runs(_play(spec, seconds))
    if off_s is None:  # the beep sounds once, then silence
        assert runs[0][0] and runs[0][1] == pytest.approx(on_s, abs=0.01)
        assert runs[1:] == [(False, pytest.approx(seconds - on_s, abs=0.01))]
        return
    for sounding, length in runs[: 2 * cycles - 1]:
        assert length == pytest.approx(on_s if sounding else off_s, abs=0.01)
    assert [r[0] for r in runs[: 2 * cycles]] == [True, False] * cycles


@pytest.mark.parametrize(("country", "kind"), CASES)
def test_level_is_what_the_plan_says(country: str, kind: ToneKind) -> None:
    spec = tone_plan(country).tone(kind)
    freqs, on_s, _ = EXPECTED[(country, kind)]
    steady = _first_burst(spec, on_s)[100:-100]  # past the 4 ms ramps
    amplitude = 32767 * 10 ** ((spec.level_dbm0 - FULL_SCALE_DBM0) / 20)
    assert rms(steady) == pytest.approx(amplitude * np.sqrt(len(freqs) / 2), rel=0.03)


@pytest.mark.parametrize(("country", "kind"), CASES)
def test_no_click_anywhere_frames_or_cadence_edges(country: str, kind: ToneKind) -> None:
    """A click is a step between samples larger than the steady tone ever makes."""
    spec = tone_plan(country).tone(kind)
    samples = _play(spec, 12.0).astype(np.float64)
    amplitude = 32767 * 10 ** ((spec.level_dbm0 - FULL_SCALE_DBM0) / 20)
    freqs = EXPECTED[(country, kind)][0]
    steepest = sum(2 * np.pi * f / RATE * amplitude for f in freqs)
    assert np.abs(np.diff(samples)).max() <= steepest * 1.02 + 1


def test_no_click_when_an_edge_falls_on_a_crest() -> None:
    """The plans' edges happen to fall on zero crossings; this cadence stops a 200 Hz tone at
    its crest (410 samples = 10¼ cycles), where only the ramp keeps the step small."""
    spec = ToneSpec.on_off((200,), 410 / RATE, 0.2, -10.0)
    samples = _play(spec, 2.0).astype(np.float64)
    amplitude = 32767 * 10 ** ((spec.level_dbm0 - FULL_SCALE_DBM0) / 20)
    assert np.abs(np.diff(samples)).max() <= 2 * np.pi * 200 / RATE * amplitude * 1.02 + 1


def test_frame_by_frame_equals_one_long_render() -> None:
    spec = tone_plan("us").tone(ToneKind.RINGBACK)
    framed = _play(spec, 7.0)
    whole = Tone(spec).render(np.zeros(1, dtype=np.int64), framed.size)[0]
    np.testing.assert_array_equal(whole, framed)


def test_phase_is_exact_after_ten_hours() -> None:
    """Integer phase: a frame ten hours in is the frame at the same place of the first cycle."""
    for country in TONE_PLANS:
        spec = tone_plan(country).tone(ToneKind.DIAL)
        tone = Tone(spec)
        early, late = tone.player(), tone.player()
        late.position = 10 * 3600 * RATE
        np.testing.assert_array_equal(early.next_frame(), late.next_frame())


@pytest.mark.parametrize(("country", "kind"), CASES)
def test_the_table_is_the_formula_anywhere_in_time(country: str, kind: ToneKind) -> None:
    """The fast path (one exact period as a table) against the simple one, up to a day in."""
    tone = Tone(tone_plan(country).tone(kind))
    rng = np.random.default_rng(len(country) * 10 + len(kind.value))
    first = np.concatenate([rng.integers(0, 24 * 3600 * RATE, 20), [0, tone.length - 80]])
    np.testing.assert_array_equal(tone.render(first, 160), render_exact(tone.compiled, first, 160))


def test_a_tone_too_long_for_a_table_uses_the_formula() -> None:
    # A 4801-sample cadence shares no factor with 401 Hz's 8000-sample phase: 80 minutes.
    spec = ToneSpec.on_off((401,), 2401 / RATE, 2400 / RATE, -10.0)
    tone = Tone(spec)
    assert tone._table is None
    first = np.array([0, 123456789], dtype=np.int64)
    np.testing.assert_array_equal(tone.render(first, 160), render_exact(tone.compiled, first, 160))


def test_beep_finishes_then_stays_silent() -> None:
    player = Tone(tone_plan("us").tone(ToneKind.BEEP)).player()
    frames = []
    while not player.finished:
        frames.append(player.next_frame())
    assert len(frames) == 25  # 0.5 s
    assert not player.next_frame().any()


def test_many_listeners_at_different_places_render_in_one_call() -> None:
    plan = tone_plan("cn")
    kinds = [ToneKind.BUSY, ToneKind.RINGBACK] * 3
    tones = {kind: Tone(plan.tone(kind)) for kind in set(kinds)}
    players = [tones[kind].player() for kind in kinds]
    for i, player in enumerate(players):
        player.position = i * 1234
    alone = []
    for player in players:
        twin = TonePlayer(player.tone)
        twin.position = player.position
        alone.append(twin.next_frame())
    np.testing.assert_array_equal(render_many(players), np.stack(alone))
    assert all(p.position == i * 1234 + 160 for i, p in enumerate(players))


def test_wideband_rate() -> None:
    samples = _play(tone_plan("us").tone(ToneKind.RINGBACK), 1.0, rate_hz=16000)
    assert samples.size == 16000
    assert sorted(peaks_hz(samples, 16000, count=2)) == pytest.approx([440, 480], abs=4)


def test_unknown_country_or_tone_says_what_exists() -> None:
    with pytest.raises(UnknownToneError, match="'xx'; known: cn, us"):
        tone_plan("xx")
    assert tone_plan("US") is tone_plan("us")
