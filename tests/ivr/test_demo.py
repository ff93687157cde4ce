"""The demo flow on 500, as config.example.toml sets it up, walked through by keys."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from softswitch.config import load_config
from softswitch.ivr.flow import ExitKind
from softswitch.ivr.flowset import FlowSet, Refused
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
from softswitch.ivr.settings import ivr_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def flows() -> FlowSet:
    settings = ivr_settings(load_config(REPO / "config.example.toml"))
    assert settings is not None
    return FlowSet(settings, tts_available=False)


def _at(*args: int) -> float:
    settings = ivr_settings(load_config(REPO / "config.example.toml"))
    assert settings is not None
    return datetime(*args, tzinfo=settings.zone).timestamp()


class Walk:
    """A caller on 500: plays finish at once, keys are pressed after each prompt."""

    def __init__(self, flows: FlowSet, now: float, caller: str = "1001") -> None:
        started = flows.start(now, "500", caller)
        assert not isinstance(started, Refused)
        self.run, self.out = started
        self.now = now
        self.heard: list[str] = []
        self._note(self.out)

    def _note(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, Play):
                self.heard += [s.prompts[0] for s in command.segments]

    def _feed(self, event: Started | PromptFinished | DigitReceived | Timer) -> None:
        commands = self.run.handle(event)
        self.out += commands
        self._note(commands)

    def listen(self) -> None:
        plays = [c for c in self.out if isinstance(c, Play)]
        self.now += 2
        self._feed(PromptFinished(self.now, plays[-1].play_id))

    def press(self, keys: str) -> None:
        for key in keys:
            self.now += 0.5
            self._feed(DigitReceived(key, self.now))

    @property
    def exit(self) -> TransferTo | HangUp:
        assert isinstance(self.out[-1], TransferTo | HangUp), self.out
        return self.out[-1]


MONDAY_10AM = (2025, 6, 9, 10, 0)


def test_1_goes_to_the_sales_queue(flows: FlowSet) -> None:
    walk = Walk(flows, _at(*MONDAY_10AM))
    assert walk.heard == ["welcome"]
    walk.listen()
    assert walk.heard == ["welcome", "demo_main_menu"]
    walk.listen()
    walk.press("1")
    exit_ = walk.exit
    assert isinstance(exit_, TransferTo)
    assert (exit_.kind, exit_.target, exit_.priority) == (ExitKind.QUEUE, "600", None)
    assert [(s.skill, s.min_proficiency) for s in exit_.skills] == [("sales", 1)]
    assert exit_.digits == "1" and exit_.flow == "demo"


def test_2_enters_a_customer_number_then_the_support_queue(flows: FlowSet) -> None:
    walk = Walk(flows, _at(*MONDAY_10AM))
    walk.press("2")  # cuts the greeting: straight to the menu's choice
    assert walk.heard == ["welcome", "demo_enter_customer_number"]
    walk.press("12")  # too short
    walk.press("#")
    assert walk.heard[-2:] == ["demo_bad_customer_number", "demo_enter_customer_number"]
    walk.press("123456#")
    assert walk.heard[-1] == "demo_your_number_is"
    walk.listen()
    assert walk.heard[-1] == "1"  # the number read back
    digits_play = [c for c in walk.out if isinstance(c, Play)][-1]
    assert digits_play.segments[0].prompts == tuple("123456")
    walk.listen()
    exit_ = walk.exit
    assert isinstance(exit_, TransferTo) and (exit_.kind, exit_.target) == (ExitKind.QUEUE, "601")
    assert exit_.variables["customer_number"] == "123456"
    assert exit_.digits == "212#123456#"


def test_0_goes_to_the_operator_and_9_to_voicemail(flows: FlowSet) -> None:
    for key, kind, target in (("0", ExitKind.EXTENSION, "1005"), ("9", ExitKind.VOICEMAIL, "600")):
        walk = Walk(flows, _at(*MONDAY_10AM))
        walk.listen()
        walk.press(key)
        assert isinstance(walk.exit, TransferTo)
        assert (walk.exit.kind, walk.exit.target) == (kind, target)


def test_no_choice_twice_then_the_operator(flows: FlowSet) -> None:
    walk = Walk(flows, _at(*MONDAY_10AM))
    walk.listen()
    for _ in range(3):
        walk.listen()  # the menu prompt ends...
        deadline = walk.run.next_deadline()
        assert deadline is not None
        walk.now = deadline
        walk._feed(Timer(deadline))  # ...and no key comes
    assert walk.heard.count("demo_no_choice") == 2
    assert isinstance(walk.exit, TransferTo) and walk.exit.target == "1005"


@pytest.mark.parametrize(
    "moment",
    [
        (2025, 6, 9, 21, 30),  # Monday night
        (2025, 6, 8, 10, 0),  # Sunday
        (2025, 6, 14, 14, 0),  # Saturday afternoon
        (2025, 10, 1, 10, 0),  # National Day, a Wednesday
    ],
)
def test_night_weekend_and_holidays_get_the_closed_message_then_voicemail(
    flows: FlowSet, moment: tuple[int, ...]
) -> None:
    walk = Walk(flows, _at(*moment))
    walk.listen()
    assert walk.heard == ["welcome", "demo_closed"]
    closed = [c for c in walk.out if isinstance(c, Play)][-1]
    assert not closed.interruptible
    walk.press("1")  # ignored: the closed message cannot be cut
    walk.listen()
    assert isinstance(walk.exit, TransferTo) and walk.exit.kind is ExitKind.VOICEMAIL


def test_saturday_morning_is_open(flows: FlowSet) -> None:
    walk = Walk(flows, _at(2025, 6, 14, 9, 30))
    walk.listen()
    assert walk.heard[-1] == "demo_main_menu"


def test_an_agent_sends_the_caller_to_card_entry_and_gets_them_back(flows: FlowSet) -> None:
    run = FlowRun(flows.current.flows, "demo", flows.settings.calendar)
    context = {"agent": "1003", "customer_number": "123456", "queue": "601"}
    out = run.handle(Started(_at(*MONDAY_10AM), "13900000000", "601", context, node="card_entry"))
    assert isinstance(out[-1], Play)
    now = _at(*MONDAY_10AM)
    for key in "4111111111111111#":
        now += 0.3
        out = run.handle(DigitReceived(key, now))
    assert isinstance(out[-1], TransferTo)
    assert (out[-1].kind, out[-1].target) == (ExitKind.AGENT, "1003")
    assert out[-1].variables["card_number"] == "4111111111111111"
    assert out[-1].variables["customer_number"] == "123456"


def test_the_survey_keeps_the_score(flows: FlowSet) -> None:
    run = FlowRun(flows.current.flows, "demo", flows.settings.calendar)
    now = _at(*MONDAY_10AM)
    run.handle(Started(now, "13900000000", "600", {"agent": "1002"}, node="survey"))
    out = run.handle(DigitReceived("4", now + 1))
    assert isinstance(out[-1], Play) and out[-1].segments[0].prompts == ("thank_you",)
    out = run.handle(PromptFinished(now + 2, out[-1].play_id))
    assert isinstance(out[-1], HangUp) and out[-1].variables["survey_score"] == "4"
