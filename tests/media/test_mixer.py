"""The mixer: N-1 conferences, gains, mute/deaf, supervisor modes; the fast pass equals the
room-by-room oracle for any rooms, gains and flags."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.media.mixer import (
    Mixer,
    MixerFull,
    SupervisorMode,
    UnknownParticipant,
)


def tone(freq_hz: float, amplitude: float = 8000.0, samples: int = 160) -> np.ndarray:
    t = np.arange(samples) / 8000.0
    return np.rint(amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def frames_of(mixer: Mixer, by_row: dict[int, np.ndarray]) -> np.ndarray:
    frames = np.zeros((mixer.rows, mixer.frame_samples), dtype=np.int16)
    for row, frame in by_row.items():
        frames[row] = frame
    return frames


def test_three_party_conference_each_hears_the_two_others_not_itself() -> None:
    mixer = Mixer()
    rows = [mixer.join("8000") for _ in range(3)]
    said = {row: tone(f) for row, f in zip(rows, (400.0, 700.0, 1100.0), strict=True)}
    out = mixer.mix(frames_of(mixer, said))
    a, b, c = rows
    np.testing.assert_array_equal(out[a], said[b] + said[c])
    np.testing.assert_array_equal(out[b], said[a] + said[c])
    np.testing.assert_array_equal(out[c], said[a] + said[b])
    np.testing.assert_array_equal(mixer.room_mix("8000"), said[a] + said[b] + said[c])


def test_rooms_do_not_hear_each_other() -> None:
    mixer = Mixer()
    first = [mixer.join(1), mixer.join(1)]
    second = [mixer.join(2), mixer.join(2)]
    said = {row: tone(300.0 + 100 * row) for row in first + second}
    out = mixer.mix(frames_of(mixer, said))
    np.testing.assert_array_equal(out[first[0]], said[first[1]])
    np.testing.assert_array_equal(out[second[1]], said[second[0]])


def test_loud_talkers_saturate_instead_of_wrapping() -> None:
    mixer = Mixer()
    rows = [mixer.join("r") for _ in range(3)]
    loud = np.full(160, 30_000, dtype=np.int16)
    out = mixer.mix(frames_of(mixer, {rows[0]: loud, rows[1]: loud, rows[2]: -loud}))
    assert (out[rows[2]] == 32_767).all()  # 60 000 saturates
    assert (out[rows[0]] == 0).all()


def test_talk_and_listen_gains() -> None:
    mixer = Mixer()
    quiet = mixer.join("r", talk_gain=0.5)
    loud_ear = mixer.join("r", listen_gain=2.0)
    x = np.full(160, 1001, dtype=np.int16)
    out = mixer.mix(frames_of(mixer, {quiet: x, loud_ear: x}))
    assert (out[loud_ear] == ((1001 * 2048) >> 12) * 2).all()  # Q12: 500 heard twice as loud
    assert (out[quiet] == 1001).all()


def test_mute_and_deaf() -> None:
    mixer = Mixer()
    a, b, c = (mixer.join("r") for _ in range(3))
    mixer.update(a, muted=True)
    mixer.update(b, deaf=True)
    said = {a: tone(400.0), b: tone(700.0), c: tone(1100.0)}
    out = mixer.mix(frames_of(mixer, said))
    np.testing.assert_array_equal(out[a], said[b] + said[c])  # a muted still hears
    assert not out[b].any()  # deaf
    np.testing.assert_array_equal(out[c], said[b])  # nobody hears muted a
    mixer.update(a, muted=False)
    out = mixer.mix(frames_of(mixer, said))
    np.testing.assert_array_equal(out[c], said[a] + said[b])


@pytest.mark.parametrize(
    ("mode", "customer_hears_supervisor", "agent_hears_supervisor"),
    [
        (SupervisorMode.LISTEN, False, False),
        (SupervisorMode.WHISPER, False, True),
        (SupervisorMode.BARGE, True, True),
    ],
)
def test_supervisor_modes(
    mode: SupervisorMode, customer_hears_supervisor: bool, agent_hears_supervisor: bool
) -> None:
    mixer = Mixer()
    customer, agent, supervisor = mixer.join("call"), mixer.join("call"), mixer.join("call")
    mixer.supervise(supervisor, agent, mode)
    rows, weights = mixer.weights("call")
    assert rows == [customer, agent, supervisor]
    expected = np.array(
        [
            [0, 1, int(customer_hears_supervisor)],
            [1, 0, int(agent_hears_supervisor)],
            [1, 1, 0],  # the supervisor hears both in every mode
        ]
    )
    np.testing.assert_array_equal(weights, expected)
    said = {customer: tone(400.0), agent: tone(700.0), supervisor: tone(1100.0)}
    out = mixer.mix(frames_of(mixer, said))
    s = said[supervisor] if customer_hears_supervisor else 0
    np.testing.assert_array_equal(out[customer], said[agent] + s)
    s = said[supervisor] if agent_hears_supervisor else 0
    np.testing.assert_array_equal(out[agent], said[customer] + s)
    np.testing.assert_array_equal(out[supervisor], said[customer] + said[agent])
    # The room's recording is what the customer's side of the call sounds like: no whisper.
    expected_room = (
        said[customer] + said[agent] + (said[supervisor] if mode is SupervisorMode.BARGE else 0)
    )
    np.testing.assert_array_equal(mixer.room_mix("call"), expected_room)


def test_a_row_is_reused_after_leave_and_audiences_forget_it() -> None:
    mixer = Mixer()
    a, b, c = (mixer.join("r") for _ in range(3))
    mixer.supervise(c, b, SupervisorMode.WHISPER)
    mixer.leave(b)
    assert mixer.participant(c).heard_by == frozenset()
    d = mixer.join("other")
    assert d == b
    out = mixer.mix(frames_of(mixer, {a: tone(400.0), c: tone(700.0), d: tone(900.0)}))
    assert not out[d].any()  # alone in its room; c's old whisper does not reach the new row
    with pytest.raises(UnknownParticipant):
        mixer.leave(99)


def test_full_mixer_and_bad_gains() -> None:
    mixer = Mixer(max_participants=2)
    mixer.join(1)
    mixer.join(1)
    with pytest.raises(MixerFull) as full:
        mixer.join(1)
    assert full.value.status_hint == 503
    with pytest.raises(ValueError):
        Mixer().join(1, talk_gain=5.0)
    with pytest.raises(ValueError):
        mixer.mix(np.zeros((3, 160), dtype=np.int16))


def test_an_empty_mixer_mixes_nothing() -> None:
    mixer = Mixer()
    row = mixer.join(1)
    mixer.leave(row)
    assert not mixer.mix(np.ones((1, 160), dtype=np.int16)).any()


_gain = st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.0, 1.0, 1.5, 2.0, 3.7, 4.0])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Mixer, np.ndarray]:
    mixer = Mixer(frame_samples=16)
    rows: list[int] = []
    for _ in range(draw(st.integers(1, 24))):
        rows.append(
            mixer.join(
                draw(st.integers(0, 5)),
                talk_gain=draw(_gain),
                listen_gain=draw(_gain),
                muted=draw(st.booleans()) and draw(st.booleans()),
                deaf=draw(st.booleans()) and draw(st.booleans()),
            )
        )
    for row in draw(st.lists(st.sampled_from(rows), unique=True, max_size=4)):
        mixer.leave(row)
        rows.remove(row)
    for _ in range(draw(st.integers(0, 3))):
        rows.append(mixer.join(draw(st.integers(0, 5))))
    for row in draw(st.lists(st.sampled_from(rows), unique=True, max_size=3)) if rows else []:
        room = mixer.participant(row).room
        others = [r for r in mixer.members(room) if r != row]
        mixer.set_heard_by(
            row, draw(st.lists(st.sampled_from(others), unique=True)) if others else []
        )
    extremes = st.sampled_from([-32768, -32767, -1, 0, 1, 32767])
    values = st.one_of(st.integers(-32768, 32767), extremes)
    flat = draw(st.lists(values, min_size=mixer.rows * 16, max_size=mixer.rows * 16))
    return mixer, np.array(flat, dtype=np.int16).reshape(mixer.rows, 16)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_fast_mix_equals_the_room_by_room_oracle(scenario: tuple[Mixer, np.ndarray]) -> None:
    mixer, frames = scenario
    np.testing.assert_array_equal(mixer.mix(frames), mixer.mix_simple(frames))
    # A second tick with other audio reuses the work arrays: still equal.
    np.testing.assert_array_equal(
        mixer.mix(frames[::-1].copy()), mixer.mix_simple(frames[::-1].copy())
    )
