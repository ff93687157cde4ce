"""Estimated wait time from the live service rate, not from a running mean hold time.

With n agents staffing a queue and a recent mean handle time h, agents free up at a rate of
n / h; the caller in position k waits, in expectation, for k of those free-ups: k * h / n
(exact for exponential handle times with every agent busy). Asterisk announces its moving
average hold time instead, which ignores how many agents are serving.
"""

from __future__ import annotations

from collections import deque


class ServiceRateModel:
    """Recent handle times (talk plus wrap-up) of one queue."""

    def __init__(self, default_handle_time_s: float, window: int) -> None:
        self.default_handle_time_s = default_handle_time_s
        self._samples: deque[float] = deque(maxlen=max(1, window))
        self._total = 0.0

    def record(self, handle_time_s: float) -> None:
        if len(self._samples) == self._samples.maxlen:
            self._total -= self._samples[0]
        self._samples.append(handle_time_s)
        self._total += handle_time_s

    @property
    def samples(self) -> list[float]:
        return list(self._samples)

    def mean_handle_time_s(self) -> float:
        if not self._samples:
            return self.default_handle_time_s
        return self._total / len(self._samples)

    def estimate(self, position: int, serving: int, free: int) -> float | None:
        """Expected wait of the caller at `position` (1-based) with `serving` staffed agents of
        which `free` are ready now; None when nobody staffs the queue."""
        if position <= free:
            return 0.0
        if serving <= 0:
            return None
        return (position - free) * self.mean_handle_time_s() / serving
