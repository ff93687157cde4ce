"""An API server in the test's own event loop, over a call control that tests script.

`ApiHarness` runs the real aiohttp server on 127.0.0.1 (port chosen by the kernel) with the
demo users of `config.example.toml`, a clock stepped by hand, and `ScriptedControl`: calls a
test puts in, commands it records. Tests are plain functions that `asyncio.run` a coroutine.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from softswitch.acd.engine import Engine
from softswitch.acd.events import AcdEvent, AgentStateChanged, QueueLogEntry
from softswitch.acd.model import AcdConfig
from softswitch.api.centre_events import CentreEvents
from softswitch.api.client import ApiClient
from softswitch.api.control import ControlError
from softswitch.api.server import ApiServer
from softswitch.calls.answer import Answering
from softswitch.calls.intercept import Interception
from softswitch.centre.control import EngineCentre, statistics_for
from softswitch.centre.figures_timer import FiguresTimer
from softswitch.cli import load_acd
from softswitch.config import load_config
from softswitch.config_api import ApiConfig

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0
PASSWORDS = {
    "admin": "demo-admin",
    "supervisor": "demo-supervisor",
    **{n: f"demo-{n}" for n in ("1001", "1002", "1003", "1004", "1005")},
}
T = TypeVar("T")


def demo_api_config(**changes: Any) -> ApiConfig:
    config = load_config(REPO / "config.example.toml").api
    return dataclasses.replace(config, host="127.0.0.1", port=0, **changes)


class SteppedClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Leg:
    leg_id: int
    side: str
    state: str = "answered"
    held: bool = False


@dataclass(frozen=True)
class Call:
    call_id: int
    caller: str
    callee: str
    direction: str = "internal"
    state: str = "answered"
    started_at: float = T0
    answered_at: float | None = T0 + 2
    legs: tuple[Leg, ...] = (Leg(1, "caller"), Leg(2, "callee"))
    recording: str = "none"


@dataclass(frozen=True)
class Supervision:
    supervision_id: int
    call_id: int
    agent: str
    supervisor: str
    mode: str
    state: str


@dataclass
class ScriptedControl:
    """CallControl with calls put in by the test; commands are recorded, hang-up ends a call."""

    live: dict[int, Call] = field(default_factory=dict)
    commands: list[tuple[str, int, int | None]] = field(default_factory=list)
    watching: dict[int, Supervision] = field(default_factory=dict)
    ringing: set[tuple[int, str]] = field(default_factory=set)

    def add(self, call_id: int, caller: str, callee: str) -> Call:
        self.live[call_id] = Call(call_id, caller, callee)
        return self.live[call_id]

    def calls(self) -> list[Call]:
        return list(self.live.values())

    def call(self, call_id: int) -> Call:
        if call_id not in self.live:
            raise ControlError(f"no call {call_id}")
        return self.live[call_id]

    def hang_up(self, call_id: int, cause: str = "") -> None:
        self.call(call_id)
        self.commands.append(("hang_up", call_id, None))
        del self.live[call_id]

    def hold(self, call_id: int, leg_id: int) -> None:
        self._leg_command("hold", call_id, leg_id, held=True)

    def resume(self, call_id: int, leg_id: int) -> None:
        self._leg_command("resume", call_id, leg_id, held=False)

    def pause_recording(self, call_id: int, paused: bool) -> None:
        self.call(call_id)
        self.commands.append(("pause_recording" if paused else "resume_recording", call_id, None))

    def transfer(self, call_id: int, leg_id: int, target: str, *, attended: bool) -> None:
        call = self.call(call_id)
        if leg_id not in {leg.leg_id for leg in call.legs}:
            raise ControlError(f"call {call_id} has no leg {leg_id}")
        self.commands.append(("attended_transfer" if attended else "transfer", call_id, leg_id))

    async def originate(self, extension: str, number: str, caller_id: str = "") -> int:
        if number == "5999":
            raise ControlError(f"nothing answers to {number!r}")
        call_id = max(self.live, default=0) + 1
        self.add(call_id, extension, number)
        self.commands.append(("originate", call_id, None))
        return call_id

    def three_way(self, call_id: int, target: str, leg_id: int | None = None) -> None:
        self.call(call_id)
        self.commands.append(("three_way", call_id, leg_id))

    def transfer_complete(self, call_id: int) -> None:
        self.call(call_id)
        self.commands.append(("transfer_complete", call_id, None))

    def transfer_cancel(self, call_id: int) -> None:
        self.call(call_id)
        self.commands.append(("transfer_cancel", call_id, None))

    # answer from a screen, intercept: `ringing` holds the (call, extension) pairs ringing
    def answer(self, call_id: int, extension: str) -> Answering:
        self.call(call_id)
        if (call_id, extension) not in self.ringing:
            raise ControlError(f"call {call_id} is not ringing extension {extension}", 409)
        self.commands.append(("answer", call_id, None))
        return Answering(call_id, 7, extension)

    def intercept(self, call_id: int, supervisor: str) -> Interception:
        call = self.call(call_id)
        self.commands.append(("intercept", call_id, None))
        return Interception(call_id, call.callee, supervisor, 8)

    # supervision: supervision 1 watches agent 1001 from 1006 once `supervise` ran
    def supervisions(self) -> list[Supervision]:
        return list(self.watching.values())

    def supervise(self, extension: str, supervisor: str, mode: str) -> Supervision:
        self.commands.append(("supervise", 0, None))
        found = Supervision(len(self.watching) + 1, 1, extension, supervisor, mode, "ringing")
        self.watching[found.supervision_id] = found
        return found

    def supervise_call(self, call_id: int, supervisor: str, mode: str) -> Supervision:
        call = self.call(call_id)
        return self.supervise(call.callee, supervisor, mode)

    def supervision_mode(self, supervision_id: int, mode: str) -> Supervision:
        found = self._supervision(supervision_id)
        self.commands.append(("supervision_mode", supervision_id, None))
        self.watching[supervision_id] = dataclasses.replace(found, mode=mode)
        return self.watching[supervision_id]

    def stop_supervision(self, supervision_id: int) -> None:
        self._supervision(supervision_id)
        self.commands.append(("stop_supervision", supervision_id, None))
        del self.watching[supervision_id]

    def _supervision(self, supervision_id: int) -> Supervision:
        if supervision_id not in self.watching:
            raise ControlError(f"no supervision {supervision_id}")
        return self.watching[supervision_id]

    def _leg_command(self, name: str, call_id: int, leg_id: int, held: bool) -> None:
        call = self.call(call_id)
        legs = {leg.leg_id: leg for leg in call.legs}
        if leg_id not in legs:
            raise ControlError(f"call {call_id} has no leg {leg_id}")
        if legs[leg_id].held == held:
            raise ControlError(f"leg {leg_id} is already {name}d", 409)
        legs[leg_id] = dataclasses.replace(legs[leg_id], held=held)
        self.live[call_id] = dataclasses.replace(call, legs=tuple(legs.values()))
        self.commands.append((name, call_id, leg_id))


def demo_acd() -> AcdConfig:
    path = REPO / "config.example.toml"
    return load_acd(path, load_config(path))


class DemoCentre:
    """The real ACD engine over the demo queues and agents, stepped by the test's clock; the
    events it produces feed the statistics and the API's event stream, as CallCentre does."""

    def __init__(self, clock: Callable[[], float], acd: AcdConfig | None = None) -> None:
        self.acd = acd or demo_acd()
        self.engine = Engine(self.acd)
        self.statistics = statistics_for(self.acd)
        self.events: list[AcdEvent] = []
        self.listeners: list[CentreEvents] = []
        self.control = EngineCentre(self.acd, self.engine, self.statistics, clock, self.apply)
        self.clock = clock
        # As CallCentre: figures that time changes are pushed when they change (call
        # `timed()` in a loop to have them; a stepped clock never gets there by itself).
        self.figures: FiguresTimer | None = None

    def timed(self) -> FiguresTimer:
        """Push figures changed by time alone, on the running loop's timers (CallCentre's)."""
        loop = asyncio.get_running_loop()
        self.figures = FiguresTimer(
            self.statistics,
            self.clock,
            loop.call_later,
            lambda queues: [listener.statistics_changed(queues) for listener in self.listeners],
        )
        return self.figures

    def apply(self, events: list[AcdEvent] | Any) -> None:
        for event in events:
            self.events.append(event)
            changed: set[str] = set()
            if isinstance(event, QueueLogEntry | AgentStateChanged):
                changed = self.statistics.feed(event)
            for listener in self.listeners:
                listener.acd_event(event, changed)
            if self.figures is not None:
                self.figures.changed(changed)


class ApiHarness:
    def __init__(
        self,
        server: ApiServer,
        control: ScriptedControl,
        clock: SteppedClock,
        centre: DemoCentre | None = None,
    ) -> None:
        self.server = server
        self.control = control
        self.clock = clock
        self.centre = centre or DemoCentre(clock)  # not the server's unless handed in
        self.base_url = f"http://127.0.0.1:{server.port}"
        self._clients: list[ApiClient] = []

    async def client(self, username: str | None = None, source: str = "127.0.0.1") -> ApiClient:
        """A client from `source` (another loopback address is another source); logged in as
        `username` with its demo password when given."""
        connector = aiohttp.TCPConnector(local_addr=(source, 0))
        api = ApiClient(self.base_url, aiohttp.ClientSession(connector=connector))
        self._clients.append(api)
        if username is not None:
            await api.login(username, PASSWORDS[username])
        return api

    async def raw(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, Any]:
        """(status, JSON body or None, headers) of one request with no client logic."""
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.base_url + path, **kwargs) as response,
        ):
            text = await response.text()
            body = await response.json(content_type=None) if text else None
            return response.status, body, response.headers

    async def close(self) -> None:
        for api in self._clients:
            await api._session.close()
        await self.server.stop()


def with_api(test: Callable[[ApiHarness], Awaitable[T]], **config: Any) -> T:
    """Run `test` against a fresh API server in a new event loop."""

    async def main() -> T:
        clock = SteppedClock()
        control = ScriptedControl()
        centre = DemoCentre(clock)
        server = ApiServer(demo_api_config(**config), control, clock=clock, centre=centre.control)
        pops = {"600": "https://crm.example.com/search?number={caller}&ivr={var.customer_number}"}
        centre.listeners.append(
            CentreEvents(server.hub, centre.control, server.services.scope, lambda c: {}, pops)
        )
        await server.start()
        harness = ApiHarness(server, control, clock, centre)
        try:
            return await test(harness)
        finally:
            await harness.close()

    return asyncio.run(main())


def wait_for(condition: Callable[[], bool], timeout_s: float) -> Awaitable[None]:
    async def poll() -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not condition():
            if loop.time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.005)

    return poll()
