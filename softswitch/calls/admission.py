"""Admission of new calls under load: a cap on concurrent calls and on new calls per second.

A pure decision with the clock passed in. Beyond capacity a new INVITE is answered 503 with
Retry-After (RFC 3261 §21.5.4, §20.33) and nothing else is touched: calls in progress keep their
media. The rate is a token bucket holding one second of calls, so a burst the size of the rate
(at least one) is admitted and the switch takes calls again by itself as soon as load falls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from softswitch.security.settings import CapacityConfig


class Overload(StrEnum):
    """Why a call was refused: a metrics label and the log's reason."""

    CONCURRENT = "max_calls"
    RATE = "max_calls_per_s"


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Overload
    retry_after_s: int


@dataclass(slots=True)
class AdmissionCounters:
    refused: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Overload})


class Admission:
    def __init__(self, config: CapacityConfig) -> None:
        self.config = config
        self.counters = AdmissionCounters()
        # One second of calls, and at least one call, whatever the rate.
        self._burst = max(1.0, config.max_calls_per_s)
        self._tokens = self._burst
        self._filled_at: float | None = None

    def admit(self, now: float, active_calls: int) -> Refused | None:
        """None: take the call (and count it against the rate); else how to refuse it."""
        config = self.config
        if config.max_calls and active_calls >= config.max_calls:
            return self._refuse(Overload.CONCURRENT, config.retry_after_s)
        rate = config.max_calls_per_s
        if rate:
            if self._filled_at is not None:
                self._tokens = min(self._burst, self._tokens + (now - self._filled_at) * rate)
            self._filled_at = now
            if self._tokens < 1.0:
                wait_s = math.ceil((1.0 - self._tokens) / rate)
                return self._refuse(Overload.RATE, max(config.retry_after_s, wait_s))
            self._tokens -= 1.0
        return None

    def _refuse(self, reason: Overload, retry_after_s: int) -> Refused:
        self.counters.refused[reason] += 1
        return Refused(reason, retry_after_s)
