"""The numpy side of supervising calls, for calls/supervision.py (calls/ imports no numpy).

Every supervised call is a room of three rows in one shared `Mixer`: the caller, the agent and
the supervisor. The mixer's `supervise` sets who hears the supervisor (LISTEN: nobody, WHISPER:
the agent, BARGE: both); the caller and the agent keep hearing each other, and the supervisor
hears both in every mode. One `SupervisionMix` processor mixes every supervised call of the
switch in one `Mixer.mix` per tick, after the processors that relay those legs otherwise (a
recorded call's taps, a transcoding bridge): what it writes to the legs' rows is what they hear.
A supervisor waiting for the agent's next call is sent silence (`wait`): RTP keeps flowing, so
a phone that hangs up on missing media, or a NAT binding, does not drop the supervisor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from softswitch.media.endpoint import Route
from softswitch.media.engine import TickFrames
from softswitch.media.engine_leg import EngineLeg
from softswitch.media.mixer import Mixer, SupervisorMode
from softswitch.media.room_mix import RoomMixPass


@dataclass(slots=True)
class _Group:
    legs: tuple[EngineLeg, EngineLeg, EngineLeg]  # caller, agent, supervisor
    rows: tuple[int, int, int]  # their mixer rows


class SupervisionMix:
    """Every supervised call's three legs, mixed with the supervisor's mode each tick."""

    def __init__(self, on_broken: Callable[[int], None] | None = None) -> None:
        self.mixer = Mixer()
        self._on_broken = on_broken
        self._pass = RoomMixPass(self.mixer)
        self._groups: dict[int, _Group] = {}
        self._waiting: dict[int, EngineLeg] = {}  # by key: supervisors sent silence

    def __contains__(self, key: object) -> bool:
        return key in self._groups

    def add(
        self,
        key: int,
        caller: EngineLeg,
        agent: EngineLeg,
        supervisor: EngineLeg,
        mode: SupervisorMode,
    ) -> None:
        """Start mixing supervision `key`; a key in use is replaced."""
        self.remove(key)
        self._waiting.pop(key, None)
        rows = (self.mixer.join(key), self.mixer.join(key), self.mixer.join(key))
        self._groups[key] = _Group((caller, agent, supervisor), rows)
        self.mixer.supervise(rows[2], rows[1], mode)

    def set_mode(self, key: int, mode: SupervisorMode) -> None:
        group = self._groups[key]
        self.mixer.supervise(group.rows[2], group.rows[1], mode)

    def remove(self, key: int) -> None:
        group = self._groups.pop(key, None)
        if group is not None:
            for row in group.rows:
                self.mixer.leave(row)

    def wait(self, key: int, supervisor: EngineLeg) -> None:
        """Send `supervisor` silence until `add` (the next call) or `stop_waiting`."""
        self.remove(key)
        self._waiting[key] = supervisor

    def stop_waiting(self, key: int) -> None:
        self._waiting.pop(key, None)

    def hears(self, key: int, listener: int, talker: int) -> bool:
        """Whether member `listener` hears `talker` (0 caller, 1 agent, 2 supervisor)."""
        rows = self._groups[key].rows
        return self.mixer.hears(rows[listener], rows[talker])

    def process(self, frames: TickFrames) -> None:
        engine_rows: list[int] = []
        mixer_rows: list[int] = []
        broken: list[int] = []
        for key, group in self._groups.items():
            if any(_lost(leg) for leg in group.legs):
                broken.append(key)  # another consumer took a leg, or its endpoint closed
                continue
            rows = [leg.row for leg in group.legs]
            if min(rows) < 0:
                continue  # a leg taken in this tick has its row when the tick ends
            engine_rows.extend(rows)
            mixer_rows.extend(group.rows)
        if engine_rows:
            self._pass.run(frames.heard, frames.say, frames.send, engine_rows, mixer_rows)
        for supervisor in self._waiting.values():
            if supervisor.row >= 0 and not _lost(supervisor):
                frames.send[supervisor.row] = True  # its `say` row is zero: silence
        for key in broken:
            if self._on_broken is None:
                self.remove(key)
            else:
                self._on_broken(key)  # the call layer ends it (and removes it here)


def _lost(leg: EngineLeg) -> bool:
    endpoint = leg.endpoint
    return leg.leaving or endpoint.closed or endpoint.route is not Route.CONSUMER
