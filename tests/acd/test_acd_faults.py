"""Fault injection: random sequences of call events, vanished legs and restarts never leave an
agent stuck offered or on a call, or a caller stuck queued; the fast dispatch agrees with the
simple one; a restored snapshot carries on exactly as the original."""

from __future__ import annotations

import json
import random

from acd.helpers import agent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.acd import snapshot
from softswitch.acd.agent import AgentState
from softswitch.acd.caller import ON_THE_LINE, QUEUED, READY_FOR_OFFER, CallerState
from softswitch.acd.engine import Engine
from softswitch.acd.errors import InvalidRequest
from softswitch.acd.events import AcdEvent
from softswitch.acd.model import (
    AcdConfig,
    CallbackPolicy,
    EmptyPolicy,
    QueueConfig,
    Requirement,
    Target,
    TargetKind,
    WideningRule,
)
from softswitch.acd.queue import satisfies, widened_requirements

CONFIG = AcdConfig(
    queues=(
        QueueConfig(
            number="600",
            strategy="longest-idle",
            requirements=(Requirement("sales", 5),),
            widening=(WideningRule(20, 2), WideningRule(40, 0)),
            wrap_up_s=5,
            max_wait_s=90,
            overflow=Target(TargetKind.QUEUE, "601"),
            exit_keys=(("1", Target(TargetKind.VOICEMAIL, "600")),),
            callback=CallbackPolicy(retries=1, retry_delay_s=10, dial_timeout_s=15),
            max_no_answer=2,
            ring_timeout_s=10,
        ),
        QueueConfig(
            number="601",
            strategy="ring-all",
            wrap_up_s=0,
            leave_empty=EmptyPolicy.NO_READY,
            ring_timeout_s=8,
            priority_step_s=15,
        ),
        QueueConfig(
            number="602",
            strategy="ring-progressively",
            progressive_step_s=3,
            ring_timeout_s=12,
            max_length=4,
            reject_delay_s=4,
            busy_delay_s=6,
            max_wait_s=60,
            overflow=Target(TargetKind.QUEUE, "600"),
        ),
    ),
    agents=(
        agent("1001", "600", skills={"sales": 8}),
        agent("1002", "600", "601", skills={"sales": 3}),
        agent("1003", "600", "601", "602", skills={"sales": 6, "support": 4}),
        agent("1004", "601", "602", skills={"support": 9}),
        agent("1005", "602"),
    ),
)
AGENTS = [a.number for a in CONFIG.agents]
QUEUES = [q.number for q in CONFIG.queues]

CALL_OPS = [
    "answer", "no-answer", "reject", "busy", "hangup", "agent-hangup", "vanish", "key",
    "callback", "cb-answer", "cb-fail", "transfer",
]  # fmt: skip
live_op = st.one_of(
    st.tuples(
        st.sampled_from(["login", "logout", "pause", "ready", "direct+", "direct-", "agent-gone"]),
        st.integers(0, 4),
    ),
    st.tuples(st.just("enqueue"), st.integers(0, 2), st.integers(0, 9)),
    st.tuples(st.sampled_from(CALL_OPS), st.integers(0, 20)),
    st.tuples(st.just("advance"), st.floats(0.1, 30)),
)
# Built without .filter: filtering restarts out tripped hypothesis's filter health check.
op = st.one_of(live_op, st.tuples(st.just("restart"), st.just(0)))


class Driver:
    """A call layer in memory: carries out nothing but picks valid targets for each op."""

    def __init__(self, dispatch_all: bool = False) -> None:
        self.engine = Engine(CONFIG, rng=random.Random(7), dispatch_all=dispatch_all)
        self.now = 0.0
        self.calls = 0
        self.events: list[AcdEvent] = []
        for number in AGENTS:  # start staffed: the interesting states come sooner
            self.engine.login(number, 0.0)

    def _pick(self, items: list[str], k: int) -> str | None:
        return sorted(items)[k % len(items)] if items else None

    def step(self, operation: tuple[object, ...]) -> None:
        e, kind, arg = self.engine, operation[0], operation[1]
        self.now += 0.01
        now = self.now
        deadline = e.next_deadline()
        if deadline is not None and deadline <= now:
            # The adapter's timer fires at the deadline, before any later call event.
            self.events += e.handle_timer(now)
        callers = e.callers()
        try:
            if kind in ("login", "logout", "pause", "ready", "direct+", "direct-", "agent-gone"):
                number = AGENTS[int(arg)]  # type: ignore[call-overload]
                method = {
                    "login": e.login,
                    "logout": e.logout,
                    "ready": e.ready,
                    "direct+": e.direct_call_started,
                    "direct-": e.direct_call_ended,
                    "agent-gone": e.agent_vanished,
                }.get(str(kind))
                if kind == "pause":
                    self.events += e.pause(number, "break", now)
                else:
                    assert method is not None
                    self.events += method(number, now)
            elif kind == "enqueue":
                self.calls += 1
                self.events += e.enqueue(
                    f"c{self.calls}",
                    QUEUES[int(arg)],
                    now,
                    priority=int(operation[2]),  # type: ignore[call-overload]
                )
            elif kind == "advance":
                self.now += float(arg)  # type: ignore[arg-type]
                self.events += e.handle_timer(self.now)
            elif kind == "restart":
                self.restart()
            else:
                self._call_op(str(kind), int(arg), callers, now)  # type: ignore[call-overload]
        except InvalidRequest:
            # Only requests the state really forbids may be refused.
            assert kind in ("login", "logout", "pause", "ready", "transfer"), operation

    def _call_op(self, kind: str, k: int, callers: list, now: float) -> None:
        e = self.engine
        ringing = [f"{c.call}|{a}" for c in callers for a in c.offers]
        by_state = lambda *states: [c.call for c in callers if c.state in states]  # noqa: E731
        if kind in ("answer", "no-answer", "reject", "busy"):
            pair = self._pick(ringing, k)
            if pair is not None:
                call, number = pair.split("|")
                method = {
                    "answer": e.agent_answered,
                    "no-answer": e.agent_no_answer,
                    "reject": e.agent_rejected,
                    "busy": e.agent_busy,
                }[kind]
                self.events += method(call, number, now)
            return
        targets = {
            "hangup": [c.call for c in callers],
            "agent-hangup": by_state(CallerState.CONNECTED, CallerState.CALLBACK_DIALING),
            "vanish": [c.call for c in callers],
            "key": by_state(*ON_THE_LINE),
            "callback": by_state(*ON_THE_LINE),
            "cb-answer": by_state(CallerState.CALLBACK_DIALING),
            "cb-fail": by_state(CallerState.CALLBACK_DIALING),
            "transfer": by_state(CallerState.CONNECTED),
        }[kind]
        call = self._pick(targets, k)
        if call is None:
            return
        if kind == "hangup":
            self.events += e.caller_hung_up(call, now)
        elif kind == "agent-hangup":
            self.events += e.agent_hung_up(call, now)
        elif kind == "vanish":
            self.events += e.call_vanished(call, now)
        elif kind == "key":
            self.events += e.caller_pressed(call, "1", now)
        elif kind == "callback":
            self.events += e.request_callback(call, "5550000", now)
        elif kind == "cb-answer":
            self.events += e.callback_answered(call, now)
        elif kind == "cb-fail":
            self.events += e.callback_failed(call, now)
        else:
            self.events += e.transferred(call, "500", now)

    def restart(self) -> None:
        """Snapshot through JSON, rebuild, and reconcile with the legs that survived (all)."""
        data = json.loads(json.dumps(snapshot.dump(self.engine)))
        rng = self.engine.rng
        self.engine = snapshot.restore(
            CONFIG, data, self.now, rng=rng, dispatch_all=self.engine.dispatch_all
        )
        live = [c.call for c in self.engine.callers()]
        self.events += self.engine.reconcile(live, self.now)


def check_invariants(e: Engine, now: float) -> None:
    callers = {c.call: c for c in e.callers()}
    ringing_agents: dict[str, str] = {}
    for c in callers.values():
        for number, deadline in c.offers.items():
            assert number not in ringing_agents, f"agent {number} offered twice at once"
            ringing_agents[number] = c.call
            assert deadline > now - 1e-9 or e.next_deadline() is not None
        if c.state in (CallerState.OFFERED, CallerState.CALLBACK_OFFERED):
            assert c.offers, f"{c.call} offered to nobody"
        else:
            assert not c.offers, f"{c.call} {c.state} still rings {c.offers}"
        in_queue = c in e.waiting_in_order(c.queue, now)
        assert in_queue == (c.state in QUEUED), (c.call, c.state)
        if c.state in (CallerState.CONNECTED, CallerState.CALLBACK_DIALING):
            assert c.agent is not None
            a = e.agent(c.agent)
            assert a.state is AgentState.ON_CALL and a.call == c.call
    for a in e.agents():
        if a.state is AgentState.OFFERED:
            assert ringing_agents.get(a.number) == a.call, f"agent {a.number} stuck offered"
        else:
            assert a.number not in ringing_agents
        if a.state is AgentState.ON_CALL:
            c = callers.get(a.call or "")
            assert c is not None and c.agent == a.number, f"agent {a.number} stuck on a call"
    # Nothing left to match: no waiting caller that a free agent could take.
    for q in CONFIG.queues:
        free = [
            e.agent(a.number)
            for a in CONFIG.agents
            if any(m.queue == q.number for m in a.memberships)
            and e.agent(a.number).is_available(now)
        ]
        for c in e.waiting_in_order(q.number, now):
            if c.state in READY_FOR_OFFER and c.not_before <= now:
                reqs = widened_requirements(q, c, now)
                assert not [a.number for a in free if satisfies(a, reqs)], (c.call, q.number)


def drain(d: Driver) -> None:
    """Every leg goes away and every agent pauses: nothing may stay stuck."""
    e = d.engine
    d.now += 1
    e.reconcile([], d.now)
    for a in e.agents():
        if a.state in (AgentState.READY, AgentState.OFFERED, AgentState.WRAP_UP):
            e.pause(a.number, "break", d.now)
    for _ in range(100):
        deadline = e.next_deadline()
        if deadline is None:
            break
        d.now = max(d.now, deadline)
        e.handle_timer(d.now)
        check_invariants(e, d.now)
    for a in e.agents():
        assert a.state not in (AgentState.OFFERED, AgentState.ON_CALL), a
    for c in e.callers():
        assert c.state not in ON_THE_LINE and c.state is not CallerState.CONNECTED, c


def _run(ops: list[tuple[object, ...]]) -> None:
    d = Driver()
    for operation in ops:
        d.step(operation)
        check_invariants(d.engine, d.now)
    drain(d)


# Random again (a fixed seed hid the refused-log-in case below for a round); long runs of ops,
# since the stuck cases need an agent's delay, a timer and a refused request to line up.
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=10, max_size=150))
def test_no_agent_or_caller_is_ever_stuck(ops: list[tuple[object, ...]]) -> None:
    _run(ops)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(live_op, min_size=1, max_size=60))
def test_fast_dispatch_agrees_with_the_simple_one(ops: list[tuple[object, ...]]) -> None:
    fast, simple = Driver(), Driver(dispatch_all=True)
    for operation in ops:
        fast.step(operation)
        simple.step(operation)
        assert fast.events == simple.events


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(live_op, min_size=1, max_size=40),
    st.lists(live_op, min_size=1, max_size=40),
)
def test_a_restored_snapshot_carries_on_like_the_original(
    before: list[tuple[object, ...]], after: list[tuple[object, ...]]
) -> None:
    original = Driver()
    for operation in before:
        original.step(operation)
    state = random.Random(0).getstate()
    original.engine.rng.setstate(state)
    data = json.loads(json.dumps(snapshot.dump(original.engine)))
    copy = Driver()
    copy.now, copy.calls = original.now, original.calls
    copy.engine = snapshot.restore(CONFIG, data, original.now, rng=random.Random())
    copy.engine.rng.setstate(state)
    original.events, copy.events = [], []
    for operation in after:
        original.step(operation)
        copy.step(operation)
    assert copy.events == original.events


def test_a_refused_login_leaves_a_delayed_agent_offerable() -> None:
    """Found by the property: 1005 rejects (reject delay 4 s), then logs in again while ready.
    The refused log-in had reset its `available_at`, so its delay timer was no longer live and
    it never rejoined queue 602's free agents: caller c1 waited with 1005 free."""
    _run([("logout", 2), ("logout", 3), ("enqueue", 2, 0), ("reject", 0), ("login", 4)])
