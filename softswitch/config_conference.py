"""`[conference]` and `[[conference.rooms]]`: the conference rooms phones dial, typed and checked.

Every number of `conference.numbers` (8000-8099 in the example) is a room: dialled from a phone
(the internal context) it joins that room, no route needed; a trunk reaches a room through a
route to `conference:NUMBER`. A room listed in `[[conference.rooms]]` gets its own PIN, moderator
PIN, size limit and recording flag; the others are open rooms with the section's defaults.
Kept out of `config.py` (one concern per module); mistakes are the same located `ConfigError`s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from softswitch.config_table import ConfigError, Table

if TYPE_CHECKING:  # config.py imports this module to parse its section
    from softswitch.config import FeaturesConfig, Route

CONFERENCE_KEYS: Final = (
    "numbers",
    "max_participants",
    "join_tones",
    "announce_count",
    "language",
    "pin_attempts",
    "pin_timeout_s",
    "rooms",
)
ROOM_KEYS: Final = (
    "number",
    "name",
    "pin",
    "moderator_pin",
    "moderators",
    "max_participants",
    "record",
    "announce_count",
)
DEFAULT_NUMBERS: Final = ""  # off unless configured (the example: "8000-8099")
DEFAULT_MAX_PARTICIPANTS: Final = 10
MAX_PARTICIPANTS_LIMIT: Final = 500  # a room bigger than this is a broadcast, not a conference
MAX_ROOMS: Final = 10_000
MAX_PIN_DIGITS: Final = 12
_RANGE_RE: Final = re.compile(r"([0-9]{1,15})-([0-9]{1,15})")
_PIN_RE: Final = re.compile(rf"[0-9]{{1,{MAX_PIN_DIGITS}}}")


@dataclass(frozen=True)
class RoomConfig:
    """One room; `pin`/`moderator_pin` "" = none asked. `moderators`: extensions that are
    moderators of the room without a PIN."""

    number: str
    name: str = ""
    pin: str = ""
    moderator_pin: str = ""
    moderators: tuple[str, ...] = ()
    max_participants: int = DEFAULT_MAX_PARTICIPANTS
    record: bool = False
    announce_count: bool = False

    @property
    def asks_pin(self) -> bool:
        return bool(self.pin or self.moderator_pin)


@dataclass(frozen=True)
class ConferenceConfig:
    first: int = 1  # numbers first..last are rooms; first > last (the default): none
    last: int = 0
    width: int = 0  # digits of a room number ("8000"; "0800" keeps its zero)
    max_participants: int = DEFAULT_MAX_PARTICIPANTS
    join_tones: bool = True  # a beep to the room when someone joins or leaves
    announce_count: bool = False  # tell a newcomer how many are in the room
    language: str = "en"  # of the prompts a room plays
    pin_attempts: int = 3
    pin_timeout_s: float = 10.0  # for each digit of a PIN
    rooms: tuple[RoomConfig, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.first <= self.last

    def is_room(self, number: str) -> bool:
        return (
            self.enabled
            and len(number) == self.width
            and number.isdigit()
            and self.first <= int(number) <= self.last
        )

    def room(self, number: str) -> RoomConfig:
        """The room's own settings, or an open room with the section's defaults."""
        for room in self.rooms:
            if room.number == number:
                return room
        return RoomConfig(
            number, max_participants=self.max_participants, announce_count=self.announce_count
        )


def parse_conference(
    root: Table, extensions: Sequence[str], features: FeaturesConfig, routes: Sequence[Route]
) -> ConferenceConfig:
    """The section of the root table; rooms may not take an extension's or a feature's number,
    and a route's `conference:NUMBER` must name a room."""
    taken = {number: f"extension {number}" for number in extensions}
    if features.echo_test:
        taken[features.echo_test] = "features.echo_test"
    t = root.table("conference", CONFERENCE_KEYS)
    numbers: str = t.get(
        "numbers",
        DEFAULT_NUMBERS,
        lambda v: isinstance(v, str) and (v == "" or bool(_RANGE_RE.fullmatch(v))),
        "a range of room numbers like '8000-8099', or '' (off)",
    )
    first, last, width = 1, 0, 0
    if numbers:
        match = _RANGE_RE.fullmatch(numbers)
        assert match is not None
        if len(match[1]) != len(match[2]):
            raise t.error("numbers", f"both ends of {numbers!r} need the same number of digits")
        first, last, width = int(match[1]), int(match[2]), len(match[1])
        if first > last:
            raise t.error("numbers", f"{numbers!r} ends before it starts")
        if last - first + 1 > MAX_ROOMS:
            raise t.error("numbers", f"{numbers!r} is more than {MAX_ROOMS} rooms")
    config = ConferenceConfig(
        first=first,
        last=last,
        width=width,
        max_participants=t.integer(
            "max_participants", DEFAULT_MAX_PARTICIPANTS, 2, MAX_PARTICIPANTS_LIMIT
        ),
        join_tones=t.get("join_tones", True, lambda v: isinstance(v, bool), "true or false"),
        announce_count=t.get(
            "announce_count", False, lambda v: isinstance(v, bool), "true or false"
        ),
        language=t.string("language", "en", empty=False),
        pin_attempts=t.integer("pin_attempts", 3, 1, 10),
        pin_timeout_s=t.seconds("pin_timeout_s", 10.0),
    )
    for number, owner in taken.items():
        if config.is_room(number):
            raise t.error("numbers", f"{numbers!r} takes in {number}, which is {owner}")
    for index, route in enumerate(routes):
        target = route.destination.target
        if route.destination.kind == "conference" and not config.is_room(target):
            raise ConfigError(
                t.source,
                f"routes[{index}].destination",
                f"no conference room {target} (see conference.numbers)",
            )
    return replace(config, rooms=_parse_rooms(t, config, set(extensions)))


def _parse_rooms(
    section: Table, config: ConferenceConfig, extensions: set[str]
) -> tuple[RoomConfig, ...]:
    rooms: list[RoomConfig] = []
    seen: dict[str, int] = {}
    for index, t in enumerate(section.tables("rooms", ROOM_KEYS)):
        number: str = t.dial("number")
        if not config.is_room(number):
            raise t.error("number", f"{number} is not in conference.numbers")
        if number in seen:
            raise t.error("number", f"room {number} is also conference.rooms[{seen[number]}]")
        seen[number] = index
        pin = _pin(t, "pin")
        moderator_pin = _pin(t, "moderator_pin")
        if pin and pin == moderator_pin:
            raise t.error("moderator_pin", "is the same as pin: nobody could join as a participant")
        moderators = tuple(t.strings("moderators"))
        for extension in moderators:
            if extension not in extensions:
                raise t.error("moderators", f"no extension {extension}")
        rooms.append(
            RoomConfig(
                number=number,
                name=t.string("name", ""),
                pin=pin,
                moderator_pin=moderator_pin,
                moderators=moderators,
                max_participants=t.integer(
                    "max_participants", config.max_participants, 2, MAX_PARTICIPANTS_LIMIT
                ),
                record=t.get("record", False, lambda v: isinstance(v, bool), "true or false"),
                announce_count=t.get(
                    "announce_count",
                    config.announce_count,
                    lambda v: isinstance(v, bool),
                    "true or false",
                ),
            )
        )
    return tuple(rooms)


def _pin(t: Table, name: str) -> str:
    value: str = t.get(
        name,
        "",
        lambda v: isinstance(v, str) and (v == "" or bool(_PIN_RE.fullmatch(v))),
        f"1-{MAX_PIN_DIGITS} digits as a string, or '' (none)",
    )
    return value


def conference_summary(conference: ConferenceConfig) -> str:
    """One line for `softswitch check-config`."""
    if not conference.enabled:
        return "conferences: off"
    span = f"{conference.first:0{conference.width}d}-{conference.last:0{conference.width}d}"
    guarded = sum(1 for room in conference.rooms if room.asks_pin)
    recorded = sum(1 for room in conference.rooms if room.record)
    return (
        f"conferences: rooms {span} (internal; trunks by routes), {guarded} with a PIN,"
        f" {recorded} recorded"
    )
