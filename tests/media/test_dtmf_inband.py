"""In-band DTMF: every digit under level, twist, frequency error and noise, Q.24's timing, and
no digit at all in 30 s of speech."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from signals import (
    ESPEAK,
    KEYPAD,
    dtmf,
    espeak_speech,
    frames,
    noise,
    silence,
    synthetic_speech,
    to_int16,
)

from softswitch.media.dtmf import DigitEnded, DigitEvent, DigitStarted, DtmfMethod
from softswitch.media.dtmf_inband import InbandDtmfDetector

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # audioop leaves the stdlib in 3.13
    audioop = pytest.importorskip("audioop", reason="no audioop (3.13+ needs audioop-lts)")

ALL = "".join(KEYPAD)


def detect(
    signals: list[np.ndarray], samples: int = 160, detector: InbandDtmfDetector | None = None
) -> list[list[DigitEvent]]:
    """Run one detector over many legs at once (one slot each); events per leg."""
    detector = detector or InbandDtmfDetector()
    slots = [detector.add() for _ in signals]
    tail = silence(200)
    ticks = [frames(np.concatenate([s, tail]), samples) for s in signals]
    count = max(len(t) for t in ticks)
    batch = np.zeros((detector.slots, count, samples), dtype=np.int16)
    for slot, t in zip(slots, ticks, strict=True):
        batch[slot, : len(t)] = t
    events: list[list[DigitEvent]] = [[] for _ in signals]
    for n in range(count):
        for slot, event in detector.process(batch[:, n], n * samples / 8000):
            events[slots.index(slot)].append(event)
    return events


def started(events: list[DigitEvent]) -> str:
    return "".join(e.digit for e in events if isinstance(e, DigitStarted))


def dialled(
    digits: str, tone_ms: float, pause_ms: float, rng: np.random.Generator, **kw: float
) -> np.ndarray:
    parts = [silence(rng.uniform(0, 40))]
    for digit in digits:
        parts += [dtmf(digit, tone_ms, rng=rng, **kw), silence(pause_ms)]
    return np.concatenate(parts)


def test_all_sixteen_digits_at_every_level_twist_offset_and_noise_in_one_batch() -> None:
    rng = np.random.default_rng(8)
    conditions = list(
        itertools.product(
            (-25.0, -15.0, -7.0), (-6.0, 0.0, 6.0), (-0.015, 0.0, 0.015), (None, 15.0)
        )
    )
    signals = []
    for level, twist, offset, snr in conditions:
        x = dialled(ALL, 50, 50, rng, dbm0=level, twist_db=twist, offset=offset)
        if snr is not None:  # white noise snr dB below the tone pair's power
            x = x + noise(len(x) / 8, level + 3 - snr, rng)
        signals.append(x)
    results = detect(signals)
    every: list[float] = []
    for condition, events in zip(conditions, results, strict=True):
        assert started(events) == ALL, condition
        durations = [e.duration_ms for e in events if isinstance(e, DigitEnded)]
        assert all(abs(d - 50) <= 15 for d in durations), (condition, durations)
        assert all(e.method is DtmfMethod.INBAND for e in events)
        every += durations
    assert abs(np.mean(every) - 50) <= 5


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_digits_survive_a_g711_round_trip(law: str) -> None:
    rng = np.random.default_rng(9)
    encode, decode = {
        "ulaw": (audioop.lin2ulaw, audioop.ulaw2lin),
        "alaw": (audioop.lin2alaw, audioop.alaw2lin),
    }[law]
    x = to_int16(dialled(ALL, 60, 60, rng, dbm0=-12))
    coded = np.frombuffer(decode(encode(x.tobytes(), 2), 2), dtype=np.int16).astype(np.float64)
    (events,) = detect([coded])
    assert started(events) == ALL


@pytest.mark.parametrize(
    ("what", "kw"),
    [
        ("3.5 % high", {"offset": 0.035}),
        ("3.5 % low", {"offset": -0.035}),
        ("-40 dBm0", {"dbm0": -40.0}),
        ("12 dB twist, high louder", {"twist_db": 12.0}),
        ("12 dB twist, low louder", {"twist_db": -12.0}),
    ],
)
def test_out_of_tolerance_tones_are_not_digits(what: str, kw: dict[str, float]) -> None:
    rng = np.random.default_rng(10)
    (events,) = detect([dialled(ALL, 80, 80, rng, **kw)])
    assert events == [], what


def test_q24_timing_short_bursts_breaks_and_pauses() -> None:
    rng = np.random.default_rng(11)
    cases = {
        "23 ms burst": (np.concatenate([silence(30), dtmf("5", 23, rng=rng)]), ""),
        "40 ms tone": (np.concatenate([silence(30), dtmf("5", 40, rng=rng)]), "5"),
        "10 ms break": (
            np.concatenate(
                [silence(30), dtmf("7", 80, rng=rng), silence(10), dtmf("7", 80, rng=rng)]
            ),
            "7",
        ),
        "40 ms pause": (
            np.concatenate(
                [silence(30), dtmf("7", 80, rng=rng), silence(40), dtmf("7", 80, rng=rng)]
            ),
            "77",
        ),
        "no pause between two digits": (
            np.concatenate([silence(30), dtmf("1", 80, rng=rng), dtmf("9", 80, rng=rng)]),
            "19",
        ),
    }
    for _ in range(8):  # several alignments against the 5 ms hop
        names = list(cases)
        leads = [silence(rng.uniform(0, 20)) for _ in names]
        results = detect(
            [np.concatenate([lead, cases[n][0]]) for lead, n in zip(leads, names, strict=True)]
        )
        for name, events in zip(names, results, strict=True):
            assert started(events) == cases[name][1], name


def test_digits_over_someone_talking() -> None:
    rng = np.random.default_rng(12)
    x = dialled("159#", 80, 80, rng, dbm0=-8)
    x = x + synthetic_speech(len(x) / 8000, rng, dbm0=-28)
    (events,) = detect([x])
    assert started(events) == "159#"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_digit_in_30_seconds_of_synthetic_speech(seed: int) -> None:
    rng = np.random.default_rng(seed)
    loud, normal, quiet = (synthetic_speech(30, rng, dbm0=level) for level in (-5, -15, -30))
    assert detect([loud, normal, quiet]) == [[], [], []]


@pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed: no recorded-voice test")
@pytest.mark.parametrize("voice", ["en", "cmn"])
def test_no_digit_in_30_seconds_of_espeak_speech(voice: str) -> None:
    speech = espeak_speech(30, voice)
    assert detect([speech, speech * 10 ** (10 / 20), speech * 10 ** (-12 / 20)]) == [[], [], []]


def test_frame_size_does_not_change_what_is_heard() -> None:
    rng = np.random.default_rng(13)
    x = dialled("0123456789", 60, 60, rng)
    for samples in (40, 80, 240):
        (events,) = detect([x], samples=samples)
        assert started(events) == "0123456789", samples


def test_slots_are_independent_and_reused_clean() -> None:
    detector = InbandDtmfDetector(max_slots=2)
    a = detector.add()
    b = detector.add()
    assert a != b
    with pytest.raises(OverflowError):
        detector.add()
    tone = frames(np.concatenate([dtmf("4", 100), silence(100)]))
    batch = np.zeros((2, 160), dtype=np.int16)
    events = []
    for n, frame in enumerate(tone[:3]):
        batch[a] = frame
        events += detector.process(batch, n * 0.02)
    assert [(slot, e.digit) for slot, e in events] == [(a, "4")]  # b heard silence
    detector.remove(a)
    assert detector.add() == a
    # The reused slot starts clean: the old leg's digit never ends on the new one.
    batch[a] = 0
    assert [detector.process(batch, 1.0 + n * 0.02) for n in range(10)] == [[]] * 10
    with pytest.raises(ValueError):
        detector.process(np.zeros((2, 100), dtype=np.int16), 0.0)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([100.0, 3000.0, 20000.0]))
def test_noise_never_breaks_the_event_pairing(seed: int, sigma: float) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, sigma, 8000)
    (events,) = detect([x])
    kinds = [type(e) for e in events]
    assert kinds == [DigitStarted, DigitEnded] * (len(kinds) // 2)
    assert events == []  # and noise is no digit
