"""Who may talk to us: per-source rate limits, bans after failed logins, CIDR allow/deny lists.

A sans-IO core: the transport asks `admit(host, now)` for every datagram or framed message
before parsing it, so the per-packet path is one dict lookup and a few compares; everything else
(expiring bans, collapsing refusal counts into log lines, forgetting idle sources) happens in
`handle_timer`. What it decides comes out as typed events for the security log.

- Rate limit, as Kamailio's pike: more than `rate_limit_requests` requests (responses are not
  counted) from one address within `rate_limit_window_s` and the rest of that window is dropped
  unanswered.
- Ban: `ban_after_failures` failed authentications (SIP digest, and any later login that reports
  through `authentication_failed`) within `failure_window_s` drop everything from the address for
  `ban_time_s`; a banned source gets no answer at all, right password or not.
- `always_allowed` addresses are never limited or banned (and win over `always_denied`);
  `always_denied` ones are dropped. Addresses given as `unlimited` (the trunks') skip the rate
  limit only: a carrier sends far more than a phone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from softswitch.security.settings import IPNetwork, SecurityConfig

DEFAULT_MAX_SOURCES: Final = 100_000  # tracked addresses; beyond, new ones go untracked
REFUSAL_LOG_INTERVAL_S: Final = 1.0  # refusals from one source collapse into a line per second
SWEEP_INTERVAL_S: Final = 1.0


class Refusal(StrEnum):
    """Why a request was dropped: the `reason` of a log line and a metrics label."""

    DENIED = "denied"  # always_denied
    BANNED = "banned"
    RATE_LIMIT = "rate-limit"
    CONNECTIONS = "connection-limit"  # stream connections, see security/connections.py
    SLOW_MESSAGE = "slow-message"
    IDLE = "idle"
    OVERSIZED = "oversized"
    TLS_HANDSHAKE = "tls-handshake"  # an inbound TLS handshake failed or never finished


class BanReason(StrEnum):
    AUTH_FAILURES = "auth-failures"


@dataclass(frozen=True, slots=True)
class AuthenticationFailed:
    source: str
    at: float
    detail: str  # e.g. 'method=REGISTER user="1001" outcome=wrong-password'
    failures: int  # from this source within the failure window, this one included


@dataclass(frozen=True, slots=True)
class SourceBanned:
    source: str
    at: float
    until: float
    reason: BanReason
    failures: int


@dataclass(frozen=True, slots=True)
class BanLifted:
    source: str
    at: float


@dataclass(frozen=True, slots=True)
class RequestsRefused:
    """`count` requests (or connections) from `source` were dropped for `reason` since the last
    line about them; the first refusal of a run is reported at once, with count 1."""

    source: str
    at: float
    reason: Refusal
    count: int
    detail: str = ""


SecurityEvent = AuthenticationFailed | SourceBanned | BanLifted | RequestsRefused


@dataclass(frozen=True, slots=True)
class BanView:
    source: str
    reason: BanReason
    since: float
    until: float


@dataclass(frozen=True, slots=True)
class GuardSnapshot:
    """What /metrics and the console show: active bans and counters since start."""

    bans: tuple[BanView, ...]
    refused: dict[str, int]  # by Refusal value
    auth_failures: int
    bans_total: dict[str, int]  # by BanReason value
    tracked_sources: int
    untracked: int  # requests admitted unchecked because the source table was full


class _Source:
    """What the guard knows about one address. Slots: there may be many of these."""

    __slots__ = (
        "allowed",
        "ban",
        "banned_until",
        "count",
        "denied",
        "failure_window_end",
        "failures",
        "last_seen",
        "refusal_logged_at",
        "unlimited",
        "unlogged",
        "window_end",
    )

    def __init__(self, allowed: bool, denied: bool, unlimited: bool, now: float) -> None:
        self.allowed = allowed
        self.denied = denied
        self.unlimited = unlimited
        self.banned_until = 0.0
        self.ban: BanView | None = None
        self.window_end = 0.0
        self.count = 0
        self.failures = 0
        self.failure_window_end = 0.0
        self.refusal_logged_at = -REFUSAL_LOG_INTERVAL_S
        self.unlogged: dict[Refusal, int] = {}
        self.last_seen = now


class SourceGuard:
    def __init__(
        self,
        config: SecurityConfig,
        *,
        unlimited: Iterable[str] = (),
        max_sources: int = DEFAULT_MAX_SOURCES,
    ) -> None:
        self.config = config
        self._allowed = config.always_allowed
        self._denied = config.always_denied
        self._unlimited = frozenset(_canonical(host) for host in unlimited)
        self._limit = config.rate_limit_requests
        self._window_s = config.rate_limit_window_s
        self._max_sources = max_sources
        self._sources: dict[str, _Source] = {}
        self._events: list[SecurityEvent] = []
        self._refused: dict[str, int] = {reason.value: 0 for reason in Refusal}
        self._bans_total: dict[str, int] = {reason.value: 0 for reason in BanReason}
        self._auth_failures = 0
        self._untracked = 0
        self._next_sweep: float | None = None
        self._full_checked_at = float("-inf")

    # the per-packet path ---------------------------------------------------------------------
    def admit(self, host: str, now: float, request: bool = True) -> bool:
        """May a message from `host` be processed? False: drop it without an answer.

        Responses (`request` False: the transport sees `SIP/` first) are not rate-limited, as
        pike limits requests: a phone answering calls must not use up its budget doing so."""
        source = self._sources.get(host)
        if source is None:
            source = self._track(host, now)
            if source is None:  # the table is full: the lists still apply, limits cannot
                address = _address(host)
                if (
                    address is not None
                    and _within(address, self._denied)
                    and not _within(address, self._allowed)
                ):
                    self._refused[Refusal.DENIED] += 1
                    return False
                return True
        if source.allowed:
            return True
        if source.denied:
            return self.refuse(host, Refusal.DENIED, now)
        if source.banned_until > now:
            return self.refuse(host, Refusal.BANNED, now)
        if source.unlimited or not self._limit or not request:
            return True
        if now >= source.window_end:
            source.window_end = now + self._window_s
            source.count = 1
            source.last_seen = now
            return True
        source.count += 1
        if source.count > self._limit:
            return self.refuse(host, Refusal.RATE_LIMIT, now)
        return True

    def refuse(self, host: str, reason: Refusal, now: float, detail: str = "") -> bool:
        """Count a refusal (the guard's own, or one the transport decided); always False."""
        self._refused[reason] += 1
        source = self._sources.get(host) or self._track(host, now)
        if source is None:
            self._events.append(RequestsRefused(host, now, reason, 1, detail))
            return False
        source.last_seen = now
        if now - source.refusal_logged_at >= REFUSAL_LOG_INTERVAL_S and not source.unlogged:
            source.refusal_logged_at = now
            self._events.append(RequestsRefused(host, now, reason, 1, detail))
        else:
            source.unlogged[reason] = source.unlogged.get(reason, 0) + 1
            self._want_sweep(source.refusal_logged_at + REFUSAL_LOG_INTERVAL_S)
        return False

    # failures and bans ---------------------------------------------------------------------
    def authentication_failed(self, host: str, now: float, detail: str) -> None:
        """A login from `host` failed; enough of them ban it."""
        self._auth_failures += 1
        source = self._sources.get(host) or self._track(host, now)
        if source is None:
            self._events.append(AuthenticationFailed(host, now, detail, 1))
            return
        source.last_seen = now
        if now >= source.failure_window_end:
            source.failures = 0
            source.failure_window_end = now + self.config.failure_window_s
        source.failures += 1
        self._events.append(AuthenticationFailed(host, now, detail, source.failures))
        limit = self.config.ban_after_failures
        if limit and not source.allowed and source.failures >= limit and source.ban is None:
            self._ban(host, source, BanReason.AUTH_FAILURES, now)

    def _ban(self, host: str, source: _Source, reason: BanReason, now: float) -> None:
        until = now + self.config.ban_time_s
        source.banned_until = until
        source.ban = BanView(host, reason, now, until)
        self._bans_total[reason] += 1
        self._events.append(SourceBanned(host, now, until, reason, source.failures))
        source.failures = 0
        self._want_sweep(until)

    def banned(self, host: str, now: float) -> bool:
        source = self._sources.get(host)
        return source is not None and source.banned_until > now

    def ban_remaining_s(self, host: str, now: float) -> float | None:
        """Seconds left of `host`'s ban, None when it is not banned."""
        source = self._sources.get(host)
        if source is None or source.banned_until <= now:
            return None
        return source.banned_until - now

    # timers --------------------------------------------------------------------------------
    def next_timer(self) -> float | None:
        return self._next_sweep

    def handle_timer(self, now: float) -> None:
        """Lift ended bans, report collapsed refusals, forget sources idle for a while."""
        self._next_sweep = None
        keep_after = now - max(self._window_s, REFUSAL_LOG_INTERVAL_S) * 2
        for host, source in list(self._sources.items()):
            if source.ban is not None and source.banned_until <= now:
                source.ban = None
                self._events.append(BanLifted(host, now))
            if source.unlogged:
                if now - source.refusal_logged_at >= REFUSAL_LOG_INTERVAL_S:
                    for reason, count in source.unlogged.items():
                        self._events.append(RequestsRefused(host, now, reason, count))
                    source.unlogged.clear()
                    source.refusal_logged_at = now
                else:
                    self._want_sweep(source.refusal_logged_at + REFUSAL_LOG_INTERVAL_S)
            if source.ban is not None:
                self._want_sweep(source.banned_until)
            elif (
                not source.unlogged
                and source.last_seen < keep_after
                and source.failure_window_end <= now
            ):
                del self._sources[host]
        if self._sources:
            self._want_sweep(now + SWEEP_INTERVAL_S * 10)

    def _want_sweep(self, at: float) -> None:
        if self._next_sweep is None or at < self._next_sweep:
            self._next_sweep = at

    # events and views ----------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        return bool(self._events)

    def events(self) -> list[SecurityEvent]:
        """The events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def snapshot(self, now: float) -> GuardSnapshot:
        bans = tuple(
            source.ban
            for source in self._sources.values()
            if source.ban is not None and source.banned_until > now
        )
        return GuardSnapshot(
            bans=tuple(sorted(bans, key=lambda ban: ban.since)),
            refused=dict(self._refused),
            auth_failures=self._auth_failures,
            bans_total=dict(self._bans_total),
            tracked_sources=len(self._sources),
            untracked=self._untracked,
        )

    # bookkeeping ---------------------------------------------------------------------------
    def _track(self, host: str, now: float) -> _Source | None:
        if len(self._sources) >= self._max_sources:
            # A full table is swept at most once a second: many new addresses a second must
            # not make every packet walk it.
            if now - self._full_checked_at >= SWEEP_INTERVAL_S:
                self._full_checked_at = now
                self.handle_timer(now)
            if len(self._sources) >= self._max_sources:
                self._untracked += 1
                return None
        address = _address(host)
        allowed = address is not None and _within(address, self._allowed)
        denied = address is not None and _within(address, self._denied)
        source = _Source(allowed, denied, _canonical(host) in self._unlimited, now)
        self._sources[host] = source
        self._want_sweep(now + SWEEP_INTERVAL_S * 10)
        return source


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(host: str) -> IpAddress | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _canonical(host: str) -> str:
    address = _address(host)
    return str(address) if address is not None else host


def _within(address: IpAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)
