"""The process's one 20 ms media clock, drift-free: tick n is due at origin + n * period.

Sans-IO: `next_deadline()` says when to be woken, `on_time(now)` says which ticks to run.
Deadlines are computed from the origin each time, never by adding periods to the last wake-up,
so lateness never accumulates (1e6 ticks later the schedule is where it started).

A late wake-up catches up: every tick that fell due since the last one runs, in order, up to
`max_catch_up` ticks. Why run them rather than skip: each tick is 20 ms of audio for every
leg; a skipped tick is a gap in every recording and a jitter buffer that drifts a frame away
from its sender, while running it late costs only latency the buffers absorb. Past
`max_catch_up` (the process was stopped or starved for a long time) the older ticks are
reported as skipped and only the newest `max_catch_up` run: a burst of hundreds of ticks
would send hundreds of packets per leg at once and starve everything else further.

`asyncio` lives in `tick_timer.py`; this module reads no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TICK_S = 0.02  # 20 ms: the RTP packetisation of RFC 3551 §4.5 for G.711
DEFAULT_MAX_CATCH_UP = 10  # 200 ms of ticks run back to back at most
# A wake-up this close before a deadline counts as on time: event loops wake up a little
# early (uvloop's timers have 1 ms resolution) and re-arming for 0.3 ms would spin.
DEFAULT_EARLY_S = 0.001


@dataclass(frozen=True, slots=True)
class TicksDue:
    """Run ticks `first` .. `first + count - 1` now; `skipped` older ones were dropped."""

    first: int
    count: int
    skipped: int = 0

    @property
    def indices(self) -> range:
        return range(self.first, self.first + self.count)


class TickClock:
    """Which 20 ms ticks are due, counted from a fixed origin."""

    def __init__(
        self,
        origin: float,
        period_s: float = TICK_S,
        max_catch_up: int = DEFAULT_MAX_CATCH_UP,
        early_s: float = DEFAULT_EARLY_S,
    ) -> None:
        if period_s <= 0 or max_catch_up < 1 or not 0 <= early_s < period_s:
            raise ValueError("period must be positive, max_catch_up >= 1, early_s < period")
        self.origin = origin
        self.period_s = period_s
        self.max_catch_up = max_catch_up
        self.early_s = early_s
        self.next_tick = 0  # index of the first tick not yet run
        self.skipped = 0  # ticks dropped since the origin

    def deadline(self, tick: int) -> float:
        return self.origin + tick * self.period_s

    def next_deadline(self) -> float:
        """When the next tick is due: wake up then."""
        return self.deadline(self.next_tick)

    def on_time(self, now: float) -> TicksDue:
        """The ticks to run at `now` (none when woken early); marks them as run."""
        first = self.next_tick
        if now + self.early_s < self.deadline(first):
            return TicksDue(first, 0)
        # The newest tick due: estimated by division, then settled against deadline() itself
        # so that rounding can never disagree with next_deadline().
        last = max(first, math.floor((now + self.early_s - self.origin) / self.period_s))
        while self.deadline(last + 1) <= now + self.early_s:
            last += 1
        while last > first and self.deadline(last) > now + self.early_s:
            last -= 1
        count = last - first + 1
        skipped = max(0, count - self.max_catch_up)
        self.skipped += skipped
        self.next_tick = last + 1
        return TicksDue(first + skipped, count - skipped, skipped)
