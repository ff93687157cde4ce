"""The call centre as the API sees it: `api.centre.CentreControl` over the ACD engine.

Reads come from the engine (who waits, in which order) and from `acd.statistics` (figures);
commands step the engine and hand what it returns to `apply`, the same path the phone's
feature codes take, so an API pause and a `*47` pause are one thing. A refusal is the engine's
`AcdError` (404 unknown, 409 not in this state), which the API turns into the HTTP status.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from softswitch.acd.agent import AgentState
from softswitch.acd.engine import Engine
from softswitch.acd.errors import InvalidRequest, UnknownEntity
from softswitch.acd.events import AcdEvent
from softswitch.acd.model import AcdConfig, AgentConfig, QueueConfig
from softswitch.acd.statistics import (
    AbandonTreatment,
    AgentFigures,
    Interval,
    QueueFigures,
    QueueStatistics,
    StatisticsSettings,
)


@dataclass(frozen=True)
class Waiting:
    call: str
    caller_number: str
    wait_s: float
    position: int


def statistics_for(acd: AcdConfig) -> QueueStatistics:
    """Figures for every configured queue, with each queue's thresholds."""
    settings = {
        q.number: StatisticsSettings(
            q.service_level_s, q.short_abandon_s, AbandonTreatment(q.abandon_treatment)
        )
        for q in acd.queues
    }
    members: dict[str, list[str]] = {q.number: [] for q in acd.queues}
    for agent in acd.agents:
        for membership in agent.memberships:
            members.setdefault(membership.queue, []).append(agent.number)
    return QueueStatistics(settings, members)


class EngineCentre:
    """CentreControl over one engine and its statistics; `apply` carries out events."""

    def __init__(
        self,
        acd: AcdConfig,
        engine: Engine,
        statistics: QueueStatistics,
        clock: Callable[[], float],
        apply: Callable[[Iterable[AcdEvent]], None],
    ) -> None:
        self._acd = acd
        self._engine = engine
        self._statistics = statistics
        self._clock = clock
        self._apply = apply
        self._queues = {q.number: q for q in acd.queues}
        self._agents = {a.number: a for a in acd.agents}

    def now(self) -> float:
        return self._clock()

    def agent_numbers(self) -> list[str]:
        return sorted(self._agents)

    def agent_figures(self, agent: str) -> AgentFigures:
        self._known_agent(agent)
        figures = self._statistics.agent(agent, self._clock())
        # The engine's record knows the call from the offer on, before CONNECT is logged.
        return dataclasses.replace(figures, call=self._engine.agent(agent).call)

    def agent_queues(self, agent: str) -> list[str]:
        return [m.queue for m in self._known_agent(agent).memberships]

    def login(self, agent: str) -> None:
        self._apply(self._engine.login(agent, self._clock()))

    def logout(self, agent: str) -> None:
        self._apply(self._engine.logout(agent, self._clock()))

    def pause(self, agent: str, reason: str) -> None:
        self._apply(self._engine.pause(agent, reason, self._clock()))

    def ready(self, agent: str) -> None:
        self._apply(self._engine.ready(agent, self._clock()))

    def end_wrap_up(self, agent: str) -> None:
        state = self._engine.agent(agent).state
        if state is not AgentState.WRAP_UP:
            raise InvalidRequest(f"agent {agent} is not in wrap-up but {state.value}")
        self.ready(agent)

    def queue_numbers(self) -> list[str]:
        return sorted(self._queues)

    def queue_name(self, queue: str) -> str:
        return self._known_queue(queue).name

    def queue_members(self, queue: str) -> list[str]:
        self._known_queue(queue)
        return [a.number for a in self._acd.agents if any(m.queue == queue for m in a.memberships)]

    def queue_figures(self, queue: str, interval: Interval) -> QueueFigures:
        self._known_queue(queue)
        return self._statistics.figures(queue, interval, self._clock())

    def waiting_callers(self, queue: str) -> list[Waiting]:
        self._known_queue(queue)
        now = self._clock()
        return [
            Waiting(c.call, c.caller_number, now - c.entry_time, position)
            for position, c in enumerate(self._engine.waiting_in_order(queue, now), start=1)
        ]

    def move_caller(self, call: str, queue: str) -> None:
        self._apply(self._engine.move_caller(call, queue, self._clock()))

    def caller_to_head(self, call: str) -> None:
        self._apply(self._engine.to_head(call, self._clock()))

    def _known_agent(self, agent: str) -> AgentConfig:
        try:
            return self._agents[agent]
        except KeyError:
            raise UnknownEntity(f"no agent {agent}") from None

    def _known_queue(self, queue: str) -> QueueConfig:
        try:
            return self._queues[queue]
        except KeyError:
            raise UnknownEntity(f"no queue {queue}") from None
