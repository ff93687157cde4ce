"""Build small ACD scenarios for the pure tests: a config, an engine, and event filters."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TypeVar

from softswitch.acd.engine import Engine
from softswitch.acd.events import AcdEvent, OfferCall, QueueLogEntry, QueueLogEvent
from softswitch.acd.model import AcdConfig, AgentConfig, Membership, QueueConfig

T = TypeVar("T")


def agent(
    number: str, *queues: str, skills: dict[str, int] | None = None, **member: object
) -> AgentConfig:
    """An agent in `queues`, positioned in the order given unless `position` says otherwise."""
    memberships = tuple(
        Membership(q, **member) if member else Membership(q, position=int(number)) for q in queues
    )
    return AgentConfig(
        number=number, skills=tuple(sorted((skills or {}).items())), memberships=memberships
    )


def engine(
    queues: Iterable[QueueConfig],
    agents: Iterable[AgentConfig],
    *,
    seed: int = 1,
    dispatch_all: bool = False,
) -> Engine:
    return Engine(
        AcdConfig(queues=tuple(queues), agents=tuple(agents)),
        rng=random.Random(seed),
        dispatch_all=dispatch_all,
    )


def of_type(events: Iterable[AcdEvent], kind: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, kind)]


def offers(events: Iterable[AcdEvent]) -> list[tuple[str, str]]:
    """(call, agent) of every OfferCall, in order."""
    return [(e.call, e.agent) for e in of_type(events, OfferCall)]


def log(events: Iterable[AcdEvent], *kinds: QueueLogEvent) -> list[QueueLogEntry]:
    return [e for e in of_type(events, QueueLogEntry) if not kinds or e.event in kinds]


def login_all(e: Engine, now: float = 0.0) -> list[AcdEvent]:
    out: list[AcdEvent] = []
    for a in e.agents():
        out += e.login(a.number, now)
    return out
