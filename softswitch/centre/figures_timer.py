"""Queue figures that change with time alone, pushed at the instant they change.

A caller still waiting passes the service-level threshold (offered +1, the service level
drops) and a 15-minute window lets an old call go, with no ACD event. The switch holds the
per-call records, so it is the one that can tell: `QueueStatistics.next_change` says when
(sans-IO, `now` passed in), and this adapter keeps one timer armed to the earliest such
instant of all queues, then hands the queues that are due to `push` (the API's
queue_statistics event). No polling: with nothing waiting and nothing in a window no timer
is armed. The console recomputes only what grows continuously (waits, time in state) from
the pushed join and state times, with its own clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, Protocol

from softswitch.acd.statistics import QueueStatistics

# Fired this long after the instant: a window's edge is inclusive, the loop's clock coarse.
MARGIN_S: Final = 0.005


class Timer(Protocol):
    def cancel(self) -> None: ...


# None: no loop to arm a timer on (a centre stepped outside one, as unit tests do).
CallLater = Callable[[float, Callable[[], None]], Timer | None]


class FiguresTimer:
    """`changed(queues)` after events touched them; `push(queues)` when time changed them."""

    def __init__(
        self,
        statistics: QueueStatistics,
        clock: Callable[[], float],
        call_later: CallLater,
        push: Callable[[set[str]], None],
    ) -> None:
        self._statistics = statistics
        self._clock = clock
        self._call_later = call_later
        self._push = push
        self._due: dict[str, float] = {}
        self._timer: Timer | None = None
        self._armed_at: float | None = None
        self.pushes = 0  # queues pushed by time so far (tests and metrics read it)

    def changed(self, queues: Iterable[str]) -> None:
        now = self._clock()
        for queue in queues:
            change = self._statistics.next_change(queue, now)
            if change is None:
                self._due.pop(queue, None)
            else:
                self._due[queue] = change
        self._arm(now)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._armed_at = None

    def _arm(self, now: float) -> None:
        earliest = min(self._due.values(), default=None)
        if earliest == self._armed_at:
            return
        self.stop()
        if earliest is not None:
            self._timer = self._call_later(max(0.0, earliest - now) + MARGIN_S, self._fire)
            self._armed_at = earliest if self._timer is not None else None

    def _fire(self) -> None:
        self._timer = self._armed_at = None
        now = self._clock()
        due = {queue for queue, at in self._due.items() if at < now}
        if due:
            self.pushes += len(due)
            self._push(due)
        self.changed(due)
