"""Live queue and agent figures over a chosen interval, computed from the ACD's own events.

Asterisk's counters only grow until reset and Wazo recomputes every six hours; this keeps one
record per decided call, so any window (last 15 / 30 / 60 minutes, today) is a sum over it.
Pure: it is fed `QueueLogEntry` and `AgentStateChanged` events, and `now` comes in as an
argument; "today" starts at `day_start(now)`, which the caller injects (local midnight).

Counting rule (stated in the README): a call counts in the interval in which its fate in the
queue is decided — answered (CONNECT), abandoned (ABANDON), or sent on (timeout, key, empty,
callback request, a supervisor's move); a caller still waiting counts as offered once it has
waited longer than the service-level threshold, as Cisco UCCE's "service level calls offered"
does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Final

from softswitch.acd.agent import AgentState
from softswitch.acd.events import AgentStateChanged, QueueLogEntry, QueueLogEvent

E = QueueLogEvent
DAY_S: Final = 86400.0
DEFAULT_SERVICE_LEVEL_S: Final = 20.0  # the 80/20 rule's T
DEFAULT_SHORT_ABANDON_S: Final = 5.0  # Cisco's default "abandoned call wait"

_SENT_ON: Final = frozenset(
    {E.EXITWITHTIMEOUT, E.EXITWITHKEY, E.EXITEMPTY, E.CALLBACKREQUEST, E.CALLBACKGIVEUP}
)
_COMPLETED: Final = frozenset({E.COMPLETECALLER, E.COMPLETEAGENT, E.TRANSFER})


class AbandonTreatment(StrEnum):
    """The three ways Cisco UCCE lets abandons within T weigh on the service level."""

    IGNORE = "ignore"  # answered<=T / (offered - abandoned<=T)
    AGAINST = "against"  # answered<=T / offered  (the default: the strictest figure)
    IN_FAVOUR = "in-favour"  # (answered<=T + abandoned<=T) / offered


class Interval(Enum):
    """The windows a wallboard switches between; the value is the length in seconds."""

    LAST_15_MIN = 900.0
    LAST_30_MIN = 1800.0
    LAST_60_MIN = 3600.0
    TODAY = DAY_S

    @property
    def label(self) -> str:
        return "today" if self is Interval.TODAY else f"last {self.value / 60:.0f} min"


@dataclass(frozen=True)
class StatisticsSettings:
    """Per queue: the service-level threshold T, the short-abandon threshold S, the treatment."""

    service_level_s: float = DEFAULT_SERVICE_LEVEL_S
    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S
    abandon_treatment: AbandonTreatment = AbandonTreatment.AGAINST


class Outcome(Enum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    SHORT_ABANDONED = "short abandoned"
    SENT_ON = "sent on"  # overflow, exit key, leave-empty, callback request


@dataclass(frozen=True)
class _Decided:
    time: float
    outcome: Outcome
    wait_s: float


@dataclass(frozen=True)
class _Handled:
    time: float
    talk_s: float


@dataclass(frozen=True)
class _WrapUp:
    time: float  # when it ended
    duration_s: float


@dataclass(frozen=True)
class QueueFigures:
    """What a wallboard shows for one queue over one interval; rates are None when 0/0."""

    queue: str
    interval: Interval
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    answered_within: int
    abandoned_within: int
    service_level: float | None
    asa_s: float | None
    aht_s: float | None
    abandon_rate: float | None
    answer_rate: float | None
    waiting: int
    longest_wait_s: float
    agents_by_state: Mapping[str, int]  # "ready", "on call", "not ready: lunch", ...


@dataclass(frozen=True)
class AgentFigures:
    """One agent's state and its figures since `day_start`."""

    agent: str
    state: AgentState
    reason: str
    since: float
    call: str | None
    calls_handled: int
    talk_s: float
    wrap_up_s: float


@dataclass
class _AgentLive:
    state: AgentState = AgentState.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    call: str | None = None
    wrap_up_queue: str = ""
    handled: list[_Handled] = field(default_factory=list)
    wrap_ups: list[_WrapUp] = field(default_factory=list)


@dataclass
class _QueueLive:
    settings: StatisticsSettings
    members: set[str] = field(default_factory=set)
    waiting: dict[str, float] = field(default_factory=dict)  # call -> original entry time
    decided: list[_Decided] = field(default_factory=list)
    handled: list[_Handled] = field(default_factory=list)
    wrap_ups: list[_WrapUp] = field(default_factory=list)


def utc_day_start(now: float) -> float:
    """Midnight UTC before `now`: the default start of "today"."""
    return now - now % DAY_S


def agent_state_label(state: AgentState, reason: str) -> str:
    """The wallboard's bucket: not-ready agents are counted per reason."""
    if state is AgentState.NOT_READY:
        return f"not ready: {reason}" if reason else "not ready"
    return str(state.value)


class QueueStatistics:
    """Figures per queue and per agent, kept current from ACD events."""

    def __init__(
        self,
        settings: Mapping[str, StatisticsSettings],
        members: Mapping[str, Iterable[str]],
        day_start: Callable[[float], float] = utc_day_start,
    ) -> None:
        self._day_start = day_start
        self._queues = {q: _QueueLive(s) for q, s in settings.items()}
        self._agents: dict[str, _AgentLive] = {}
        for queue, agents in members.items():
            live = self._queue(queue)
            for agent in agents:
                live.members.add(agent)
                self._agents.setdefault(agent, _AgentLive())
        # An overflow logs EXITWITHTIMEOUT then ENTERQUEUE at the same instant; the new queue
        # keeps the original entry time (CALLCENTRE: "longest wait").
        self._moving: dict[str, tuple[float, float]] = {}  # call -> (exit time, entry time)

    @property
    def queues(self) -> list[str]:
        return sorted(self._queues)

    def _queue(self, queue: str) -> _QueueLive:
        live = self._queues.get(queue)
        if live is None:
            live = self._queues[queue] = _QueueLive(StatisticsSettings())
        return live

    def _agent(self, agent: str) -> _AgentLive:
        return self._agents.setdefault(agent, _AgentLive())

    def feed(self, event: QueueLogEntry | AgentStateChanged) -> set[str]:
        """Take one event; returns the queues whose figures it changed."""
        if isinstance(event, AgentStateChanged):
            return self._agent_changed(event)
        return self._logged(event)

    def _agent_changed(self, ev: AgentStateChanged) -> set[str]:
        live = self._agent(ev.agent)
        if live.state is AgentState.WRAP_UP and live.wrap_up_queue:
            wrap = _WrapUp(ev.at, ev.at - live.since)
            live.wrap_ups.append(wrap)
            self._queue(live.wrap_up_queue).wrap_ups.append(wrap)
            live.wrap_up_queue = ""
        live.state, live.reason, live.since = ev.new, ev.reason, ev.at
        if ev.new not in (AgentState.OFFERED, AgentState.ON_CALL):
            live.call = None
        return {q for q, ql in self._queues.items() if ev.agent in ql.members}

    def _logged(self, ev: QueueLogEntry) -> set[str]:
        if ev.event is E.ENTERQUEUE:
            moving = self._moving.pop(ev.call, None)
            entry = moving[1] if moving is not None and moving[0] == ev.time else ev.time
            self._queue(ev.queue).waiting[ev.call] = entry
            return {ev.queue}
        if ev.event is E.CONNECT:
            live = self._queue(ev.queue)
            # A callback's CONNECT is not counted: its fate was decided at CALLBACKREQUEST.
            if live.waiting.pop(ev.call, None) is not None:
                live.decided.append(_Decided(ev.time, Outcome.ANSWERED, ev.wait_s))
            self._agent(ev.agent).call = ev.call
            return {ev.queue}
        if ev.event is E.ABANDON:
            live = self._queue(ev.queue)
            if live.waiting.pop(ev.call, None) is None:
                return set()
            short = ev.wait_s < live.settings.short_abandon_s
            outcome = Outcome.SHORT_ABANDONED if short else Outcome.ABANDONED
            live.decided.append(_Decided(ev.time, outcome, ev.wait_s))
            return {ev.queue}
        # TRANSFER of a caller still waiting is a supervisor's move to another queue.
        moved = ev.event is E.TRANSFER and ev.call in self._queue(ev.queue).waiting
        if ev.event in _SENT_ON or moved:
            live = self._queue(ev.queue)
            if live.waiting.pop(ev.call, None) is not None:
                live.decided.append(_Decided(ev.time, Outcome.SENT_ON, ev.wait_s))
            self._moving = {c: m for c, m in self._moving.items() if m[0] == ev.time}
            self._moving[ev.call] = (ev.time, ev.time - ev.wait_s)
            return {ev.queue}
        if ev.event in _COMPLETED:
            handled = _Handled(ev.time, ev.talk_s)
            self._queue(ev.queue).handled.append(handled)
            if ev.agent:
                self._agent(ev.agent).handled.append(handled)
            return {ev.queue}
        if ev.event is E.WRAPUPSTART and ev.agent:
            self._agent(ev.agent).wrap_up_queue = ev.queue
        return set()

    def prune(self, now: float) -> None:
        """Forget records no interval can reach any more (before today and the last hour)."""
        horizon = min(self._day_start(now), now - Interval.LAST_60_MIN.value)
        for q in self._queues.values():
            q.decided = [d for d in q.decided if d.time >= horizon]
            q.handled = [h for h in q.handled if h.time >= horizon]
            q.wrap_ups = [w for w in q.wrap_ups if w.time >= horizon]
        for a in self._agents.values():
            a.handled = [h for h in a.handled if h.time >= horizon]
            a.wrap_ups = [w for w in a.wrap_ups if w.time >= horizon]

    def _next_day_start(self, now: float) -> float:
        """The next midnight; a local day may last 23 or 25 hours (DST)."""
        start = self._day_start(now + DAY_S)
        return start if start > now else self._day_start(now + 1.5 * DAY_S)

    def window_start(self, interval: Interval, now: float) -> float:
        if interval is Interval.TODAY:
            return self._day_start(now)
        return now - float(interval.value)

    def figures(self, queue: str, interval: Interval, now: float) -> QueueFigures:
        live = self._queue(queue)
        t, s = live.settings.service_level_s, live.settings.short_abandon_s
        since = self.window_start(interval, now)
        decided = [d for d in live.decided if d.time >= since]
        answered = [d for d in decided if d.outcome is Outcome.ANSWERED]
        abandoned = [d for d in decided if d.outcome is Outcome.ABANDONED]
        short = sum(1 for d in decided if d.outcome is Outcome.SHORT_ABANDONED)
        sent_on = sum(1 for d in decided if d.outcome is Outcome.SENT_ON)
        # Callers still waiting past T have already missed the service level.
        overdue = sum(1 for entry in live.waiting.values() if now - entry > t and entry >= since)
        offered = len(answered) + len(abandoned) + sent_on + overdue
        answered_within = sum(1 for d in answered if d.wait_s <= t)
        abandoned_within = sum(1 for d in abandoned if s <= d.wait_s <= t)
        treatment = live.settings.abandon_treatment
        if treatment is AbandonTreatment.IGNORE:
            sl = _ratio(answered_within, offered - abandoned_within)
        elif treatment is AbandonTreatment.IN_FAVOUR:
            sl = _ratio(answered_within + abandoned_within, offered)
        else:
            sl = _ratio(answered_within, offered)
        handled = [h for h in live.handled if h.time >= since]
        wrap_s = sum(w.duration_s for w in live.wrap_ups if w.time >= since)
        by_state: dict[str, int] = {}
        for number in sorted(live.members):
            agent = self._agent(number)
            if agent.state is not AgentState.LOGGED_OUT:
                label = agent_state_label(agent.state, agent.reason)
                by_state[label] = by_state.get(label, 0) + 1
        return QueueFigures(
            queue=queue,
            interval=interval,
            offered=offered,
            answered=len(answered),
            abandoned=len(abandoned),
            short_abandoned=short,
            answered_within=answered_within,
            abandoned_within=abandoned_within,
            service_level=sl,
            asa_s=_mean(sum(d.wait_s for d in answered), len(answered)),
            aht_s=_mean(sum(h.talk_s for h in handled) + wrap_s, len(handled)),
            abandon_rate=_ratio(len(abandoned), offered),
            answer_rate=_ratio(len(answered), offered),
            waiting=len(live.waiting),
            longest_wait_s=max((now - e for e in live.waiting.values()), default=0.0),
            agents_by_state=by_state,
        )

    def next_change(self, queue: str, now: float) -> float | None:
        """The next instant at which time alone may change `queue`'s figures (None: not
        before the next event): a record leaving a window or a waiting caller passing the
        service-level threshold T (just after the instant), or midnight for "today". Before
        it every figure but `longest_wait_s` (which grows with the clock) stays what it is at
        `now`, so an adapter pushes figures at these instants instead of polling."""
        live = self._queue(queue)
        t = live.settings.service_level_s
        records = [
            *(d.time for d in live.decided),
            *(h.time for h in live.handled),
            *(w.time for w in live.wrap_ups),
        ]
        instants: list[float] = []
        for interval in (Interval.LAST_15_MIN, Interval.LAST_30_MIN, Interval.LAST_60_MIN):
            length = float(interval.value)
            inside = [r for r in records if r >= now - length]
            if inside:
                instants.append(min(inside) + length)  # the oldest record leaves the window
            overdue = [e for e in live.waiting.values() if now - e > t and e >= now - length]
            if overdue:
                instants.append(min(overdue) + length)  # an overdue caller leaves the window
        instants.extend(e + t for e in live.waiting.values() if now - e <= t)
        if records or live.waiting:
            instants.append(self._next_day_start(now))
        return min(instants) if instants else None

    def waiting(self, queue: str, now: float) -> list[tuple[str, float]]:
        """The callers waiting in `queue` and their wait so far, longest first."""
        entries = sorted(self._queue(queue).waiting.items(), key=lambda kv: kv[1])
        return [(call, now - entry) for call, entry in entries]

    def agent(self, agent: str, now: float) -> AgentFigures:
        live = self._agent(agent)
        since = self._day_start(now)
        handled = [h for h in live.handled if h.time >= since]
        wrap_s = sum(w.duration_s for w in live.wrap_ups if w.time >= since)
        if live.state is AgentState.WRAP_UP:
            wrap_s += now - max(live.since, since)  # the wrap-up under way counts too
        return AgentFigures(
            agent=agent,
            state=live.state,
            reason=live.reason,
            since=live.since,
            call=live.call,
            calls_handled=len(handled),
            talk_s=sum(h.talk_s for h in handled),
            wrap_up_s=wrap_s,
        )

    @property
    def agents(self) -> list[str]:
        return sorted(self._agents)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None
