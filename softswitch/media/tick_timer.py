"""The asyncio adapter of `TickClock`: one `loop.call_at` re-armed for the clock's next deadline.

Its owner (the media engine) starts it, gets `on_ticks(TicksDue)` on the loop's thread each
time ticks fall due, and closes it at shutdown. The callback runs the ticks itself (decode,
mix, encode for `due.count` ticks in order); an exception in it is logged by the loop and the
timer stays armed, so one bad tick does not silence every call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from softswitch.media.tick import TickClock, TicksDue

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class TickTimerStats:
    wakeups: int = 0
    ticks: int = 0
    skipped: int = 0
    max_late_s: float = 0.0  # the latest a due tick started after its deadline


class TickTimer:
    """Calls `on_ticks` when 20 ms ticks fall due, from the loop's clock."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_ticks: Callable[[TicksDue], None],
        clock: TickClock | None = None,
    ) -> None:
        self._loop = loop
        self._on_ticks = on_ticks
        self.clock = clock if clock is not None else TickClock(origin=loop.time())
        self.stats = TickTimerStats()
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self._handle is None:
            self._arm()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    @property
    def running(self) -> bool:
        return self._handle is not None

    def _arm(self) -> None:
        self._handle = self._loop.call_at(self.clock.next_deadline(), self._fire)

    def _fire(self) -> None:
        now = self._loop.time()
        due = self.clock.on_time(now)
        stats = self.stats
        stats.wakeups += 1
        try:
            if due.count:
                stats.ticks += due.count
                stats.skipped += due.skipped
                stats.max_late_s = max(stats.max_late_s, now - self.clock.deadline(due.first))
                self._on_ticks(due)
        finally:
            if self._handle is not None:
                self._arm()
