"""The ACD's mechanics: state, matching callers to free agents, offers, exits.

`Engine` (engine.py) is the public face; this base holds what its methods share. The
matching invariant: after every public method no waiting caller and free agent that could be
matched are left unmatched. `dispatch_all=True` re-examines every queue each time instead of
only the queues whose agents or callers changed: the simple version, kept as the fast path's
oracle in the tests.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from softswitch.acd.agent import STAFFED, Agent, AgentState, AgentTrigger, next_state
from softswitch.acd.caller import (
    OFFERING,
    ON_THE_LINE,
    READY_FOR_OFFER,
    Caller,
    CallerState,
    CallerTrigger,
)
from softswitch.acd.caller import next_state as next_caller_state
from softswitch.acd.errors import InvalidRequest, UnknownEntity
from softswitch.acd.events import (
    AcdEvent,
    AgentStateChanged,
    CallerExited,
    CallerMoved,
    CancelOffer,
    ConnectAgent,
    EndCallback,
    ExitReason,
    OfferCall,
    QueueLogEntry,
    QueueLogEvent,
)
from softswitch.acd.ewt import ServiceRateModel
from softswitch.acd.model import (
    NO_ANSWER_REASON,
    AcdConfig,
    EmptyPolicy,
    Membership,
    QueueConfig,
    Requirement,
    Target,
    TargetKind,
)
from softswitch.acd.queue import (
    WaitingQueue,
    next_widening,
    satisfies,
    service_key,
    widened_requirements,
)
from softswitch.acd.strategies import (
    Candidate,
    QueueMemory,
    RingMode,
    SelectionContext,
    Strategy,
    StrategyRegistry,
    default_registry,
)

E = QueueLogEvent
NO_QUEUE = "NONE"  # Asterisk's queue name for agent events that concern no single queue


class Timer(Enum):
    RING = "ring"
    PROGRESSIVE = "progressive"
    MAX_WAIT = "max wait"
    WIDEN = "widen"
    WRAP_UP = "wrap-up"
    AVAILABLE = "available"
    RETRY = "retry"
    DIAL = "dial"


_TIMER_RANK = {kind: rank for rank, kind in enumerate(Timer)}
TimerEntry = tuple[float, int, str, str, Timer]


class OfferEnd(Enum):
    NO_ANSWER = "no answer"
    REJECT = "reject"
    BUSY = "busy"
    CANCEL = "cancel"  # the caller left, another agent answered, the agent paused


@dataclass
class QueueRuntime:
    config: QueueConfig
    strategy: Strategy
    waiting: WaitingQueue
    rate: ServiceRateModel
    memory: QueueMemory = field(default_factory=QueueMemory)
    members: dict[str, Membership] = field(default_factory=dict)
    available: set[str] = field(default_factory=set)
    offered: int = 0
    answered: int = 0
    abandoned: int = 0


@dataclass(frozen=True)
class QueueStatus:
    """What /metrics and wallboards show for one queue."""

    queue: str
    waiting: int
    longest_wait_s: float
    agents_by_state: dict[AgentState, int]
    offered: int
    answered: int
    abandoned: int


def merge_requirements(*groups: Iterable[Requirement]) -> tuple[Requirement, ...]:
    """One requirement per skill, the strictest of those given."""
    strictest: dict[str, int] = {}
    for group in groups:
        for r in group:
            strictest[r.skill] = max(strictest.get(r.skill, 0), r.min_proficiency)
    return tuple(Requirement(skill, level) for skill, level in sorted(strictest.items()))


class EngineCore:
    """Queues, agents, callers and timers of one switch, and how they are matched."""

    def __init__(
        self,
        config: AcdConfig,
        *,
        rng: random.Random | None = None,
        strategies: StrategyRegistry | None = None,
        dispatch_all: bool = False,
    ) -> None:
        self.config = config
        self.rng = rng if rng is not None else random.Random(0)
        self.strategies = strategies if strategies is not None else default_registry()
        self.dispatch_all = dispatch_all
        self._queues: dict[str, QueueRuntime] = {}
        for q in config.queues:
            self._queues[q.number] = QueueRuntime(
                config=q,
                strategy=self.strategies.get(q.strategy),
                waiting=WaitingQueue(q),
                rate=ServiceRateModel(q.default_handle_time_s, config.recent_handle_times),
            )
        self._agents: dict[str, Agent] = {}
        for a in config.agents:
            agent = Agent(config=a, memberships={m.queue: m for m in a.memberships})
            self._agents[a.number] = agent
            for m in a.memberships:
                self._queue(m.queue).members[a.number] = m
        self._callers: dict[str, Caller] = {}
        # (when, rank of kind, key, other, kind): timers due at the same time fire in an order
        # that follows from the state alone, so a restored engine behaves like the original.
        self._timers: list[TimerEntry] = []
        self._seq = 0
        self._dirty: set[str] = set()
        self._out: list[AcdEvent] = []

    def _queue(self, number: str) -> QueueRuntime:
        try:
            return self._queues[number]
        except KeyError:
            raise UnknownEntity(f"no queue {number}") from None

    def _agent(self, number: str) -> Agent:
        try:
            return self._agents[number]
        except KeyError:
            raise UnknownEntity(f"no agent {number}") from None

    def _caller(self, call: str) -> Caller:
        try:
            return self._callers[call]
        except KeyError:
            raise UnknownEntity(f"no call {call} in any queue") from None

    def agent(self, number: str) -> Agent:
        """The live record of an agent: read it, never change it."""
        return self._agent(number)

    def agents(self) -> list[Agent]:
        return list(self._agents.values())

    def caller(self, call: str) -> Caller | None:
        return self._callers.get(call)

    def callers(self) -> list[Caller]:
        return list(self._callers.values())

    def queue_numbers(self) -> list[str]:
        return list(self._queues)

    def waiting_in_order(self, queue: str, now: float) -> list[Caller]:
        return list(self._queue(queue).waiting.ordered(now))

    def position(self, call: str, now: float) -> int:
        caller = self._caller(call)
        return self._queue(caller.queue).waiting.position(caller, now)

    def estimated_wait(self, call: str, now: float) -> float | None:
        """EWT of a waiting caller from the live service rate (`ewt.py`)."""
        caller = self._caller(call)
        rt = self._queue(caller.queue)
        serving = sum(1 for n in rt.members if self._agents[n].state in STAFFED)
        return rt.rate.estimate(self.position(call, now), serving, len(rt.available))

    def status(self, queue: str, now: float) -> QueueStatus:
        rt = self._queue(queue)
        by_state = dict.fromkeys(AgentState, 0)
        for number in rt.members:
            by_state[self._agents[number].state] += 1
        waits = [now - c.entry_time for c in rt.waiting.ordered(now)]
        return QueueStatus(
            queue=queue,
            waiting=len(waits),
            longest_wait_s=max(waits, default=0.0),
            agents_by_state=by_state,
            offered=rt.offered,
            answered=rt.answered,
            abandoned=rt.abandoned,
        )

    def _begin(self) -> None:
        self._out = []

    def _finish(self, now: float) -> list[AcdEvent]:
        self._dispatch(now)
        out, self._out = self._out, []
        return out

    def _log(self, entry: QueueLogEntry) -> None:
        self._out.append(entry)

    def _timer(self, when: float, kind: Timer, key: str, other: str = "") -> None:
        self._seq += 1
        heapq.heappush(self._timers, (when, _TIMER_RANK[kind], key, other, kind))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _set_state(self, agent: Agent, trigger: AgentTrigger, now: float, reason: str = "") -> None:
        old = agent.state
        agent.state = next_state(old, trigger, agent.number)
        agent.since = now
        agent.reason = reason if agent.state is AgentState.NOT_READY else ""
        if agent.state is AgentState.READY and old is not AgentState.READY:
            agent.idle_since = now
        if agent.state is not AgentState.ON_CALL and agent.state is not AgentState.OFFERED:
            agent.call = agent.call_queue = None
        self._out.append(AgentStateChanged(agent.number, old, agent.state, agent.reason, now))
        self._refresh(agent, now)

    def _refresh(self, agent: Agent, now: float) -> None:
        """Keep the per-queue sets of free agents true after any change to `agent`."""
        available = agent.is_available(now)
        for queue in agent.memberships:
            rt = self._queues[queue]
            if available:
                if agent.number not in rt.available:
                    rt.available.add(agent.number)
                    self._dirty.add(queue)
            else:
                rt.available.discard(agent.number)
        if (
            not available
            and agent.state is AgentState.READY
            and agent.direct_calls == 0
            and agent.available_at > now
        ):
            self._timer(agent.available_at, Timer.AVAILABLE, agent.number)

    def _release_offer(self, agent: Agent, now: float) -> None:
        """The agent stops ringing for its call (log-out, pause); the caller keeps its place."""
        if agent.state is AgentState.OFFERED and agent.call is not None:
            caller = self._callers.get(agent.call)
            if caller is not None and agent.number in caller.offers:
                self._end_offer(caller, agent, now, OfferEnd.CANCEL, change_agent=False)
            self._out.append(CancelOffer(agent.call, agent.number))

    def _staffed(self, rt: QueueRuntime, policy: EmptyPolicy) -> bool:
        if policy is EmptyPolicy.NEVER:
            return True
        for number in rt.members:
            state = self._agents[number].state
            if policy is EmptyPolicy.NO_AGENTS and state is not AgentState.LOGGED_OUT:
                return True
            if policy is EmptyPolicy.NO_READY and state in STAFFED:
                return True
        return False

    def _check_empty(self, agent: Agent, now: float) -> None:
        """Leave-empty: callers on the line leave a queue nobody staffs any more."""
        for queue in agent.memberships:
            rt = self._queues[queue]
            policy = rt.config.leave_empty
            if not len(rt.waiting) or self._staffed(rt, policy):
                continue
            for caller in list(rt.waiting.ordered(now)):
                if caller.state in ON_THE_LINE:
                    self._log_exit(caller, E.EXITEMPTY, now)
                    self._leave(caller, ExitReason.LEAVE_EMPTY, rt.config.empty_target, now)

    def _join(self, caller: Caller, rt: QueueRuntime, now: float, hops: int) -> None:
        """Put `caller` into `rt`, or send it on when the queue refuses it."""
        q = rt.config
        refusal: tuple[ExitReason, Target] | None = None
        if not self._staffed(rt, q.join_empty):
            refusal = (ExitReason.JOIN_EMPTY, q.empty_target)
        elif q.max_length and len(rt.waiting) >= q.max_length:
            refusal = (ExitReason.FULL, q.full_target)
        if refusal is not None:
            reason, target = refusal
            self._callers.pop(caller.call, None)
            if target.kind is TargetKind.QUEUE and hops < len(self._queues):
                caller.queue = target.name
                self._join(caller, self._queues[target.name], now, hops + 1)
            else:
                dest = target if target.kind is not TargetKind.QUEUE else Target(TargetKind.HANGUP)
                self._out.append(CallerExited(caller.call, q.number, reason, dest))
            return
        self._callers[caller.call] = caller
        if caller.only_agent not in rt.members:
            caller.only_agent = ""  # overflowed where that agent is not: any agent will do
        caller.queue = q.number
        caller.queue_entry_time = now
        caller.requirements = merge_requirements(q.requirements, caller.extra_requirements)
        rt.waiting.add(caller)
        rt.offered += 1
        position = rt.waiting.position(caller, now)
        if hops == 0:
            caller.original_position = position
        caller.ewt_at_entry_s = self.estimated_wait(caller.call, now)
        self._log(
            QueueLogEntry(
                now,
                E.ENTERQUEUE,
                q.number,
                caller.call,
                data=("", caller.caller_number, str(position)),
            )
        )
        if q.max_wait_s > 0:
            self._timer(now + q.max_wait_s, Timer.MAX_WAIT, caller.call, q.number)
        widen = next_widening(q, caller, now)
        if widen is not None:
            self._timer(widen, Timer.WIDEN, caller.call, q.number)
        self._dirty.add(q.number)

    def _log_exit(self, caller: Caller, event: QueueLogEvent, now: float, *extra: str) -> None:
        rt = self._queues[caller.queue]
        position = rt.waiting.position(caller, now)
        self._log(
            QueueLogEntry(
                now,
                event,
                caller.queue,
                caller.call,
                wait_s=now - caller.entry_time,
                data=(*extra, str(position), str(caller.original_position)),
            )
        )

    def _remove(self, caller: Caller) -> None:
        self._queues[caller.queue].waiting.remove(caller)
        self._callers.pop(caller.call, None)

    def _cancel_all_offers(self, caller: Caller, now: float) -> None:
        for number in list(caller.offers):
            agent = self._agents[number]
            self._out.append(CancelOffer(caller.call, number))
            self._end_offer(caller, agent, now, OfferEnd.CANCEL)

    def _leave(self, caller: Caller, reason: ExitReason, target: Target, now: float) -> None:
        """The caller leaves its queue for `target`; another queue keeps its entry time."""
        self._cancel_all_offers(caller, now)
        old = caller.queue
        self._remove(caller)
        if target.kind is TargetKind.QUEUE:
            caller.state = CallerState.WAITING
            self._out.append(CallerMoved(caller.call, old, target.name))
            self._join(caller, self._queues[target.name], now, hops=1)
        else:
            self._out.append(CallerExited(caller.call, old, reason, target))

    def _caller_gone(self, caller: Caller, now: float) -> None:
        call = caller.call
        if caller.state in ON_THE_LINE:
            for number in list(caller.offers):
                self._log(QueueLogEntry(now, E.RINGCANCELED, caller.queue, call, number))
            self._cancel_all_offers(caller, now)
            self._log_exit(caller, E.ABANDON, now)
            self._queues[caller.queue].abandoned += 1
            self._remove(caller)
        elif caller.state is CallerState.CONNECTED:
            self._complete(caller, E.COMPLETECALLER, now)
        elif caller.state is CallerState.CALLBACK_DIALING:
            self._callback_failed(caller, now)
        # A callback entry waiting or ringing its agent has no leg: the hang-up is the
        # caller leaving after asking for the callback, and changes nothing.

    def _complete(self, caller: Caller, event: QueueLogEvent, now: float, *data: str) -> None:
        rt = self._queues[caller.queue]
        talk = now - caller.connected_at
        agent = self._agents[caller.agent] if caller.agent is not None else None
        self._log(
            QueueLogEntry(
                now,
                event,
                caller.queue,
                caller.call,
                agent.number if agent else caller.answered_by,
                wait_s=caller.connected_at - caller.entry_time,
                talk_s=talk,
                data=(*data, str(caller.original_position)),
            )
        )
        self._callers.pop(caller.call, None)
        if agent is None:
            return
        agent.calls_answered += 1
        agent.talk_time_s += talk
        agent.last_call_end = now
        rt.rate.record(talk + rt.config.wrap_up_s)
        self._end_agent_call(agent, rt.config, now)

    def _end_agent_call(self, agent: Agent, queue: QueueConfig, now: float) -> None:
        if agent.pending_pause is not None:
            reason, agent.pending_pause = agent.pending_pause, None
            self._set_state(agent, AgentTrigger.HANGUP_PAUSED, now, reason)
            self._log(QueueLogEntry(now, E.PAUSE, NO_QUEUE, agent=agent.number, data=(reason,)))
            self._check_empty(agent, now)
        elif queue.wrap_up_s > 0:
            self._set_state(agent, AgentTrigger.HANGUP, now)
            agent.wrap_up_until = now + queue.wrap_up_s
            self._timer(agent.wrap_up_until, Timer.WRAP_UP, agent.number)
            self._log(
                QueueLogEntry(
                    now, E.WRAPUPSTART, queue.number, agent=agent.number,
                    data=(f"{queue.wrap_up_s:g}",),
                )
            )  # fmt: skip
        else:
            self._set_state(agent, AgentTrigger.HANGUP_NO_WRAP_UP, now)

    def _offer(self, caller: Caller, candidates: list[Candidate], now: float) -> None:
        rt = self._queues[caller.queue]
        ctx = SelectionContext(now=now, queue=caller.queue, rng=self.rng, memory=rt.memory)
        chosen = rt.strategy.select(candidates, ctx)
        mode = rt.strategy.mode
        ring = chosen if mode is RingMode.ALL else chosen[:1]
        if mode is RingMode.PROGRESSIVE:
            caller.offer_order = [c.agent.number for c in chosen[1:]]
            if caller.offer_order:
                caller.next_progressive = now + rt.config.progressive_step_s
                self._timer(caller.next_progressive, Timer.PROGRESSIVE, caller.call)
        caller.offered_at = now
        for candidate in ring:
            self._ring(caller, candidate.agent, now)

    def _ring(self, caller: Caller, agent: Agent, now: float) -> None:
        q = self._queues[caller.queue].config
        caller.state = next_caller_state(caller.state, CallerTrigger.OFFER, caller.call)
        self._set_state(agent, AgentTrigger.OFFER, now)
        agent.call, agent.call_queue = caller.call, caller.queue
        deadline = now + q.ring_timeout_s
        caller.offers[agent.number] = deadline
        self._timer(deadline, Timer.RING, caller.call, agent.number)
        self._out.append(
            OfferCall(
                caller.call,
                agent.number,
                caller.queue,
                caller.caller_number if not caller.callback_number else caller.callback_number,
                q.ring_timeout_s,
                callback=caller.state is CallerState.CALLBACK_OFFERED,
            )
        )

    def _offered(self, call: str, agent_number: str) -> tuple[Caller, Agent]:
        caller = self._caller(call)
        agent = self._agent(agent_number)
        if agent_number not in caller.offers:
            raise InvalidRequest(f"call {call} is not ringing agent {agent_number}")
        return caller, agent

    def _connect(self, caller: Caller, rt: QueueRuntime, agent_number: str, now: float) -> None:
        caller.connected_at = now
        rt.answered += 1
        wait = now - caller.entry_time
        ring = now - caller.offered_at
        self._log(
            QueueLogEntry(
                now, E.CONNECT, caller.queue, caller.call, agent_number, wait_s=wait,
                data=(f"{wait:.0f}", "", f"{ring:.0f}"),
            )
        )  # fmt: skip
        self._out.append(ConnectAgent(caller.call, agent_number, caller.queue))

    def _end_offer(
        self, caller: Caller, agent: Agent, now: float, end: OfferEnd, *, change_agent: bool = True
    ) -> None:
        """One agent stops ringing for `caller`; the caller keeps its place in the queue."""
        q = self._queues[caller.queue].config
        del caller.offers[agent.number]
        if end is not OfferEnd.CANCEL:
            ring_ms = (now - caller.offered_at) * 1000
            self._log(
                QueueLogEntry(
                    now, E.RINGNOANSWER, caller.queue, caller.call, agent.number,
                    data=(f"{ring_ms:.0f}", end.value),
                )
            )  # fmt: skip
        if change_agent:
            delay = {
                OfferEnd.NO_ANSWER: q.no_answer_delay_s,
                OfferEnd.REJECT: q.reject_delay_s,
                OfferEnd.BUSY: q.busy_delay_s,
                OfferEnd.CANCEL: 0.0,
            }[end]
            if end is OfferEnd.NO_ANSWER:
                agent.consecutive_no_answers += 1
            limit = q.max_no_answer
            if end is OfferEnd.NO_ANSWER and limit and agent.consecutive_no_answers >= limit:
                self._set_state(agent, AgentTrigger.NO_ANSWER_LIMIT, now, NO_ANSWER_REASON)
                self._log(
                    QueueLogEntry(
                        now, E.PAUSE, NO_QUEUE, agent=agent.number, data=(NO_ANSWER_REASON,)
                    )
                )
                self._check_empty(agent, now)
            else:
                agent.available_at = now + delay
                self._set_state(agent, AgentTrigger.OFFER_ENDED, now)
        if not caller.offers and caller.state in OFFERING:
            caller.offer_order, caller.next_progressive = [], None
            caller.state = next_caller_state(caller.state, CallerTrigger.OFFERS_ENDED, caller.call)
        self._dirty.add(caller.queue)

    def _callback_failed(self, caller: Caller, now: float) -> None:
        rt = self._queues[caller.queue]
        policy = rt.config.callback
        agent = self._agents[caller.agent] if caller.agent is not None else None
        self._log(
            QueueLogEntry(
                now, E.CALLBACKFAILED, caller.queue, caller.call, caller.agent or "",
                wait_s=now - caller.entry_time, data=(str(caller.callback_attempts),),
            )
        )  # fmt: skip
        caller.state = next_caller_state(caller.state, CallerTrigger.CALLBACK_FAILED, caller.call)
        caller.agent = None
        if agent is not None:
            self._out.append(EndCallback(caller.call, agent.number))
            # Nobody was talked to: no wrap-up, and the failure is not the agent's.
            pending, agent.pending_pause = agent.pending_pause, None
            self._set_state(agent, AgentTrigger.HANGUP_NO_WRAP_UP, now)
            if pending is not None:
                self._set_state(agent, AgentTrigger.PAUSE, now, pending)
                self._log(
                    QueueLogEntry(now, E.PAUSE, NO_QUEUE, agent=agent.number, data=(pending,))
                )
        if caller.callback_attempts > policy.retries:
            self._log(
                QueueLogEntry(
                    now, E.CALLBACKGIVEUP, caller.queue, caller.call,
                    wait_s=now - caller.entry_time, data=(str(caller.callback_attempts),),
                )
            )  # fmt: skip
            self._callers.pop(caller.call, None)
            return
        caller.not_before = now + policy.retry_delay_s
        rt.waiting.add(caller)  # same entry time and sequence: the same place
        self._timer(caller.not_before, Timer.RETRY, caller.call)
        self._dirty.add(caller.queue)

    def _heal_agent(self, agent: Agent, now: float) -> None:
        """An agent ringing or talking for a call the engine no longer has is freed."""
        caller = self._callers.get(agent.call) if agent.call is not None else None
        if agent.state is AgentState.OFFERED and (
            caller is None or agent.number not in caller.offers
        ):
            self._set_state(agent, AgentTrigger.OFFER_ENDED, now)
        elif agent.state is AgentState.ON_CALL and (caller is None or caller.agent != agent.number):
            self._set_state(agent, AgentTrigger.HANGUP_NO_WRAP_UP, now)

    def _ring_next(self, caller: Caller, rt: QueueRuntime, now: float) -> None:
        """Ring-progressively: one more agent rings, the earlier ones keep ringing."""
        requirements = widened_requirements(rt.config, caller, now)
        while caller.offer_order:
            number = caller.offer_order.pop(0)
            agent = self._agents[number]
            if number in rt.available and satisfies(agent, requirements):
                self._ring(caller, agent, now)
                break
        if caller.offer_order:
            caller.next_progressive = now + rt.config.progressive_step_s
            self._timer(caller.next_progressive, Timer.PROGRESSIVE, caller.call)
        else:
            caller.next_progressive = None

    def _best_in_queue(
        self, rt: QueueRuntime, now: float
    ) -> tuple[tuple[int, float, int], Caller, list[Candidate]] | None:
        """The first caller in service order that a free agent of this queue can take."""
        agents = self._agents
        available = [agents[n] for n in rt.available]
        for caller in rt.waiting.ordered(now):
            if caller.state not in READY_FOR_OFFER or caller.not_before > now:
                continue
            requirements = widened_requirements(rt.config, caller, now)
            candidates = [
                Candidate(a, rt.members[a.number])
                for a in available
                if satisfies(a, requirements)
                and (not caller.only_agent or a.number == caller.only_agent)
            ]
            if candidates:
                return service_key(rt.config, caller, now), caller, candidates
        return None

    def _dispatch(self, now: float) -> None:
        """Offer callers to free agents until no pair matches: across all queues a free agent
        is in, the caller served first is the highest priority, then the longest waiting."""
        names = list(self._queues) if self.dispatch_all else sorted(self._dirty)
        self._dirty.clear()
        queues = [self._queues[n] for n in names if len(self._queues[n].waiting)]
        while True:
            best: tuple[tuple[int, float, int], Caller, list[Candidate]] | None = None
            for rt in queues:
                if not rt.available:
                    continue
                found = self._best_in_queue(rt, now)
                if found is not None and (best is None or found[0] < best[0]):
                    best = found
            if best is None:
                break
            self._offer(best[1], best[2], now)
