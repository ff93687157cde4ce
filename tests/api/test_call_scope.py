"""Event scope beyond a call's caller and callee: a call waiting in a queue is for the
supervisors of the queue's agents (watchers), never for those agents themselves."""

from __future__ import annotations

from api_harness import ApiHarness, with_api


def test_watchers_reach_the_supervisor_of_a_queues_agents_but_not_the_agents() -> None:
    async def scenario(api: ApiHarness) -> None:
        hub = api.server.hub
        agent = await (await api.client("1001")).events(["call_answered"])
        other_team = await (await api.client("1004")).events(["call_answered"])
        supervisor = await (await api.client("supervisor")).events(["call_answered"])
        admin = await (await api.client("admin")).events(["call_answered"])
        # 1005 waits in a queue whose agents are 1001 and 1002 (team sales).
        hub.publish("call_answered", {"call_id": 1}, ("1005", "600"), ("1001", "1002"))
        # then the agent's own call: the next thing every one of them may see
        hub.publish("call_answered", {"call_id": 2}, ("1005", "600", "1001", "1004"))
        for stream, first in ((agent, 2), (other_team, 2), (supervisor, 1), (admin, 1)):
            event = await stream.next(timeout_s=2.0)
            assert event is not None and event.data["call_id"] == first
        for stream in (supervisor, admin):
            event = await stream.next(timeout_s=2.0)
            assert event is not None and event.data["call_id"] == 2

    with_api(scenario)
