"""A fake clock and a caller driving a FlowRun, as the IVR application will."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from softswitch.ivr.flow import Flow, load_flow_text
from softswitch.ivr.interpreter import (
    Command,
    DigitReceived,
    FlowRun,
    HangUp,
    Play,
    PromptFinished,
    Started,
    Timer,
    TransferTo,
)
from softswitch.ivr.rules import Calendar

# A weekday afternoon: Wednesday 2025-06-11 14:00 in Shanghai.
SHANGHAI = ZoneInfo("Asia/Shanghai")
WEDNESDAY_2PM = datetime(2025, 6, 11, 14, 0, tzinfo=SHANGHAI).timestamp()


def flow(text: str, name: str = "main") -> Flow:
    return load_flow_text(textwrap.dedent(text).encode(), f"{name}.toml", name)


@dataclass
class Caller:
    """Steps the clock by hand and plays prompts to the end instantly unless told otherwise."""

    run: FlowRun
    now: float = WEDNESDAY_2PM
    commands: list[Command] = field(default_factory=list)

    def _take(self, commands: list[Command]) -> list[Command]:
        self.commands += commands
        return commands

    def start(
        self,
        caller: str = "1001",
        called: str = "500",
        variables: Mapping[str, str] | None = None,
        node: str | None = None,
    ) -> list[Command]:
        return self._take(self.run.handle(Started(self.now, caller, called, variables or {}, node)))

    def last_play(self) -> Play:
        plays = [c for c in self.commands if isinstance(c, Play)]
        assert plays, f"nothing played; commands: {self.commands}"
        return plays[-1]

    def finish_prompt(self, after_s: float = 1.0) -> list[Command]:
        self.now += after_s
        return self._take(self.run.handle(PromptFinished(self.now, self.last_play().play_id)))

    def press(self, keys: str, gap_s: float = 0.5) -> list[Command]:
        out: list[Command] = []
        for key in keys:
            self.now += gap_s
            out += self.run.handle(DigitReceived(key, self.now))
        return self._take(out)

    def wait(self, seconds: float) -> list[Command]:
        """Let time pass, firing the run's timer whenever it is due, as an adapter would."""
        end = self.now + seconds
        out: list[Command] = []
        while (deadline := self.run.next_deadline()) is not None and deadline <= end:
            self.now = deadline
            out += self.run.handle(Timer(self.now))
        self.now = end
        return self._take(out)

    @property
    def exit(self) -> TransferTo | HangUp:
        last = self.commands[-1]
        assert isinstance(last, TransferTo | HangUp), f"no exit; commands: {self.commands}"
        return last

    def prompts_heard(self) -> list[tuple[str, ...]]:
        return [s.prompts for c in self.commands if isinstance(c, Play) for s in c.segments]


def caller_in(*flows: Flow, calendar: Calendar | None = None, now: float = WEDNESDAY_2PM) -> Caller:
    by_name = {f.name: f for f in flows}
    return Caller(FlowRun(by_name, flows[0].name, calendar or Calendar(SHANGHAI)), now)
