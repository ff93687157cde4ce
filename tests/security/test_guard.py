"""The source guard with a hand-stepped clock: pike-style rate limit, bans, allow/deny lists."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.security.guard import (
    AuthenticationFailed,
    BanLifted,
    BanReason,
    Refusal,
    RequestsRefused,
    SourceBanned,
    SourceGuard,
)
from softswitch.security.log import describe
from softswitch.security.settings import SecurityConfig

ATTACKER = "192.0.2.66"
PHONE = "192.0.2.10"


def guard(**settings_: object) -> SourceGuard:
    return SourceGuard(SecurityConfig(**settings_))  # type: ignore[arg-type]


def nets(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


def test_default_is_kamailio_pike_16_requests_per_2_seconds() -> None:
    g = guard()
    assert [g.admit(ATTACKER, 0.01 * i) for i in range(20)] == [True] * 16 + [False] * 4
    assert g.admit(PHONE, 0.2), "another source is not affected"
    assert g.admit(ATTACKER, 2.01), "a new window admits again"
    refused = [e for e in g.events() if isinstance(e, RequestsRefused)]
    assert refused[0] == RequestsRefused(ATTACKER, 0.16, Refusal.RATE_LIMIT, 1)


def test_responses_are_not_rate_limited_but_a_banned_source_is_dropped_whatever_it_sends() -> None:
    g = guard(ban_after_failures=1)
    assert all(g.admit(PHONE, 0.0, request=False) for _ in range(100))
    assert all(g.admit(PHONE, 0.0) for _ in range(16)), "responses used none of the budget"
    g.authentication_failed(ATTACKER, 0.0, "")
    assert not g.admit(ATTACKER, 0.1, request=False)


def test_refusals_collapse_into_one_line_per_second_with_the_count() -> None:
    g = guard(rate_limit_requests=1, rate_limit_window_s=10.0)
    g.admit(ATTACKER, 0.0)
    for i in range(100):
        assert not g.admit(ATTACKER, 0.001 * (i + 1))
    first = g.events()
    assert len(first) == 1 and isinstance(first[0], RequestsRefused) and first[0].count == 1
    timer = g.next_timer()
    assert timer is not None and timer <= 1.01
    g.handle_timer(1.01)
    (later,) = g.events()
    assert isinstance(later, RequestsRefused)
    assert later.count == 99 and later.reason is Refusal.RATE_LIMIT
    assert g.snapshot(1.01).refused["rate-limit"] == 100


def test_twenty_failures_ban_the_source_for_300_s_and_nothing_is_admitted() -> None:
    g = guard()
    for i in range(19):
        g.authentication_failed(ATTACKER, float(i), 'method=REGISTER user="1001"')
    assert not g.banned(ATTACKER, 19.0)
    g.authentication_failed(ATTACKER, 19.0, "method=REGISTER")
    events = g.events()
    assert sum(isinstance(e, AuthenticationFailed) for e in events) == 20
    assert events[-1] == SourceBanned(ATTACKER, 19.0, 319.0, BanReason.AUTH_FAILURES, 20)
    assert not g.admit(ATTACKER, 20.0)
    assert not g.admit(ATTACKER, 318.9)
    assert g.admit(PHONE, 20.0)
    (ban,) = g.snapshot(100.0).bans
    assert (ban.source, ban.reason, ban.until) == (ATTACKER, BanReason.AUTH_FAILURES, 319.0)
    g.handle_timer(319.0)
    assert BanLifted(ATTACKER, 319.0) in g.events()
    assert g.admit(ATTACKER, 319.5)
    assert g.snapshot(319.5).bans == ()


def test_failures_outside_the_window_are_forgotten() -> None:
    g = guard(ban_after_failures=3, failure_window_s=10.0)
    g.authentication_failed(ATTACKER, 0.0, "")
    g.authentication_failed(ATTACKER, 1.0, "")
    g.authentication_failed(ATTACKER, 11.0, "")  # a new window: the first two are gone
    assert not g.banned(ATTACKER, 11.0)
    g.authentication_failed(ATTACKER, 12.0, "")
    g.authentication_failed(ATTACKER, 13.0, "")
    assert g.banned(ATTACKER, 13.0)


def test_always_allowed_is_never_limited_nor_banned_and_wins_over_denied() -> None:
    g = guard(always_allowed=nets("10.0.0.0/8"), always_denied=nets("10.0.0.0/8", "203.0.113.0/24"))
    assert all(g.admit("10.1.2.3", 0.0) for _ in range(1000))
    for _ in range(50):
        g.authentication_failed("10.1.2.3", 0.0, "")
    assert not g.banned("10.1.2.3", 0.0) and g.admit("10.1.2.3", 0.0)
    assert not g.admit("203.0.113.9", 0.0)
    assert not g.admit("::ffff:203.0.113.9", 0.0), "an IPv4-mapped address is the same host"


def test_unlimited_sources_skip_the_rate_limit_but_not_bans() -> None:
    g = SourceGuard(SecurityConfig(ban_after_failures=2), unlimited=["198.51.100.1"])
    assert all(g.admit("198.51.100.1", 0.0) for _ in range(100))
    g.authentication_failed("198.51.100.1", 0.0, "")
    g.authentication_failed("198.51.100.1", 0.0, "")
    assert not g.admit("198.51.100.1", 0.1)


def test_rate_limit_zero_turns_it_off_and_ban_zero_never_bans() -> None:
    g = guard(rate_limit_requests=0, ban_after_failures=0)
    assert all(g.admit(ATTACKER, 0.0) for _ in range(1000))
    for _ in range(100):
        g.authentication_failed(ATTACKER, 0.0, "")
    assert g.admit(ATTACKER, 0.0)


def test_the_source_table_is_bounded_and_idle_sources_are_forgotten() -> None:
    g = SourceGuard(SecurityConfig(), max_sources=100)
    for i in range(300):
        assert g.admit(f"10.0.{i // 256}.{i % 256}", 0.0)
    snap = g.snapshot(0.0)
    assert snap.tracked_sources == 100 and snap.untracked == 200
    g.handle_timer(60.0)
    assert g.snapshot(60.0).tracked_sources == 0


def test_a_full_source_table_still_drops_denied_addresses() -> None:
    g = SourceGuard(SecurityConfig(always_denied=nets("203.0.113.0/24")), max_sources=10)
    for i in range(10):
        g.admit(f"10.0.0.{i}", 0.0)
    assert not g.admit("203.0.113.9", 0.0)
    assert g.snapshot(0.0).refused["denied"] == 1


def test_a_ban_survives_the_sweep_of_idle_sources() -> None:
    g = guard(ban_after_failures=1)
    g.authentication_failed(ATTACKER, 0.0, "")
    g.handle_timer(100.0)
    assert g.banned(ATTACKER, 100.0)


def test_log_lines_quote_what_the_peer_chose() -> None:
    line = describe(AuthenticationFailed(ATTACKER, 0.0, 'user="x\\" src=1.2.3.4"', 3))
    assert line.startswith(f"auth-failed src={ATTACKER} failures=3 ")
    ban = describe(SourceBanned(ATTACKER, 10.0, 310.0, BanReason.AUTH_FAILURES, 20))
    assert ban == f"ban src={ATTACKER} reason=auth-failures failures=20 duration_s=300"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.floats(min_value=0.0, max_value=0.5),
            st.booleans(),
        ),
        max_size=200,
    )
)
def test_no_source_gets_more_than_the_limit_in_any_window(
    steps: list[tuple[str, float, bool]],
) -> None:
    """Whatever the interleaving, a source is admitted at most 16 times per 2 s window, and the
    refused count in the snapshot is exactly the number of False answers."""
    g = guard()
    now = 0.0
    admitted: dict[str, list[float]] = {}
    refused = 0
    for host, step, fail in steps:
        now += step
        if fail:
            g.authentication_failed(f"10.9.9.{ord(host)}", now, "")
        if g.admit(host, now):
            admitted.setdefault(host, []).append(now)
        else:
            refused += 1
    for times in admitted.values():
        for i, start in enumerate(times):
            assert sum(1 for t in times[i:] if t < start + 2.0) <= 32  # two windows overlap
    assert sum(g.snapshot(now).refused.values()) == refused
