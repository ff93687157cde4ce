"""`[conference]`, `[[conference.rooms]]`: the demo rooms load and route, mistakes are located."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from softswitch.calls.routing import RouteTarget, RoutingPlan
from softswitch.config import ConfigError, load_config, parse_config, summarize

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def _example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


def _problem(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "c.toml")
    return str(caught.value)


def test_the_demo_rooms() -> None:
    config = load_config(EXAMPLE)
    conference = config.conference
    assert conference.enabled and (conference.first, conference.last) == (8000, 8099)
    demo = conference.room("8000")
    assert (demo.pin, demo.moderator_pin, demo.asks_pin, demo.record) == ("", "", False, True)
    team = conference.room("8001")
    assert (team.pin, team.moderator_pin, team.moderators) == ("1234", "4321", ("1001",))
    assert team.asks_pin and team.max_participants == 20 and team.announce_count
    open_room = conference.room("8042")
    assert not open_room.asks_pin and open_room.max_participants == conference.max_participants
    assert "conferences: rooms 8000-8099" in summarize(config)


def test_rooms_are_reached_from_phones_and_by_routes_from_trunks() -> None:
    data = _example()
    data["routes"].append(
        {"context": "from-gateway", "number": "7800", "destination": "conference:8001"}
    )
    plan = RoutingPlan(parse_config(data, "c.toml"))
    assert plan.resolve("internal", "8000") == RouteTarget("conference", "8000", "8000")
    assert plan.resolve("internal", "8099") == RouteTarget("conference", "8099", "8099")
    assert plan.resolve("internal", "8100") is None
    assert plan.resolve("internal", "800") is None
    assert plan.resolve("from-gateway", "8000") is None  # a trunk needs a route
    assert plan.resolve("from-gateway", "7800") == RouteTarget("conference", "8001", "7800")


def test_no_section_means_no_rooms() -> None:
    data = _example()
    del data["conference"]
    config = parse_config(data, "c.toml")
    assert not config.conference.enabled
    assert RoutingPlan(config).resolve("internal", "8000") is None
    assert "conferences: off" in summarize(config)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda c: c.update(numbers="8000-80"), "conference.numbers: both ends"),
        (lambda c: c.update(numbers="8099-8000"), "conference.numbers: '8099-8000' ends before"),
        (lambda c: c.update(numbers="1000-1099"), "takes in 1001, which is extension 1001"),
        (lambda c: c.update(numbers="9100-9199"), "takes in 9196, which is features.echo_test"),
        (lambda c: c.update(numbers=8000), "conference.numbers: expected a range"),
        (lambda c: c.update(max_participants=1), "conference.max_participants: expected an"),
        (lambda c: c.update(colour="red"), "conference.colour: unknown key"),
        (lambda c: c["rooms"][1].update(pin=1234), "conference.rooms[1].pin: expected 1-12"),
        (lambda c: c["rooms"][1].update(pin="12a"), "conference.rooms[1].pin: expected"),
        (lambda c: c["rooms"][1].update(moderator_pin="1234"), "rooms[1].moderator_pin: is the"),
        (lambda c: c["rooms"][1].update(number="8100"), "rooms[1].number: 8100 is not in"),
        (lambda c: c["rooms"][1].update(number="8000"), "room 8000 is also conference.rooms[0]"),
        (lambda c: c["rooms"][1].update(moderators=["1999"]), "moderators: no extension 1999"),
        (lambda c: c["rooms"][0].update(record="yes"), "rooms[0].record: expected true or false"),
    ],
)
def test_mistakes_are_located(edit: Any, expected: str) -> None:
    data = _example()
    edit(data["conference"])
    assert expected in _problem(data)


def test_a_route_to_a_room_outside_the_range_is_refused() -> None:
    data = _example()
    data["routes"].append(
        {"context": "from-gateway", "number": "7800", "destination": "conference:9000"}
    )
    assert "routes[5].destination: no conference room 9000" in _problem(data)
    data["routes"][3]["destination"] = "conference"
    assert "'conference' needs a target" in _problem(data)
