"""The ACD benchmark's scenario: 5 000 agents in 500 queues, and the routing decisions to time.

No clock here (the import rule): each generator yields one decision at a time as a thunk; the
`softswitch acd-bench` command times the call and the generator then undoes its effect.
Each agent is in 10 queues with skills; every queue requires one skill at proficiency 3+.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from functools import partial

from softswitch.acd.engine import Engine
from softswitch.acd.events import AcdEvent
from softswitch.acd.model import AcdConfig, AgentConfig, Membership, QueueConfig, Requirement

AGENTS = 5000
QUEUES = 500
QUEUES_PER_AGENT = 10
WAITING_PER_QUEUE = 5
SKILLS = ("sales", "support", "billing", "english", "mandarin")
Decision = Callable[[], list[AcdEvent]]


def build(dispatch_all: bool, seed: int = 1) -> Engine:
    rng = random.Random(seed)
    queues = tuple(
        QueueConfig(
            number=str(10000 + q),
            strategy="longest-idle",
            requirements=(Requirement(SKILLS[q % len(SKILLS)], 3),),
            ring_timeout_s=3600,
            reject_delay_s=0,
        )
        for q in range(QUEUES)
    )
    agents = []
    for a in range(AGENTS):
        chosen = rng.sample(range(QUEUES), QUEUES_PER_AGENT)
        skills = {SKILLS[q % len(SKILLS)]: rng.randint(3, 10) for q in chosen}
        agents.append(
            AgentConfig(
                number=str(100000 + a),
                skills=tuple(sorted(skills.items())),
                memberships=tuple(Membership(str(10000 + q), position=a) for q in chosen),
            )
        )
    return Engine(AcdConfig(queues=queues, agents=tuple(agents)), dispatch_all=dispatch_all)


def arrivals(engine: Engine, samples: int, seed: int = 2) -> Iterator[Decision]:
    """A caller arrives in a queue with free agents and is offered to one."""
    rng = random.Random(seed)
    now = 1.0
    for agent in engine.agents():
        engine.login(agent.number, now)
    queues = engine.queue_numbers()
    for i in range(samples):
        now += 1.0
        call, queue = f"arrive{i}", rng.choice(queues)
        yield partial(engine.enqueue, call, queue, now)
        engine.caller_hung_up(call, now)  # abandons while ringing: the agent is free again


def agents_freeing(engine: Engine, samples: int, seed: int = 2) -> Iterator[Decision]:
    """A busy agent frees up while callers wait in all its queues (5 per queue)."""
    rng = random.Random(seed)
    now = 1.0
    for agent in engine.agents():
        engine.login(agent.number, now)
        engine.pause(agent.number, "break", now)
    for number in engine.queue_numbers():
        for k in range(WAITING_PER_QUEUE):
            now += 0.001
            engine.enqueue(f"wait{number}-{k}", number, now, priority=rng.randint(0, 2))
    numbers = [a.number for a in engine.agents()]
    for _ in range(samples):
        now += 1.0
        number = rng.choice(numbers)
        yield partial(engine.ready, number, now)
        engine.pause(number, "break", now)  # the caller keeps its place


SCENARIOS = {
    "caller arrives, agent free": arrivals,
    "agent frees up, callers waiting": agents_freeing,
}
