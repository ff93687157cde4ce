"""Staffing simulator: the real engine on a fake clock with Poisson arrivals, exponential
handle times and (optionally) exponential patience.

Operators size a team with it (`softswitch simulate`); the tests use it to check the engine
against Erlang C. Agents answer `answer_delay_s` after they are offered a call (0: at once).
The first `warmup_fraction` of the callers only fill the system and are not measured.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from softswitch.acd.engine import Engine
from softswitch.acd.events import AcdEvent, ConnectAgent, OfferCall, QueueLogEntry, QueueLogEvent
from softswitch.acd.model import AcdConfig, AgentConfig, Membership, QueueConfig

E = QueueLogEvent
OfferObserver = Callable[[Engine, OfferCall, float], None]


@dataclass(frozen=True)
class Measured:
    """The simulated figures, defined as `erlang.Prediction`'s."""

    probability_of_wait: float
    service_level: float
    average_speed_of_answer_s: float
    abandon_rate: float
    occupancy: float
    offered: int
    ewt_mean_error_s: float  # mean of (EWT at entry − actual wait), answered callers
    ewt_mean_abs_error_s: float
    ewt_callers: int  # answered callers who had to wait (the EWT sample)
    batches: list[dict[str, float]] = field(default_factory=list)  # per-batch figures


@dataclass
class _Caller:
    entered: float
    measured: bool
    ewt: float | None
    wait: float | None = None  # set when connected
    abandoned: bool = False


def single_queue_config(agents: int, ring_timeout_s: float = 3600.0) -> AcdConfig:
    """One FIFO queue and `agents` identical agents: the Erlang C model."""
    queue = QueueConfig(
        number="sim",
        strategy="longest-idle",
        ring_timeout_s=ring_timeout_s,
        max_no_answer=0,
        reject_delay_s=0,
        busy_delay_s=0,
        wrap_up_s=0,
    )
    members = tuple(
        AgentConfig(number=f"a{i:04d}", memberships=(Membership("sim", position=i),))
        for i in range(agents)
    )
    return AcdConfig(queues=(queue,), agents=members)


class Simulation:
    """One run: `arrival_rates` maps queue -> calls per second."""

    def __init__(
        self,
        config: AcdConfig,
        arrival_rates: dict[str, float],
        handle_time_s: float,
        *,
        patience_s: float | None = None,
        service_level_s: float = 20.0,
        calls: int = 10_000,
        seed: int = 1,
        answer_delay_s: float = 0.0,
        warmup_fraction: float = 0.05,
        batches: int = 20,
        observer: OfferObserver | None = None,
    ) -> None:
        self.engine = Engine(config, rng=random.Random(seed))
        self.rng = random.Random(seed + 1)
        self.arrival_rates = arrival_rates
        self.handle_time_s = handle_time_s
        self.patience_s = patience_s
        self.sl_s = service_level_s
        self.calls = calls
        self.answer_delay_s = answer_delay_s
        self.warmup = int(calls * warmup_fraction)
        self.batches = batches
        self.observer = observer
        self.now = 0.0
        self._heap: list[tuple[float, int, str, str, str]] = []
        self._seq = 0
        self._callers: dict[str, _Caller] = {}
        self._busy = 0  # agents connected to a caller
        self._busy_area = 0.0  # ∫ busy agents dt over the measured window
        self._window: tuple[float, float] | None = None
        self.offers_at_once_violations = 0
        self._ringing: dict[str, str] = {}  # agent -> call

    def _push(self, when: float, kind: str, call: str = "", agent: str = "") -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, kind, call, agent))

    def _advance(self, when: float) -> None:
        if self._window is not None and self._window[1] == math.inf:
            self._busy_area += self._busy * (when - self.now)
        self.now = when

    def run(self) -> Measured:
        for record in self.engine.agents():
            self.engine.login(record.number, 0.0)
        queues = list(self.arrival_rates)
        total_rate = sum(self.arrival_rates.values())
        weights = [self.arrival_rates[q] for q in queues]
        self._push(self.rng.expovariate(total_rate), "arrival")
        arrived = 0
        while self._heap or self.engine.next_deadline() is not None:
            deadline = self.engine.next_deadline()
            if self._heap and (deadline is None or self._heap[0][0] <= deadline):
                when, _, kind, call, agent = heapq.heappop(self._heap)
                self._advance(when)
                if kind == "arrival":
                    arrived += 1
                    if arrived == self.warmup + 1:
                        self._window = (self.now, math.inf)
                    queue = queues[0] if len(queues) == 1 else self.rng.choices(queues, weights)[0]
                    self._arrive(f"call{arrived}", queue, measured=arrived > self.warmup)
                    if arrived < self.calls:
                        self._push(self.now + self.rng.expovariate(total_rate), "arrival")
                    elif self._window is not None:
                        self._window = (self._window[0], self.now)
                elif kind == "answer":
                    if self._ringing.get(agent) == call:
                        self._handle(self.engine.agent_answered(call, agent, self.now))
                elif kind == "hangup":
                    self._handle(self.engine.caller_hung_up(call, self.now))
                elif kind == "abandon":
                    caller = self._callers.get(call)
                    if caller is not None and caller.wait is None:
                        self._handle(self.engine.caller_hung_up(call, self.now))
            else:
                assert deadline is not None
                self._advance(deadline)
                self._handle(self.engine.handle_timer(self.now))
        return self._measure()

    def _arrive(self, call: str, queue: str, measured: bool) -> None:
        out = self.engine.enqueue(call, queue, self.now)
        entry = self.engine.caller(call)
        self._callers[call] = _Caller(
            self.now, measured, entry.ewt_at_entry_s if entry is not None else None
        )
        if self.patience_s is not None:
            self._push(self.now + self.rng.expovariate(1 / self.patience_s), "abandon", call)
        self._handle(out)

    def _handle(self, events: list[AcdEvent]) -> None:
        pending = list(events)
        while pending:
            event = pending.pop(0)
            if isinstance(event, OfferCall):
                if event.agent in self._ringing:
                    self.offers_at_once_violations += 1
                self._ringing[event.agent] = event.call
                if self.observer is not None:
                    self.observer(self.engine, event, self.now)
                if self.answer_delay_s > 0:
                    self._push(self.now + self.answer_delay_s, "answer", event.call, event.agent)
                else:
                    pending += self.engine.agent_answered(event.call, event.agent, self.now)
            elif isinstance(event, ConnectAgent):
                self._ringing.pop(event.agent, None)
                self._busy += 1
                talk = self.rng.expovariate(1 / self.handle_time_s)
                self._push(self.now + talk, "hangup", event.call)
            elif isinstance(event, QueueLogEntry):
                self._log(event)
            elif type(event).__name__ == "CancelOffer":
                self._ringing.pop(getattr(event, "agent", ""), None)

    def _log(self, entry: QueueLogEntry) -> None:
        caller = self._callers.get(entry.call)
        if caller is None:
            return
        if entry.event is E.CONNECT:
            caller.wait = entry.wait_s
        elif entry.event is E.ABANDON:
            caller.abandoned = True
            caller.wait = entry.wait_s
        elif entry.event is E.COMPLETECALLER:
            self._busy -= 1

    def _measure(self) -> Measured:
        measured = [c for c in self._callers.values() if c.measured]
        figures = _figures(measured, self.sl_s)
        start, end = self._window if self._window is not None else (0.0, 0.0)
        agents = len(self.engine.agents())
        occupancy = self._busy_area / (agents * (end - start)) if end > start else 0.0
        size = max(1, len(measured) // self.batches)
        batches = [
            _figures(measured[i : i + size], self.sl_s)
            for i in range(0, size * self.batches, size)
            if measured[i : i + size]
        ]
        errors = [
            c.ewt - c.wait
            for c in measured
            if not c.abandoned and c.wait is not None and c.ewt is not None and c.wait > 0
        ]
        return Measured(
            probability_of_wait=figures["probability_of_wait"],
            service_level=figures["service_level"],
            average_speed_of_answer_s=figures["average_speed_of_answer_s"],
            abandon_rate=figures["abandon_rate"],
            occupancy=occupancy,
            offered=len(measured),
            ewt_mean_error_s=sum(errors) / len(errors) if errors else 0.0,
            ewt_mean_abs_error_s=sum(abs(x) for x in errors) / len(errors) if errors else 0.0,
            ewt_callers=len(errors),
            batches=batches,
        )


def _figures(callers: list[_Caller], sl_s: float) -> dict[str, float]:
    offered = len(callers)
    if not offered:
        return dict.fromkeys(
            ("probability_of_wait", "service_level", "average_speed_of_answer_s", "abandon_rate"),
            0.0,
        )
    answered = [c for c in callers if not c.abandoned and c.wait is not None]
    waited = sum(1 for c in callers if c.wait is None or c.wait > 0 or c.abandoned)
    return {
        "probability_of_wait": waited / offered,
        "service_level": sum(1 for c in answered if c.wait is not None and c.wait <= sl_s)
        / offered,
        "average_speed_of_answer_s": (
            sum(c.wait or 0.0 for c in answered) / len(answered) if answered else 0.0
        ),
        "abandon_rate": sum(1 for c in callers if c.abandoned) / offered,
    }
