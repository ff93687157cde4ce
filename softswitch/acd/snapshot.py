"""The engine's live state as plain JSON-compatible data, and the engine rebuilt from it.

After a restart the switch restores the last snapshot and then calls `Engine.reconcile` with
the legs that survived: callers whose legs are gone are removed and their agents freed, so a
stale snapshot heals instead of leaving agents stuck. Timers are not stored: they follow from
the deadlines kept in the state.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Final

from softswitch.acd.agent import AgentState
from softswitch.acd.caller import OFFERING, ON_THE_LINE, QUEUED, Caller, CallerState
from softswitch.acd.core import Timer
from softswitch.acd.engine import Engine
from softswitch.acd.errors import InvalidRequest
from softswitch.acd.model import AcdConfig, Requirement
from softswitch.acd.strategies import StrategyRegistry

VERSION: Final = 1
_AGENT_FIELDS: Final = (
    "since",
    "reason",
    "pending_pause",
    "call",
    "call_queue",
    "available_at",
    "wrap_up_until",
    "consecutive_no_answers",
    "calls_answered",
    "talk_time_s",
    "last_call_end",
    "idle_since",
    "direct_calls",
)
_CALLER_SKIP: Final = ("state", "requirements", "extra_requirements", "offers", "offer_order")


def dump(engine: Engine) -> dict[str, Any]:
    """Everything needed to carry on after a restart."""
    agents = {}
    for agent in engine.agents():
        record = {name: getattr(agent, name) for name in _AGENT_FIELDS}
        record["state"] = agent.state.value
        agents[agent.number] = record
    callers = []
    for caller in engine.callers():
        record = {
            f.name: getattr(caller, f.name)
            for f in dataclasses.fields(caller)
            if f.name not in _CALLER_SKIP
        }
        record["state"] = caller.state.value
        record["requirements"] = [[r.skill, r.min_proficiency] for r in caller.requirements]
        record["extra_requirements"] = [
            [r.skill, r.min_proficiency] for r in caller.extra_requirements
        ]
        record["offers"] = dict(caller.offers)
        record["offer_order"] = list(caller.offer_order)
        callers.append(record)
    queues = {}
    for number in engine.queue_numbers():
        rt = engine._queues[number]
        queues[number] = {
            "last": list(rt.memory.last) if rt.memory.last is not None else None,
            "handle_times": rt.rate.samples,
            "offered": rt.offered,
            "answered": rt.answered,
            "abandoned": rt.abandoned,
        }
    return {
        "version": VERSION,
        "seq": engine._seq,
        "agents": agents,
        "callers": callers,
        "queues": queues,
    }


def restore(
    config: AcdConfig,
    data: dict[str, Any],
    now: float,
    *,
    rng: random.Random | None = None,
    strategies: StrategyRegistry | None = None,
    dispatch_all: bool = False,
) -> Engine:
    """An engine for `config` carrying the state in `data`; agents and queues no longer in the
    config are dropped. Call `reconcile` next with the legs that are still up."""
    if data.get("version") != VERSION:
        raise InvalidRequest(f"snapshot version {data.get('version')!r} is not {VERSION}")
    engine = Engine(config, rng=rng, strategies=strategies, dispatch_all=dispatch_all)
    engine._seq = int(data["seq"])
    for number, record in data["agents"].items():
        agent = engine._agents.get(number)
        if agent is None:
            continue
        for name in _AGENT_FIELDS:
            setattr(agent, name, record[name])
        agent.state = AgentState(record["state"])
    for record in data["callers"]:
        if record["queue"] not in engine._queues:
            continue
        fields = {k: v for k, v in record.items() if k not in _CALLER_SKIP}
        caller = Caller(
            **fields,
            state=CallerState(record["state"]),
            requirements=tuple(Requirement(s, p) for s, p in record["requirements"]),
            extra_requirements=tuple(Requirement(s, p) for s, p in record["extra_requirements"]),
            offers={k: float(v) for k, v in record["offers"].items() if k in engine._agents},
            offer_order=[n for n in record["offer_order"] if n in engine._agents],
        )
        engine._callers[caller.call] = caller
        if caller.state in QUEUED:
            engine._queues[caller.queue].waiting.add(caller)
    for number, record in data["queues"].items():
        rt = engine._queues.get(number)
        if rt is None:
            continue
        last = record["last"]
        rt.memory.last = (int(last[0]), str(last[1])) if last is not None else None
        for sample in record["handle_times"]:
            rt.rate.record(float(sample))
        rt.offered, rt.answered, rt.abandoned = (
            record["offered"],
            record["answered"],
            record["abandoned"],
        )
    _rearm(engine, now)
    return engine


def _rearm(engine: Engine, now: float) -> None:
    """Timers and free-agent sets follow from the restored state."""
    for caller in engine._callers.values():
        config = engine._queues[caller.queue].config
        for number, deadline in caller.offers.items():
            engine._timer(deadline, Timer.RING, caller.call, number)
        if caller.state in OFFERING and caller.next_progressive is not None:
            engine._timer(caller.next_progressive, Timer.PROGRESSIVE, caller.call)
        if caller.state in ON_THE_LINE and config.max_wait_s > 0:
            engine._timer(
                caller.queue_entry_time + config.max_wait_s,
                Timer.MAX_WAIT,
                caller.call,
                caller.queue,
            )
        if caller.state in QUEUED:
            for rule in config.widening:
                engine._timer(
                    caller.queue_entry_time + rule.after_s, Timer.WIDEN, caller.call, caller.queue
                )
        if caller.state is CallerState.CALLBACK_WAITING and caller.not_before > now:
            engine._timer(caller.not_before, Timer.RETRY, caller.call)
        if caller.state is CallerState.CALLBACK_DIALING:
            engine._timer(caller.dial_deadline, Timer.DIAL, caller.call)
        engine._dirty.add(caller.queue)
    for agent in engine._agents.values():
        if agent.state is AgentState.WRAP_UP:
            engine._timer(agent.wrap_up_until, Timer.WRAP_UP, agent.number)
        engine._refresh(agent, now)
