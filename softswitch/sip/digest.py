"""SIP digest authentication, both sides, sans-IO (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

Server: `DigestAuthenticator` issues challenges and verifies credentials. Nonces are stateless:
each one carries its issue time and a random part, sealed by an HMAC under the server secret, so
any node holding the secret can check it and nothing is stored per challenge. The only state is
the nonce-count table (highest nc accepted per nonce) that stops replays; it is bounded.

Client: `parse_challenge` and `build_authorization` answer a carrier's 401/407.

Only qop=auth is offered, and it is required in the answer. RFC 3261 §22.4 obliges servers to
send qop and a client that receives it to send qop back, so only a broken client answers without
it; and an answer without qop carries no nc or cnonce, so its replays could not be detected
within the nonce lifetime. auth-int is not offered: it hashes the body, which proxies and B2BUAs
routinely rewrite.

Errors: malformed header values raise `RemoteProtocolError` (status_hint 400) from the parsers;
`verify` never raises for peer input and reports `AuthOutcome.MALFORMED` instead. Bad arguments
from our own code (unsupported algorithm, short secret) raise `ValueError`.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from softswitch.sip.errors import RemoteProtocolError

# Digest algorithm name -> hashlib name, strongest first: challenges go out in this order
# (RFC 8760 §2.4).
_HASHES = {"SHA-256": "sha256", "MD5": "md5"}
DEFAULT_MAX_TRACKED_NONCES = 10_000
NONCE_RANDOM_BYTES = 16
_NONCE_MAC_BYTES = 24
_NONCE_TIME = struct.Struct(">d")
# 48 bytes, a multiple of 3: the base64 form has no padding and no spare bits, so each nonce has
# exactly one spelling (the nc table is keyed by the string).
_NONCE_BYTES = _NONCE_TIME.size + NONCE_RANDOM_BYTES + _NONCE_MAC_BYTES
_NONCE_RE = re.compile(rf"[A-Za-z0-9_-]{{{_NONCE_BYTES * 4 // 3}}}")
_MIN_SECRET_BYTES = 16

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # RFC 3261 §25.1 token
_SCHEME_RE = re.compile(rf"({_TOKEN})(?:\s+|\Z)")
_PARAM_RE = re.compile(
    rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))\s*(?:,|\Z)', re.DOTALL
)
_EMPTY_ELEMENT_RE = re.compile(r"\s*,")
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
_NC_RE = re.compile(r"[0-9A-Fa-f]{8}")  # RFC 2617 §3.2.2: nc is exactly 8LHEX
_HEX_RE = re.compile(r"[0-9A-Fa-f]+")


class AuthOutcome(Enum):
    OK = "ok"
    STALE = "stale"  # right password, nonce expired or evicted: re-challenge with stale=true
    FAILED = "failed"  # wrong password, unknown user, forged nonce, algorithm not offered
    REPLAY = "replay"  # nc not above the highest accepted for this nonce
    MALFORMED = "malformed"  # unparseable or incomplete credentials: answer 400
    WRONG_REALM = "wrong_realm"  # credentials meant for another realm (another proxy's)


@dataclass(frozen=True, slots=True)
class AuthResult:
    """What `verify` decided. `reason` is for the security log only, never for the peer."""

    outcome: AuthOutcome
    username: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Credentials:
    """An Authorization / Proxy-Authorization value (RFC 2617 §3.2.2)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str  # lowercase hex
    algorithm: str  # upper case as sent; "MD5" when absent
    qop: str | None
    nc: int | None
    cnonce: str | None
    opaque: str | None


@dataclass(frozen=True, slots=True)
class Challenge:
    """A WWW-Authenticate / Proxy-Authenticate value we know how to answer."""

    realm: str
    nonce: str
    algorithm: str  # "MD5" or "SHA-256"
    qop: tuple[str, ...]  # lower case, empty for an RFC 2069 challenge
    opaque: str | None
    stale: bool


def _hash(algorithm: str, text: str) -> str:
    return hashlib.new(_HASHES[algorithm], text.encode("utf-8")).hexdigest()


def compute_ha1(username: str, realm: str, password: str, algorithm: str) -> str:
    """H(username:realm:password) in hex: what a user store keeps instead of the password."""
    if algorithm not in _HASHES:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return _hash(algorithm, f"{username}:{realm}:{password}")


def _response(
    algorithm: str,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None,
    nc: int,
    cnonce: str,
) -> str:
    """request-digest of RFC 2617 §3.2.2.1; the qop-less form is RFC 2069's."""
    ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop is None:
        return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}")


def _parse_auth_params(header_value: str) -> tuple[str, dict[str, str]]:
    """Split `Scheme k=v, k="quoted \\"esc\\"", ...` into the scheme and lower-cased keys."""
    try:
        header_value.encode("utf-8")
    except UnicodeEncodeError:
        raise RemoteProtocolError("authorization header is not valid UTF-8") from None
    value = header_value.strip()
    scheme_match = _SCHEME_RE.match(value)
    if scheme_match is None:
        raise RemoteProtocolError("authorization header has no scheme")
    params: dict[str, str] = {}
    pos = scheme_match.end()
    while pos < len(value):
        empty = _EMPTY_ELEMENT_RE.match(value, pos)
        if empty is not None:
            pos = empty.end()
            continue
        param = _PARAM_RE.match(value, pos)
        if param is None:
            raise RemoteProtocolError(f"bad auth-param at offset {pos}")
        name, quoted, bare = param.group(1, 2, 3)
        name = name.lower()
        if name in params:
            raise RemoteProtocolError(f"auth-param {name!r} repeated")
        params[name] = bare if quoted is None else _QUOTED_PAIR_RE.sub(r"\1", quoted)
        pos = param.end()
    return scheme_match.group(1), params


def _require(params: dict[str, str], *names: str) -> None:
    missing = [name for name in names if name not in params]
    if missing:
        raise RemoteProtocolError(f"digest parameters missing: {', '.join(missing)}")


def parse_credentials(header_value: str) -> Credentials:
    """Parse an Authorization / Proxy-Authorization value; RemoteProtocolError(400) on garbage."""
    scheme, params = _parse_auth_params(header_value)
    if scheme.lower() != "digest":
        raise RemoteProtocolError(f"authorization scheme {scheme!r} is not Digest")
    _require(params, "username", "realm", "nonce", "uri", "response")
    if not _HEX_RE.fullmatch(params["response"]):
        raise RemoteProtocolError("digest response is not hex")
    qop = params.get("qop")
    nc: int | None = None
    if qop is not None:
        # RFC 2617 §3.2.2: cnonce and nc MUST be sent when qop is.
        _require(params, "nc", "cnonce")
        if not _NC_RE.fullmatch(params["nc"]):
            raise RemoteProtocolError("digest nc is not 8 hex digits")
        nc = int(params["nc"], 16)
    return Credentials(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"].lower(),
        algorithm=params.get("algorithm", "MD5").upper(),
        qop=qop,
        nc=nc,
        cnonce=params.get("cnonce"),
        opaque=params.get("opaque"),
    )


def parse_challenge(header_value: str) -> Challenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate value.

    Raises RemoteProtocolError for garbage and for challenges we cannot answer (another scheme,
    an algorithm other than MD5 or SHA-256, qop without auth), so that a caller offered several
    challenges keeps the first that parses.
    """
    scheme, params = _parse_auth_params(header_value)
    if scheme.lower() != "digest":
        raise RemoteProtocolError(f"challenge scheme {scheme!r} is not Digest")
    _require(params, "realm", "nonce")
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm not in _HASHES:
        raise RemoteProtocolError(f"digest algorithm {algorithm!r} not supported")
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    if qop and "auth" not in qop:
        raise RemoteProtocolError(f"digest qop {qop!r} offers no 'auth'")
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=algorithm,
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_authorization(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: int,
) -> str:
    """The Authorization / Proxy-Authorization value answering `challenge`.

    The caller keeps `nc` counting up from 1 for each request under the same nonce.
    """
    ha1 = compute_ha1(username, challenge.realm, password, challenge.algorithm)
    qop = "auth" if challenge.qop else None
    response = _response(challenge.algorithm, ha1, challenge.nonce, method, uri, qop, nc, cnonce)
    parts = [
        f"username={_quote(username)}",
        f"realm={_quote(challenge.realm)}",
        f"nonce={_quote(challenge.nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(response)}",
        f"algorithm={challenge.algorithm}",
    ]
    if qop is not None:
        parts += [f"qop={qop}", f"nc={nc:08x}", f"cnonce={_quote(cnonce)}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)


class DigestAuthenticator:
    """Server side of digest auth for one realm, for 401 (registrar) or 407 (proxy) alike.

    Nonce = base64url(issue time || random || HMAC-SHA256(secret, realm || time || random)).
    The caller picks the header name (WWW-Authenticate or Proxy-Authenticate) and what to send
    for each outcome: OK proceeds; STALE re-challenges with stale=True; FAILED, REPLAY and
    WRONG_REALM re-challenge; MALFORMED gets a 400.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        nonce_lifetime_s: float = 300,
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
        max_tracked_nonces: int = DEFAULT_MAX_TRACKED_NONCES,
    ) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"nonce secret must be at least {_MIN_SECRET_BYTES} bytes")
        unsupported = set(algorithms) - set(_HASHES)
        if not algorithms or unsupported:
            raise ValueError(f"algorithms must be among {list(_HASHES)}, got {algorithms!r}")
        if max_tracked_nonces < 1:
            raise ValueError("max_tracked_nonces must be at least 1")
        self.realm = realm
        self._secret = secret
        self._nonce_lifetime_s = nonce_lifetime_s
        # In the caller's order of preference (RFC 8760 §2.4), each once.
        self._algorithms = list(dict.fromkeys(algorithms))
        self._max_tracked_nonces = max_tracked_nonces
        mac = hmac.new(secret, b"opaque\0" + realm.encode("utf-8"), hashlib.sha256).digest()
        self._opaque = base64.urlsafe_b64encode(mac[:16]).rstrip(b"=").decode("ascii")
        # Stands in for an unknown user's HA1 so that the reply costs the same hashing work.
        self._dummy_ha1 = {
            name: compute_ha1("", realm, secret.hex(), name) for name in self._algorithms
        }
        # Highest nc accepted per nonce, plus a heap of (issue time, nonce) to evict oldest first.
        self._highest_nc: dict[str, int] = {}
        self._by_issue_time: list[tuple[float, str]] = []
        # A nonce issued at or before this time and not in the table was evicted: its nc history
        # is gone, so it is treated as stale rather than trusted afresh (that would allow replay).
        self._evicted_up_to = float("-inf")

    def challenge_headers(self, now: float, random_bytes: bytes, stale: bool = False) -> list[str]:
        """One challenge value per algorithm, in order of preference; they share one fresh nonce.

        Nothing here depends on who is asking, so a scanner cannot tell known users from unknown.
        `random_bytes` must be NONCE_RANDOM_BYTES from a CSPRNG (secrets.token_bytes).
        """
        if len(random_bytes) != NONCE_RANDOM_BYTES:
            raise ValueError(f"random_bytes must be {NONCE_RANDOM_BYTES} bytes")
        issued = _NONCE_TIME.pack(now) + random_bytes
        nonce = base64.urlsafe_b64encode(issued + self._nonce_mac(issued)).decode("ascii")
        tail = ", stale=true" if stale else ""
        return [
            f"Digest realm={_quote(self.realm)}, nonce={_quote(nonce)}, "
            f'opaque="{self._opaque}", algorithm={name}, qop="auth"{tail}'
            for name in self._algorithms
        ]

    def verify(
        self,
        *,
        method: str,
        header_value: str,
        lookup_ha1: Callable[[str, str], str | None],
        now: float,
    ) -> AuthResult:
        """Check credentials against our nonces and the user store; never raises on peer input.

        `lookup_ha1(username, algorithm)` returns the stored HA1 in hex, or None for no such user.
        The uri parameter is only required to be present: proxies may rewrite the Request-URI,
        so comparing the two is the caller's policy.
        """
        try:
            creds = parse_credentials(header_value)
        except RemoteProtocolError as exc:
            return AuthResult(AuthOutcome.MALFORMED, None, str(exc))
        user = creds.username

        def fail(reason: str, outcome: AuthOutcome = AuthOutcome.FAILED) -> AuthResult:
            return AuthResult(outcome, user, reason)

        if creds.realm != self.realm:
            return fail(f"realm {creds.realm!r} is not ours", AuthOutcome.WRONG_REALM)
        if creds.algorithm not in self._algorithms:
            return fail(f"algorithm {creds.algorithm!r} not offered")
        if creds.qop is None or creds.nc is None or creds.cnonce is None:
            return fail("no qop: RFC 2069 answers are refused")
        if creds.qop.lower() != "auth":
            return fail(f"qop {creds.qop!r} not offered")
        if not creds.uri:
            return fail("empty uri")
        issued_at = self._nonce_issue_time(creds.nonce)
        stored_ha1 = lookup_ha1(user, creds.algorithm)
        ha1 = self._dummy_ha1[creds.algorithm] if stored_ha1 is None else stored_ha1
        expected = _response(
            creds.algorithm, ha1, creds.nonce, method, creds.uri, "auth", creds.nc, creds.cnonce
        )
        matches = hmac.compare_digest(expected.encode("ascii"), creds.response.encode("ascii"))
        if stored_ha1 is None:
            return fail("unknown user")
        if not matches:
            return fail("wrong response")
        if issued_at is None:
            # RFC 2617 §3.2.1: a nonce we cannot vouch for (one from before a restart) with a
            # right digest is stale, so the phone retries without asking its user.
            return fail("nonce not issued by us", AuthOutcome.STALE)
        if creds.opaque is not None and creds.opaque != self._opaque:
            return fail("opaque does not match")

        # RFC 2617 §3.2.1: stale only when the digest was right, so the client may retry
        # without asking the user again.
        if now - issued_at > self._nonce_lifetime_s:
            return fail("nonce expired", AuthOutcome.STALE)
        self._evict_expired(now)
        highest = self._highest_nc.get(creds.nonce)
        if highest is None and issued_at <= self._evicted_up_to:
            return fail("nonce evicted from the nonce-count table", AuthOutcome.STALE)
        if highest is not None and creds.nc <= highest:
            return fail(f"nc {creds.nc} not above {highest}", AuthOutcome.REPLAY)
        if highest is None:
            self._track(creds.nonce, issued_at)
        self._highest_nc[creds.nonce] = creds.nc
        return AuthResult(AuthOutcome.OK, user, "ok")

    @property
    def tracked_nonces(self) -> int:
        """How many nonces have nc state now (bounded by max_tracked_nonces)."""
        return len(self._highest_nc)

    def _nonce_mac(self, issued: bytes) -> bytes:
        mac = hmac.new(self._secret, self.realm.encode("utf-8") + b"\0" + issued, hashlib.sha256)
        return mac.digest()[:_NONCE_MAC_BYTES]

    def _nonce_issue_time(self, nonce: str) -> float | None:
        """Issue time of an authentic nonce, else None."""
        if not _NONCE_RE.fullmatch(nonce):
            return None
        raw = base64.urlsafe_b64decode(nonce)
        issued, mac = raw[:-_NONCE_MAC_BYTES], raw[-_NONCE_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._nonce_mac(issued)):
            return None
        (issued_at,) = _NONCE_TIME.unpack_from(issued)
        return float(issued_at)

    def _evict_expired(self, now: float) -> None:
        heap = self._by_issue_time
        while heap and now - heap[0][0] > self._nonce_lifetime_s:
            del self._highest_nc[heapq.heappop(heap)[1]]

    def _track(self, nonce: str, issued_at: float) -> None:
        if len(self._highest_nc) >= self._max_tracked_nonces:
            evicted_at, evicted = heapq.heappop(self._by_issue_time)
            del self._highest_nc[evicted]
            self._evicted_up_to = max(self._evicted_up_to, evicted_at)
        heapq.heappush(self._by_issue_time, (issued_at, nonce))
