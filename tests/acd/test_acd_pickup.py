"""Pickup of a queue call ringing an agent (`*8`, `**` + extension), pure with a fake clock:
who the ACD credits (Engine.picked_up)."""

from __future__ import annotations

import pytest
from acd.helpers import agent, engine, log, offers

from softswitch.acd.agent import AgentState
from softswitch.acd.errors import InvalidRequest
from softswitch.acd.events import CancelOffer, ConnectAgent, QueueLogEvent
from softswitch.acd.model import QueueConfig

E = QueueLogEvent


def _centre(wrap_up_s: float = 10.0):
    q = QueueConfig(number="600", strategy="linear", wrap_up_s=wrap_up_s)
    e = engine([q], [agent("1001", "600"), agent("1002", "600")])
    e.login("1001", 0.0)
    return e


def test_an_agent_of_the_queue_who_picks_up_is_credited_and_the_ringing_agent_is_ready() -> None:
    e = _centre()
    e.login("1002", 0.0)
    e.pause("1002", "lunch", 0.0)
    assert offers(e.enqueue("c1", "600", 1.0)) == [("c1", "1001")]
    out = e.picked_up("c1", "1002", 3.0)
    assert [(c.call, c.agent) for c in out if isinstance(c, CancelOffer)] == [("c1", "1001")]
    assert [(c.call, c.agent) for c in out if isinstance(c, ConnectAgent)] == [("c1", "1002")]
    assert log(out, E.RINGNOANSWER) == []  # withdrawn, not missed
    (connect,) = log(out, E.CONNECT)
    assert (connect.agent, connect.wait_s) == ("1002", 2.0)
    assert e.agent("1001").state is AgentState.READY
    assert e.agent("1001").consecutive_no_answers == 0
    assert e.agent("1002").state is AgentState.ON_CALL
    done = e.caller_hung_up("c1", 8.0)
    (complete,) = log(done, E.COMPLETECALLER)
    assert (complete.agent, complete.talk_s) == ("1002", 5.0)
    # The pause it had before the pickup comes back; its wrap-up would have followed otherwise.
    assert (e.agent("1002").state, e.agent("1002").reason) == (AgentState.NOT_READY, "lunch")
    assert e.agent("1002").calls_answered == 1 and e.agent("1001").calls_answered == 0


def test_a_ready_agent_who_picks_up_goes_to_wrap_up_after_the_call() -> None:
    e = _centre()
    e.login("1002", 0.0)
    e.pause("1002", "x", 0.0)  # keeps 1002 from being offered c1
    assert offers(e.enqueue("c1", "600", 1.0)) == [("c1", "1001")]
    e.ready("1002", 1.5)
    e.picked_up("c1", "1002", 2.0)
    out = e.agent_hung_up("c1", 4.0)
    assert [r.agent for r in log(out, E.COMPLETEAGENT)] == ["1002"]
    assert [r.agent for r in log(out, E.WRAPUPSTART)] == ["1002"]
    assert e.agent("1002").state is AgentState.WRAP_UP


def test_a_phone_that_is_no_agent_answers_for_the_queue() -> None:
    e = _centre()
    e.enqueue("c1", "600", 1.0)
    out = e.picked_up("c1", "1006", 2.0)
    (connect,) = log(out, E.CONNECT)
    assert connect.agent == "1006"
    assert e.agent("1001").state is AgentState.READY
    assert e.agent("1002").state is AgentState.LOGGED_OUT  # a logged-out agent is no agent
    done = e.caller_hung_up("c1", 5.0)
    (complete,) = log(done, E.COMPLETECALLER)
    assert (complete.agent, complete.talk_s) == ("1006", 3.0)
    assert log(done, E.WRAPUPSTART) == []


def test_the_freed_agent_takes_the_next_caller_at_once() -> None:
    e = _centre()
    e.enqueue("c1", "600", 1.0)
    e.enqueue("c2", "600", 1.5)  # waits: 1001 rings for c1
    out = e.picked_up("c1", "1006", 2.0)
    assert offers(out) == [("c2", "1001")]


def test_a_caller_not_ringing_anyone_cannot_be_picked_up() -> None:
    e = _centre()
    e.logout("1001", 0.5)
    e.login("1002", 0.5)
    e.pause("1002", "x", 0.5)
    e.enqueue("c1", "600", 1.0)  # waits: nobody ready
    with pytest.raises(InvalidRequest):
        e.picked_up("c1", "1006", 2.0)


def test_an_agent_ringing_for_another_caller_who_picks_up_leaves_that_caller_its_place() -> None:
    e = _centre(wrap_up_s=0.0)
    e.login("1002", 0.0)
    e.enqueue("c1", "600", 1.0)
    e.enqueue("c2", "600", 1.5)
    rings = {c.call: next(iter(c.offers)) for c in e.callers() if c.offers}
    picker = rings["c2"]
    out = e.picked_up("c1", picker, 2.0)
    withdrawn = {(c.call, c.agent) for c in out if isinstance(c, CancelOffer)}
    assert withdrawn == {("c1", rings["c1"]), ("c2", picker)}
    assert log(out, E.RINGNOANSWER) == []
    assert e.agent(picker).state is AgentState.ON_CALL
    # c2 keeps its place and rings the agent c1 had, now free.
    assert offers(out) == [("c2", rings["c1"])]
    e.caller_hung_up("c1", 4.0)
    assert e.agent(picker).state is AgentState.READY  # no wrap-up in this queue


def test_an_agent_in_wrap_up_who_picks_up_starts_a_new_wrap_up_after() -> None:
    e = _centre(wrap_up_s=10.0)
    e.login("1002", 0.0)
    e.pause("1002", "x", 0.0)
    e.enqueue("c1", "600", 1.0)
    e.agent_answered("c1", "1001", 2.0)
    e.caller_hung_up("c1", 3.0)  # 1001 in wrap-up until 13
    e.ready("1002", 3.5)
    e.pause("1002", "x", 3.5)
    e.enqueue("c2", "600", 4.0)  # nobody ready: waits
    e.ready("1002", 4.5)  # rings 1002
    assert e.agent("1001").state is AgentState.WRAP_UP
    e.picked_up("c2", "1001", 5.0)
    assert e.agent("1001").state is AgentState.ON_CALL
    e.handle_timer(13.0)  # the old wrap-up's end changes nothing on a call
    assert e.agent("1001").state is AgentState.ON_CALL
    out = e.caller_hung_up("c2", 20.0)
    assert [r.agent for r in log(out, E.WRAPUPSTART)] == ["1001"]
    assert e.agent("1001").wrap_up_until == 30.0
