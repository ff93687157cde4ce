"""The event WebSocket: token required, events filtered by role and scope, subscriptions by
name, and a subscriber that falls behind dropped with close code 4008 without blocking."""

from __future__ import annotations

import pytest
from api_harness import ApiHarness, with_api

from softswitch.api.client import ApiClientError, EventStream
from softswitch.api.events import CLOSE_TOO_SLOW, EVENT_ACLS


def _call(api: ApiHarness, call_id: int, caller: str, callee: str) -> None:
    """The three events of one call, as the B2BUA's records publish them."""
    parties = (caller, callee)
    hub = api.server.hub
    hub.publish("call_created", {"call_id": call_id, "caller": caller, "callee": callee}, parties)
    hub.publish("call_answered", {"call_id": call_id}, parties)
    hub.publish("call_ended", {"call_id": call_id, "disposition": "answered"}, parties)


async def _drain(stream: EventStream, count: int) -> list[tuple[str, int]]:
    seen = []
    for _ in range(count):
        event = await stream.next(timeout_s=2.0)
        assert event is not None, f"closed after {seen}"
        seen.append((event.name, event.data["call_id"]))
    return seen


def test_the_socket_wants_a_valid_token() -> None:
    async def scenario(api: ApiHarness) -> None:
        client = await api.client()
        for token in (None, "nonsense"):
            client.token = token
            with pytest.raises(ApiClientError) as refused:
                await client.events(["*"])
            assert refused.value.status == 401

    with_api(scenario)


def test_events_are_filtered_by_scope_and_name() -> None:
    async def scenario(api: ApiHarness) -> None:
        agent = await (await api.client("1001")).events(["*"])
        supervisor = await (await api.client("supervisor")).events(["call_ended"])
        admin = await (await api.client("admin")).events(["call_created", "call_ended"])
        # "*" is every name the role may see: an agent has no registration, log or queue events.
        assert agent.event_names == sorted(
            n for n in EVENT_ACLS if n.startswith(("call_", "agent_"))
        )
        assert supervisor.event_names == ["call_ended"]
        _call(api, 1, "1004", "1005")  # support: only the admin sees it
        _call(api, 2, "1002", "1003")  # sales: the supervisor too
        _call(api, 3, "1001", "1004")  # agent 1001's own call: everyone
        assert await _drain(agent, 3) == [
            ("call_created", 3),
            ("call_answered", 3),
            ("call_ended", 3),
        ]
        assert await _drain(supervisor, 2) == [("call_ended", 2), ("call_ended", 3)]
        assert await _drain(admin, 6) == [
            (name, call) for call in (1, 2, 3) for name in ("call_created", "call_ended")
        ]
        event = await _next_after(api, admin, lambda: _call(api, 4, "1001", "1002"))
        assert event.timestamp == "2023-11-14T22:13:20.000000+00:00"  # the hub's clock, T0
        assert event.data == {"call_id": 4, "caller": "1001", "callee": "1002"}

    with_api(scenario)


async def _next_after(api: ApiHarness, stream: EventStream, publish: object) -> object:
    assert callable(publish)
    publish()
    event = await stream.next(timeout_s=2.0)
    assert event is not None
    return event


def test_subscribe_and_unsubscribe_by_message() -> None:
    async def scenario(api: ApiHarness) -> None:
        stream = await (await api.client("1001")).events([])
        assert stream.event_names == []
        await stream.subscribe("call_answered")
        assert await stream.reply(2.0) == {
            "op": "subscribe",
            "code": 0,
            "event_name": "call_answered",
        }
        await stream.subscribe("no_such_event")
        assert (await stream.reply(2.0))["code"] == 403
        _call(api, 1, "1001", "1002")
        event = await stream.next(timeout_s=2.0)
        assert event is not None and (event.name, event.data) == ("call_answered", {"call_id": 1})
        await stream.unsubscribe("call_answered")
        assert (await stream.reply(2.0))["op"] == "unsubscribe"
        _call(api, 2, "1001", "1002")
        with pytest.raises(TimeoutError):
            await stream.next(timeout_s=0.3)

    with_api(scenario)


def test_a_slow_subscriber_is_dropped_and_the_others_keep_up() -> None:
    async def scenario(api: ApiHarness) -> None:
        slow = await (await api.client("admin")).events(["*"])
        fast = await (await api.client("1001")).events(["call_created"])
        # 21 events in one step of the loop: the admin's queue of 8 overflows before its
        # sender runs, and publishing returns at once all the same; the agent's 7 fit.
        for call_id in range(7):
            _call(api, call_id, "1001", "1002")
        assert api.server.hub.dropped_subscribers == 1
        assert await slow.next(timeout_s=2.0) is None
        assert slow.close_code == CLOSE_TOO_SLOW
        assert await _drain(fast, 7) == [("call_created", n) for n in range(7)]
        assert api.server.hub.subscribers == 1

    with_api(scenario, event_queue_size=8)
