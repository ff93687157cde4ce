"""What the console knows of the call centre: agents and queues, from snapshots and events.

Sans-IO like `state.py`: `load_agents`/`load_queues` take the API's lists after each
connection, `apply` also takes the pushed events agent_state_changed, queue_caller_joined,
queue_caller_left, queue_statistics and call_offered (the agent's screen pop), and says which
panes changed. Every change is
idempotent, so an event about something the snapshot already holds changes nothing twice.
Statistics arrive for every interval at once, so switching the wallboard's interval needs no
request. Malformed data raises `MalformedEvent`, which the caller counts and ignores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from softswitch.console.state import ConsoleState, MalformedEvent, Pane, Series, parse_time

INTERVALS: Final = ("15m", "30m", "60m", "today")


@dataclass(frozen=True, slots=True)
class AgentRow:
    agent: str
    state: str
    reason: str
    since: float | None
    call_id: int | None
    calls_handled: int
    talk_s: float
    wrap_up_s: float


@dataclass(frozen=True, slots=True)
class Offer:
    """A call offered to an agent, as `call_offered` tells it: the agent view's screen pop."""

    agent: str
    call_id: int | None
    queue: str
    caller: str
    at: float
    variables: tuple[tuple[str, str], ...]  # the IVR's, in name order
    screen_pop_url: str | None  # the queue's CRM page for this caller, when configured


def offer(data: Mapping[str, Any], at: float) -> Offer:
    variables = data.get("variables")
    if not isinstance(variables, Mapping):
        raise MalformedEvent("variables is not an object")
    url = data.get("screen_pop_url")
    if url is not None and not isinstance(url, str):
        raise MalformedEvent(f"screen_pop_url is not a string: {url!r}")
    return Offer(
        text(data, "agent"),
        _optional_int(data, "call_id"),
        text(data, "queue"),
        text(data, "caller"),
        at,
        tuple(sorted((str(k), str(v)) for k, v in variables.items())),
        url,
    )


@dataclass
class QueueRow:
    queue: str
    name: str = ""
    callers: dict[int, tuple[str, float]] = field(default_factory=dict)  # call -> number, joined
    heads: list[int] = field(default_factory=list)  # put at the head by this console, in order
    statistics: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # interval -> figures
    waiting_series: Series = field(default_factory=Series)
    service_level_series: Series = field(default_factory=Series)

    def longest_wait_s(self, now: float) -> int:
        return max((int(now - joined) for _, joined in self.callers.values()), default=0)


def text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise MalformedEvent(f"{key} is not a string: {value!r}")
    return value


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise MalformedEvent(f"{key} is not a number: {value!r}")
    return float(value)


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise MalformedEvent(f"{key} is not an integer: {value!r}")
    return value


def agent_row(data: Mapping[str, Any]) -> AgentRow:
    since = data.get("since")
    reason = data.get("reason")
    handled = data.get("calls_handled")
    if not isinstance(handled, int) or isinstance(handled, bool):
        raise MalformedEvent(f"calls_handled is not an integer: {handled!r}")
    return AgentRow(
        text(data, "agent"),
        text(data, "state"),
        reason if isinstance(reason, str) else "",
        None if since is None else parse_time(since),
        _optional_int(data, "call_id"),
        handled,
        _number(data, "talk_s"),
        _number(data, "wrap_up_s"),
    )


@dataclass
class CentreConsoleState(ConsoleState):
    """The console's model with the call centre's agents and queues beside calls and phones."""

    agents: dict[str, AgentRow] = field(default_factory=dict)
    queues: dict[str, QueueRow] = field(default_factory=dict)
    offers: dict[str, Offer] = field(default_factory=dict)  # agent -> its latest offer
    me: str | None = None  # the agent number of the console's user (agent mode), if any

    def serving_order(self, queue: str) -> list[int]:
        """The queue's callers as they will be served: those put at the head first, then the
        others; longest waiting first within each (the ACD's top priority, then entry time)."""
        row = self.queues[queue]
        by_wait = sorted(row.callers, key=lambda c: row.callers[c][1])
        return [c for c in by_wait if c in row.heads] + [c for c in by_wait if c not in row.heads]

    def to_head(self, call: int) -> set[Pane]:
        """`:head` has no event: the console marks what its command did (as `held`)."""
        for row in self.queues.values():
            if call in row.callers and call not in row.heads:
                row.heads.append(call)
                return {Pane.QUEUES}
        return set()

    def load_agents(self, items: Iterable[Mapping[str, Any]]) -> set[Pane]:
        rows = [self._parsed(agent_row, item) for item in items]
        self.agents = {row.agent: row for row in rows if row is not None}
        return {Pane.AGENTS}

    def load_queues(self, items: Iterable[Mapping[str, Any]], now: float) -> set[Pane]:
        try:
            self._load_queues(items, now)
        except MalformedEvent:
            self.ignored += 1
        return {Pane.QUEUES}

    def _load_queues(self, items: Iterable[Mapping[str, Any]], now: float) -> None:
        queues: dict[str, QueueRow] = {}
        for item in items:
            number = text(item, "queue")
            row = self.queues.get(number) or QueueRow(number)
            row.name = text(item, "name")
            callers = item.get("callers")
            if not isinstance(callers, list):
                raise MalformedEvent("callers is not a list")
            row.callers = {}
            for c in callers:
                call_id = _optional_int(c, "call_id")
                if call_id is not None:
                    row.callers[call_id] = (text(c, "caller"), now - _number(c, "wait_s"))
            statistics = item.get("statistics")
            if isinstance(statistics, Mapping):
                interval = text(statistics, "interval")
                row.statistics[interval] = statistics
            queues[number] = row
            self._record(row, now)
        self.queues = queues

    def _apply(self, name: str, timestamp: str, data: Mapping[str, Any], now: float) -> set[Pane]:
        if name == "call_offered":
            latest = offer(data, parse_time(timestamp))
            self.offers[latest.agent] = latest
            return {Pane.AGENTS}
        if name == "agent_state_changed":
            row = agent_row(data)
            self.agents[row.agent] = row
            return {Pane.AGENTS}
        if name in ("queue_caller_joined", "queue_caller_left", "queue_statistics"):
            queue = self.queues.setdefault(text(data, "queue"), QueueRow(text(data, "queue")))
            if name == "queue_caller_joined":
                call_id = _optional_int(data, "call_id")
                if call_id is not None and call_id not in queue.callers:
                    queue.callers[call_id] = (text(data, "caller"), parse_time(timestamp))
            elif name == "queue_caller_left":
                call_id = _optional_int(data, "call_id")
                if call_id is not None:
                    queue.callers.pop(call_id, None)
                    queue.heads = [c for c in queue.heads if c != call_id]
            else:
                intervals = data.get("intervals")
                if not isinstance(intervals, Mapping):
                    raise MalformedEvent("intervals is not an object")
                for interval in INTERVALS:
                    figures = intervals.get(interval)
                    if isinstance(figures, Mapping):
                        queue.statistics[interval] = figures
            self._record(queue, now)
            return {Pane.QUEUES}
        return super()._apply(name, timestamp, data, now)

    def _record(self, queue: QueueRow, now: float) -> None:
        queue.waiting_series.record(now, len(queue.callers))
        level = queue.statistics.get("15m", {}).get("service_level")
        if isinstance(level, int | float):
            queue.service_level_series.record(now, 100.0 * level)
