"""The routing plan: in a context, a dialled number goes to a destination.

Exact numbers win over prefixes, longer prefixes over shorter ones; in the "internal" context an
extension's own number, the test lines' numbers (`features.echo_test`, `dtmf_test`), the
conference rooms (`conference.numbers`), the pickup codes (`*8`, `**` + extension) and the
numbers the wiring adds (`numbers`: IVR flows, queues; `prefixes`: agent feature codes such as
`*47` + a reason code) reach them without a route. Pure and synchronous, so it is tested alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from softswitch.config import INTERNAL_CONTEXT, Config, Route


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """Where a call goes: `kind` is extension, echo, trunk or conference; `number` is what is
    dialled onward."""

    kind: str
    target: str
    number: str


class RoutingPlan:
    def __init__(
        self,
        config: Config,
        numbers: Mapping[str, RouteTarget] | None = None,
        prefixes: Mapping[str, RouteTarget] | None = None,
    ) -> None:
        self._numbers = dict(numbers or {})
        self._number_prefixes = sorted((prefixes or {}).items(), key=lambda p: -len(p[0]))
        self._exact: dict[tuple[str, str], Route] = {}
        self._prefixes: dict[str, list[Route]] = {}
        for route in config.routes:
            if route.number is not None:
                self._exact[(route.context, route.number)] = route
            elif route.prefix is not None:
                self._prefixes.setdefault(route.context, []).append(route)
        for routes in self._prefixes.values():
            routes.sort(key=lambda r: len(r.prefix or ""), reverse=True)
        self._extensions = {ext.number for ext in config.extensions}
        self._echo_test = config.features.echo_test
        self._dtmf_test = config.features.dtmf_test
        self._conference = config.conference
        self._pickup = config.features.pickup

    def resolve(self, context: str, number: str, *, hops: int = 0) -> RouteTarget | None:
        """Where `number` dialled in `context` goes; None where nowhere. A `number` route is
        followed into the internal context once (a second hop is refused: no loops)."""
        route = self._exact.get((context, number))
        if route is None and context == INTERNAL_CONTEXT:
            if number in self._extensions:
                return RouteTarget("extension", number, number)
            if number and number == self._echo_test:
                return RouteTarget("echo", number, number)
            if number and number == self._dtmf_test:
                return RouteTarget("dtmf_test", number, number)
            if self._conference.is_room(number):
                return RouteTarget("conference", number, number)
            pickup = self._pickup
            if pickup.pickup and number == pickup.pickup:
                return RouteTarget("pickup", "", number)  # the dialler's group
            directed = pickup.directed_pickup
            if directed and number.startswith(directed) and len(number) > len(directed):
                return RouteTarget("pickup", number[len(directed) :], number)
            wired = self._numbers.get(number)
            if wired is not None:
                return wired
            for prefix, feature in self._number_prefixes:
                if number.startswith(prefix):
                    return RouteTarget(feature.kind, feature.target, number)
        if route is None:
            for candidate in self._prefixes.get(context, ()):
                assert candidate.prefix is not None
                if number.startswith(candidate.prefix) and len(number) > len(candidate.prefix):
                    route = candidate
                    break
        if route is None:
            return None
        onward = route.prepend + number[route.strip :]
        destination = route.destination
        target = destination.target or onward
        if destination.kind == "number":
            return None if hops else self.resolve(INTERNAL_CONTEXT, target, hops=1)
        return RouteTarget(destination.kind, target, onward)

    def dangling(self, config: Config) -> list[tuple[str, str]]:
        """(key, problem) for each `number:N` route whose N reaches nothing internally, so that
        a typo is refused at start instead of giving callers a 404."""
        problems = []
        for i, route in enumerate(config.routes):
            destination = route.destination
            if destination.kind != "number" or not destination.target:
                continue
            if self.resolve(INTERNAL_CONTEXT, destination.target, hops=1) is None:
                problems.append(
                    (
                        f"routes[{i}].destination",
                        f"number {destination.target} reaches nothing in the internal context"
                        " (an extension, queue, IVR flow, conference room or feature code)",
                    )
                )
        return problems
