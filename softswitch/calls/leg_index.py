"""What the signalling layer keeps and is told through: the index that finds the leg a SIP
message belongs to, the call counters, and the protocols of those it reports to (CDR writer,
observers, the setup-latency metric). Kept beside calls/signalling.py, which re-exports the
protocols."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from softswitch.calls.application import Application
    from softswitch.calls.call import Call
    from softswitch.calls.leg import Leg, LegEvent, Purpose


class CallRecords(Protocol):
    """Where call detail records go; implemented by the application over the store."""

    def started(self, call: Call) -> None: ...

    def answered(self, call: Call) -> None: ...

    def ended(self, call: Call) -> None: ...


class CallObserver(Protocol):
    """Told what happens to calls (the control layer's event stream listens here)."""

    def call_started(self, call: Call) -> None: ...

    def call_answered(self, call: Call) -> None: ...

    def call_ended(self, call: Call) -> None: ...

    def leg_attached(self, call: Call, leg: Leg, application: Application) -> None: ...

    def leg_event(self, call: Call, event: LegEvent) -> None: ...


class SetupLatency(Protocol):
    def observe(self, seconds: float) -> None: ...


@dataclass(slots=True)
class CallCounters:
    by_disposition: dict[str, int] = field(default_factory=dict)
    dtmf_digits: dict[str, int] = field(default_factory=dict)  # by method: info, rfc4733, inband


@dataclass(frozen=True, slots=True)
class LegRoute:
    call: Call
    leg: Leg
    purpose: Purpose | None = None


class LegIndex:
    """Finds the leg a message belongs to by dialog id, transaction key or Call-ID; every key
    is filed under its leg, so forgetting a leg forgets all of them."""

    def __init__(self) -> None:
        self._routes: dict[Hashable, LegRoute] = {}
        self._keys: dict[Leg, list[Hashable]] = {}

    def add(self, key: Hashable, route: LegRoute) -> None:
        self._routes[key] = route
        self._keys.setdefault(route.leg, []).append(key)

    def get(self, key: Hashable) -> LegRoute | None:
        return self._routes.get(key)

    def pop(self, key: Hashable) -> LegRoute | None:
        return self._routes.pop(key, None)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._routes

    def forget(self, leg: Leg) -> None:
        for key in self._keys.pop(leg, ()):
            self._routes.pop(key, None)

    def rehome(self, leg: Leg, call: Call) -> None:
        """File every key of `leg` under `call` (a leg that changed calls)."""
        for key in self._keys.get(leg, ()):
            route = self._routes.get(key)
            if route is not None:
                self._routes[key] = LegRoute(call, leg, route.purpose)
