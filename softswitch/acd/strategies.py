"""Ring strategies, registered by name: which of the free, eligible agents a caller rings.

A strategy sees only candidates the engine already found available and eligible, and returns
them in the order to ring. `RingMode` says how many ring at once: the first one, all of them,
or one more every `progressive_step_s` (mod_callcenter's ring-progressively).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from softswitch.acd.agent import Agent
from softswitch.acd.errors import UnknownEntity
from softswitch.acd.model import Membership


class RingMode(Enum):
    ONE = "one"
    ALL = "all"
    PROGRESSIVE = "progressive"


@dataclass(frozen=True)
class Candidate:
    agent: Agent
    membership: Membership


@dataclass
class QueueMemory:
    """What a strategy remembers about one queue between calls (round-robin's last agent)."""

    last: tuple[int, str] | None = None


@dataclass
class SelectionContext:
    now: float
    queue: str
    rng: random.Random
    memory: QueueMemory = field(default_factory=QueueMemory)


class Strategy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def mode(self) -> RingMode: ...

    def select(self, candidates: Sequence[Candidate], ctx: SelectionContext) -> list[Candidate]:
        """The candidates to ring, in order (ONE mode rings only the first)."""
        ...


def _order_key(c: Candidate) -> tuple[int, int, str]:
    return (c.membership.level, c.membership.position, c.agent.number)


@dataclass(frozen=True)
class _ByKey:
    """The one candidate with the smallest key: an O(n) pass, no sort. Every key ends with the
    agent number, so ties never depend on set iteration order (PYTHONHASHSEED)."""

    name: str
    key: Callable[[Candidate], tuple[float | int | str, ...]]
    mode: RingMode = RingMode.ONE

    def select(self, candidates: Sequence[Candidate], ctx: SelectionContext) -> list[Candidate]:
        return [min(candidates, key=self.key)]


@dataclass(frozen=True)
class _Ordered:
    """Every candidate in config order: ring-all and ring-progressively."""

    name: str
    mode: RingMode

    def select(self, candidates: Sequence[Candidate], ctx: SelectionContext) -> list[Candidate]:
        return sorted(candidates, key=_order_key)


@dataclass(frozen=True)
class _RoundRobin:
    """Asterisk's rrmemory: the next agent in position order after the last one rung."""

    name: str = "round-robin"
    mode: RingMode = RingMode.ONE

    def select(self, candidates: Sequence[Candidate], ctx: SelectionContext) -> list[Candidate]:
        def key(c: Candidate) -> tuple[int, str]:
            return (c.membership.position, c.agent.number)

        last = ctx.memory.last
        after = [c for c in candidates if last is None or key(c) > last]
        chosen = min(after or candidates, key=key)
        ctx.memory.last = key(chosen)
        return [chosen]


@dataclass(frozen=True)
class _Random:
    name: str = "random"
    mode: RingMode = RingMode.ONE

    def select(self, candidates: Sequence[Candidate], ctx: SelectionContext) -> list[Candidate]:
        # Sorted first: the draw depends only on the seed, not on set iteration order.
        ordered = sorted(candidates, key=lambda c: c.agent.number)
        return [ctx.rng.choice(ordered)]


@dataclass(frozen=True)
class _WeightedRandom:
    name: str = "weighted-random"
    mode: RingMode = RingMode.ONE

    def select(self, candidates: Sequence[Candidate], ctx: SelectionContext) -> list[Candidate]:
        ordered = sorted(candidates, key=lambda c: c.agent.number)
        weights = [c.membership.weight for c in ordered]
        return ctx.rng.choices(ordered, weights=weights, k=1)


def _least_recent_key(c: Candidate) -> tuple[float, float, str]:
    # Never had a queue call since login: ahead of everyone (-inf), then by idle time.
    end = c.agent.last_call_end
    return (float("-inf") if end is None else end, c.agent.idle_since, c.agent.number)


class StrategyRegistry:
    """Strategies by name; the engine is given one, so tests and operators can add their own."""

    def __init__(self) -> None:
        self._strategies: dict[str, Strategy] = {}

    def register(self, strategy: Strategy) -> None:
        self._strategies[strategy.name] = strategy

    def get(self, name: str) -> Strategy:
        try:
            return self._strategies[name]
        except KeyError:
            raise UnknownEntity(f"no strategy {name!r} (known: {', '.join(self)})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._strategies

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._strategies))


def default_registry() -> StrategyRegistry:
    """The eleven built-in strategies (README "Strategies" says when to use each)."""
    registry = StrategyRegistry()
    for strategy in (
        _Ordered("ring-all", RingMode.ALL),
        _ByKey("longest-idle", lambda c: (c.agent.idle_since, c.agent.number)),
        _ByKey("least-recent", _least_recent_key),
        _ByKey(
            "fewest-calls",
            lambda c: (c.agent.calls_answered, c.agent.idle_since, c.agent.number),
        ),
        _ByKey(
            "least-talk-time", lambda c: (c.agent.talk_time_s, c.agent.idle_since, c.agent.number)
        ),
        _RoundRobin(),
        _ByKey("linear", lambda c: (c.membership.position, c.agent.number)),
        _ByKey("sequential", _order_key),
        _Random(),
        _WeightedRandom(),
        _Ordered("ring-progressively", RingMode.PROGRESSIVE),
    ):
        registry.register(strategy)
    return registry
