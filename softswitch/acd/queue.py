"""The callers of one queue, in service order: priority (0-9, rising with wait), then entry.

Callers are kept in ten buckets by base priority, each sorted by original entry time. Within a
bucket the wait-based rise is monotone in entry time, so the service order at any moment is a
merge of the ten bucket heads: no re-sorting when priorities rise.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterator

from softswitch.acd.agent import Agent
from softswitch.acd.caller import Caller
from softswitch.acd.model import MAX_PRIORITY, QueueConfig, Requirement


def effective_priority(config: QueueConfig, caller: Caller, now: float) -> int:
    """The caller's priority at `now`: its base, plus one per `priority_step_s` waited."""
    if config.priority_step_s <= 0:
        return caller.priority
    risen = int(max(0.0, now - caller.entry_time) // config.priority_step_s)
    return min(MAX_PRIORITY, caller.priority + risen)


def service_key(config: QueueConfig, caller: Caller, now: float) -> tuple[int, float, int]:
    """Smaller is served first, comparable across queues: priority, then longest wait."""
    return (-effective_priority(config, caller, now), caller.entry_time, caller.seq)


def widened_requirements(
    config: QueueConfig, caller: Caller, now: float
) -> tuple[Requirement, ...]:
    """The caller's requirements after the queue's widening rules for its wait so far."""
    floor: int | None = None
    # Absolute times, computed as the timers compute them: (a + b) - a may fall short of b.
    for rule in config.widening:
        if caller.queue_entry_time + rule.after_s <= now:
            floor = rule.min_proficiency
    if floor is None:
        return caller.requirements
    if floor == 0:
        return ()
    return tuple(Requirement(r.skill, min(r.min_proficiency, floor)) for r in caller.requirements)


def next_widening(config: QueueConfig, caller: Caller, now: float) -> float | None:
    """When the caller's requirements next widen, or None when they no longer will."""
    for rule in config.widening:
        when = caller.queue_entry_time + rule.after_s
        if when > now:
            return when
    return None


def satisfies(agent: Agent, requirements: tuple[Requirement, ...]) -> bool:
    return all(agent.config.proficiency(r.skill) >= r.min_proficiency for r in requirements)


class WaitingQueue:
    """The entries of one queue (waiting, ringing, callbacks) in service order."""

    def __init__(self, config: QueueConfig) -> None:
        self.config = config
        self._buckets: list[list[Caller]] = [[] for _ in range(MAX_PRIORITY + 1)]
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, caller: Caller) -> None:
        bucket = self._buckets[caller.priority]
        # insort by (entry_time, seq): an overflowed caller goes back to its original place.
        bisect.insort(bucket, caller, key=Caller.sort_key)
        self._count += 1

    def remove(self, caller: Caller) -> None:
        bucket = self._buckets[caller.priority]
        key = caller.sort_key()
        index = bisect.bisect_left(bucket, key, key=Caller.sort_key)
        if index < len(bucket) and bucket[index] is caller:
            del bucket[index]
            self._count -= 1

    def ordered(self, now: float) -> Iterator[Caller]:
        """Every entry in service order at `now`."""
        config = self.config
        buckets = [bucket for bucket in self._buckets if bucket]
        if len(buckets) == 1:
            yield from buckets[0]
            return
        yield from heapq.merge(*buckets, key=lambda c: service_key(config, c, now))

    def position(self, caller: Caller, now: float) -> int:
        """1-based place of `caller` in service order (0 when not in this queue)."""
        for index, other in enumerate(self.ordered(now), start=1):
            if other is caller:
                return index
        return 0
