"""Who is calling the API: users' credentials, bearer tokens, and the guard on failed logins.

`Directory` checks a username and password against `[[users]]` (an unknown name costs the same
hash work as a known one, so timing does not tell them apart). `TokenStore` issues opaque
random tokens with an expiry, time injected. `LoginGuard` is what the API asks before and tells
after every login: `RateLimitingGuard` here counts failures per source address and per username
in a sliding window and writes each to the `softswitch.security` log; the security module can
replace it with one that also bans, by handing its own to `ApiServer`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from softswitch.config_api import ApiUser, Role
from softswitch.security.passwords import PasswordHash, hash_password

security_log = logging.getLogger("softswitch.security")

DEFAULT_MAX_TOKENS: Final = 10_000  # live tokens kept; the oldest is forgotten past this
DEFAULT_MAX_TRACKED: Final = 10_000  # sources and usernames with failures remembered
TOKEN_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class Principal:
    """The user behind a token, as permission and scope checks need it."""

    username: str
    role: Role
    agent: str | None
    extension: str | None
    teams: frozenset[str]


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    principal: Principal
    expires_at: float  # wall clock, seconds since the epoch


class Directory:
    def __init__(self, users: Iterable[ApiUser]) -> None:
        self._users = {user.username: user for user in users}
        # Checked when the name is unknown, so a miss costs what a hit costs.
        self._decoy = PasswordHash.parse(hash_password(secrets.token_hex(8)))

    def authenticate(self, username: str, password: str) -> Principal | None:
        user = self._users.get(username)
        if user is None:
            self._decoy.matches(password)
            return None
        if user.password_hash is not None:
            ok = user.password_hash.matches(password)
        else:
            assert user.password is not None, "config requires password or password_hash"
            ok = hmac.compare_digest(user.password.encode(), password.encode())
        return principal_of(user) if ok else None

    def users(self) -> list[ApiUser]:
        return list(self._users.values())


def principal_of(user: ApiUser) -> Principal:
    return Principal(user.username, user.role, user.agent, user.extension, frozenset(user.teams))


class TokenStore:
    def __init__(
        self,
        lifetime_s: float,
        clock: Callable[[], float],
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        self.lifetime_s = lifetime_s
        self._clock = clock
        self._max = max_tokens
        self._tokens: OrderedDict[str, Token] = OrderedDict()  # oldest first

    def issue(self, principal: Principal) -> Token:
        token = Token(
            secrets.token_urlsafe(TOKEN_BYTES), principal, self._clock() + self.lifetime_s
        )
        self._tokens[token.value] = token
        while len(self._tokens) > self._max:
            self._tokens.popitem(last=False)
        return token

    def verify(self, value: str) -> Token | None:
        """The live token with this value, or None (unknown or expired)."""
        token = self._tokens.get(value)
        if token is None:
            return None
        if token.expires_at <= self._clock():
            del self._tokens[value]
            return None
        return token

    def revoke(self, value: str) -> bool:
        return self._tokens.pop(value, None) is not None


class LoginGuard(Protocol):
    """Asked before each login attempt and told its outcome."""

    def retry_after(self, source: str, username: str) -> float | None:
        """Seconds until `source` may try `username` again, or None when it may now."""
        ...

    def failed(self, source: str, username: str, reason: str) -> None: ...

    def succeeded(self, source: str, username: str) -> None: ...


class _Window:
    """Failure times per key within a sliding window, for a bounded number of keys."""

    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self.limit = limit
        self.window_s = window_s
        self._max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str, now: float) -> float | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        if len(times) < self.limit:
            return None
        return times[0] + self.window_s - now

    def add(self, key: str, now: float) -> None:
        times = self._failures.setdefault(key, deque(maxlen=self.limit))
        times.append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class RateLimitingGuard:
    """At most `limit` failed logins per source address and per username in `window_s`."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        clock: Callable[[], float],
        max_tracked: int = DEFAULT_MAX_TRACKED,
    ) -> None:
        self._clock = clock
        self._sources = _Window(limit, window_s, max_tracked)
        self._usernames = _Window(limit, window_s, max_tracked)

    def retry_after(self, source: str, username: str) -> float | None:
        now = self._clock()
        waits = [
            wait
            for wait in (
                self._sources.retry_after(source, now),
                self._usernames.retry_after(username, now),
            )
            if wait is not None
        ]
        if not waits:
            return None
        wait = max(waits)
        security_log.warning(
            "API login refused (too many failures) for user %r from %s; retry in %.0f s",
            username,
            source,
            wait,
        )
        return wait

    def failed(self, source: str, username: str, reason: str) -> None:
        now = self._clock()
        self._sources.add(source, now)
        self._usernames.add(username, now)
        security_log.warning("API login failed (%s) for user %r from %s", reason, username, source)

    def succeeded(self, source: str, username: str) -> None:
        self._usernames.clear(username)
