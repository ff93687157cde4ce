"""The call centre: the adapter between call legs and the pure ACD engine.

One `CallCentre` per switch owns one `acd.Engine`, driven with the wall clock, and one
`call_later` timer re-armed to the engine's `next_deadline()` after every step (the aioquic
adapter pattern the conventions name). What the engine decides is carried out on legs by the
queue application of each waiting caller (`QueueCall`, centre/queue_call.py: announcements,
music, the agents' phones rung, the caller joined to the one who answers). Legs that end (BYE,
media timeout, transaction timeout) and transfers become the matching engine events, so no
agent is left offered or on a call that is gone. Queue-log rows go to a `QueueLogSink` (the
store, in app.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from softswitch.acd import snapshot
from softswitch.acd.agent import AgentState
from softswitch.acd.engine import Engine
from softswitch.acd.errors import AcdError
from softswitch.acd.events import (
    AcdEvent,
    AgentStateChanged,
    CallbackKeyPressed,
    CallerExited,
    CallerMoved,
    CancelOffer,
    ConnectAgent,
    DialCallback,
    EndCallback,
    OfferCall,
    QueueLogEntry,
    QueueLogEvent,
)
from softswitch.acd.model import AcdConfig
from softswitch.acd.statistics import QueueStatistics
from softswitch.call_record import CallDirection, Side
from softswitch.calls.application import ApplicationRegistry, CallServices, Timer
from softswitch.calls.call import Call
from softswitch.calls.control import party_of
from softswitch.calls.leg import Leg, LegEnded, LegEvent
from softswitch.calls.player import PlayerShared
from softswitch.calls.routing import RouteTarget
from softswitch.centre.callback import CallbackRun, Resolver, ring_agent
from softswitch.centre.control import EngineCentre, statistics_for
from softswitch.centre.figures_timer import FiguresTimer
from softswitch.centre.queue_call import QueueCall
from softswitch.media.player import Clip, PlayItem
from softswitch.media.prompts import PromptLibrary, read_audio

log = logging.getLogger("softswitch.acd")
PRUNE_EVERY = 1000  # statistics events between two prunes of records no interval reaches


class QueueLogSink(Protocol):
    def write(self, entry: QueueLogEntry) -> None: ...


class OfferLatency(Protocol):
    """Told, per caller, the seconds from queue entry to its first agent INVITE sent."""

    def observe(self, amount: float) -> None: ...


class StateSink(Protocol):
    """Where the engine's snapshot goes, so that a restart carries on from it."""

    def save(self, state: dict[str, Any]) -> None: ...


class CentreListener(Protocol):
    """Told of every ACD event as it is carried out (the API's event stream is one), with the
    queues whose statistics it changed."""

    def acd_event(self, event: AcdEvent, changed_queues: set[str]) -> None: ...

    def statistics_changed(self, queues: set[str]) -> None:
        """Time alone changed these queues' figures (centre/figures_timer.py)."""


@dataclass
class QueueCounters:
    """Per queue, since start: what /metrics shows."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0


class CallCentre:
    """The ACD of one switch, carried out on legs; also a CallObserver of the signalling."""

    def __init__(
        self,
        acd: AcdConfig,
        prompts: PromptLibrary,
        sink: QueueLogSink,
        *,
        wall_clock: Callable[[], float] = time.time,
        language: str = "en",
    ) -> None:
        self.acd = acd
        self.engine = Engine(acd)
        self.shared = PlayerShared(prompts, language)
        self.sink = sink
        self.wall_clock = wall_clock
        self.registry: ApplicationRegistry | None = None
        self.services: CallServices | None = None
        self.calls: dict[str, QueueCall] = {}
        self.counters: dict[str, QueueCounters] = {q.number: QueueCounters() for q in acd.queues}
        self.agent_numbers = {a.number for a in acd.agents}
        self._direct: dict[int, list[str]] = {}  # call id -> agents on that direct call
        self._consulting: dict[Leg, str] = {}  # a `*2` to a queue: the transferor's leg, agent
        self._timer: Timer | None = None
        self._pending: list[AcdEvent] = []
        self._applying = False
        self._rung: set[int] = set()  # ids of pending OfferCalls already rung (_ring_ahead)
        self._moh: dict[str, list[PlayItem]] = {}  # by class, decoded once
        self.queue_configs = {q.number: q for q in acd.queues}
        self.statistics: QueueStatistics = statistics_for(acd)
        self.control = EngineCentre(acd, self.engine, self.statistics, wall_clock, self.apply)
        self.listeners: list[CentreListener] = []
        self._fed = 0
        self._touched: set[str] = set()  # queues whose figures this apply changed
        self.figures = FiguresTimer(self.statistics, wall_clock, self._call_later, self._timed)
        # Callbacks: where a number goes (the routing plan, wired by app.py), and the attempts
        # under way by the switch's own call id and by the engine's entry.
        self.resolve: Resolver = lambda number: None
        self._runs: dict[int, CallbackRun] = {}
        self._runs_by_key: dict[str, CallbackRun] = {}
        self._callback_variables: dict[str, dict[str, str]] = {}  # by the engine's entry
        self._originating = False
        self.offer_latency: OfferLatency | None = None  # /metrics, wired by app.py
        self.state_sink: StateSink | None = None
        self._state_dirty = False
        self._agents_changed = False

    def variables(self, call: str) -> dict[str, str]:
        """The IVR variables of a queue call, or of a callback waiting for its caller who hung
        up (its offer's screen pop shows what the caller keyed); empty once it is gone."""
        qc = self.calls.get(call)
        if qc is not None:
            return dict(qc.call.variables)
        return dict(self._callback_variables.get(call, {}))

    def keep_variables(self, key: str, variables: dict[str, str]) -> None:
        """A booked callback outlives its call: keep the caller's variables for its offers."""
        self._callback_variables[key] = dict(variables)

    # ---- factories for the registry ----------------------------------------------------
    def queue_call(self, target: RouteTarget, services: CallServices, call: Call) -> QueueCall:
        self.services = services
        return QueueCall(self, target.target, services, call)

    # ---- the engine, stepped -----------------------------------------------------------
    def step(self, method: Callable[..., list[AcdEvent]], *args: object) -> None:
        """Call an engine method with `now` last; carry out what it returns, then re-arm."""
        try:
            events = method(*args, self.wall_clock())
        except AcdError as exc:
            log.info("acd: %s%s refused: %s", method.__name__, args, exc)
            return
        self.apply(events)

    def apply(self, events: Iterable[AcdEvent]) -> None:
        self._pending.extend(events)
        if self._applying:
            return  # the outer loop carries them out, in order
        self._applying = True
        try:
            while self._pending:
                self._ring_ahead()
                self._carry_out(self._pending.pop(0))
        finally:
            self._applying = False
        # An agent's state is saved at once (a login must survive a crash); callers' moves
        # are saved by the owner's periodic `save_state_if_changed`.
        if self._agents_changed:
            self.save_state()
        else:
            self._state_dirty = True
        self._arm()
        touched, self._touched = self._touched, set()
        self.figures.changed(touched)
        if self.services is not None:
            self.services.flush()

    def _ring_ahead(self) -> None:
        """Ring the agents of the offers that only bookkeeping (queue-log rows, agent states)
        precedes, before that bookkeeping: the listeners' figures cost milliseconds, the
        INVITE should not wait for them. Nothing that touches a leg is passed over."""
        for event in list(self._pending):  # a ring that fails at once adds to it
            if isinstance(event, QueueLogEntry | AgentStateChanged):
                continue
            if not isinstance(event, OfferCall) or event.callback:
                return
            if id(event) not in self._rung:
                self._rung.add(id(event))  # until carried out, `_pending` holds it: a safe id
                qc = self.calls.get(event.call)
                if qc is not None:
                    qc.offer(event.agent)

    # ---- surviving a restart ---------------------------------------------------------------
    def save_state(self) -> None:
        self._agents_changed = self._state_dirty = False
        if self.state_sink is not None:
            self.state_sink.save(snapshot.dump(self.engine))

    def save_state_if_changed(self) -> None:
        if self._state_dirty:
            self.save_state()

    def recover(self, state: dict[str, Any], ended_at: float) -> int:
        """Carry on from the snapshot a previous run left: agents keep their login and pause,
        and every caller it held is gone with its leg (ended at `ended_at`, when that run was
        last alive), so its agent is freed and the queue log says how it left. Returns how
        many callers were lost. Run once, before any call, with `services` set (timers)."""
        engine = snapshot.restore(self.acd, state, ended_at)
        self.engine = engine
        self.control = EngineCentre(self.acd, engine, self.statistics, self.wall_clock, self.apply)
        for agent in engine.agents():
            if agent.state is not AgentState.LOGGED_OUT:
                self.statistics.feed(
                    AgentStateChanged(
                        agent.number, AgentState.LOGGED_OUT, agent.state, agent.reason, agent.since
                    )
                )
        held = len(engine.callers())
        self.apply(engine.reconcile((), ended_at))
        self.save_state()
        return held - len(engine.callers())

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.engine.next_deadline()
        if deadline is not None and self.services is not None:
            delay = max(0.0, deadline - self.wall_clock())
            self._timer = self.services.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.step(self.engine.handle_timer)

    def _call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer | None:
        # Figures exist only once a queue call came (which hands the services in); the loop's
        # own call_later covers a centre stepped before that (the API's agent commands), and
        # outside any loop (a centre stepped by hand) there is nothing to arm.
        if self.services is not None:
            return self.services.call_later(delay_s, callback)
        try:
            return asyncio.get_running_loop().call_later(delay_s, callback)
        except RuntimeError:
            return None

    def _timed(self, queues: set[str]) -> None:
        for listener in self.listeners:
            listener.statistics_changed(queues)

    def _carry_out(self, event: AcdEvent) -> None:
        changed: set[str] = set()
        if isinstance(event, AgentStateChanged):
            self._agents_changed = True
        if isinstance(event, QueueLogEntry | AgentStateChanged):
            changed = self.statistics.feed(event)
            self._touched |= changed
            self._fed += 1
            if self._fed % PRUNE_EVERY == 0:  # keep only what today and the last hour need
                self.statistics.prune(self.wall_clock())
        for listener in self.listeners:
            listener.acd_event(event, changed)
        if isinstance(event, QueueLogEntry):
            self._count(event)
            self.sink.write(event)
        elif isinstance(event, OfferCall) and event.callback:
            self._ring_for_callback(event)
        elif isinstance(event, OfferCall) and id(event) in self._rung:
            self._rung.discard(id(event))  # rung ahead of its bookkeeping
        elif isinstance(event, OfferCall):
            self._with_call(event.call, lambda qc: qc.offer(event.agent))
        elif isinstance(event, CancelOffer | EndCallback) and event.call in self._runs_by_key:
            if self._runs_by_key[event.call].agent == event.agent:
                self._runs_by_key[event.call].cancel()
        elif isinstance(event, CancelOffer):
            self._with_call(event.call, lambda qc: qc.cancel(event.agent))
        elif isinstance(event, DialCallback):
            if event.call in self._runs_by_key:
                self._runs_by_key[event.call].dial()
        elif isinstance(event, CallbackKeyPressed):
            self._with_call(event.call, lambda qc: qc.offer_callback(event.caller_number))
        elif isinstance(event, ConnectAgent):
            self._with_call(event.call, lambda qc: qc.connect(event.agent))
        elif isinstance(event, CallerExited):
            self._with_call(event.call, lambda qc: qc.exit(event))
        elif isinstance(event, CallerMoved):
            self._with_call(event.call, lambda qc: qc.moved(event.to_queue))
        elif isinstance(event, AgentStateChanged):
            log.info(
                "agent %s: %s -> %s %s", event.agent, event.old.value, event.new.value, event.reason
            )

    # ---- callbacks (centre/callback.py) --------------------------------------------------
    def _ring_for_callback(self, event: OfferCall) -> None:
        services = self.services
        if services is None:  # no queue call since start: the engine's ring timeout frees it
            log.warning("callback %s: no call services yet", event.call)
            return
        shared = self.shared
        services.spawn(ring_agent(self, services, shared, event.call, event.agent,
                                  event.caller_number, event.queue))  # fmt: skip

    def still_offered(self, key: str, agent: str) -> bool:
        caller = self.engine.caller(key)
        return caller is not None and agent in caller.offers

    @contextlib.contextmanager
    def originating(self) -> Iterator[None]:
        """A call the switch places for a callback is no direct call of its agent."""
        self._originating = True
        try:
            yield
        finally:
            self._originating = False

    def track_run(self, run: CallbackRun) -> None:
        self._runs[run.call.id] = run
        self._runs_by_key[run.key] = run

    def forget_run(self, run: CallbackRun) -> None:
        self._runs.pop(run.call.id, None)
        if self._runs_by_key.get(run.key) is run:
            del self._runs_by_key[run.key]
        if self.engine.caller(run.key) is None:  # done or given up: nothing more to offer
            self._callback_variables.pop(run.key, None)

    def _with_call(self, call: str, action: Callable[[QueueCall], None]) -> None:
        qc = self.calls.get(call)
        if qc is not None:
            action(qc)

    def _count(self, entry: QueueLogEntry) -> None:
        counters = self.counters.get(entry.queue)
        if counters is None:
            return
        if entry.event is QueueLogEvent.ENTERQUEUE:
            counters.offered += 1
        elif entry.event is QueueLogEvent.CONNECT:
            counters.answered += 1
        elif entry.event is QueueLogEvent.ABANDON:
            counters.abandoned += 1

    # ---- music on hold -----------------------------------------------------------------
    def moh(self, queue: str) -> list[PlayItem]:
        """The queue's music-on-hold class (`moh_class`, checked against the prompts at load)."""
        class_name = self.queue_configs[queue].moh_class
        items = self._moh.get(class_name)
        if items is None:
            tracks = self.shared.prompts.moh_tracks(class_name)
            items = self._moh[class_name] = [
                Clip(read_audio(t.read_bytes(), str(t))) for t in tracks
            ]
        return items

    # ---- CallObserver: how legs ending become engine events -----------------------------
    def call_started(self, call: Call) -> None:
        if call.direction is CallDirection.OUTBOUND and call.caller in self.agent_numbers:
            self._outbound(call)
        agents = {call.caller, call.callee} & self.agent_numbers
        if not agents or call.callee.startswith("*") or self._originating:
            return
        self._direct[call.id] = sorted(agents)
        for agent in sorted(agents):
            self.step(self.engine.direct_call_started, agent)

    def _outbound(self, call: Call) -> None:
        """An agent dials out through a trunk: its outbound queue's caller ID is presented, and
        the queue log marks the call OUTBOUND (data: the number dialled)."""
        agent = next(a for a in self.acd.agents if a.number == call.caller)
        queue = next((q for q in self.acd.queues if q.number == agent.outbound_queue), None)
        if queue is not None and queue.caller_id:
            call.outbound_caller_id = queue.caller_id
        entry = QueueLogEntry(
            self.wall_clock(),
            QueueLogEvent.OUTBOUND,
            queue=agent.outbound_queue,
            call=str(call.id),
            agent=agent.number,
            data=(call.callee,),
        )
        self.sink.write(entry)

    def call_answered(self, call: Call) -> None:
        run = self._runs.get(call.id)
        if run is not None:
            run.answered()

    def call_ended(self, call: Call) -> None:
        run = self._runs.get(call.id)
        if run is not None:
            self.forget_run(run)
            run.ended(call)
        qc = self.calls.pop(str(call.id), None)
        if qc is not None:
            qc.gone()
            key = str(call.id)
            if qc.connected_agent is not None and call.hangup_side is Side.CALLEE:
                self.step(self.engine.agent_hung_up, key)
            elif call.hangup_side is Side.CALLER:
                self.step(self.engine.caller_hung_up, key)
            else:  # media or transaction timeout, shutdown: the leg died without a BYE
                self.step(self.engine.call_vanished, key)
        for agent in self._direct.pop(call.id, []):
            self.step(self.engine.direct_call_ended, agent)
        for leg in call.legs:
            if leg in self._consulting:
                self.step(self.engine.direct_call_ended, self._consulting.pop(leg))

    def leg_attached(self, call: Call, leg: Leg, application: object) -> None:
        return

    def transferring(self, call: Call, transferor: Leg, target: str, kind: str) -> None:
        """A transfer hands the caller on: the agent's part ends (TRANSFER in the queue log)
        before the caller may join another queue under the same call id. The end of a `*2` to
        a queue changes nothing: the agent who answered it goes on with the caller."""
        key = str(call.id)
        qc = self.calls.get(key)
        if qc is not None and qc.consulting is transferor:
            qc.consulting = None
            return
        if qc is not None and qc.connected_agent is not None:
            del self.calls[key]
            qc.gone()
            self.step(self.engine.transferred, key, target)
        elif kind == "intercept":  # a direct call: the intercepted agent is off it now
            agents = self._direct.get(call.id, [])
            agent = party_of(call, transferor)
            if agent in agents:
                agents.remove(agent)
                self.step(self.engine.direct_call_ended, agent)

    def consulting_queue(self, call: Call, transferor: Leg, queue: str) -> None:
        """`*2` to a queue from a queue call (calls/consult_queue.py): the consulting agent's
        part ends now (TRANSFER), as the caller's entry joins `queue` under the same call id;
        until its leg ends the agent is busy on the phone, so nothing is offered to it."""
        key = str(call.id)
        qc = self.calls.get(key)
        if qc is None or qc.connected_agent is None:
            return
        agent = qc.connected_agent
        del self.calls[key]
        qc.gone()
        self.step(self.engine.transferred, key, queue)
        self._consulting[transferor] = agent
        self.step(self.engine.direct_call_started, agent)

    def leg_event(self, call: Call, event: LegEvent) -> None:
        if isinstance(event, LegEnded) and event.leg in self._consulting:
            self.step(self.engine.direct_call_ended, self._consulting.pop(event.leg))

    # ---- what /metrics and the live view read ------------------------------------------
    def waiting(self, queue: str) -> int:
        return len(self.engine.waiting_in_order(queue, self.wall_clock()))

    def longest_wait_s(self, queue: str) -> float:
        now = self.wall_clock()
        waits = [now - c.entry_time for c in self.engine.waiting_in_order(queue, now)]
        return max(waits, default=0.0)

    def queue_stats(self) -> list[tuple[str, int, float, int, int, int]]:
        rows = []
        for number, c in sorted(self.counters.items()):
            waiting, longest = self.waiting(number), self.longest_wait_s(number)
            rows.append((number, waiting, longest, c.offered, c.answered, c.abandoned))
        return rows

    def agents_by_state(self) -> dict[str, int]:
        counts = {state.value: 0 for state in AgentState}
        for agent in self.engine.agents():
            counts[agent.state.value] += 1
        return counts
