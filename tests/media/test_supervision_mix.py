"""media/supervision_mix.py: who hears whom in each supervisor mode, for several supervised
calls in one pass, with the engine's rows in any order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from softswitch.media.endpoint import Route
from softswitch.media.engine import TickFrames
from softswitch.media.mixer import SupervisorMode
from softswitch.media.supervision_mix import SupervisionMix

SAMPLES = 160


@dataclass
class _Endpoint:
    closed: bool = False
    route: Route = Route.CONSUMER


@dataclass
class _Leg:
    """What the mix reads of an engine leg: its row this tick and its endpoint."""

    row: int
    endpoint: _Endpoint
    leaving: bool = False


def _frames(values: list[int]) -> TickFrames:
    heard = np.array([[v] * SAMPLES for v in values], dtype=np.int16)
    rows = len(values)
    return TickFrames(
        0, 0.0, heard, np.zeros_like(heard), np.zeros(rows, bool), np.ones(rows, bool)
    )


# caller says 1, agent 10, supervisor 100: what each hears is the sum it is let hear.
HEARD = {
    SupervisorMode.LISTEN: (10, 1, 11),
    SupervisorMode.WHISPER: (10, 101, 11),
    SupervisorMode.BARGE: (110, 101, 11),
}


@pytest.mark.parametrize("mode", list(SupervisorMode))
def test_each_mode_decides_who_hears_the_supervisor(mode: SupervisorMode) -> None:
    mix = SupervisionMix()
    legs = [_Leg(row, _Endpoint()) for row in (2, 0, 1)]  # caller, agent, supervisor rows
    mix.add(7, legs[0], legs[1], legs[2], mode)  # type: ignore[arg-type]
    frames = _frames([10, 100, 1, 5])  # row 3 is someone else's leg
    mix.process(frames)
    caller, agent, supervisor = HEARD[mode]
    assert frames.say[2, 0] == caller and frames.say[0, 0] == agent
    assert frames.say[1, 0] == supervisor
    assert frames.say[3, 0] == 0 and not frames.send[3]  # not ours: untouched
    assert frames.send[[0, 1, 2]].all()


def test_mode_changes_and_two_calls_mix_apart() -> None:
    mix = SupervisionMix()
    first = [_Leg(row, _Endpoint()) for row in (0, 1, 2)]
    second = [_Leg(row, _Endpoint()) for row in (3, 4, 5)]
    mix.add(1, *first, SupervisorMode.LISTEN)  # type: ignore[arg-type]
    mix.add(2, *second, SupervisorMode.BARGE)  # type: ignore[arg-type]
    mix.set_mode(1, SupervisorMode.WHISPER)
    assert mix.hears(1, 1, 2) and not mix.hears(1, 0, 2)
    frames = _frames([1, 10, 100, 1000, 2000, 4000])
    mix.process(frames)
    assert list(frames.say[:, 0]) == [10, 101, 11, 6000, 5000, 3000]


def test_a_leg_not_yet_in_the_tick_waits_and_a_lost_leg_breaks_the_supervision() -> None:
    broken: list[int] = []
    mix = SupervisionMix(on_broken=broken.append)
    legs = [_Leg(0, _Endpoint()), _Leg(-1, _Endpoint()), _Leg(1, _Endpoint())]
    mix.add(1, *legs, SupervisorMode.BARGE)  # type: ignore[arg-type]
    frames = _frames([1, 2])
    mix.process(frames)
    assert not frames.send.any() and broken == []  # waits for the row
    legs[1].row = 2
    mix.process(frames := _frames([1, 2, 3]))
    assert frames.send.all() and broken == []
    legs[0].endpoint.route = Route.RELAY  # music on hold, or the bridge, took it back
    mix.process(frames := _frames([1, 2, 3]))
    assert not frames.send.any() and broken == [1]
    mix.remove(1)
    assert 1 not in mix and not mix.mixer.members(1)


@pytest.mark.parametrize("lose", ["leaving", "closed"])
def test_without_a_call_layer_a_lost_group_is_dropped(lose: str) -> None:
    mix = SupervisionMix()
    legs = [_Leg(row, _Endpoint()) for row in (0, 1, 2)]
    mix.add(1, *legs, SupervisorMode.LISTEN)  # type: ignore[arg-type]
    if lose == "leaving":
        legs[2].leaving = True
    else:
        legs[2].endpoint.closed = True
    mix.process(frames := _frames([1, 2, 3]))
    assert not frames.send.any() and 1 not in mix


def test_a_waiting_supervisor_is_sent_silence_until_the_next_call_is_mixed() -> None:
    mix = SupervisionMix()
    legs = [_Leg(row, _Endpoint()) for row in (0, 1, 2)]
    mix.add(7, legs[0], legs[1], legs[2], SupervisorMode.LISTEN)  # type: ignore[arg-type]
    mix.wait(7, legs[2])  # type: ignore[arg-type]
    assert 7 not in mix
    frames = _frames([10, 100, 1])
    mix.process(frames)
    assert frames.send.tolist() == [False, False, True]  # only the supervisor, and silence
    assert not frames.say.any()
    nxt = [_Leg(row, _Endpoint()) for row in (0, 1)]
    mix.add(7, nxt[0], nxt[1], legs[2], SupervisorMode.LISTEN)  # type: ignore[arg-type]
    frames = _frames([10, 100, 1])
    mix.process(frames)
    assert frames.say[2, 0] == 110  # hears the next call's two parties
    mix.remove(7)
    mix.wait(7, legs[2])  # type: ignore[arg-type]
    mix.stop_waiting(7)
    frames = _frames([10, 100, 1])
    mix.process(frames)
    assert not frames.send.any()
