"""The ACD engine: queues, agents and offers, driven by call events with `now` passed in.

Each public method takes the time, changes state, and returns the events the call layer must
carry out (`events.py`). Timers are data: `next_deadline()` says when to call
`handle_timer(now)`. Nothing here reads a clock, sleeps or touches a socket.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from softswitch.acd.agent import AgentState, AgentTrigger, next_state
from softswitch.acd.caller import (
    OFFERING,
    ON_THE_LINE,
    QUEUED,
    Caller,
    CallerState,
    CallerTrigger,
)
from softswitch.acd.caller import next_state as next_caller_state
from softswitch.acd.core import (
    NO_QUEUE,
    EngineCore,
    OfferEnd,
    Timer,
    TimerEntry,
    merge_requirements,
)
from softswitch.acd.errors import InvalidRequest
from softswitch.acd.events import (
    AcdEvent,
    CallbackKeyPressed,
    CancelOffer,
    DialCallback,
    ExitReason,
    QueueLogEntry,
    QueueLogEvent,
)
from softswitch.acd.model import (
    MAX_PRIORITY,
    MIN_PRIORITY,
    Requirement,
    Target,
    TargetKind,
)
from softswitch.acd.queue import (
    next_widening,
)

E = QueueLogEvent


class Engine(EngineCore):
    """All queues and agents of one switch: the API the call layer drives."""

    def login(self, agent_number: str, now: float) -> list[AcdEvent]:
        self._begin()
        agent = self._agent(agent_number)
        # Refuse before changing anything: a refused log-in (already logged in) that had reset
        # `available_at` left a ready agent outside its queues' free sets, with its reject-delay
        # timer no longer live, so it was never offered a call again.
        next_state(agent.state, AgentTrigger.LOGIN, agent.number)
        agent.consecutive_no_answers = 0
        agent.available_at = now
        self._set_state(agent, AgentTrigger.LOGIN, now)
        self._log(QueueLogEntry(now, E.AGENTLOGIN, NO_QUEUE, agent=agent.number))
        return self._finish(now)

    def logout(self, agent_number: str, now: float) -> list[AcdEvent]:
        self._begin()
        agent = self._agent(agent_number)
        if agent.state is AgentState.ON_CALL:
            raise InvalidRequest(f"agent {agent_number} is on a call: log out when it ends")
        self._release_offer(agent, now)
        logged_in_s = now - agent.since
        self._set_state(agent, AgentTrigger.LOGOUT, now)
        self._log(
            QueueLogEntry(
                now, E.AGENTLOGOFF, NO_QUEUE, agent=agent.number, data=(f"{logged_in_s:.0f}",)
            )
        )
        self._check_empty(agent, now)
        return self._finish(now)

    def pause(self, agent_number: str, reason: str, now: float) -> list[AcdEvent]:
        """Not ready with `reason`; on a call it applies when the call (and wrap-up) ends."""
        self._begin()
        agent = self._agent(agent_number)
        if not reason:
            raise InvalidRequest("a not-ready reason is required")
        if agent.state is AgentState.ON_CALL:
            agent.pending_pause = reason
            return self._finish(now)
        self._release_offer(agent, now)
        self._set_state(agent, AgentTrigger.PAUSE, now, reason)
        self._log(QueueLogEntry(now, E.PAUSE, NO_QUEUE, agent=agent.number, data=(reason,)))
        self._check_empty(agent, now)
        return self._finish(now)

    def ready(self, agent_number: str, now: float) -> list[AcdEvent]:
        """Ready again: from not ready, from wrap-up (ending it early), or cancel a pending
        pause while on a call."""
        self._begin()
        agent = self._agent(agent_number)
        if agent.state is AgentState.ON_CALL:
            agent.pending_pause = None
            return self._finish(now)
        reason = agent.reason
        was_paused = agent.state is AgentState.NOT_READY
        if was_paused:
            agent.consecutive_no_answers = 0
        self._set_state(agent, AgentTrigger.READY, now)
        if was_paused:
            # The reason travels with UNPAUSE too (Asterisk #395 leaves it empty).
            self._log(QueueLogEntry(now, E.UNPAUSE, NO_QUEUE, agent=agent.number, data=(reason,)))
        return self._finish(now)

    def direct_call_started(self, agent_number: str, now: float) -> list[AcdEvent]:
        """The agent's phone is on a call that is not from a queue: offer it nothing."""
        self._begin()
        agent = self._agent(agent_number)
        agent.direct_calls += 1
        self._refresh(agent, now)
        return self._finish(now)

    def direct_call_ended(self, agent_number: str, now: float) -> list[AcdEvent]:
        self._begin()
        agent = self._agent(agent_number)
        agent.direct_calls = max(0, agent.direct_calls - 1)
        self._refresh(agent, now)
        return self._finish(now)

    def enqueue(
        self,
        call: str,
        queue: str,
        now: float,
        *,
        priority: int = 0,
        requirements: Iterable[Requirement] = (),
        caller_number: str = "",
        only_agent: str = "",
    ) -> list[AcdEvent]:
        """A caller joins `queue`; `priority` (0-9) and extra `requirements` come from the IVR,
        and `only_agent`: the caller waits for that agent of the queue alone (sent back to the
        agent it talked to)."""
        self._begin()
        if call in self._callers:
            raise InvalidRequest(f"call {call} is already in queue {self._callers[call].queue}")
        if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
            raise InvalidRequest(f"priority {priority} is outside {MIN_PRIORITY}-{MAX_PRIORITY}")
        rt = self._queue(queue)
        if only_agent and only_agent not in rt.members:
            raise InvalidRequest(f"agent {only_agent} is not in queue {queue}")
        extra = tuple(requirements)
        caller = Caller(
            call=call,
            queue=queue,
            priority=priority,
            entry_time=now,
            queue_entry_time=now,
            seq=self._next_seq(),
            requirements=merge_requirements(rt.config.requirements, extra),
            extra_requirements=extra,
            caller_number=caller_number,
            only_agent=only_agent,
        )
        self._join(caller, rt, now, hops=0)
        return self._finish(now)

    def caller_hung_up(self, call: str, now: float) -> list[AcdEvent]:
        """The caller's leg ended: an abandon while waiting, the end of a connected call."""
        self._begin()
        caller = self._callers.get(call)
        if caller is not None:  # else already gone: hang-ups may be reported twice
            self._caller_gone(caller, now)
        return self._finish(now)

    def agent_hung_up(self, call: str, now: float) -> list[AcdEvent]:
        """The agent's leg of a connected call ended."""
        self._begin()
        caller = self._callers.get(call)
        if caller is None:
            return self._finish(now)
        if caller.state is CallerState.CONNECTED:
            self._complete(caller, E.COMPLETEAGENT, now)
        elif caller.state is CallerState.CALLBACK_DIALING:
            self._callback_failed(caller, now)
        return self._finish(now)

    def transferred(self, call: str, target: str, now: float) -> list[AcdEvent]:
        """The agent transferred the connected caller elsewhere: the agent's part is over."""
        self._begin()
        caller = self._caller(call)
        if caller.state is not CallerState.CONNECTED:
            raise InvalidRequest(f"call {call} is not connected to an agent")
        self._complete(caller, E.TRANSFER, now, target)
        return self._finish(now)

    def caller_pressed(self, call: str, digit: str, now: float) -> list[AcdEvent]:
        """A DTMF key from a waiting caller: an exit key leaves (or asks for a callback)."""
        self._begin()
        caller = self._callers.get(call)
        if caller is None or caller.state not in ON_THE_LINE:
            return self._finish(now)
        target = self._queues[caller.queue].config.exit_target(digit)
        if target is None:
            return self._finish(now)
        if target.kind is TargetKind.CALLBACK:
            # The queue application confirms the number with the caller, then calls
            # request_callback; until then the caller simply keeps waiting.
            self._out.append(CallbackKeyPressed(call, caller.queue, caller.caller_number))
            return self._finish(now)
        self._log_exit(caller, E.EXITWITHKEY, now, digit)
        self._leave(caller, ExitReason.KEY, target, now)
        return self._finish(now)

    def move_caller(self, call: str, queue: str, now: float) -> list[AcdEvent]:
        """A supervisor sends a waiting caller to another queue, keeping its original entry
        time (so its wait and its place by wait go with it); logged as TRANSFER."""
        self._begin()
        caller = self._waiting_caller(call)
        rt = self._queue(queue)
        if queue == caller.queue:
            raise InvalidRequest(f"call {call} is already in queue {queue}")
        self._log_exit(caller, E.TRANSFER, now, queue)
        self._leave(caller, ExitReason.KEY, Target(TargetKind.QUEUE, rt.config.number), now)
        return self._finish(now)

    def to_head(self, call: str, now: float) -> list[AcdEvent]:
        """A supervisor puts a waiting caller first: the highest priority (9), so it is served
        before every caller of lower priority; callers at 9 who waited longer stay ahead."""
        self._begin()
        caller = self._waiting_caller(call)
        rt = self._queues[caller.queue]
        rt.waiting.remove(caller)
        caller.priority = MAX_PRIORITY
        rt.waiting.add(caller)
        self._dirty.add(caller.queue)
        return self._finish(now)

    def _waiting_caller(self, call: str) -> Caller:
        caller = self._caller(call)
        if caller.state not in ON_THE_LINE:
            raise InvalidRequest(f"call {call} is not waiting ({caller.state.value})")
        return caller

    def agent_answered(self, call: str, agent_number: str, now: float) -> list[AcdEvent]:
        self._begin()
        caller, agent = self._offered(call, agent_number)
        for other in list(caller.offers):
            if other != agent_number:
                self._out.append(CancelOffer(call, other))
                self._end_offer(caller, self._agents[other], now, OfferEnd.CANCEL)
        caller.offers.clear()
        caller.offer_order, caller.next_progressive = [], None
        caller.state = next_caller_state(caller.state, CallerTrigger.ANSWER, call)
        self._set_state(agent, AgentTrigger.ANSWER, now)
        agent.call, agent.call_queue = call, caller.queue
        agent.consecutive_no_answers = 0
        caller.agent = agent_number
        rt = self._queues[caller.queue]
        rt.waiting.remove(caller)
        if caller.state is CallerState.CALLBACK_DIALING:
            caller.callback_attempts += 1
            caller.dial_deadline = now + rt.config.callback.dial_timeout_s
            self._timer(caller.dial_deadline, Timer.DIAL, call)
            self._log(
                QueueLogEntry(
                    now, E.CALLBACKATTEMPT, caller.queue, call, agent_number,
                    wait_s=now - caller.entry_time,
                    data=(caller.callback_number, str(caller.callback_attempts)),
                )
            )  # fmt: skip
            self._out.append(
                DialCallback(
                    call,
                    agent_number,
                    caller.queue,
                    caller.callback_number,
                    caller.callback_attempts,
                    rt.config.callback.dial_timeout_s,
                )
            )
        else:
            self._connect(caller, rt, agent_number, now)
        return self._finish(now)

    def picked_up(self, call: str, picker: str, now: float) -> list[AcdEvent]:
        """A phone took the call ringing an agent (`*8`, `**` + extension). The offers are
        withdrawn without counting as ring-no-answer, so the ringing agents are ready again.
        The picker is credited as the agent who answered when it is a logged-in agent of the
        queue (on call, then its wrap-up; a pause it had comes back after the call); any
        other phone answers for the queue: CONNECT and COMPLETE name its extension, no agent
        state changes."""
        self._begin()
        caller = self._caller(call)
        if caller.state is not CallerState.OFFERED:
            raise InvalidRequest(f"call {call} is not ringing an agent ({caller.state.value})")
        rt = self._queues[caller.queue]
        agent = self._agents.get(picker)
        credited = (
            agent is not None
            and picker in rt.members
            and agent.state not in (AgentState.LOGGED_OUT, AgentState.ON_CALL)
        )
        caller.state = next_caller_state(caller.state, CallerTrigger.ANSWER, call)
        for other in list(caller.offers):
            self._out.append(CancelOffer(call, other))
            self._end_offer(caller, self._agents[other], now, OfferEnd.CANCEL)
        caller.offer_order, caller.next_progressive = [], None
        rt.waiting.remove(caller)
        if credited and agent is not None:
            self._release_offer(agent, now)  # it rang for another caller: that one waits on
            if agent.state is AgentState.NOT_READY:
                agent.pending_pause = agent.reason
            self._set_state(agent, AgentTrigger.PICKUP, now)
            agent.call, agent.call_queue = call, caller.queue
            agent.consecutive_no_answers = 0
            caller.agent = picker
        else:
            caller.agent, caller.answered_by = None, picker
        self._connect(caller, rt, picker, now)
        return self._finish(now)

    def agent_no_answer(self, call: str, agent_number: str, now: float) -> list[AcdEvent]:
        return self._offer_failed(call, agent_number, now, OfferEnd.NO_ANSWER)

    def agent_rejected(self, call: str, agent_number: str, now: float) -> list[AcdEvent]:
        return self._offer_failed(call, agent_number, now, OfferEnd.REJECT)

    def agent_busy(self, call: str, agent_number: str, now: float) -> list[AcdEvent]:
        return self._offer_failed(call, agent_number, now, OfferEnd.BUSY)

    def _offer_failed(self, call: str, agent: str, now: float, end: OfferEnd) -> list[AcdEvent]:
        self._begin()
        caller, record = self._offered(call, agent)
        self._end_offer(caller, record, now, end)
        return self._finish(now)

    def request_callback(self, call: str, number: str, now: float) -> list[AcdEvent]:
        """The caller confirmed `number` and hangs up; the entry keeps its place."""
        self._begin()
        caller = self._caller(call)
        if caller.state not in ON_THE_LINE:
            raise InvalidRequest(f"call {call} is not waiting in a queue")
        if not number:
            raise InvalidRequest("a callback needs a number")
        self._cancel_all_offers(caller, now)
        caller.state = next_caller_state(caller.state, CallerTrigger.CALLBACK_REQUESTED, call)
        caller.callback_number = number
        self._log_exit(caller, E.CALLBACKREQUEST, now, number)
        self._dirty.add(caller.queue)
        return self._finish(now)

    def callback_answered(self, call: str, now: float) -> list[AcdEvent]:
        self._begin()
        caller = self._caller(call)
        caller.state = next_caller_state(caller.state, CallerTrigger.CALLBACK_ANSWERED, call)
        assert caller.agent is not None
        self._connect(caller, self._queues[caller.queue], caller.agent, now)
        return self._finish(now)

    def callback_failed(self, call: str, now: float) -> list[AcdEvent]:
        self._begin()
        caller = self._caller(call)
        if caller.state is not CallerState.CALLBACK_DIALING:
            raise InvalidRequest(f"call {call} is not dialling a callback")
        self._callback_failed(caller, now)
        return self._finish(now)

    def call_vanished(self, call: str, now: float) -> list[AcdEvent]:
        """The caller's leg died without a BYE (RTP or transaction timeout, restart)."""
        return self.caller_hung_up(call, now)

    def agent_vanished(self, agent_number: str, now: float) -> list[AcdEvent]:
        """The agent's leg died without a BYE: ringing counts as no answer, a call ends."""
        self._begin()
        agent = self._agent(agent_number)
        call = agent.call
        caller = self._callers.get(call) if call is not None else None
        if agent.state is AgentState.OFFERED and caller is not None:
            if agent_number in caller.offers:
                self._end_offer(caller, agent, now, OfferEnd.NO_ANSWER)
        elif agent.state is AgentState.ON_CALL and caller is not None:
            if caller.state is CallerState.CONNECTED:
                self._complete(caller, E.COMPLETEAGENT, now)
            elif caller.state is CallerState.CALLBACK_DIALING:
                self._callback_failed(caller, now)
        self._heal_agent(agent, now)
        return self._finish(now)

    def reconcile(self, live_calls: Iterable[str], now: float) -> list[AcdEvent]:
        """Forget every caller whose leg the call layer no longer has, free their agents.

        Run after a restart (state restored from a snapshot) and from the periodic sweep.
        Callback entries waiting for an agent have no leg and are kept.
        """
        self._begin()
        live = set(live_calls)
        for caller in list(self._callers.values()):
            if caller.call in live:
                continue
            if caller.state in ON_THE_LINE or caller.state in (
                CallerState.CONNECTED,
                CallerState.CALLBACK_DIALING,
            ):
                self._caller_gone(caller, now)
        for agent in self._agents.values():
            self._heal_agent(agent, now)
        return self._finish(now)

    def _timer_live(self, entry: TimerEntry) -> bool:
        when, _, key, other, kind = entry
        if kind in (Timer.WRAP_UP, Timer.AVAILABLE):
            agent = self._agents[key]
            if kind is Timer.WRAP_UP:
                return agent.state is AgentState.WRAP_UP and agent.wrap_up_until == when
            return agent.state is AgentState.READY and agent.available_at == when
        caller = self._callers.get(key)
        if caller is None:
            return False
        if kind is Timer.RING:
            return caller.offers.get(other) == when
        if kind is Timer.PROGRESSIVE:
            return caller.state in OFFERING and caller.next_progressive == when
        if caller.queue != other and kind in (Timer.MAX_WAIT, Timer.WIDEN):
            return False
        config = self._queues[caller.queue].config
        if kind is Timer.MAX_WAIT:
            return (
                caller.state in ON_THE_LINE and when == caller.queue_entry_time + config.max_wait_s
            )
        if kind is Timer.WIDEN:
            return caller.state in QUEUED and any(
                when == caller.queue_entry_time + rule.after_s for rule in config.widening
            )
        if kind is Timer.RETRY:
            return caller.state is CallerState.CALLBACK_WAITING and caller.not_before == when
        return caller.state is CallerState.CALLBACK_DIALING and caller.dial_deadline == when

    def next_deadline(self) -> float | None:
        """When `handle_timer` must next be called, or None when nothing is pending."""
        while self._timers and not self._timer_live(self._timers[0]):
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def handle_timer(self, now: float) -> list[AcdEvent]:
        self._begin()
        while self._timers and self._timers[0][0] <= now:
            entry = heapq.heappop(self._timers)
            if self._timer_live(entry):
                self._fire(entry, now)
        return self._finish(now)

    def _fire(self, entry: TimerEntry, now: float) -> None:
        _, _, key, other, kind = entry
        if kind is Timer.WRAP_UP:
            agent = self._agents[key]
            self._set_state(agent, AgentTrigger.WRAP_UP_END, now)
            return
        if kind is Timer.AVAILABLE:
            self._refresh(self._agents[key], now)
            return
        caller = self._callers[key]
        rt = self._queues[caller.queue]
        if kind is Timer.RING:
            self._out.append(CancelOffer(caller.call, other))
            self._end_offer(caller, self._agents[other], now, OfferEnd.NO_ANSWER)
        elif kind is Timer.PROGRESSIVE:
            self._ring_next(caller, rt, now)
        elif kind is Timer.MAX_WAIT:
            self._log_exit(caller, E.EXITWITHTIMEOUT, now)
            self._leave(caller, ExitReason.TIMEOUT, rt.config.overflow, now)
        elif kind is Timer.WIDEN:
            self._dirty.add(caller.queue)
            widen = next_widening(rt.config, caller, now)
            if widen is not None:
                self._timer(widen, Timer.WIDEN, caller.call, caller.queue)
        elif kind is Timer.RETRY:
            self._dirty.add(caller.queue)
        else:
            self._callback_failed(caller, now)
