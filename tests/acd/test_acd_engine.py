"""Pure ACD tests with a fake clock: each bullet of issue 9's "Tests that must exist"."""

from __future__ import annotations

import pytest
from acd.helpers import agent, engine, log, login_all, of_type, offers

from softswitch.acd.agent import AgentState
from softswitch.acd.errors import InvalidRequest, UnknownEntity
from softswitch.acd.events import (
    AgentStateChanged,
    CallbackKeyPressed,
    CallerExited,
    CallerMoved,
    CancelOffer,
    ConnectAgent,
    DialCallback,
    ExitReason,
    QueueLogEvent,
)
from softswitch.acd.model import (
    CallbackPolicy,
    EmptyPolicy,
    QueueConfig,
    Requirement,
    Target,
    TargetKind,
    WideningRule,
)

E = QueueLogEvent


def serve(e, call: str, now: float, talk_s: float = 1.0) -> str:
    """The agent ringing for `call` answers at `now`; the caller hangs up after `talk_s`."""
    caller = e.caller(call)
    assert caller is not None and caller.offers, f"{call} is not ringing anyone"
    agent_number = next(iter(caller.offers))
    e.agent_answered(call, agent_number, now)
    e.caller_hung_up(call, now + talk_s)
    return agent_number


def test_priority_then_fifo() -> None:
    e = engine([QueueConfig(number="600")], [agent("1001", "600")])
    e.login("1001", 0)
    e.pause("1001", "break", 0)
    for t, (call, priority) in enumerate([("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", 9)]):
        e.enqueue(call, "600", float(t), priority=priority)
    served = []
    now = 10.0
    out = e.ready("1001", now)
    while True:
        offered = offers(out)
        if not offered:
            break
        call, _ = offered[0]
        served.append(call)
        e.agent_answered(call, "1001", now)
        now += 5
        out = e.caller_hung_up(call, now)
    assert served == ["e", "b", "d", "a", "c"]


def test_priority_rises_with_wait() -> None:
    q = QueueConfig(number="600", priority_step_s=10)
    e = engine([q], [agent("1001", "600")])
    e.login("1001", 0)
    e.pause("1001", "break", 0)
    e.enqueue("old", "600", 0.0, priority=0)
    e.enqueue("vip", "600", 25.0, priority=3)
    # At t=30: old has risen to 3, vip to 3 as well: equal, so the longer wait goes first.
    assert offers(e.ready("1001", 30.0)) == [("old", "1001")]
    e2 = engine([q], [agent("1001", "600")])
    e2.login("1001", 0)
    e2.pause("1001", "break", 0)
    e2.enqueue("old", "600", 0.0, priority=0)
    e2.enqueue("vip", "600", 25.0, priority=3)
    # At t=29 old is only at 2: the VIP is ahead.
    assert offers(e2.ready("1001", 29.0)) == [("vip", "1001")]


def _strategy_engine(strategy: str, seed: int = 1, **queue: object):
    q = QueueConfig(number="600", strategy=strategy, **queue)  # type: ignore[arg-type]
    agents = [
        agent("1001", "600", level=2, position=1, weight=1.0),
        agent("1002", "600", level=1, position=3, weight=1.0),
        agent("1003", "600", level=1, position=2, weight=1.0),
        agent("1004", "600", level=3, position=4, weight=8.0),
    ]
    e = engine([q], agents, seed=seed)
    for t, number in enumerate(["1003", "1001", "1004", "1002"]):
        e.login(number, float(t))  # idle since: 1003 at 0, 1001 at 1, 1004 at 2, 1002 at 3
    # Histories: calls answered, talk time, last call end (1002 never had a call).
    for number, calls, talk, end in [
        ("1001", 5, 900.0, 3.0),
        ("1003", 2, 1200.0, 2.0),
        ("1004", 9, 100.0, 1.5),
    ]:
        a = e.agent(number)
        a.calls_answered, a.talk_time_s, a.last_call_end = calls, talk, end
    return e


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("longest-idle", ["1003"]),
        ("least-recent", ["1002"]),  # never had a call since login
        ("fewest-calls", ["1002"]),
        ("least-talk-time", ["1002"]),
        ("linear", ["1001"]),  # position 1
        ("sequential", ["1003"]),  # level 1 first, then position 2
        ("ring-all", ["1003", "1002", "1001", "1004"]),  # every free agent at once
        ("ring-progressively", ["1003"]),  # the first in order; more follow
        ("round-robin", ["1001"]),
    ],
)
def test_each_strategy_picks_its_agent(strategy: str, expected: list[str]) -> None:
    e = _strategy_engine(strategy)
    assert [a for _, a in offers(e.enqueue("c1", "600", 10.0))] == expected


def test_fewest_calls_and_least_talk_differ_once_everyone_has_calls() -> None:
    for strategy, expected in [("fewest-calls", "1003"), ("least-talk-time", "1004")]:
        e = _strategy_engine(strategy)
        a = e.agent("1002")
        a.calls_answered, a.talk_time_s, a.last_call_end = 4, 5000.0, 2.5
        assert offers(e.enqueue("c1", "600", 10.0)) == [("c1", expected)]


def test_round_robin_remembers_the_last_agent() -> None:
    e = _strategy_engine("round-robin")
    picked = []
    for i in range(6):
        call = f"c{i}"
        out = e.enqueue(call, "600", 10.0 + i)
        picked.append(offers(out)[0][1])
        serve(e, call, 10.0 + i, talk_s=0.5)
    # By position: 1001 (1), 1003 (2), 1002 (3), 1004 (4), then around again.
    assert picked == ["1001", "1003", "1002", "1004", "1001", "1003"]


def test_linear_always_starts_from_the_top() -> None:
    e = _strategy_engine("linear")
    for i in range(3):
        assert offers(e.enqueue(f"c{i}", "600", 10.0 + i)) == [(f"c{i}", "1001")]
        serve(e, f"c{i}", 10.0 + i, talk_s=0.5)


def _draws(strategy: str, trials: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    e = _strategy_engine(strategy, seed=42)
    for i in range(trials):
        chosen = serve_first(e, f"c{i}", 10.0 + i)
        counts[chosen] = counts.get(chosen, 0) + 1
    return counts


def serve_first(e, call: str, now: float) -> str:
    out = e.enqueue(call, "600", now)
    chosen = offers(out)[0][1]
    serve(e, call, now, talk_s=0.1)
    return chosen


def test_random_is_uniform_and_seeded() -> None:
    trials = 800
    counts = _draws("random", trials)
    assert counts == _draws("random", trials)  # the injected seed decides
    # Binomial(800, 1/4): mean 200, sd 12.2; 5 sd either side.
    assert set(counts) == {"1001", "1002", "1003", "1004"}
    assert all(abs(n - 200) < 61 for n in counts.values()), counts


def test_weighted_random_follows_the_weights() -> None:
    trials = 1100
    counts = _draws("weighted-random", trials)
    # 1004 has weight 8 of 11: Binomial(1100, 8/11) mean 800, sd 14.8; 5 sd.
    assert abs(counts["1004"] - 800) < 74, counts
    for other in ("1001", "1002", "1003"):
        assert abs(counts.get(other, 0) - 100) < 50, counts


def test_ring_progressively_adds_an_agent_and_keeps_the_earlier_ringing() -> None:
    e = _strategy_engine("ring-progressively", progressive_step_s=5.0, ring_timeout_s=60.0)
    assert offers(e.enqueue("c1", "600", 10.0)) == [("c1", "1003")]
    assert e.next_deadline() == 15.0
    assert offers(e.handle_timer(15.0)) == [("c1", "1002")]
    assert offers(e.handle_timer(20.0)) == [("c1", "1001")]
    assert set(e.caller("c1").offers) == {"1003", "1002", "1001"}
    out = e.agent_answered("c1", "1002", 21.0)
    assert sorted(c.agent for c in of_type(out, CancelOffer)) == ["1001", "1003"]
    assert e.agent("1001").state is AgentState.READY
    assert e.agent("1003").state is AgentState.READY
    assert e.handle_timer(25.0) == []  # no more agents are added once answered


def test_ring_all_answer_releases_every_other_agent() -> None:
    """FreeSWITCH #2540: with ring-all, agents rung at once must not stay reserved."""
    e = _strategy_engine("ring-all")
    e.enqueue("c1", "600", 10.0)
    e.agent_answered("c1", "1004", 11.0)
    states = {a.number: a.state for a in e.agents()}
    assert states == {
        "1001": AgentState.READY,
        "1002": AgentState.READY,
        "1003": AgentState.READY,
        "1004": AgentState.ON_CALL,
    }
    # The released agents take the next caller at once.
    assert len(offers(e.enqueue("c2", "600", 12.0))) == 3


def test_widening_skills_over_time() -> None:
    q = QueueConfig(
        number="600",
        requirements=(Requirement("sales", 7),),
        widening=(WideningRule(30, 3), WideningRule(60, 0)),
    )
    e = engine(
        [q],
        [
            agent("1001", "600", skills={"sales": 4}),
            agent("1002", "600", skills={"support": 9}),
        ],
    )
    login_all(e)
    assert offers(e.enqueue("c1", "600", 0.0)) == []
    assert e.next_deadline() == 30.0
    assert offers(e.handle_timer(29.9)) == []
    assert offers(e.handle_timer(30.0)) == [("c1", "1001")]  # sales 4 >= 3 accepted now
    e.agent_rejected("c1", "1001", 31.0)  # 1001 declines; 1002 has no sales at all
    e.pause("1001", "lunch", 31.5)
    assert offers(e.handle_timer(59.0)) == []
    assert offers(e.handle_timer(60.0)) == [("c1", "1002")]  # anyone in the queue now


def test_ivr_requirements_add_to_the_queue() -> None:
    q = QueueConfig(number="600", requirements=(Requirement("sales", 3),))
    e = engine(
        [q],
        [
            agent("1001", "600", skills={"sales": 9}),
            agent("1002", "600", skills={"sales": 5, "mandarin": 6}),
        ],
    )
    login_all(e)
    out = e.enqueue("c1", "600", 1.0, requirements=[Requirement("mandarin", 5)])
    assert offers(out) == [("c1", "1002")]


def test_fairness_across_queues_longest_wait_first() -> None:
    """Asterisk #108/#1691: an agent in two queues takes the longest-waiting caller of both."""
    e = engine(
        [QueueConfig(number="600"), QueueConfig(number="601")],
        [agent("1003", "600", "601")],
    )
    e.login("1003", 0)
    e.pause("1003", "break", 0)
    e.enqueue("sales-new", "600", 20.0)
    e.enqueue("support-old", "601", 5.0)
    e.enqueue("sales-old", "600", 10.0)
    order = []
    now = 30.0
    out = e.ready("1003", now)
    while offers(out):
        call = offers(out)[0][0]
        order.append(call)
        e.agent_answered(call, "1003", now)
        now += 1
        out = e.caller_hung_up(call, now)
    assert order == ["support-old", "sales-old", "sales-new"]


def test_fairness_across_queues_priority_before_wait() -> None:
    e = engine(
        [QueueConfig(number="600"), QueueConfig(number="601")],
        [agent("1003", "600", "601")],
    )
    e.login("1003", 0)
    e.pause("1003", "break", 0)
    e.enqueue("old", "601", 1.0, priority=0)
    e.enqueue("vip", "600", 9.0, priority=5)
    assert offers(e.ready("1003", 10.0)) == [("vip", "1003")]


def test_wrap_up_is_a_visible_state_shared_across_queues() -> None:
    e = engine(
        [QueueConfig(number="600", wrap_up_s=30), QueueConfig(number="601", wrap_up_s=0)],
        [agent("1003", "600", "601")],
    )
    e.login("1003", 0)
    e.enqueue("c1", "600", 100.0)
    e.agent_answered("c1", "1003", 101.0)
    out = e.caller_hung_up("c1", 160.0)
    assert [(c.old, c.new) for c in of_type(out, AgentStateChanged)] == [
        (AgentState.ON_CALL, AgentState.WRAP_UP)
    ]
    assert [r.agent for r in log(out, E.WRAPUPSTART)] == ["1003"]
    assert e.agent("1003").state is AgentState.WRAP_UP
    assert e.status("601", 161.0).agents_by_state[AgentState.WRAP_UP] == 1
    # Wrap-up in 600 keeps 601's callers away too, until it ends.
    assert offers(e.enqueue("c2", "601", 170.0)) == []
    assert e.next_deadline() == 190.0
    out = e.handle_timer(190.0)
    assert offers(out) == [("c2", "1003")]
    changes = of_type(out, AgentStateChanged)
    assert (changes[0].old, changes[0].new, changes[0].at) == (
        AgentState.WRAP_UP,
        AgentState.READY,
        190.0,
    )


def test_agent_can_end_wrap_up_early() -> None:
    e = engine([QueueConfig(number="600", wrap_up_s=60)], [agent("1001", "600")])
    e.login("1001", 0)
    e.enqueue("c1", "600", 1.0)
    serve(e, "c1", 2.0)
    e.enqueue("c2", "600", 4.0)
    assert offers(e.ready("1001", 5.0)) == [("c2", "1001")]


def test_no_answer_reroutes_and_keeps_the_callers_place() -> None:
    q = QueueConfig(number="600", strategy="linear", ring_timeout_s=15, max_no_answer=2)
    e = engine([q], [agent("1001", "600"), agent("1002", "600")])
    login_all(e)
    e.direct_call_started("1002", 0.0)  # 1002 is busy on a direct call for now
    assert offers(e.enqueue("first", "600", 0.0)) == [("first", "1001")]
    e.enqueue("second", "600", 5.0)
    out = e.handle_timer(15.0)  # 1001 did not answer within the ring timeout
    assert [r.agent for r in log(out, E.RINGNOANSWER)] == ["1001"]
    assert of_type(out, CancelOffer)[0].agent == "1001"
    assert offers(out) == [("first", "1001")]  # still the head; 1001 is the only free agent
    out = e.agent_no_answer("first", "1001", 20.0)
    # The second no-answer in a row: 1001 goes not ready with reason "no answer".
    assert e.agent("1001").state is AgentState.NOT_READY
    assert e.agent("1001").reason == "no answer"
    assert [r.data for r in log(out, E.PAUSE)] == [("no answer",)]
    out = e.direct_call_ended("1002", 21.0)
    assert offers(out) == [("first", "1002")]  # the first caller kept its place


def test_reject_and_busy_delays() -> None:
    q = QueueConfig(number="600", reject_delay_s=10, busy_delay_s=20)
    e = engine([q], [agent("1001", "600")])
    e.login("1001", 0)
    e.enqueue("c1", "600", 0.0)
    assert offers(e.agent_rejected("c1", "1001", 1.0)) == []
    assert e.next_deadline() == 11.0
    assert offers(e.handle_timer(11.0)) == [("c1", "1001")]
    assert offers(e.agent_busy("c1", "1001", 12.0)) == []
    assert offers(e.handle_timer(31.9)) == []
    assert offers(e.handle_timer(32.0)) == [("c1", "1001")]


def test_direct_call_blocks_queue_offers() -> None:
    e = engine([QueueConfig(number="600")], [agent("1001", "600")])
    e.login("1001", 0)
    e.direct_call_started("1001", 1.0)
    assert offers(e.enqueue("c1", "600", 2.0)) == []
    assert offers(e.direct_call_ended("1001", 3.0)) == [("c1", "1001")]


def test_pause_while_on_call_applies_after_the_call() -> None:
    e = engine([QueueConfig(number="600", wrap_up_s=0)], [agent("1001", "600")])
    e.login("1001", 0)
    e.enqueue("c1", "600", 1.0)
    e.agent_answered("c1", "1001", 2.0)
    e.pause("1001", "lunch", 3.0)
    assert e.agent("1001").state is AgentState.ON_CALL
    e.enqueue("c2", "600", 4.0)
    out = e.agent_hung_up("c1", 5.0)
    assert [r.agent for r in log(out, E.COMPLETEAGENT)] == ["1001"]
    assert e.agent("1001").state is AgentState.NOT_READY
    assert e.agent("1001").reason == "lunch"
    assert offers(out) == []
    out = e.ready("1001", 6.0)
    assert [r.data for r in log(out, E.UNPAUSE)] == [("lunch",)]  # Asterisk #395: reason kept
    assert offers(out) == [("c2", "1001")]


def test_overflow_keeps_the_original_entry_time() -> None:
    q600 = QueueConfig(number="600", max_wait_s=60, overflow=Target(TargetKind.QUEUE, "601"))
    q601 = QueueConfig(number="601")
    e = engine([q600, q601], [agent("1001", "600"), agent("1005", "601")])
    login_all(e)
    e.pause("1001", "break", 0)
    e.pause("1005", "break", 0)
    e.enqueue("c600", "600", 0.0)
    e.enqueue("c601", "601", 30.0)
    out = e.handle_timer(60.0)
    assert [r.call for r in log(out, E.EXITWITHTIMEOUT)] == ["c600"]
    assert of_type(out, CallerMoved) == [CallerMoved("c600", "600", "601")]
    assert [r.queue for r in log(out, E.ENTERQUEUE)] == ["601"]
    assert [c.call for c in e.waiting_in_order("601", 61.0)] == ["c600", "c601"]
    assert e.status("601", 70.0).longest_wait_s == 70.0  # from the original entry
    out = e.ready("1005", 70.0)
    assert offers(out) == [("c600", "1005")]
    out = e.agent_answered("c600", "1005", 71.0)
    assert [r.wait_s for r in log(out, E.CONNECT)] == [71.0]


def test_overflow_to_voicemail() -> None:
    q = QueueConfig(number="600", max_wait_s=30, overflow=Target(TargetKind.VOICEMAIL, "600"))
    e = engine([q], [agent("1001", "600")])
    e.enqueue("c1", "600", 0.0)
    out = e.handle_timer(30.0)
    assert of_type(out, CallerExited) == [
        CallerExited("c1", "600", ExitReason.TIMEOUT, Target(TargetKind.VOICEMAIL, "600"))
    ]
    assert e.caller("c1") is None


def test_join_empty_leave_empty_and_max_length() -> None:
    vm = Target(TargetKind.VOICEMAIL, "600")
    q = QueueConfig(
        number="600",
        join_empty=EmptyPolicy.NO_AGENTS,
        leave_empty=EmptyPolicy.NO_READY,
        empty_target=vm,
        max_length=1,
    )
    e = engine([q], [agent("1001", "600")])
    out = e.enqueue("c0", "600", 0.0)
    assert of_type(out, CallerExited) == [CallerExited("c0", "600", ExitReason.JOIN_EMPTY, vm)]
    e.login("1001", 1.0)
    e.pause("1001", "break", 1.0)  # nobody waits yet: leave-empty has no one to send away
    out = e.enqueue("c1", "600", 2.0)
    assert log(out, E.ENTERQUEUE)  # join_empty only needs someone logged in
    out = e.enqueue("c2", "600", 3.0)
    assert of_type(out, CallerExited) == [
        CallerExited("c2", "600", ExitReason.FULL, Target(TargetKind.HANGUP))
    ]
    e.ready("1001", 4.0)
    e.agent_rejected("c1", "1001", 5.0)
    out = e.logout("1001", 6.0)
    assert [r.call for r in log(out, E.EXITEMPTY)] == ["c1"]
    assert of_type(out, CallerExited) == [CallerExited("c1", "600", ExitReason.LEAVE_EMPTY, vm)]


def test_exit_key() -> None:
    vm = Target(TargetKind.VOICEMAIL, "600")
    q = QueueConfig(number="600", exit_keys=(("1", vm), ("2", Target(TargetKind.CALLBACK))))
    e = engine([q], [agent("1001", "600")])
    e.enqueue("c1", "600", 0.0, caller_number="5551234")
    assert e.caller_pressed("c1", "5", 1.0) == []
    out = e.caller_pressed("c1", "2", 2.0)
    assert of_type(out, CallbackKeyPressed) == [CallbackKeyPressed("c1", "600", "5551234")]
    out = e.caller_pressed("c1", "1", 3.0)
    assert [(r.call, r.data[0]) for r in log(out, E.EXITWITHKEY)] == [("c1", "1")]
    assert of_type(out, CallerExited) == [CallerExited("c1", "600", ExitReason.KEY, vm)]


def _callback_engine(retries: int = 1):
    q = QueueConfig(
        number="600",
        wrap_up_s=0,
        callback=CallbackPolicy(retries=retries, retry_delay_s=30, dial_timeout_s=20),
    )
    e = engine([q], [agent("1001", "600")])
    e.login("1001", 0)
    e.pause("1001", "break", 0)
    for t, call in enumerate(["c1", "c2", "c3"]):
        e.enqueue(call, "600", float(t), caller_number=f"55500{t}")
    out = e.request_callback("c2", "5559999", 5.0)
    assert [r.data[0] for r in log(out, E.CALLBACKREQUEST)] == ["5559999"]
    assert e.caller_hung_up("c2", 6.0) == []  # the caller leaves; the place is kept
    e.enqueue("c4", "600", 7.0)
    return e


def test_callback_keeps_the_callers_place_and_connects_the_agent_first() -> None:
    e = _callback_engine()
    assert [c.call for c in e.waiting_in_order("600", 8.0)] == ["c1", "c2", "c3", "c4"]
    out = e.ready("1001", 10.0)
    assert offers(out) == [("c1", "1001")]
    e.agent_answered("c1", "1001", 11.0)
    out = e.caller_hung_up("c1", 20.0)
    offer = [o for o in out if type(o).__name__ == "OfferCall"]
    assert [(o.call, o.callback, o.caller_number) for o in offer] == [("c2", True, "5559999")]
    out = e.agent_answered("c2", "1001", 21.0)
    assert of_type(out, DialCallback) == [DialCallback("c2", "1001", "600", "5559999", 1, 20.0)]
    assert not of_type(out, ConnectAgent)  # the caller is dialled only now
    assert e.agent("1001").state is AgentState.ON_CALL
    out = e.callback_answered("c2", 25.0)
    assert [(r.call, r.wait_s) for r in log(out, E.CONNECT)] == [("c2", 24.0)]
    assert of_type(out, ConnectAgent) == [ConnectAgent("c2", "1001", "600")]


def test_callback_retries_at_the_same_place_then_gives_up() -> None:
    e = _callback_engine(retries=1)
    e.ready("1001", 10.0)
    serve(e, "c1", 10.0, talk_s=5.0)
    e.agent_answered("c2", "1001", 16.0)
    out = e.handle_timer(36.0)  # nobody answered the callback within dial_timeout_s
    assert [r.data for r in log(out, E.CALLBACKFAILED)] == [("1",)]
    # The agent is released (no wrap-up: nobody was talked to) and c3 rings it at once, since
    # c2 waits out its retry delay.
    assert offers(out) == [("c3", "1001")]
    serve(e, "c3", 36.0, talk_s=40.0)
    assert [c.call for c in e.waiting_in_order("600", 80.0)] == ["c2", "c4"]
    # After the retry delay c2 is the head again and gets the free agent first.
    assert e.caller("c2").not_before == 66.0
    e.pause("1001", "break", 76.5)
    assert offers(e.ready("1001", 77.0)) == [("c2", "1001")]
    e.agent_answered("c2", "1001", 78.0)
    out = e.callback_failed("c2", 80.0)
    assert [r.call for r in log(out, E.CALLBACKGIVEUP)] == ["c2"]
    assert e.caller("c2") is None
    assert offers(out) == [("c4", "1001")]


def test_abandon_while_ringing_releases_the_agent() -> None:
    e = engine([QueueConfig(number="600")], [agent("1001", "600")])
    e.login("1001", 0)
    e.enqueue("c1", "600", 1.0)
    out = e.caller_hung_up("c1", 4.0)
    assert [r.wait_s for r in log(out, E.ABANDON)] == [3.0]
    assert [r.agent for r in log(out, E.RINGCANCELED)] == ["1001"]
    assert e.agent("1001").state is AgentState.READY
    assert e.status("600", 5.0).abandoned == 1


def test_transfer_ends_the_agents_part() -> None:
    e = engine([QueueConfig(number="600", wrap_up_s=10)], [agent("1001", "600")])
    e.login("1001", 0)
    e.enqueue("c1", "600", 1.0)
    e.agent_answered("c1", "1001", 2.0)
    out = e.transferred("c1", "500", 12.0)
    assert [(r.data[0], r.talk_s) for r in log(out, E.TRANSFER)] == [("500", 10.0)]
    assert e.agent("1001").state is AgentState.WRAP_UP


def test_errors_say_what_is_wrong() -> None:
    e = engine([QueueConfig(number="600")], [agent("1001", "600")])
    with pytest.raises(UnknownEntity) as unknown:
        e.enqueue("c1", "699", 0.0)
    assert unknown.value.status_hint == 404
    with pytest.raises(InvalidRequest):
        e.enqueue("c1", "600", 0.0, priority=10)
    e.enqueue("c1", "600", 0.0)
    with pytest.raises(InvalidRequest):
        e.enqueue("c1", "600", 0.0)
    with pytest.raises(InvalidRequest):
        e.agent_answered("c1", "1001", 1.0)  # never offered
    with pytest.raises(InvalidRequest):
        e.pause("1001", "break", 1.0)  # logged out: the table has no such transition


def test_every_transition_is_timestamped() -> None:
    e = engine([QueueConfig(number="600", wrap_up_s=5)], [agent("1001", "600")])
    out = e.login("1001", 1.0)
    out += e.enqueue("c1", "600", 2.0)
    out += e.agent_answered("c1", "1001", 3.0)
    out += e.caller_hung_up("c1", 4.0)
    out += e.handle_timer(9.0)
    out += e.pause("1001", "lunch", 10.0)
    out += e.logout("1001", 11.0)
    changes = [(c.new, c.at) for c in of_type(out, AgentStateChanged)]
    assert changes == [
        (AgentState.READY, 1.0),
        (AgentState.OFFERED, 2.0),
        (AgentState.ON_CALL, 3.0),
        (AgentState.WRAP_UP, 4.0),
        (AgentState.READY, 9.0),
        (AgentState.NOT_READY, 10.0),
        (AgentState.LOGGED_OUT, 11.0),
    ]
    names = [r.event for r in log(out)]
    assert names == [
        E.AGENTLOGIN, E.ENTERQUEUE, E.CONNECT, E.COMPLETECALLER, E.WRAPUPSTART, E.PAUSE,
        E.AGENTLOGOFF,
    ]  # fmt: skip


def test_widening_at_an_entry_time_where_float_subtraction_falls_short() -> None:
    """(t + 30) - t < 30 for this t: the widening timer must still widen, and only once."""
    entry = 4082.1868528034543
    assert (entry + 30.0) - entry < 30.0
    q = QueueConfig(
        number="600", requirements=(Requirement("sales", 7),), widening=(WideningRule(30, 3),)
    )
    e = engine([q], [agent("1001", "600", skills={"sales": 4})])
    e.login("1001", 0)
    e.enqueue("c1", "600", entry)
    deadline = e.next_deadline()
    assert deadline == entry + 30.0
    assert offers(e.handle_timer(deadline)) == [("c1", "1001")]
    assert e.next_deadline() == deadline + q.ring_timeout_s  # the ring timer, nothing else


def test_a_caller_sent_back_to_its_agent_waits_for_that_agent_alone() -> None:
    """A flow's queue node with `agent = "last"`: the caller is offered to the agent it talked
    to, not to another free agent; callers behind it are served by the others meanwhile."""
    q = QueueConfig(number="600", wrap_up_s=0, overflow=Target(TargetKind.QUEUE, "601"))
    e = engine(
        [q, QueueConfig(number="601")],
        [agent("1001", "600"), agent("1002", "600", "601")],
    )
    e.login("1002", 0)
    back = e.enqueue("c1", "600", 1.0, only_agent="1001")
    assert offers(back) == []  # 1002 is free, but c1 waits for 1001
    assert offers(e.enqueue("c2", "600", 2.0)) == [("c2", "1002")]
    assert offers(e.login("1001", 3.0)) == [("c1", "1001")]
    with pytest.raises(InvalidRequest, match="agent 1001 is not in queue 601"):
        e.enqueue("c3", "601", 4.0, only_agent="1001")
