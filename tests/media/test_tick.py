"""The 20 ms tick clock with a fake clock (no drift, late wake-ups) and its asyncio adapter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import uvloop

from softswitch.media.tick import TICK_S, TickClock, TicksDue
from softswitch.media.tick_timer import TickTimer


def test_no_drift_over_a_million_ticks_woken_late_every_time() -> None:
    origin = 12_345.678
    clock = TickClock(origin)
    rng = np.random.default_rng(1)
    lateness = rng.uniform(0.0, 0.015, size=1_000_000)  # every wake-up up to 15 ms late
    for ran, late in enumerate(lateness.tolist()):
        due = clock.on_time(clock.next_deadline() + late)
        assert due.first == ran and due.count == 1
    assert clock.next_tick == 1_000_000
    assert clock.skipped == 0
    # The millionth deadline is exactly where the origin puts it: nothing accumulated.
    assert clock.next_deadline() == origin + 1_000_000 * TICK_S
    assert abs(clock.next_deadline() - (origin + 20_000.0)) < 1e-8


def test_a_late_wake_up_runs_the_missed_ticks_in_order() -> None:
    clock = TickClock(100.0)
    assert clock.on_time(100.0).indices == range(0, 1)
    due = clock.on_time(100.0 + 3 * TICK_S + 0.005)  # ticks 1, 2 and 3 fell due
    assert (due.first, due.count, due.skipped) == (1, 3, 0)
    assert clock.next_deadline() == pytest.approx(100.0 + 4 * TICK_S)


def test_a_long_stall_skips_the_oldest_ticks_and_says_how_many() -> None:
    clock = TickClock(0.0, max_catch_up=10)
    clock.on_time(0.0)
    due = clock.on_time(1.0)  # ticks 1..50 are due; only the newest 10 run
    assert (due.first, due.count, due.skipped) == (41, 10, 40)
    assert clock.skipped == 40
    assert clock.on_time(1.0 + TICK_S).indices == range(51, 52)


def test_an_early_wake_up_runs_nothing_unless_within_the_tolerance() -> None:
    clock = TickClock(0.0, early_s=0.001)
    assert clock.on_time(-0.005).count == 0
    assert clock.on_time(-0.0005).indices == range(0, 1)  # 0.5 ms early counts as on time
    assert clock.on_time(TICK_S - 0.002).count == 0
    assert clock.next_tick == 1


def test_exact_deadlines_are_due_despite_rounding() -> None:
    # 0.1 + n * 0.02 is not exact in binary; waking at the computed deadline must run tick n.
    clock = TickClock(0.1, early_s=0.0)
    for n in range(10_000):
        due = clock.on_time(clock.deadline(n))
        assert due.indices == range(n, n + 1)


class FakeLoop:
    """call_at and time for TickTimer, stepped by hand."""

    def __init__(self) -> None:
        self.now = 50.0
        self.timers: list[tuple[float, Callable[[], None], Any]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Any:
        loop = self

        class Handle:
            def cancel(self) -> None:
                loop.timers = [t for t in loop.timers if t[2] is not self]

        handle = Handle()
        self.timers.append((when, callback, handle))
        return handle

    def run_until(self, until: float, late_s: float = 0.0) -> None:
        while self.timers and self.timers[0][0] <= until:
            when, callback, _ = self.timers.pop(0)
            self.now = when + late_s
            callback()


def test_the_adapter_rearms_one_timer_and_survives_a_failing_tick() -> None:
    loop = FakeLoop()
    seen: list[TicksDue] = []

    def on_ticks(due: TicksDue) -> None:
        seen.append(due)
        if due.first == 3:
            raise RuntimeError("a bug in one tick")

    timer = TickTimer(loop, on_ticks)  # type: ignore[arg-type]
    timer.start()
    assert len(loop.timers) == 1
    with pytest.raises(RuntimeError):
        loop.run_until(50.0 + 10 * TICK_S, late_s=0.001)
    assert len(loop.timers) == 1  # re-armed despite the exception
    loop.run_until(50.0 + 10 * TICK_S, late_s=0.001)
    assert [d.first for d in seen] == list(range(11))
    assert timer.stats.ticks == 11 and timer.stats.max_late_s == pytest.approx(0.001)
    timer.close()
    assert loop.timers == [] and not timer.running


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_the_adapter_on_a_real_loop_runs_every_tick_in_order(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def scenario() -> list[TicksDue]:
        loop = asyncio.get_running_loop()
        seen: list[TicksDue] = []
        enough = asyncio.Event()

        def on_ticks(due: TicksDue) -> None:
            seen.append(due)
            if sum(d.count + d.skipped for d in seen) >= 15:
                enough.set()

        timer = TickTimer(loop, on_ticks)
        timer.start()
        try:
            await asyncio.wait_for(enough.wait(), timeout=10.0)
        finally:
            timer.close()
        return seen

    loop = loop_factory()
    try:
        seen = loop.run_until_complete(scenario())
    finally:
        loop.close()
    ticks = [n for due in seen for n in range(due.first - due.skipped, due.first + due.count)]
    assert ticks == list(range(len(ticks)))
