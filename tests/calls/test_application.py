"""The application registry by destination kind, and the control layer's event subscriptions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from softswitch.calls.application import ApplicationRegistry, UnknownDestinationKind
from softswitch.calls.b2bua import default_applications
from softswitch.calls.control import CallEnded, CallStarted, Subscription
from softswitch.calls.echo import EchoApplication
from softswitch.calls.routing import RouteTarget


def test_registry_creates_by_kind_and_refuses_unknown_and_duplicate_kinds() -> None:
    registry = default_applications()
    assert registry.kinds == ("dtmf_test", "echo", "extension", "trunk")
    app = registry.create(RouteTarget("echo", "", "9196"), None, None)  # type: ignore[arg-type]
    assert isinstance(app, EchoApplication) and app.kind == "echo"
    with pytest.raises(UnknownDestinationKind) as unknown:
        registry.create(RouteTarget("conference", "8000", "8000"), None, None)  # type: ignore[arg-type]
    assert unknown.value.status_hint == 404
    with pytest.raises(ValueError, match="already"):
        registry.register("echo", EchoApplication.create)
    later = ApplicationRegistry()
    later.register("conference", EchoApplication.create)  # a later kind plugs in by registering
    assert "conference" in later


class _Owner:
    def __init__(self) -> None:
        self._subscribers: set[Any] = set()


def test_a_slow_subscriber_loses_the_oldest_events_and_close_ends_iteration() -> None:
    async def main() -> None:
        owner = _Owner()
        sub = Subscription(owner, maxsize=2)  # type: ignore[arg-type]
        owner._subscribers.add(sub)
        for call_id in (1, 2, 3):
            sub.put(CallStarted(call_id, "1001", "1002", "internal"))
        sub.put(CallEnded(3, "answered", "BYE", "caller"))
        sub.close()
        got = [event async for event in sub]
        assert got == [
            CallStarted(3, "1001", "1002", "internal"),
            CallEnded(3, "answered", "BYE", "caller"),
        ]
        assert sub.dropped == 2 and not owner._subscribers

    asyncio.run(asyncio.wait_for(main(), 5))
