"""Admission under load: the concurrency cap, the calls-per-second bucket, Retry-After."""

from __future__ import annotations

from softswitch.calls.admission import Admission, Overload, Refused
from softswitch.security.settings import CapacityConfig


def test_unlimited_by_default() -> None:
    admission = Admission(CapacityConfig())
    assert all(admission.admit(0.0, n) is None for n in range(10_000))


def test_concurrent_calls_cap_refuses_with_retry_after_and_recovers() -> None:
    admission = Admission(CapacityConfig(max_calls=10, retry_after_s=7))
    assert admission.admit(0.0, 9) is None
    assert admission.admit(0.0, 10) == Refused(Overload.CONCURRENT, 7)
    assert admission.admit(1.0, 9) is None, "a call ended: the next is taken"
    assert admission.counters.refused == {"max_calls": 1, "max_calls_per_s": 0}


def test_rate_bucket_admits_the_rate_then_refuses_then_refills() -> None:
    admission = Admission(CapacityConfig(max_calls_per_s=10, retry_after_s=1))
    first_second = [admission.admit(0.001 * i, 0) for i in range(20)]  # a burst
    assert sum(r is None for r in first_second) == 10
    assert all(r == Refused(Overload.RATE, 1) for r in first_second[10:])
    # at twice the rate for 10 s: the rate times 10 s, plus the one second of burst the bucket
    # refilled while idle before, never more
    admitted = sum(admission.admit(1.0 + 0.05 * i, 0) is None for i in range(200))
    assert 99 <= admitted <= 110
    assert admission.admit(30.0, 0) is None, "load gone: calls are taken again"


def test_retry_after_covers_the_wait_for_a_slow_rate() -> None:
    admission = Admission(CapacityConfig(max_calls_per_s=0.1, retry_after_s=1))
    assert admission.admit(0.0, 0) is None
    refused = admission.admit(0.0, 0)
    assert refused is not None and refused.retry_after_s == 10
