"""api/supervision.py over the scripted control: who may supervise whom, from which phone,
bodies refused, and the events on the hub."""

from __future__ import annotations

from api_harness import ApiHarness, with_api

from softswitch.api.supervision import SupervisionEvents
from softswitch.calls.supervision import SupervisionEnded, SupervisionStarted


def test_a_supervisor_supervises_from_its_own_phone_only_an_admin_from_any() -> None:
    async def scenario(api: ApiHarness) -> None:
        supervisor = await api.client("supervisor")
        body = {"mode": "listen", "extension": "1003"}
        status, error, _ = await api.raw(
            "POST",
            "/api/v1/agents/1001/supervise",
            json=body,
            headers={"Authorization": f"Bearer {supervisor.token}"},
        )
        assert status == 403 and "own phone" in error["error"]
        assert api.control.commands == []
        mine = await supervisor.supervise("1001", "whisper")  # its own extension, 1006
        assert (mine.supervisor, mine.agent, mine.mode) == ("1006", "1001", "whisper")
        admin = await api.client("admin")
        other = await admin.supervise("1002", "barge", extension="1003")
        assert other.supervisor == "1003"

    with_api(scenario)


def test_bad_bodies_and_agents_out_of_scope() -> None:
    async def scenario(api: ApiHarness) -> None:
        supervisor = await api.client("supervisor")  # leads team sales: 1001-1003
        headers = {"Authorization": f"Bearer {supervisor.token}"}
        for body in ({"mode": "spy"}, {}, {"mode": 3}):
            status, _, _ = await api.raw(
                "POST", "/api/v1/agents/1001/supervise", json=body, headers=headers
            )
            assert status == 400, body
        status, _, _ = await api.raw(
            "POST", "/api/v1/agents/1004/supervise", json={"mode": "listen"}, headers=headers
        )
        assert status == 403  # 1004 is in team support
        status, _, _ = await api.raw(
            "PUT", "/api/v1/supervisions/99", json={"mode": "barge"}, headers=headers
        )
        assert status == 404
        assert api.control.commands == []

    with_api(scenario)


def test_events_reach_the_supervisors_of_the_agent_and_not_other_agents() -> None:
    async def scenario(api: ApiHarness) -> None:
        supervisor = await api.client("supervisor")
        other_agent = await api.client("1002")
        names = ["supervision_started", "supervision_ended"]
        async with (
            await supervisor.events(names) as seen,
            await other_agent.events(["*"]) as not_seen,
        ):
            assert "supervision_started" not in not_seen.event_names
            events = SupervisionEvents(api.server.hub)
            events.supervision_event(SupervisionStarted(1, 7, "1001", "1006", "listen"))
            events.supervision_event(SupervisionEnded(1, 7, "1001", "1006", "barge", "x"))
            first = await seen.next(timeout_s=2.0)
            second = await seen.next(timeout_s=2.0)
        assert first is not None and first.name == "supervision_started"
        assert first.data == {
            "supervision_id": 1,
            "call_id": 7,
            "agent": "1001",
            "supervisor": "1006",
            "mode": "listen",
        }
        assert second is not None and second.data["cause"] == "x"

    with_api(scenario)


def test_a_supervisor_supervises_a_queue_call_of_its_teams_agent_by_the_call_id() -> None:
    """A queue call is +4420 -> 600: neither party is the agent's extension, yet the agent on it
    is the supervisor's; a call no agent of its teams is on stays out of reach."""

    async def scenario(api: ApiHarness) -> None:
        e, c, t0 = api.centre.engine, api.centre, api.clock.now
        api.control.add(7, "+4420", "600")
        api.control.add(8, "+4421", "600")
        c.apply(e.login("1001", t0))
        c.apply(e.enqueue("7", "600", t0 + 1, caller_number="+4420"))
        c.apply(e.agent_answered("7", "1001", t0 + 2))
        supervisor = await api.client("supervisor")  # leads sales: 1001-1003
        view = await supervisor.supervise_call(7, "listen")
        assert (view.supervisor, view.mode) == ("1006", "listen")
        status, _, _ = await api.raw(
            "POST",
            "/api/v1/calls/8/supervise",
            json={"mode": "listen"},
            headers={"Authorization": f"Bearer {supervisor.token}"},
        )
        assert status == 403  # no agent of sales is on call 8

    with_api(scenario)
