"""Who is asking: digest authentication of extensions (RFC 3261 §22) and trunk recognition.

One authenticator serves REGISTER (401 / WWW-Authenticate) and calls (407 / Proxy-Authenticate).
An unknown user gets exactly the challenge a known one gets; failures go to the security log with
the source address, never into the response, through a `FailureSink` (the transport, which
counts them toward a ban of the source).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from softswitch.config import Extension, Trunk
from softswitch.security.log import field
from softswitch.sip.digest import AuthOutcome, DigestAuthenticator, compute_ha1
from softswitch.sip.message import Request, Response, make_response
from softswitch.sip.transaction import Address

log = logging.getLogger("softswitch.calls")
security_log = logging.getLogger("softswitch.security")
_DIGEST_SCHEME = re.compile(r"digest[ \t]", re.IGNORECASE)  # RFC 3261 §25.1: LWS may be a tab


class Verdict(Enum):
    ACCEPTED = "accepted"
    CHALLENGE = "challenge"  # answer with the challenge response and wait for credentials
    REJECTED = "rejected"  # answer with the rejection response (403 or 400)


@dataclass(frozen=True, slots=True)
class AuthDecision:
    verdict: Verdict
    username: str | None = None
    response: Response | None = None


class FailureSink(Protocol):
    def authentication_failed(self, host: str, detail: str) -> None: ...


class _LogFailures:
    """Without a sink (tests of this module alone): the security log line, and no ban."""

    def authentication_failed(self, host: str, detail: str) -> None:
        security_log.warning("auth-failed %s %s", field("src", host), detail)


class RequestAuthenticator:
    def __init__(
        self,
        *,
        realm: str,
        extensions: tuple[Extension, ...],
        trunks: tuple[Trunk, ...],
        nonce_lifetime_s: float,
        clock: Callable[[], float],
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
        secret: bytes | None = None,
        failures: FailureSink | None = None,
    ) -> None:
        self.realm = realm
        self.clock = clock
        self.failures: FailureSink = failures or _LogFailures()
        self.digest = DigestAuthenticator(
            realm,
            secret or secrets.token_bytes(32),
            nonce_lifetime_s=nonce_lifetime_s,
            algorithms=algorithms,
        )
        self._ha1: dict[tuple[str, str], str] = {}
        for ext in extensions:
            for algorithm in ("MD5", "SHA-256"):
                ha1 = ext.ha1_for(algorithm, realm)
                if ha1 is not None:
                    self._ha1[(ext.number, algorithm)] = ha1.lower()
                elif algorithm in algorithms:
                    # Challenges cannot differ per user, so such a phone may be locked out.
                    log.warning(
                        "extension %s has no %s credential but %s is offered: a phone that"
                        " answers %s cannot log in (add a password or ha1%s)",
                        ext.number,
                        algorithm,
                        algorithm,
                        algorithm,
                        "" if algorithm == "MD5" else "_sha256",
                    )
        for trunk in trunks:
            if trunk.inbound_username and trunk.inbound_password:
                for algorithm in ("MD5", "SHA-256"):
                    ha1 = compute_ha1(
                        trunk.inbound_username, realm, trunk.inbound_password, algorithm
                    )
                    self._ha1.setdefault((trunk.inbound_username, algorithm), ha1)

    def authenticate(self, request: Request, source: Address, *, proxy: bool) -> AuthDecision:
        """Check the request's credentials; `proxy` selects 407/Proxy-* over 401/WWW-*."""
        now = self.clock()
        header = "Proxy-Authorization" if proxy else "Authorization"
        # Credentials in a scheme we do not speak are no credentials: challenge (RFC 4475 §3.3.10).
        offered = [v for v in request.header_lines(header) if _DIGEST_SCHEME.match(v)]
        if not offered:
            return self._challenge(request, now, proxy, stale=False)
        outcome = AuthOutcome.WRONG_REALM
        username: str | None = None
        for value in offered:
            result = self.digest.verify(
                method=request.method,
                header_value=value,
                lookup_ha1=lambda user, algorithm: self._ha1.get((user, algorithm.upper())),
                now=now,
            )
            outcome, username = result.outcome, result.username
            if outcome is AuthOutcome.OK:
                return AuthDecision(Verdict.ACCEPTED, result.username)
            if outcome is not AuthOutcome.WRONG_REALM:
                break
        if outcome is AuthOutcome.STALE:
            return self._challenge(request, now, proxy, stale=True)
        if outcome is AuthOutcome.WRONG_REALM:
            return self._challenge(request, now, proxy, stale=False)
        if outcome is AuthOutcome.MALFORMED:
            return AuthDecision(Verdict.REJECTED, None, make_response(request, 400))
        detail = " ".join(
            (
                field("port", source[2]),
                field("transport", source[0]),
                field("method", request.method),
                field("user", username or ""),
                field("outcome", outcome.value),
            )
        )
        self.failures.authentication_failed(source[1], detail)
        return AuthDecision(Verdict.REJECTED, None, make_response(request, 403))

    def _challenge(self, request: Request, now: float, proxy: bool, *, stale: bool) -> AuthDecision:
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        values = self.digest.challenge_headers(now, secrets.token_bytes(16), stale=stale)
        response = make_response(
            request,
            407 if proxy else 401,
            to_tag=secrets.token_hex(6),
            extra=[(name, value) for value in values],
        )
        return AuthDecision(Verdict.CHALLENGE, None, response)
