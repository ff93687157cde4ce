"""[[routes]]: in a context, a dialled number or prefix goes to a destination. Parsed here;
calls/routing.py resolves them. config.py re-exports the types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from softswitch.config_table import Table

# "number" hands the call to what a number reaches in the internal context (an IVR flow, a queue,
# a voicemail box...): the way a DID from a gateway reaches the call centre.
DESTINATION_KINDS: Final = ("conference", "echo", "dtmf_test", "extension", "trunk", "number")
INTERNAL_CONTEXT: Final = "internal"


@dataclass(frozen=True)
class Destination:
    kind: str
    target: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


@dataclass(frozen=True, kw_only=True)
class Route:
    """In `context`, a dialled `number` (exact) or `prefix` goes to `destination`."""

    context: str
    number: str | None = None
    prefix: str | None = None
    strip: int = 0
    prepend: str = ""
    destination: Destination


def unknown_context(context: str) -> str:
    return f"unknown context {context!r} (use {INTERNAL_CONTEXT!r} or a trunk's context)"


def parse_routes(
    root: Table,
    numbers: set[str],
    trunk_ports: Mapping[str, int],
    contexts: set[str],
    features: Mapping[str, str],
) -> tuple[Route, ...]:
    """The [[routes]]: `numbers` are the extensions, `trunk_ports` each trunk's port (0: inbound
    only), `features` the test lines' numbers by key (echo_test, dtmf_test)."""
    keys = ("context", "number", "prefix", "strip", "prepend", "destination")
    routes: list[Route] = []
    seen: dict[tuple[str, str, str], int] = {}
    for index, t in enumerate(root.tables("routes", keys)):
        context: str = t.string("context", empty=False)
        if context not in contexts:
            raise t.error("context", unknown_context(context))
        number: str | None = t.dial("number", None)
        prefix: str | None = t.dial("prefix", None)
        if (number is None) == (prefix is None):
            raise t.error(None, "needs exactly one of number or prefix")
        match_key = "number" if number is not None else "prefix"
        digits = number if number is not None else prefix
        assert digits is not None
        if (context, match_key, digits) in seen:
            other = seen[(context, match_key, digits)]
            raise t.error(
                match_key,
                f"duplicate route for {match_key} {digits} in context {context}"
                f" (also routes[{other}])",
            )
        seen[(context, match_key, digits)] = index
        feature = features.get(number or "")
        if context == INTERNAL_CONTEXT and number and feature is not None:
            # Either would leave the other dead: the key that was never read is what this avoids.
            raise t.error("number", f"{number} is features.{feature} in context {context}")
        strip = t.integer("strip", 0, 0)
        if number is not None and strip > len(number):
            raise t.error("strip", f"{strip} is longer than number {number}")
        routes.append(
            Route(
                context=context,
                number=number,
                prefix=prefix,
                strip=strip,
                prepend=t.dial("prepend", "", empty=True),
                destination=_parse_destination(t, numbers, trunk_ports),
            )
        )
    return tuple(routes)


def _parse_destination(t: Table, numbers: set[str], trunk_ports: Mapping[str, int]) -> Destination:
    text: str = t.string("destination", empty=False)
    kind, _, target = text.partition(":")
    if kind not in DESTINATION_KINDS:
        raise t.error(
            "destination",
            f"unknown kind {kind!r} in {text!r} (allowed: {', '.join(DESTINATION_KINDS)})",
        )
    if kind in ("echo", "dtmf_test"):
        if target:
            raise t.error("destination", f"{kind!r} takes no target, got {text!r}")
        return Destination(kind)
    if kind == "number":
        if target and not target.replace("*", "").replace("#", "").isalnum():
            raise t.error("destination", f"'number:' takes a dialled number, got {text!r}")
        return Destination(kind, target)  # checked against the internal plan at start
    if not target:
        raise t.error("destination", f"{kind!r} needs a target, as in '{kind}:NAME'")
    if kind == "extension" and target not in numbers:
        raise t.error("destination", f"no extension {target}")
    if kind == "trunk":
        port = trunk_ports.get(target)
        if port is None:
            raise t.error("destination", f"no trunk {target!r}")
        if port == 0:
            raise t.error(
                "destination", f"trunk {target!r} has port 0 (inbound only): set its port"
            )
    return Destination(kind, target)
