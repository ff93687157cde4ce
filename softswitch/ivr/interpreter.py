"""Running one caller through a flow: a sans-IO state machine.

Typed events in (`Started`, `PromptFinished`, `DigitReceived`, `Timer`), typed commands out
(`Play`, `StopPlayback`, `CollectDigits`, `TransferTo`, `HangUp`). Time comes in with every
event as UNIX seconds (the adapter's `time.time()`: branches read it as wall-clock time in the
configured zone) and the run's next wake-up goes out as data, `next_deadline()`, in the same
clock. All transitions are in `_TABLE`; an event the table does not allow in a state raises
`FlowRunError` (the adapter misused the run).

A run keeps the flows it was started with, so reloading the flow set never changes a call in
progress. Keys and variables travel into the exit command (`TransferTo`, `HangUp`) so that the
queue, the agent's offer and the call record get them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from softswitch.ivr.flow import (
    DTMF,
    Audio,
    BranchNode,
    CollectNode,
    ExitKind,
    Flow,
    GotoFlowNode,
    HangupNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
    ReturnToAgentNode,
    Rule,
    SayNode,
    SetNode,
    TransferNode,
)
from softswitch.ivr.rules import Calendar
from softswitch.ivr.say import SayError, SayKind, say

# Set, branch and goto-flow nodes run without waiting; more than this many in a row is a loop.
MAX_INSTANT_STEPS: Final = 100
LAST_AGENT: Final = "last"  # a queue node's `agent`: the one the caller last talked to


class FlowRunError(Exception):
    """The adapter fed the run something it cannot take (an event the state does not allow, an
    entry node the flow does not declare)."""


# ---- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """The caller enters the flow, at its start or (re-entry) at one of its entry points."""

    now: float
    caller: str
    called: str
    variables: Mapping[str, str] = field(default_factory=dict)
    node: str | None = None


@dataclass(frozen=True)
class PromptFinished:
    now: float
    play_id: int


@dataclass(frozen=True)
class DigitReceived:
    digit: str
    now: float


@dataclass(frozen=True)
class Timer:
    now: float


Event = Started | PromptFinished | DigitReceived | Timer


# ---- commands -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """Prompts to play in `language`; when one is missing, `text` (if any) is spoken instead."""

    prompts: tuple[str, ...]
    text: str | None
    language: str


@dataclass(frozen=True)
class Play:
    segments: tuple[Segment, ...]
    interruptible: bool
    play_id: int  # PromptFinished names it; a finish for an older play is ignored


@dataclass(frozen=True)
class StopPlayback:
    play_id: int


@dataclass(frozen=True)
class CollectDigits:
    """The caller is expected to key digits now (an adapter may turn on in-band detection);
    the digits still come back as DigitReceived."""

    max_digits: int
    terminator: str
    timeout_s: float


@dataclass(frozen=True)
class SkillRequirement:
    skill: str
    min_proficiency: int


@dataclass(frozen=True)
class TransferTo:
    """The caller leaves the flow for a queue, extension, conference, voicemail box, external
    number or the agent they came from, with everything the flow learnt."""

    kind: ExitKind
    target: str
    variables: Mapping[str, str]
    digits: str  # every key the flow accepted, in order
    flow: str
    node: str
    priority: int | None = None
    skills: tuple[SkillRequirement, ...] = ()
    agent: str = ""  # a queue exit for one agent alone (back to the agent the caller had)


@dataclass(frozen=True)
class HangUp:
    reason: str
    variables: Mapping[str, str]
    digits: str
    flow: str
    node: str


Command = Play | StopPlayback | CollectDigits | TransferTo | HangUp


class RunState(Enum):
    NEW = "new"
    PLAYING = "playing"  # a play or say node
    MENU_PROMPT = "menu prompt"  # a menu's prompt is playing; a key cuts it
    MENU_WAIT = "menu wait"  # waiting for the menu's key, with a timeout
    COLLECT_PROMPT = "collect prompt"
    COLLECT_WAIT = "collect wait"  # first-digit, then inter-digit timeout
    DONE = "done"


_ACTIVE: Final = (
    RunState.PLAYING,
    RunState.MENU_PROMPT,
    RunState.MENU_WAIT,
    RunState.COLLECT_PROMPT,
    RunState.COLLECT_WAIT,
)
# (state, event type) -> handler name. Everything that moves the run is here.
_TABLE: Final[dict[tuple[RunState, type], str]] = {
    (RunState.NEW, Started): "_on_started",
    (RunState.PLAYING, PromptFinished): "_play_finished",
    (RunState.PLAYING, DigitReceived): "_play_digit",
    (RunState.MENU_PROMPT, PromptFinished): "_menu_prompt_finished",
    (RunState.MENU_PROMPT, DigitReceived): "_menu_digit",
    (RunState.MENU_WAIT, DigitReceived): "_menu_digit",
    (RunState.MENU_WAIT, Timer): "_menu_timeout",
    (RunState.COLLECT_PROMPT, PromptFinished): "_collect_prompt_finished",
    (RunState.COLLECT_PROMPT, DigitReceived): "_collect_digit",
    (RunState.COLLECT_WAIT, DigitReceived): "_collect_digit",
    (RunState.COLLECT_WAIT, Timer): "_collect_timeout",
    # A finish for a play the run already left, and a timer with nothing due, change nothing.
    **{(state, PromptFinished): "_stale" for state in (RunState.MENU_WAIT, RunState.COLLECT_WAIT)},
    **{
        (state, Timer): "_stale"
        for state in (RunState.PLAYING, RunState.MENU_PROMPT, RunState.COLLECT_PROMPT)
    },
}


class FlowRun:
    """One caller in one flow (and the flows it goes on to, from the same set)."""

    def __init__(self, flows: Mapping[str, Flow], flow: str, calendar: Calendar | None = None):
        if flow not in flows:
            raise FlowRunError(f"no flow {flow!r}")
        self.flows = flows
        self.flow = flows[flow]
        self.calendar = calendar if calendar is not None else Calendar()
        self.state = RunState.NEW
        self.node: Node = self.flow.nodes[self.flow.start]
        self.variables: dict[str, str] = {}
        self.digits: list[str] = []
        self.caller = self.called = ""
        self._deadline: float | None = None
        self._play_id = 0
        self._typeahead: list[str] = []  # keys that cut a prompt, for the next menu or collect
        self._failures = 0
        self._entered = ""

    def next_deadline(self) -> float | None:
        return self._deadline

    def handle(self, event: Event) -> list[Command]:
        handler = _TABLE.get((self.state, type(event)))
        if handler is None:
            raise FlowRunError(f"{type(event).__name__} not allowed in state {self.state.value}")
        out: list[Command] = []
        getattr(self, handler)(event, out)
        return out

    # ---- moving between nodes -------------------------------------------------------------------

    def _on_started(self, event: Started, out: list[Command]) -> None:
        node = event.node or self.flow.start
        if node != self.flow.start and node not in self.flow.entry_points:
            raise FlowRunError(f"{node!r} is not an entry point of flow {self.flow.name!r}")
        self.caller, self.called = event.caller, event.called
        self.variables = {"caller": event.caller, "called": event.called, **event.variables}
        self._goto(node, event.now, out)

    def _goto(self, node_id: str | None, now: float, out: list[Command]) -> None:
        """Enter `node_id` (None: the flow ends, hang up) and run instant nodes until one waits."""
        for _ in range(MAX_INSTANT_STEPS):
            if node_id is None:
                self._hang_up("end of flow", out)
                return
            node = self.flow.nodes.get(node_id)
            if node is None:
                self._hang_up(f"no node {node_id!r} in flow {self.flow.name!r}", out)
                return
            self.node = node
            self._deadline = None
            self._failures = 0
            node_id = _ENTER[type(node)](self, node, now, out)
            if self.state is RunState.DONE or node_id is _WAIT:
                return
        self._hang_up(f"more than {MAX_INSTANT_STEPS} nodes without waiting (a loop)", out)

    def _hang_up(self, reason: str, out: list[Command]) -> None:
        out.append(HangUp(reason, dict(self.variables), self._keys, self.flow.name, self.node.id))
        self._finish()

    def _finish(self) -> None:
        self.state = RunState.DONE
        self._deadline = None

    @property
    def _keys(self) -> str:
        return "".join(self.digits)

    @property
    def language(self) -> str:
        return self.variables.get("language") or self.flow.language

    def _segments(self, *audio: Audio) -> tuple[Segment, ...]:
        return tuple(
            Segment(a.prompts, a.text.render(self.variables) if a.text else None, self.language)
            for a in audio
            if a
        )

    def _play(self, segments: tuple[Segment, ...], interruptible: bool, out: list[Command]) -> None:
        self._play_id += 1
        out.append(Play(segments, interruptible, self._play_id))

    def _stop(self, out: list[Command]) -> None:
        out.append(StopPlayback(self._play_id))

    def _stale(self, event: Event, out: list[Command]) -> None:
        return

    # ---- play and say ---------------------------------------------------------------------------

    def _enter_play(self, node: PlayNode, now: float, out: list[Command]) -> str | None:
        if node.interruptible and self._typeahead:
            return node.next  # the caller already keyed ahead: skip it
        self._play(self._segments(node.say), node.interruptible, out)
        self.state = RunState.PLAYING
        return _WAIT

    def _enter_say(self, node: SayNode, now: float, out: list[Command]) -> str | None:
        if node.interruptible and self._typeahead:
            return node.next
        value = node.value.render(self.variables)
        if node.what is SayKind.DATE and value in ("", "today"):
            value = self.calendar.local(now).date().isoformat()
        try:
            prompts = say(node.what, value, self.language, node.currency)
        except SayError:
            return node.next  # nothing sensible to say (an empty or odd variable): go on
        if not prompts:
            return node.next
        self._play((Segment(tuple(prompts), None, self.language),), node.interruptible, out)
        self.state = RunState.PLAYING
        return _WAIT

    def _play_finished(self, event: PromptFinished, out: list[Command]) -> None:
        if event.play_id != self._play_id:
            return
        assert isinstance(self.node, PlayNode | SayNode)
        self._goto(self.node.next, event.now, out)

    def _play_digit(self, event: DigitReceived, out: list[Command]) -> None:
        assert isinstance(self.node, PlayNode | SayNode)
        if not self.node.interruptible or event.digit not in DTMF:
            return  # keys pressed during a prompt that may not be cut are ignored
        self.digits.append(event.digit)
        self._typeahead.append(event.digit)
        self._stop(out)
        self._goto(self.node.next, event.now, out)

    # ---- menu -----------------------------------------------------------------------------------

    def _enter_menu(self, node: MenuNode, now: float, out: list[Command]) -> str | None:
        if self._typeahead:
            return self._choose(node, self._typeahead.pop(0), now, out)
        self._offer_menu(node, (), out)
        return _WAIT

    def _offer_menu(self, node: MenuNode, before: tuple[Audio, ...], out: list[Command]) -> None:
        self._typeahead.clear()
        self._play(self._segments(*before, node.say), True, out)
        out.append(CollectDigits(1, "", node.timeout_s))
        self.state = RunState.MENU_PROMPT

    def _menu_prompt_finished(self, event: PromptFinished, out: list[Command]) -> None:
        if event.play_id != self._play_id:
            return
        assert isinstance(self.node, MenuNode)
        self.state = RunState.MENU_WAIT
        self._deadline = event.now + self.node.timeout_s

    def _menu_digit(self, event: DigitReceived, out: list[Command]) -> None:
        assert isinstance(self.node, MenuNode)
        if event.digit not in DTMF:
            return
        self.digits.append(event.digit)
        if self.state is RunState.MENU_PROMPT:
            self._stop(out)
        target = self._choose(self.node, event.digit, event.now, out)
        if target is not _WAIT:
            self._goto(target, event.now, out)

    def _choose(self, node: MenuNode, digit: str, now: float, out: list[Command]) -> str | None:
        target = node.choices.get(digit)
        if target is not None:
            return target
        return self._menu_failed(node, node.invalid, out)

    def _menu_timeout(self, event: Timer, out: list[Command]) -> None:
        if self._deadline is None or event.now < self._deadline:
            return
        assert isinstance(self.node, MenuNode)
        target = self._menu_failed(self.node, self.node.timeout, out)
        if target is not _WAIT:
            self._goto(target, event.now, out)

    def _menu_failed(self, node: MenuNode, notice: Audio, out: list[Command]) -> str | None:
        """Invalid key or no key: offer the menu again, or give up after `retries` more tries."""
        self._failures += 1
        self._deadline = None
        if self._failures > node.retries:
            self._typeahead.clear()
            return node.on_failure
        self._offer_menu(node, (notice,), out)
        return _WAIT

    # ---- collect digits -------------------------------------------------------------------------

    def _enter_collect(self, node: CollectNode, now: float, out: list[Command]) -> str | None:
        self._entered = ""
        typed, self._typeahead = self._typeahead, []
        out.append(CollectDigits(node.max_digits, node.terminator, node.timeout_s))
        if typed:
            self.state = RunState.COLLECT_WAIT
            for digit in typed:
                target = self._collect_key(node, digit, now, out)
                if target is not _WAIT or self.state is not RunState.COLLECT_WAIT:
                    return target
            return _WAIT
        self._prompt_collect(node, (node.say,), now, out)
        return _WAIT

    def _prompt_collect(
        self, node: CollectNode, audio: tuple[Audio, ...], now: float, out: list[Command]
    ) -> None:
        self._entered = ""
        segments = self._segments(*audio)
        if segments:
            self._play(segments, True, out)
            self.state = RunState.COLLECT_PROMPT
            self._deadline = None
        else:
            self.state = RunState.COLLECT_WAIT
            self._deadline = now + node.timeout_s

    def _collect_prompt_finished(self, event: PromptFinished, out: list[Command]) -> None:
        if event.play_id != self._play_id:
            return
        assert isinstance(self.node, CollectNode)
        self.state = RunState.COLLECT_WAIT
        self._deadline = event.now + self.node.timeout_s

    def _collect_digit(self, event: DigitReceived, out: list[Command]) -> None:
        assert isinstance(self.node, CollectNode)
        if event.digit not in DTMF:
            return
        if self.state is RunState.COLLECT_PROMPT:
            self._stop(out)
            self.state = RunState.COLLECT_WAIT
        self.digits.append(event.digit)
        target = self._collect_key(self.node, event.digit, event.now, out)
        if target is not _WAIT:
            self._goto(target, event.now, out)

    def _collect_key(
        self, node: CollectNode, digit: str, now: float, out: list[Command]
    ) -> str | None:
        if node.terminator and digit == node.terminator:
            return self._collect_done(node, now, out)
        self._entered += digit
        if len(self._entered) >= node.max_digits:
            return self._collect_done(node, now, out)
        self._deadline = now + node.inter_digit_timeout_s
        return _WAIT

    def _collect_timeout(self, event: Timer, out: list[Command]) -> None:
        if self._deadline is None or event.now < self._deadline:
            return
        assert isinstance(self.node, CollectNode)
        target = self._collect_done(self.node, event.now, out)
        if target is not _WAIT:
            self._goto(target, event.now, out)

    def _collect_done(self, node: CollectNode, now: float, out: list[Command]) -> str | None:
        entered, self._entered = self._entered, ""
        valid = node.min_digits <= len(entered) <= node.max_digits and (
            node.pattern is None or node.pattern.fullmatch(entered) is not None
        )
        if valid:
            self.variables[node.variable] = entered
            return node.next
        self._failures += 1
        self._deadline = None
        if self._failures > node.retries:
            return node.on_failure
        self._prompt_collect(node, (node.invalid, node.say), now, out)
        return _WAIT

    # ---- instant nodes --------------------------------------------------------------------------

    def _enter_set(self, node: SetNode, now: float, out: list[Command]) -> str | None:
        rendered = {name: value.render(self.variables) for name, value in node.values.items()}
        self.variables.update(rendered)
        return node.next

    def _enter_branch(self, node: BranchNode, now: float, out: list[Command]) -> str | None:
        for rule in node.rules:
            if self._matches(rule, now):
                return rule.goto
        return node.default

    def _matches(self, rule: Rule, now: float) -> bool:
        local = self.calendar.local(now)
        value = self.variables.get(rule.variable, "") if rule.variable else ""
        checks = (
            rule.caller is None or rule.caller.matches(self.caller),
            rule.called is None or rule.called.matches(self.called),
            rule.equals is None or value == rule.equals.render(self.variables),
            rule.matches is None or rule.matches.fullmatch(value) is not None,
            not rule.time or any(span.contains(local.time()) for span in rule.time),
            rule.days is None or local.weekday() in rule.days,
            rule.holiday is None or (local.date() in self.calendar.holidays) == rule.holiday,
            rule.dates is None or local.date() in rule.dates,
        )
        return all(checks)

    def _enter_flow(self, node: GotoFlowNode, now: float, out: list[Command]) -> str | None:
        flow = self.flows.get(node.flow)
        if flow is None:
            self._hang_up(f"no flow {node.flow!r}", out)
            return _WAIT
        self.flow = flow
        return node.node or flow.start

    # ---- leaving the flow -----------------------------------------------------------------------

    def _exit(
        self,
        kind: ExitKind,
        target: str,
        out: list[Command],
        priority: int | None = None,
        skills: tuple[SkillRequirement, ...] = (),
        agent: str = "",
    ) -> str | None:
        out.append(
            TransferTo(
                kind,
                target,
                dict(self.variables),
                self._keys,
                self.flow.name,
                self.node.id,
                priority,
                skills,
                agent,
            )
        )
        self._finish()
        return _WAIT

    def _enter_transfer(self, node: TransferNode, now: float, out: list[Command]) -> str | None:
        target = node.target.render(self.variables)
        if not target:
            self._hang_up(f"{node.kind.value} target is empty", out)
            return _WAIT
        return self._exit(node.kind, target, out)

    def _enter_queue(self, node: QueueNode, now: float, out: list[Command]) -> str | None:
        queue = node.queue.render(self.variables)
        if not queue:
            self._hang_up("queue number is empty", out)
            return _WAIT
        priority = _level(node.priority.render(self.variables), 0, 9) if node.priority else None
        skills: dict[str, int] = {}
        if node.skills_variable:
            for item in self.variables.get(node.skills_variable, "").split(","):
                skill, _, text = item.strip().partition(":")
                level = _level(text, 1, 10)
                if skill and level is not None:
                    skills[skill] = level
        for skill, template in node.skills:
            level = _level(template.render(self.variables), 1, 10)
            if level is not None:
                skills[skill] = level
        requirements = tuple(SkillRequirement(s, level) for s, level in skills.items())
        agent = node.agent.render(self.variables) if node.agent is not None else ""
        if agent == LAST_AGENT:
            agent = self.variables.get("agent", "")  # set when a queue connected the caller
        return self._exit(ExitKind.QUEUE, queue, out, priority, requirements, agent)

    def _enter_return(self, node: ReturnToAgentNode, now: float, out: list[Command]) -> str | None:
        agent = self.variables.get(node.variable, "")
        if agent:
            return self._exit(ExitKind.AGENT, agent, out)
        if node.fallback is None:
            self._hang_up(f"no agent to return to (variable {node.variable!r} is empty)", out)
            return _WAIT
        return node.fallback

    def _enter_hangup(self, node: HangupNode, now: float, out: list[Command]) -> str | None:
        self._hang_up("hangup node", out)
        return _WAIT


def _level(text: str, low: int, high: int) -> int | None:
    text = text.strip()
    if not text.isdigit() or len(text) > 2:
        return None
    value = int(text)
    return value if low <= value <= high else None


# A node handler returns the next node id, None when the flow ends there, or _WAIT when the run
# waits for the caller (or has left the flow).
_WAIT: Final = "\0wait"
_Enter = Callable[[FlowRun, Node, float, list[Command]], str | None]
_ENTER: Final[dict[type[Node], _Enter]] = {
    PlayNode: FlowRun._enter_play,  # type: ignore[dict-item]
    SayNode: FlowRun._enter_say,  # type: ignore[dict-item]
    MenuNode: FlowRun._enter_menu,  # type: ignore[dict-item]
    CollectNode: FlowRun._enter_collect,  # type: ignore[dict-item]
    SetNode: FlowRun._enter_set,  # type: ignore[dict-item]
    BranchNode: FlowRun._enter_branch,  # type: ignore[dict-item]
    GotoFlowNode: FlowRun._enter_flow,  # type: ignore[dict-item]
    TransferNode: FlowRun._enter_transfer,  # type: ignore[dict-item]
    QueueNode: FlowRun._enter_queue,  # type: ignore[dict-item]
    ReturnToAgentNode: FlowRun._enter_return,  # type: ignore[dict-item]
    HangupNode: FlowRun._enter_hangup,  # type: ignore[dict-item]
}
