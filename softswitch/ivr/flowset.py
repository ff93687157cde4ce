"""The flows of the configured folder, loaded as one set that reloads atomically, and the choice
of a flow for a call by called and caller number.

A reload builds and validates a whole new set before swapping it in: a broken file leaves the
previous set in use. A run started from a set keeps that set's flows (`FlowSnapshot`), so calls
in progress never see a reload.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from softswitch.ivr.flow import Flow, FlowProblem
from softswitch.ivr.interpreter import Command, FlowRun, Started
from softswitch.ivr.rules import any_matches
from softswitch.ivr.settings import IvrSettings
from softswitch.ivr.validate import PromptLookup, check_folder, espeak_available, library_prompts

log = logging.getLogger("softswitch.ivr")


@dataclass(frozen=True)
class FlowChoice:
    flow: str
    variables: Mapping[str, str] = field(default_factory=dict)
    node: str | None = None  # an entry point (a number mapped to `flow#node`): start there


@dataclass(frozen=True)
class Refused:
    """No flow for this call: the adapter rejects it (blocked caller, number without a flow)."""

    reason: str


def select_flow(settings: IvrSettings, called: str, caller: str) -> FlowChoice | Refused:
    """Blocked callers first, then the called number's flow, VIP callers marked (or diverted)."""
    if any_matches(settings.blocked_callers, caller):
        if settings.blocked_flow is None:
            return Refused(f"caller {caller} is blocked")
        return FlowChoice(settings.blocked_flow, {"blocked": "1"})
    target = settings.numbers.get(called)
    if target is None:
        return Refused(f"no flow for {called}")
    flow, _, node = target.partition("#")
    if node:  # an agent sends a caller into a flow's node: the caller's context is kept
        return FlowChoice(flow, node=node)
    if any_matches(settings.vip_callers, caller):
        variables = {"vip": "1", "priority": str(settings.vip_priority)}
        return FlowChoice(settings.vip_flow or flow, variables)
    return FlowChoice(flow)


@dataclass(frozen=True)
class FlowSnapshot:
    """One loaded, validated set of flows; what every run started from it keeps."""

    generation: int
    flows: Mapping[str, Flow]


class FlowLoadError(Exception):
    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class FlowSet:
    """The current flows, replaced whole by `reload()`."""

    def __init__(
        self,
        settings: IvrSettings,
        *,
        source: str = "config",
        prompts: PromptLookup | None = None,
        tts_available: bool = True,
    ) -> None:
        self.settings = settings
        self.source = source
        self.prompts = prompts
        self.tts_available = tts_available
        self.current = FlowSnapshot(0, {})
        self.reload_or_raise()

    @classmethod
    def for_switch(cls, settings: IvrSettings, prompts_dir: Path) -> FlowSet:
        """The running switch's set, checked against the prompts it will play (`prompts_dir`
        first, then the shipped set) and whether espeak-ng is there for text."""
        prompts = library_prompts(prompts_dir)
        flows = cls(settings, prompts=prompts, tts_available=espeak_available())
        log.info("ivr: flow set 1: %s", ", ".join(sorted(flows.current.flows)))
        return flows

    def reload_and_log(self) -> bool:
        problems = self.reload()
        current = self.current
        for problem in problems:
            log.error("ivr: reload refused: %s", problem)
        if problems:
            log.error("ivr: still using flow set %d", current.generation)
        else:
            log.info("ivr: flow set %d: %s", current.generation, ", ".join(sorted(current.flows)))
        return not problems

    def check(self) -> tuple[dict[str, Flow], list[FlowProblem]]:
        """Load and validate the folder as it is now, without using it."""
        return check_folder(
            self.settings, self.source, prompts=self.prompts, tts_available=self.tts_available
        )

    def reload(self) -> list[FlowProblem]:
        """Swap in the folder's flows if they check clean; else keep the current set and say why."""
        flows, problems = self.check()
        if not problems:
            self.current = FlowSnapshot(self.current.generation + 1, flows)
        return problems

    def reload_or_raise(self) -> None:
        problems = self.reload()
        if problems:
            raise FlowLoadError(problems)

    def start(
        self, now: float, called: str, caller: str, variables: Mapping[str, str] | None = None
    ) -> tuple[FlowRun, list[Command]] | Refused:
        """Choose the flow for a new call and start a run of the current set's flows."""
        choice = select_flow(self.settings, called, caller)
        if isinstance(choice, Refused):
            return choice
        run = FlowRun(self.current.flows, choice.flow, self.settings.calendar)
        commands = run.handle(
            Started(now, caller, called, {**choice.variables, **(variables or {})}, choice.node)
        )
        return run, commands
