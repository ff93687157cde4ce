"""The call centre over the API: who may act on which agent and queue, what the figures say,
and the events of a queue call in order — against the real ACD engine on the demo config."""

from __future__ import annotations

import pytest
from api_harness import ApiHarness, with_api

from softswitch.acd.agent import AgentState
from softswitch.api.client import ApiClientError, EventStream


async def _refused(status: int, action: object) -> None:
    with pytest.raises(ApiClientError) as refused:
        await action  # type: ignore[misc]
    assert refused.value.status == status


def test_an_agent_acts_on_itself_only() -> None:
    async def scenario(api: ApiHarness) -> None:
        agent = await api.client("1001")
        await agent.agent_login("1001")
        assert (await agent.agent("1001"))["state"] == "ready"
        assert [a["agent"] for a in await agent.agents()] == ["1001"]
        await _refused(403, agent.agent_pause("1002", "lunch"))
        await _refused(403, agent.agent_login("1002"))
        await _refused(403, agent.agent("1002"))
        await _refused(403, agent.queues())
        assert api.centre.engine.agent("1002").state is AgentState.LOGGED_OUT
        await agent.agent_pause("1001", "lunch")
        me = await agent.agent("1001")
        assert (me["state"], me["reason"]) == ("not ready", "lunch")

    with_api(scenario)


def test_a_supervisor_acts_on_its_teams_agents_and_queues() -> None:
    async def scenario(api: ApiHarness) -> None:
        supervisor = await api.client("supervisor")  # leads "sales": 1001-1003, queue 600
        api.centre.control.login("1002")
        await supervisor.agent_pause("1002", "coaching")
        assert api.centre.engine.agent("1002").state is AgentState.NOT_READY
        assert api.centre.engine.agent("1002").reason == "coaching"
        assert {a["agent"] for a in await supervisor.agents()} == {"1001", "1002", "1003"}
        await _refused(403, supervisor.agent_pause("1004", "lunch"))  # support's agent
        # 601 is served by 1003 (sales) too, so both queues reach the supervisor.
        assert [q["queue"] for q in await supervisor.queues()] == ["600", "601"]
        await _refused(409, supervisor.agent_end_wrap_up("1002"))
        await supervisor.agent_ready("1002")
        await supervisor.agent_logoff("1002")
        assert api.centre.engine.agent("1002").state is AgentState.LOGGED_OUT
        admin = await api.client("admin")
        await admin.agent_login("1004")
        assert len(await admin.agents()) == 5
        await _refused(404, admin.agent_login("1999"))
        await _refused(409, admin.agent_login("1004"))  # already logged in

    with_api(scenario)


def test_queue_figures_through_the_api() -> None:
    async def scenario(api: ApiHarness) -> None:
        e, c, clock = api.centre.engine, api.centre, api.clock
        t0 = clock.now
        c.apply(e.login("1001", t0))
        c.apply(e.enqueue("7", "600", t0, caller_number="+4420"))
        c.apply(e.agent_answered("7", "1001", t0 + 8))  # answered within 20 s
        c.apply(e.enqueue("8", "600", t0 + 10, caller_number="+4421"))
        c.apply(e.caller_hung_up("8", t0 + 40))  # abandoned after 30 s
        c.apply(e.enqueue("9", "600", t0 + 50, caller_number="+4422"))
        clock.now = t0 + 60
        supervisor = await api.client("supervisor")
        queue = next(q for q in await supervisor.queues() if q["queue"] == "600")
        assert [(w["call_id"], w["caller"], w["wait_s"]) for w in queue["callers"]] == [
            (9, "+4422", 10.0)
        ]
        stats = queue["statistics"]
        assert (stats["offered"], stats["answered"], stats["abandoned"]) == (2, 1, 1)
        assert stats["service_level"] == 0.5 and stats["asa_s"] == 8.0
        assert stats["agents_by_state"] == {"on call": 1}
        agent = await supervisor.agent("1001")
        assert (agent["state"], agent["call_id"], agent["time_in_state_s"]) == ("on call", 7, 52.0)
        await _refused(400, supervisor.queue_statistics("600", "2h"))
        today = await supervisor.queue_statistics("600", "today")
        assert today["interval"] == "today" and today["offered"] == 2

    with_api(scenario)


async def _collect(stream: EventStream, name: str, count: int) -> list[tuple[str, dict]]:
    """Events until the `count`th `name` (bounded: 60 events, 5 s each)."""
    seen: list[tuple[str, dict]] = []
    for _ in range(60):
        event = await stream.next(timeout_s=5.0)
        assert event is not None, seen
        seen.append((event.name, event.data))
        if sum(1 for n, _ in seen if n == name) == count:
            return seen
    raise AssertionError(seen)


def test_the_events_of_a_queue_call_in_order() -> None:
    async def scenario(api: ApiHarness) -> None:
        e, c, t0 = api.centre.engine, api.centre, api.clock.now
        supervisor = await (await api.client("supervisor")).events(["*"])
        agent = await (await api.client("1001")).events(["*"])
        assert "queue_statistics" not in agent.event_names  # the queues are supervisors'
        c.apply(e.login("1001", t0))
        c.apply(e.enqueue("7", "600", t0 + 1, caller_number="+4420"))
        c.apply(e.agent_answered("7", "1001", t0 + 5))
        c.apply(e.caller_hung_up("7", t0 + 65))
        wrap_up = api.centre.acd.queues[0].wrap_up_s
        assert wrap_up > 0
        c.apply(e.handle_timer(t0 + 65 + wrap_up))  # wrap-up ends
        seen = await _collect(supervisor, "agent_state_changed", 5)
        names = [n for n, _ in seen if n != "queue_statistics"]
        assert names == [
            "agent_state_changed",  # ready
            "queue_caller_joined",
            "agent_state_changed",  # offered
            "call_offered",
            "agent_state_changed",  # on call
            "queue_caller_left",  # answered
            "agent_state_changed",  # wrap-up
            "agent_state_changed",  # ready again
        ], seen
        states = [d["state"] for n, d in seen if n == "agent_state_changed"]
        assert states == ["ready", "offered", "on call", "wrap-up", "ready"]
        offered = next(d for n, d in seen if n == "call_offered")
        assert offered["caller"] == "+4420" and offered["agent"] == "1001"
        assert offered["screen_pop_url"] == "https://crm.example.com/search?number=%2B4420&ivr="
        left = next(d for n, d in seen if n == "queue_caller_left")
        assert (left["reason"], left["wait_s"], left["agent"]) == ("answered", 4.0, "1001")
        stats = [d for n, d in seen if n == "queue_statistics" and d["queue"] == "600"]
        assert stats and stats[-1]["intervals"]["15m"]["answered"] == 1
        # The agent's own stream has its states and its offer, never the queue's figures.
        mine = await _collect(agent, "call_offered", 1)
        assert [n for n, _ in mine] == [
            "agent_state_changed",
            "agent_state_changed",
            "call_offered",
        ]

    with_api(scenario)


def test_a_supervisor_moves_a_waiting_caller_to_another_queue_and_to_the_head() -> None:
    async def scenario(api: ApiHarness) -> None:
        e, c, t0 = api.centre.engine, api.centre, api.clock.now
        c.apply(e.login("1004", t0))  # 601 takes callers while someone is logged in
        c.apply(e.pause("1004", "meeting", t0))
        c.apply(e.enqueue("7", "600", t0, caller_number="+4420"))
        c.apply(e.enqueue("8", "600", t0 + 5, caller_number="+4421"))
        c.apply(e.enqueue("9", "601", t0 + 6, caller_number="+4422"))
        api.clock.now = t0 + 10
        supervisor = await api.client("supervisor")
        await supervisor.caller_to_head("600", 8)
        waiting = [w.call for w in api.centre.control.waiting_callers("600")]
        assert waiting == ["8", "7"]
        await supervisor.move_caller("600", 7, "601")
        moved = [(w.call, w.wait_s) for w in api.centre.control.waiting_callers("601")]
        assert moved == [("7", 10.0), ("9", 4.0)]  # keeps its entry time: first by wait
        await _refused(404, supervisor.move_caller("600", 7, "601"))  # no longer in 600
        await _refused(400, supervisor.move_caller("600", 8, "699"))
        agent = await api.client("1001")
        await _refused(403, agent.caller_to_head("600", 8))
        stats = await supervisor.queue_statistics("600")
        assert (stats["offered"], stats["answered"], stats["waiting"]) == (1, 0, 1)

    with_api(scenario)
