"""The flow interpreter with a fake clock: every node kind, menus, collection, exits, re-entry."""

from __future__ import annotations

from datetime import datetime

import pytest
from ivr.helpers import SHANGHAI, WEDNESDAY_2PM, Caller, caller_in, flow

from softswitch.ivr.flow import ExitKind
from softswitch.ivr.interpreter import (
    MAX_INSTANT_STEPS,
    CollectDigits,
    DigitReceived,
    FlowRun,
    FlowRunError,
    HangUp,
    Play,
    PromptFinished,
    RunState,
    SkillRequirement,
    Started,
    StopPlayback,
    Timer,
    TransferTo,
)

MENU = """
start = "menu"
[nodes.menu]
kind = "menu"
prompts = ["main-menu"]
choices = { "1" = "sales", "2" = "support" }
timeout_s = 5
retries = 2
invalid_prompts = ["invalid-option"]
timeout_prompts = ["no-choice"]
on_failure = "operator"
[nodes.sales]
kind = "queue"
queue = "600"
[nodes.support]
kind = "queue"
queue = "601"
[nodes.operator]
kind = "extension"
target = "1005"
"""


def test_play_then_hang_up_when_the_flow_ends() -> None:
    c = caller_in(
        flow("""
        start = "hello"
        [nodes.hello]
        kind = "play"
        prompts = ["welcome"]
        text = "Welcome ${caller}"
        interruptible = false
        """)
    )
    out = c.start(caller="1002")
    assert out == [Play(c.last_play().segments, False, 1)]
    segment = c.last_play().segments[0]
    assert (segment.prompts, segment.text, segment.language) == (("welcome",), "Welcome 1002", "en")
    assert c.press("5") == []  # not interruptible: the key is ignored
    out = c.finish_prompt()
    assert isinstance(out[-1], HangUp) and out[-1].reason == "end of flow"
    assert c.run.state is RunState.DONE and c.run.next_deadline() is None


def test_a_key_cuts_an_interruptible_prompt_and_answers_the_next_menu() -> None:
    c = caller_in(
        flow(
            """
        start = "greeting"
        [nodes.greeting]
        kind = "play"
        prompts = ["welcome"]
        next = "menu"
        """
            + MENU.replace('start = "menu"', "")
        )
    )
    c.start()
    out = c.press("2")
    assert out[0] == StopPlayback(1)
    assert isinstance(c.exit, TransferTo) and (c.exit.kind, c.exit.target) == (
        ExitKind.QUEUE,
        "601",
    )
    assert c.exit.digits == "2"
    assert c.prompts_heard() == [("welcome",)]  # the menu prompt was never played


def test_menu_choice_after_the_prompt() -> None:
    c = caller_in(flow(MENU))
    out = c.start()
    assert isinstance(out[0], Play) and out[0].interruptible
    assert out[1] == CollectDigits(1, "", 5.0)
    c.finish_prompt()
    assert c.run.state is RunState.MENU_WAIT
    assert c.run.next_deadline() == pytest.approx(c.now + 5.0)
    c.press("1")
    assert isinstance(c.exit, TransferTo) and c.exit.target == "600"


def test_menu_invalid_key_replays_with_the_invalid_prompt_then_gives_up() -> None:
    c = caller_in(flow(MENU))
    c.start()
    c.finish_prompt()
    c.press("7")
    assert c.last_play().segments[0].prompts == ("invalid-option",)
    assert c.last_play().segments[1].prompts == ("main-menu",)
    c.press("8")  # during the replayed prompt: cuts it
    assert isinstance(c.commands[-3], StopPlayback)
    c.press("9")  # third failure with retries = 2: on_failure
    assert isinstance(c.exit, TransferTo) and (c.exit.kind, c.exit.target) == (
        ExitKind.EXTENSION,
        "1005",
    )
    assert c.exit.digits == "789"
    assert c.prompts_heard().count(("invalid-option",)) == 2


def test_menu_timeouts_use_the_timeout_prompt_and_count_as_tries() -> None:
    c = caller_in(flow(MENU))
    c.start()
    c.finish_prompt()
    assert c.wait(4.9) == []
    out = c.wait(0.2)
    assert isinstance(out[0], Play) and out[0].segments[0].prompts == ("no-choice",)
    c.finish_prompt()
    c.wait(5)
    c.finish_prompt()
    c.wait(5)
    assert isinstance(c.exit, TransferTo) and c.exit.target == "1005"
    assert c.prompts_heard().count(("no-choice",)) == 2


def test_menu_without_on_failure_hangs_up() -> None:
    c = caller_in(
        flow(MENU.replace('on_failure = "operator"', "").replace("retries = 2", "retries = 0"))
    )
    c.start()
    c.finish_prompt()
    c.wait(5)
    assert isinstance(c.exit, HangUp)


COLLECT = """
start = "card"
[nodes.card]
kind = "collect"
prompts = ["enter-number"]
variable = "account"
min_digits = 4
max_digits = 6
terminator = "#"
timeout_s = 5
inter_digit_timeout_s = 3
pattern = "[1-9][0-9]*"
retries = 1
invalid_prompts = ["invalid"]
next = "queue"
on_failure = "bye"
[nodes.queue]
kind = "queue"
queue = "601"
[nodes.bye]
kind = "hangup"
"""


def test_collect_ends_on_the_terminator_and_stores_the_variable() -> None:
    c = caller_in(flow(COLLECT))
    out = c.start()
    assert CollectDigits(6, "#", 5.0) in out
    c.press("12")  # the first key cuts the prompt, once
    assert [x for x in c.commands if isinstance(x, StopPlayback)] == [StopPlayback(1)]
    c.press("34#")
    assert isinstance(c.exit, TransferTo)
    assert c.exit.variables["account"] == "1234"
    assert c.exit.digits == "1234#"


def test_collect_ends_at_max_digits_without_terminator() -> None:
    c = caller_in(flow(COLLECT))
    c.start()
    c.finish_prompt()
    c.press("123456")
    assert isinstance(c.exit, TransferTo) and c.exit.variables["account"] == "123456"


def test_collect_ends_on_the_inter_digit_timeout() -> None:
    c = caller_in(flow(COLLECT))
    c.start()
    c.finish_prompt()
    c.press("98765")
    assert c.run.next_deadline() == pytest.approx(c.now + 3.0)
    assert c.wait(2.9) == []
    c.wait(0.2)
    assert isinstance(c.exit, TransferTo) and c.exit.variables["account"] == "98765"


def test_collect_too_short_or_not_matching_retries_then_fails() -> None:
    c = caller_in(flow(COLLECT))
    c.start()
    c.finish_prompt()
    c.press("12#")  # too short
    assert [s.prompts for s in c.last_play().segments] == [("invalid",), ("enter-number",)]
    c.finish_prompt()
    c.press("0123#")  # pattern refuses a leading 0; retries = 1: on_failure
    assert isinstance(c.exit, HangUp) and c.exit.node == "bye"
    assert "account" not in c.exit.variables


def test_collect_first_digit_timeout_counts_as_a_failure() -> None:
    c = caller_in(flow(COLLECT))
    c.start()
    c.finish_prompt()
    c.wait(5)
    assert c.last_play().segments[0].prompts == ("invalid",)
    c.finish_prompt()
    c.press("5555")
    c.wait(3)
    assert isinstance(c.exit, TransferTo) and c.exit.variables["account"] == "5555"


def test_collect_without_prompt_waits_with_the_first_digit_timeout() -> None:
    text = COLLECT.replace('prompts = ["enter-number"]', "").replace(
        'invalid_prompts = ["invalid"]', ""
    )
    c = caller_in(flow(text))
    c.start()
    assert c.run.state is RunState.COLLECT_WAIT
    assert c.run.next_deadline() == pytest.approx(c.now + 5)
    c.wait(5)  # failure, nothing to say: waits again
    assert c.run.state is RunState.COLLECT_WAIT
    c.wait(5)
    assert isinstance(c.exit, HangUp)


def test_set_and_templates_feed_the_queue_priority_and_skills() -> None:
    c = caller_in(
        flow("""
        start = "mark"
        [nodes.mark]
        kind = "set"
        values = { tier = "gold", level = "7", queue_no = "60${suffix}" }
        next = "q"
        [nodes.q]
        kind = "queue"
        queue = "${queue_no}"
        priority = "${priority}"
        skills = { billing = "${level}", english = 3, bogus = "${nothing}" }
        skills_variable = "skills"
        """)
    )
    c.start(variables={"suffix": "1", "priority": "8", "skills": "support:5, chinese:11, x"})
    assert isinstance(c.exit, TransferTo)
    assert (c.exit.kind, c.exit.target, c.exit.priority) == (ExitKind.QUEUE, "601", 8)
    assert c.exit.skills == (
        SkillRequirement("support", 5),
        SkillRequirement("billing", 7),
        SkillRequirement("english", 3),
    )
    assert c.exit.variables["tier"] == "gold" and c.exit.variables["caller"] == "1001"
    assert (c.exit.flow, c.exit.node) == ("main", "q")


def test_queue_priority_that_is_not_a_priority_is_left_to_the_queue() -> None:
    c = caller_in(flow('start = "q"\n[nodes.q]\nkind = "queue"\nqueue = "600"\npriority = "${p}"'))
    c.start(variables={"p": "high"})
    assert isinstance(c.exit, TransferTo) and c.exit.priority is None


@pytest.mark.parametrize(
    ("kind", "exit_kind"),
    [
        ("extension", ExitKind.EXTENSION),
        ("conference", ExitKind.CONFERENCE),
        ("voicemail", ExitKind.VOICEMAIL),
        ("external", ExitKind.EXTERNAL),
    ],
)
def test_transfer_nodes(kind: str, exit_kind: ExitKind) -> None:
    c = caller_in(flow(f'start = "t"\n[nodes.t]\nkind = "{kind}"\ntarget = "8${{x}}"'))
    c.start(variables={"x": "000"})
    assert isinstance(c.exit, TransferTo) and (c.exit.kind, c.exit.target) == (exit_kind, "8000")


def test_transfer_to_an_empty_target_hangs_up() -> None:
    c = caller_in(flow('start = "t"\n[nodes.t]\nkind = "external"\ntarget = "${number}"'))
    c.start()
    assert isinstance(c.exit, HangUp) and "empty" in c.exit.reason


def test_goto_flow_keeps_variables_and_uses_the_other_flows_nodes() -> None:
    main = flow(
        'start = "a"\n[nodes.a]\nkind = "set"\nvalues = { lang = "zh" }\nnext = "b"\n'
        '[nodes.b]\nkind = "flow"\nflow = "other"\nnode = "deep"',
        "main",
    )
    other = flow(
        'start = "top"\nentry_points = ["deep"]\n[nodes.top]\nkind = "hangup"\n'
        '[nodes.deep]\nkind = "conference"\ntarget = "8${lang}"',
        "other",
    )
    c = caller_in(main, other)
    c.start()
    assert isinstance(c.exit, TransferTo) and c.exit.target == "8zh" and c.exit.flow == "other"


def test_branch_on_caller_called_and_variable() -> None:
    text = """
    start = "b"
    [nodes.b]
    kind = "branch"
    default = "other"
    [[nodes.b.rules]]
    caller = "_139XXXXXXXX"
    goto = "mobile"
    [[nodes.b.rules]]
    called = "_50[0-2]"
    variable = "vip"
    equals = "1"
    goto = "vip"
    [[nodes.b.rules]]
    variable = "account"
    matches = "9[0-9]+"
    goto = "nines"
    [nodes.mobile]
    kind = "extension"
    target = "1"
    [nodes.vip]
    kind = "extension"
    target = "2"
    [nodes.nines]
    kind = "extension"
    target = "3"
    [nodes.other]
    kind = "extension"
    target = "4"
    """
    cases = [
        ("13912345678", "500", {}, "1"),
        ("1391234567", "500", {}, "4"),  # one digit short
        ("1001", "502", {"vip": "1"}, "2"),
        ("1001", "503", {"vip": "1"}, "4"),
        ("1001", "500", {"account": "912"}, "3"),
        ("1001", "500", {"account": "812"}, "4"),
    ]
    for caller, called, variables, target in cases:
        c = caller_in(flow(text))
        c.start(caller=caller, called=called, variables=variables)
        assert isinstance(c.exit, TransferTo) and c.exit.target == target, (caller, called)


def test_return_to_agent_uses_the_variable_set_on_entry() -> None:
    text = """
    start = "welcome"
    entry_points = ["card"]
    [nodes.welcome]
    kind = "hangup"
    [nodes.card]
    kind = "collect"
    variable = "card_number"
    min_digits = 4
    max_digits = 4
    next = "back"
    [nodes.back]
    kind = "return_to_agent"
    fallback = "welcome"
    """
    c = caller_in(flow(text))
    c.start(node="card", variables={"agent": "1003", "customer_number": "4711", "queue": "601"})
    assert c.run.state is RunState.COLLECT_WAIT
    c.press("4242")
    assert isinstance(c.exit, TransferTo)
    assert (c.exit.kind, c.exit.target) == (ExitKind.AGENT, "1003")
    assert c.exit.variables["card_number"] == "4242"
    assert c.exit.variables["customer_number"] == "4711"  # the caller's context came along
    # Without the agent variable: the fallback.
    c = caller_in(flow(text))
    c.start(node="card")
    c.press("4242")
    assert isinstance(c.exit, HangUp) and c.exit.node == "welcome"


def test_entry_must_be_a_declared_entry_point() -> None:
    c = caller_in(flow(COLLECT))
    with pytest.raises(FlowRunError):
        c.start(node="queue")


def test_events_the_table_does_not_allow_raise() -> None:
    run = FlowRun({"main": flow(MENU)}, "main")
    with pytest.raises(FlowRunError):
        run.handle(DigitReceived("1", 0.0))
    run.handle(Started(0.0, "1001", "500"))
    with pytest.raises(FlowRunError):
        run.handle(Started(0.0, "1001", "500"))
    run.handle(DigitReceived("1", 1.0))
    assert run.state is RunState.DONE
    with pytest.raises(FlowRunError):
        run.handle(Timer(2.0))


def test_a_stale_prompt_finish_and_an_early_timer_change_nothing() -> None:
    c = caller_in(flow(MENU))
    c.start()
    c.finish_prompt()
    c.press("7")  # invalid: replays, play id 2
    assert c.run.handle(PromptFinished(c.now, 1)) == []
    assert c.run.state is RunState.MENU_PROMPT
    assert c.run.handle(Timer(c.now)) == []
    assert c.run.handle(DigitReceived("A", c.now)) == []  # not a key a menu knows


def test_a_loop_of_instant_nodes_hangs_up_instead_of_spinning() -> None:
    c = caller_in(
        flow("""
        start = "a"
        [nodes.a]
        kind = "set"
        values = { x = "1" }
        next = "b"
        [nodes.b]
        kind = "branch"
        default = "a"
        """)
    )
    c.start()
    assert isinstance(c.exit, HangUp) and str(MAX_INSTANT_STEPS) in c.exit.reason


def test_say_node_plays_the_sayer_prompts_in_the_run_language() -> None:
    c = caller_in(
        flow("""
        start = "lang"
        [nodes.lang]
        kind = "set"
        values = { language = "zh" }
        next = "amount"
        [nodes.amount]
        kind = "say"
        say = "amount"
        value = "${balance}"
        currency = "CNY"
        next = "when"
        [nodes.when]
        kind = "say"
        say = "date"
        value = "today"
        """)
    )
    c.start(variables={"balance": "100.05"})
    assert c.last_play().segments[0].prompts == ("1", "hundred", "yuan", "0", "5", "fen")
    assert c.last_play().segments[0].language == "zh"
    c.finish_prompt()
    today = datetime.fromtimestamp(c.now, SHANGHAI).date()
    assert c.last_play().segments[0].prompts[:4] == tuple(str(today.year))
    assert c.last_play().segments[0].prompts[-2:] == ("weekday", "3")


def test_say_node_with_an_unreadable_value_is_skipped() -> None:
    c = caller_in(
        flow("""
        start = "n"
        [nodes.n]
        kind = "say"
        say = "number"
        value = "${missing}"
        next = "bye"
        [nodes.bye]
        kind = "hangup"
        """)
    )
    c.start()
    assert [type(x) for x in c.commands] == [HangUp]


def test_all_accepted_keys_travel_into_the_hangup_too() -> None:
    c = caller_in(flow(COLLECT))
    c.start()
    c.finish_prompt()
    c.press("1234#")
    assert isinstance(c.exit, TransferTo) and c.exit.digits == "1234#"


def test_started_clock_is_only_read_through_events() -> None:
    c = Caller(FlowRun({"main": flow(MENU)}, "main"), now=WEDNESDAY_2PM)
    c.start()
    c.finish_prompt(after_s=100.0)
    assert c.run.next_deadline() == pytest.approx(WEDNESDAY_2PM + 105.0)
