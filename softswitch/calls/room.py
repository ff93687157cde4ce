"""Conference rooms without I/O: who is in which room, PIN entry, moderators, mute-all, and who
hears whom (through the one shared `media/mixer.py` Mixer, so every room mixes in one pass).

`calls/conference.py` is the application that puts legs in rooms and plays what the room
decides; this module is what it decides with, tested with a stepped clock and no sockets.

- `PinEntry`: one caller typing a PIN by DTMF. One transition table: digits collect, `#` (or the
  inter-digit timeout) submits, `*` starts again; a wrong PIN costs an attempt, the last wrong
  one refuses. The PIN decides the role: the moderator PIN makes a moderator.
- `Room`: members by id, each with a mixer row. Mute is two facts kept apart, the member's own
  (or the control layer's) and the moderator's mute-all, so lifting mute-all gives back each
  member's own choice. A member joining while mute-all is on joins muted.
- `Rooms`: rooms by number over one Mixer; a room exists while someone is in it.

Errors::

    RoomError(Exception)
    ├── RoomFull          the room has max_participants members; status_hint 486
    ├── NotAMember        no such member in the room (LookupError); status_hint 404
    └── NotAModerator     mute-all asked by a participant; status_hint 403
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from softswitch.config_conference import MAX_PIN_DIGITS, RoomConfig
from softswitch.media.mixer import Mixer


class RoomError(Exception):
    status_hint = 500


class RoomFull(RoomError):
    status_hint = 486  # Busy Here: the room, not the switch, is full


class NotAMember(RoomError, LookupError):
    status_hint = 404


class NotAModerator(RoomError):
    status_hint = 403


class Role(Enum):
    PARTICIPANT = "participant"
    MODERATOR = "moderator"


# ---- PIN entry -------------------------------------------------------------------------------


class PinState(Enum):
    COLLECTING = "collecting"
    ACCEPTED = "accepted"
    REFUSED = "refused"


class PinInput(Enum):
    DIGIT = "digit"
    CLEAR = "clear"  # '*'
    RIGHT = "right"  # '#' or the timeout with a PIN that matches
    WRONG = "wrong"  # '#' or the timeout with one that does not, attempts left
    LAST_WRONG = "last wrong"


_PIN_TABLE: dict[tuple[PinState, PinInput], PinState] = {
    (PinState.COLLECTING, PinInput.DIGIT): PinState.COLLECTING,
    (PinState.COLLECTING, PinInput.CLEAR): PinState.COLLECTING,
    (PinState.COLLECTING, PinInput.RIGHT): PinState.ACCEPTED,
    (PinState.COLLECTING, PinInput.WRONG): PinState.COLLECTING,
    (PinState.COLLECTING, PinInput.LAST_WRONG): PinState.REFUSED,
}


@dataclass(frozen=True, slots=True)
class PinAccepted:
    role: Role


@dataclass(frozen=True, slots=True)
class PinWrong:
    attempts_left: int


@dataclass(frozen=True, slots=True)
class PinRefused:
    attempts: int


PinOutcome = PinAccepted | PinWrong | PinRefused


class PinEntry:
    """One caller entering a room's PIN: `digit(d, now)` and `handle_timer(now)` give outcomes.

    Digits past MAX_PIN_DIGITS are kept out (the entry stays bounded) and make it wrong.
    """

    def __init__(self, room: RoomConfig, attempts: int, timeout_s: float, now: float) -> None:
        self.room = room
        self.attempts = attempts
        self.timeout_s = timeout_s
        self.state = PinState.COLLECTING
        self.entered = ""
        self.overflowed = False
        self.failures = 0
        self._deadline: float | None = now + timeout_s

    def _transition(self, event: PinInput) -> None:
        try:
            self.state = _PIN_TABLE[(self.state, event)]
        except KeyError:
            raise RuntimeError(f"PIN entry: {event.value} in {self.state.value}") from None

    def next_timer(self) -> float | None:
        return self._deadline if self.state is PinState.COLLECTING else None

    def digit(self, digit: str, now: float) -> PinOutcome | None:
        if self.state is not PinState.COLLECTING:
            return None  # a digit after the decision: the caller typed ahead
        if digit == "#":
            return self._submit(now)
        if digit == "*":
            self._transition(PinInput.CLEAR)
            self.entered, self.overflowed = "", False
        else:
            self._transition(PinInput.DIGIT)
            if len(self.entered) < MAX_PIN_DIGITS:
                self.entered += digit
            else:
                self.overflowed = True
        self._deadline = now + self.timeout_s
        return None

    def handle_timer(self, now: float) -> PinOutcome | None:
        if self._deadline is None or now < self._deadline or self.state is not PinState.COLLECTING:
            return None
        return self._submit(now)

    def _submit(self, now: float) -> PinOutcome:
        role = None if self.overflowed else self._role_of(self.entered)
        self.entered, self.overflowed = "", False
        if role is not None:
            self._transition(PinInput.RIGHT)
            self._deadline = None
            return PinAccepted(role)
        self.failures += 1
        if self.failures >= self.attempts:
            self._transition(PinInput.LAST_WRONG)
            self._deadline = None
            return PinRefused(self.failures)
        self._transition(PinInput.WRONG)
        self._deadline = now + self.timeout_s
        return PinWrong(self.attempts - self.failures)

    def _role_of(self, entered: str) -> Role | None:
        room = self.room
        if room.moderator_pin and entered == room.moderator_pin:
            return Role.MODERATOR
        if entered == room.pin:  # a room with only a moderator PIN: '#' alone joins
            return Role.PARTICIPANT
        return None


def role_without_pin(room: RoomConfig, caller: str) -> Role | None:
    """The role a caller has without typing anything, or None when a PIN must be asked."""
    if caller in room.moderators:
        return Role.MODERATOR
    return None if room.asks_pin else Role.PARTICIPANT


# ---- rooms ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Member:
    id: int  # the leg's id
    role: Role
    row: int  # in the shared mixer
    muted: bool = False  # by itself or by control
    deaf: bool = False
    talk_gain: float = 1.0
    listen_gain: float = 1.0


class Room:
    """The members of one conference room and what each may hear and say."""

    def __init__(self, config: RoomConfig, mixer: Mixer) -> None:
        self.config = config
        self.number = config.number
        self._mixer = mixer
        self._members: dict[int, Member] = {}
        self.all_muted = False  # the moderator's mute-all

    def __len__(self) -> int:
        return len(self._members)

    def __iter__(self) -> Iterator[Member]:
        return iter(list(self._members.values()))

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._members

    @property
    def count(self) -> int:
        return len(self._members)

    def member(self, member_id: int) -> Member:
        try:
            return self._members[member_id]
        except KeyError:
            raise NotAMember(f"room {self.number} has no member {member_id}") from None

    def join(self, member_id: int, role: Role) -> Member:
        if member_id in self._members:
            return self._members[member_id]
        if len(self._members) >= self.config.max_participants:
            raise RoomFull(f"room {self.number} has {len(self._members)} members, its maximum")
        muted = self.all_muted and role is Role.PARTICIPANT
        row = self._mixer.join(self.number, muted=muted)
        member = Member(member_id, role, row)
        self._members[member_id] = member
        return member

    def leave(self, member_id: int) -> Member:
        member = self._members.pop(member_id, None)
        if member is None:
            raise NotAMember(f"room {self.number} has no member {member_id}")
        self._mixer.leave(member.row)
        return member

    def set_muted(self, member_id: int, muted: bool) -> None:
        self.member(member_id).muted = muted
        self._apply(member_id)

    def set_deaf(self, member_id: int, deaf: bool) -> None:
        self.member(member_id).deaf = deaf
        self._apply(member_id)

    def set_gains(
        self, member_id: int, *, talk: float | None = None, listen: float | None = None
    ) -> None:
        member = self.member(member_id)
        self._mixer.update(member.row, talk_gain=talk, listen_gain=listen)  # checks the range
        if talk is not None:
            member.talk_gain = talk
        if listen is not None:
            member.listen_gain = listen

    def mute_all(self, on: bool, by: int | None = None) -> None:
        """Mute (or unmute) every participant; moderators keep their voice. `by` is the member
        asking (None: the control layer, which may always)."""
        if by is not None and self.member(by).role is not Role.MODERATOR:
            raise NotAModerator(f"member {by} of room {self.number} is not a moderator")
        self.all_muted = on
        for member_id in self._members:
            self._apply(member_id)

    def heard(self, member_id: int) -> bool:
        """Whether the others hear the member at all (its own mute or the moderator's)."""
        member = self.member(member_id)
        return not self._mixer.participant(member.row).muted

    def hears(self, listener: int, talker: int) -> bool:
        return self._mixer.hears(self.member(listener).row, self.member(talker).row)

    def _apply(self, member_id: int) -> None:
        member = self._members[member_id]
        muted = member.muted or (self.all_muted and member.role is Role.PARTICIPANT)
        self._mixer.update(member.row, muted=muted, deaf=member.deaf)


class Rooms:
    """Every room in use, over one mixer: a room is made when its first member comes and
    forgotten when its last one leaves."""

    def __init__(self, mixer: Mixer) -> None:
        self.mixer = mixer
        self._rooms: dict[str, Room] = {}

    def __iter__(self) -> Iterator[Room]:
        return iter(list(self._rooms.values()))

    def __len__(self) -> int:
        return len(self._rooms)

    def get(self, number: str) -> Room | None:
        return self._rooms.get(number)

    def join(self, config: RoomConfig, member_id: int, role: Role) -> Member:
        room = self._rooms.get(config.number)
        fresh = room is None
        if room is None:
            room = Room(config, self.mixer)
        member = room.join(member_id, role)  # RoomFull leaves no empty room behind
        if fresh:
            self._rooms[config.number] = room
        return member

    def leave(self, number: str, member_id: int) -> Member:
        room = self._rooms.get(number)
        if room is None:
            raise NotAMember(f"no room {number} in use")
        member = room.leave(member_id)
        if not len(room):
            del self._rooms[number]
        return member
