"""Rooms without I/O: PIN entry with a stepped clock, roles, mute-all, and who hears whom through
the shared mixer (checked on mixed audio, not only on flags)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.calls.room import (
    NotAMember,
    NotAModerator,
    PinAccepted,
    PinEntry,
    PinRefused,
    PinState,
    PinWrong,
    Role,
    RoomFull,
    Rooms,
    role_without_pin,
)
from softswitch.config_conference import MAX_PIN_DIGITS, RoomConfig
from softswitch.media.mixer import Mixer

GUARDED = RoomConfig("8001", pin="1234", moderator_pin="4321", moderators=("1001",))
OPEN = RoomConfig("8000", max_participants=3)


def _type(entry: PinEntry, digits: str, now: float = 0.0) -> list[object]:
    outcomes = [entry.digit(d, now) for d in digits]
    return [o for o in outcomes if o is not None]


def test_the_right_pin_joins_as_participant_and_the_moderator_pin_as_moderator() -> None:
    assert _type(PinEntry(GUARDED, 3, 10.0, 0.0), "1234#") == [PinAccepted(Role.PARTICIPANT)]
    assert _type(PinEntry(GUARDED, 3, 10.0, 0.0), "4321#") == [PinAccepted(Role.MODERATOR)]


def test_wrong_pins_cost_attempts_and_the_last_one_refuses() -> None:
    entry = PinEntry(GUARDED, 3, 10.0, 0.0)
    assert _type(entry, "1111#") == [PinWrong(2)]
    assert _type(entry, "12345#") == [PinWrong(1)]  # a longer PIN is not a prefix match
    assert _type(entry, "#") == [PinRefused(3)]
    assert entry.state is PinState.REFUSED
    assert entry.digit("1", 1.0) is None and entry.next_timer() is None


def test_star_starts_again() -> None:
    entry = PinEntry(GUARDED, 3, 10.0, 0.0)
    assert _type(entry, "99*1234#") == [PinAccepted(Role.PARTICIPANT)]


def test_the_timeout_submits_what_was_typed() -> None:
    entry = PinEntry(GUARDED, 2, 5.0, 0.0)
    entry.digit("1", 1.0)
    entry.digit("2", 2.0)
    entry.digit("3", 3.0)
    entry.digit("4", 4.0)
    assert entry.next_timer() == 9.0  # the timeout is per digit
    assert entry.handle_timer(8.9) is None
    assert entry.handle_timer(9.0) == PinAccepted(Role.PARTICIPANT)
    silent = PinEntry(GUARDED, 2, 5.0, 0.0)
    assert silent.handle_timer(5.0) == PinWrong(1)
    assert silent.next_timer() == 10.0
    assert silent.handle_timer(10.0) == PinRefused(2)


def test_a_room_with_only_a_moderator_pin_lets_participants_in_with_hash() -> None:
    room = RoomConfig("8002", moderator_pin="77")
    assert role_without_pin(room, "1002") is None  # asked: a moderator may be calling
    assert _type(PinEntry(room, 3, 10.0, 0.0), "#") == [PinAccepted(Role.PARTICIPANT)]
    assert _type(PinEntry(room, 3, 10.0, 0.0), "77#") == [PinAccepted(Role.MODERATOR)]


def test_roles_without_a_pin() -> None:
    assert role_without_pin(OPEN, "1002") is Role.PARTICIPANT
    assert role_without_pin(GUARDED, "1001") is Role.MODERATOR  # a listed extension
    assert role_without_pin(GUARDED, "1002") is None


@given(st.text(alphabet="0123456789*#", max_size=200))
def test_any_keying_is_bounded_and_never_raises(keys: str) -> None:
    entry = PinEntry(GUARDED, 3, 10.0, 0.0)
    accepted: list[Role] = []
    for now, key in enumerate(keys):
        outcome = entry.digit(key, float(now))
        assert len(entry.entered) <= MAX_PIN_DIGITS
        if isinstance(outcome, PinAccepted):
            accepted.append(outcome.role)
    assert len(accepted) <= 1
    if accepted:
        assert entry.state is PinState.ACCEPTED
    # Only the exact PINs between a start (or '*'/'#') and '#' are accepted.
    entries = keys.replace("*", "#").split("#")
    if not any(e in ("1234", "4321") for e in entries[:-1]):
        assert not accepted


def _tone(hz: float, amplitude: int = 8000) -> np.ndarray:
    t = np.arange(160) / 8000.0
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def _energy_at(pcm: np.ndarray, hz: float) -> float:
    t = np.arange(pcm.size) / 8000.0
    return float(abs(np.dot(pcm.astype(np.float64), np.exp(-2j * np.pi * hz * t))))


def test_members_hear_the_others_and_not_themselves_in_one_mix() -> None:
    mixer = Mixer(max_participants=16)
    rooms = Rooms(mixer)
    a, b, c = (rooms.join(OPEN, i, Role.PARTICIPANT) for i in (1, 2, 3))
    other = rooms.join(RoomConfig("8050"), 4, Role.PARTICIPANT)
    frames = np.zeros((mixer.rows, 160), dtype=np.int16)
    for member, hz in ((a, 400), (b, 600), (c, 800), (other, 1000)):
        frames[member.row] = _tone(hz)
    out = mixer.mix(frames)
    full = _energy_at(_tone(400), 400)
    for member, own, others in ((a, 400, (600, 800)), (b, 600, (400, 800)), (c, 800, (400, 600))):
        heard = out[member.row]
        assert _energy_at(heard, own) < 0.01 * full
        assert all(_energy_at(heard, hz) > 0.9 * full for hz in others)
        assert _energy_at(heard, 1000) < 0.01 * full  # another room is not heard
    assert _energy_at(out[other.row], 400) < 0.01 * full  # alone in its room: silence


def test_mute_all_silences_participants_not_moderators_and_gives_back_own_mutes() -> None:
    mixer = Mixer(max_participants=16)
    rooms = Rooms(mixer)
    moderator = rooms.join(GUARDED, 1, Role.MODERATOR)
    p2 = rooms.join(GUARDED, 2, Role.PARTICIPANT)
    p3 = rooms.join(GUARDED, 3, Role.PARTICIPANT)
    room = rooms.get("8001")
    assert room is not None and room.count == 3
    room.set_muted(3, True)
    with pytest.raises(NotAModerator):
        room.mute_all(True, by=2)
    room.mute_all(True, by=1)
    assert room.hears(2, 1) and not room.hears(1, 2) and not room.hears(2, 3)
    late = rooms.join(GUARDED, 4, Role.PARTICIPANT)
    assert not room.heard(4)  # joins muted while mute-all is on
    frames = np.zeros((mixer.rows, 160), dtype=np.int16)
    frames[moderator.row], frames[p2.row] = _tone(500), _tone(700)
    frames[p3.row], frames[late.row] = _tone(900), _tone(1100)
    out = mixer.mix(frames)
    full = _energy_at(_tone(500), 500)
    assert _energy_at(out[p2.row], 500) > 0.9 * full
    assert _energy_at(out[moderator.row], 700) < 0.01 * full
    room.mute_all(False)
    assert room.heard(2) and room.heard(4) and not room.heard(3)  # 3 muted itself


def test_deaf_and_gains() -> None:
    mixer = Mixer(max_participants=4)
    rooms = Rooms(mixer)
    a, b = rooms.join(OPEN, 1, Role.PARTICIPANT), rooms.join(OPEN, 2, Role.PARTICIPANT)
    room = rooms.get("8000")
    assert room is not None
    room.set_gains(1, talk=0.5)
    room.set_deaf(2, True)
    frames = np.zeros((mixer.rows, 160), dtype=np.int16)
    frames[a.row], frames[b.row] = _tone(500), _tone(700)
    out = mixer.mix(frames)
    assert not out[b.row].any()  # deaf
    room.set_deaf(2, False)
    out = mixer.mix(frames)
    assert abs(int(np.abs(out[b.row]).max()) - 4000) <= 2  # half of 8000
    with pytest.raises(ValueError):
        room.set_gains(1, talk=9.0)


def test_full_rooms_and_forgetting() -> None:
    mixer = Mixer(max_participants=8)
    rooms = Rooms(mixer)
    for member_id in (1, 2, 3):
        rooms.join(OPEN, member_id, Role.PARTICIPANT)
    with pytest.raises(RoomFull) as full:
        rooms.join(OPEN, 4, Role.PARTICIPANT)
    assert full.value.status_hint == 486
    for member_id in (1, 2, 3):
        rooms.leave("8000", member_id)
    assert rooms.get("8000") is None and len(rooms) == 0
    with pytest.raises(NotAMember):
        rooms.leave("8000", 1)
    assert mixer.members("8000") == []
