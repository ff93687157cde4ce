"""ACD scenario: the time of one routing decision with 5 000 agents in 500 queues.

Pure CPU, no SIP: the engine is built in this process and driven with a fake clock. Each agent
is in 10 queues with two skills; every queue requires one skill at proficiency 3 or better.
Two decisions are timed, each `samples` times:
- a caller arrives in a queue with free agents and is offered to one (enqueue + dispatch);
- a busy agent frees up while callers wait in all its queues, and is offered the best of them
  across those queues (ready + dispatch), with 5 callers waiting in every queue (2 500).
The simple dispatch (every queue re-examined, the test oracle) is timed beside the fast one.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from bench.display import Display
from softswitch.acd.engine import Engine
from softswitch.acd.model import AcdConfig, AgentConfig, Membership, QueueConfig, Requirement

AGENTS = 5000
QUEUES = 500
QUEUES_PER_AGENT = 10
WAITING_PER_QUEUE = 5
GOAL_MS = 1.0
SKILLS = ("sales", "support", "billing", "english", "mandarin")


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


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Wall-clock and CPU (thread time) figures: on a shared machine the wall clock's tail is
    mostly other processes taking the core."""
    wall = sorted(w for w, _ in samples)
    cpu = sorted(c for _, c in samples)
    p99 = int(len(wall) * 0.99) - 1
    return {
        "p50_us": statistics.median(wall),
        "p99_us": wall[p99],
        "max_us": wall[-1],
        "cpu_p50_us": statistics.median(cpu),
        "cpu_p99_us": cpu[p99],
        "samples": len(wall),
    }


class _Stopwatch:
    def __enter__(self) -> _Stopwatch:
        self.wall, self.cpu = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample = (
            (time.perf_counter() - self.wall) * 1e6,
            (time.thread_time() - self.cpu) * 1e6,
        )


def time_arrival(engine: Engine, samples: int, rng: random.Random) -> list[tuple[float, float]]:
    now = 1.0
    for agent in engine.agents():
        engine.login(agent.number, now)
    queues = engine.queue_numbers()
    out: list[tuple[float, float]] = []
    for i in range(samples):
        now += 1.0
        call = f"arrive{i}"
        with _Stopwatch() as watch:
            events = engine.enqueue(call, rng.choice(queues), now)
        out.append(watch.sample)
        assert any(type(e).__name__ == "OfferCall" for e in events)
        engine.caller_hung_up(call, now)  # abandons while ringing: the agent is free again
    return out


def time_agent_frees(engine: Engine, samples: int, rng: random.Random) -> list[tuple[float, float]]:
    now = 1.0
    for agent in engine.agents():
        engine.login(agent.number, now)
        engine.pause(agent.number, "break", now)
    for number in engine.queue_numbers():
        for k in range(WAITING_PER_QUEUE):
            now += 0.001
            engine.enqueue(f"wait{number}-{k}", number, now, priority=rng.randint(0, 2))
    agents = [a.number for a in engine.agents()]
    out: list[tuple[float, float]] = []
    for _ in range(samples):
        now += 1.0
        number = rng.choice(agents)
        with _Stopwatch() as watch:
            events = engine.ready(number, now)
        out.append(watch.sample)
        assert any(type(e).__name__ == "OfferCall" for e in events)
        engine.pause(number, "break", now)  # the caller keeps its place
    return out


def run_scenario(display: Display, samples: int = 2000) -> dict[str, Any]:
    results: dict[str, Any] = {
        "agents": AGENTS,
        "queues": QUEUES,
        "queues_per_agent": QUEUES_PER_AGENT,
        "waiting_per_queue": WAITING_PER_QUEUE,
        "goal_ms": GOAL_MS,
        "decisions": {},
    }
    for label, dispatch_all in (("fast", False), ("simple (oracle)", True)):
        n = samples if not dispatch_all else max(50, samples // 20)
        for decision, timer in (
            ("caller arrives, agent free", time_arrival),
            ("agent frees up, callers waiting", time_agent_frees),
        ):
            summary = _summary(timer(build(dispatch_all), n, random.Random(2)))
            results["decisions"][f"{decision} [{label}]"] = summary
            display.note(
                f"acd: {decision} [{label}]: p50 {summary['p50_us']:.0f} µs,"
                f" p99 {summary['p99_us']:.0f} µs (CPU p50 {summary['cpu_p50_us']:.0f} µs,"
                f" p99 {summary['cpu_p99_us']:.0f} µs)"
            )
    return results
