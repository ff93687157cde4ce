"""Typed settings of `[security]`, `[tcp]`, `[tls]` and `[capacity]`, and their parsing.

`config.py` hands each table here (it reads the rest of the file); errors come back as its
`ConfigError`, `file:key.path: problem`, through the table's own `error`. Only the standard
library is used: certificates are checked with `ssl`, as the transport will load them.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DIGEST_ALGORITHMS: Final = ("MD5", "SHA-256")
# Kamailio pike's defaults: sampling_time_unit 2 s, reqs_density_per_unit 16.
DEFAULT_RATE_LIMIT_REQUESTS: Final = 16
DEFAULT_RATE_LIMIT_WINDOW_S: Final = 2.0
DEFAULT_BAN_AFTER_FAILURES: Final = 20
DEFAULT_BAN_TIME_S: Final = 300.0
DEFAULT_TLS_PORT: Final = 5061  # RFC 3261 §19.1.2: sips: and TLS


class ConfigTable(Protocol):
    """What `config.py`'s table reader offers: typed getters that raise located errors."""

    data: dict[str, Any]

    def error(self, name: str | None, problem: str) -> Exception: ...

    def get(self, name: str, default: Any, check: Callable[[Any], bool], expected: str) -> Any: ...

    def integer(self, name: str, default: Any, low: int, high: int | None = None) -> int: ...

    def seconds(self, name: str, default: float, *, zero_means_never: bool = False) -> float: ...

    def string(self, name: str, default: Any = ..., *, empty: bool = True) -> Any: ...

    def strings(self, name: str) -> list[str]: ...


@dataclass(frozen=True)
class SecurityConfig:
    allowed_destinations: tuple[IPNetwork, ...] = ()
    nonce_lifetime_s: float = 300.0
    # Challenges in order of preference (RFC 8760 §2.4); a client answers the first it supports.
    digest_algorithms: tuple[str, ...] = ("SHA-256", "MD5")
    always_allowed: tuple[IPNetwork, ...] = ()  # never rate-limited, never banned
    always_denied: tuple[IPNetwork, ...] = ()  # every packet dropped unanswered
    rate_limit_requests: int = DEFAULT_RATE_LIMIT_REQUESTS  # per source and window; 0 = off
    rate_limit_window_s: float = DEFAULT_RATE_LIMIT_WINDOW_S
    ban_after_failures: int = DEFAULT_BAN_AFTER_FAILURES  # 0 = never ban
    failure_window_s: float = DEFAULT_BAN_TIME_S  # failures older than this are forgotten
    ban_time_s: float = DEFAULT_BAN_TIME_S
    log_file: Path | None = None  # the security log's own file, besides the main log


@dataclass(frozen=True)
class TcpConfig:
    """Limits on stream connections (TCP and TLS) that keep one peer from starving the rest."""

    max_connections: int = 1024
    max_connections_per_source: int = 32
    idle_timeout_s: float = 120.0  # above pjsip's 90 s TCP keepalive; 0 = never
    message_timeout_s: float = 10.0  # a started message must be complete within this (slowloris)
    max_pending_bytes: int = 65535  # bytes held for one incomplete message


@dataclass(frozen=True)
class TlsConfig:
    port: int = DEFAULT_TLS_PORT
    certificate: Path | None = None
    private_key: Path | None = None
    ca_file: Path | None = None  # CAs trusted for outbound TLS; None = the system's


@dataclass(frozen=True)
class CapacityConfig:
    """Beyond these, new INVITEs get 503 with Retry-After; 0 = no limit."""

    max_calls: int = 0
    max_calls_per_s: float = 0.0
    retry_after_s: int = 5


SECURITY_KEYS: Final = (
    "allowed_destinations",
    "nonce_lifetime_s",
    "digest_algorithms",
    "always_allowed",
    "always_denied",
    "rate_limit_requests",
    "rate_limit_window_s",
    "ban_after_failures",
    "failure_window_s",
    "ban_time_s",
    "log_file",
)
TCP_KEYS: Final = (
    "max_connections",
    "max_connections_per_source",
    "idle_timeout_s",
    "message_timeout_s",
    "max_pending_bytes",
)
TLS_KEYS: Final = ("port", "certificate", "private_key", "ca_file")
CAPACITY_KEYS: Final = ("max_calls", "max_calls_per_s", "retry_after_s")


def _networks(t: ConfigTable, name: str) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for index, text in enumerate(t.strings(name)):
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise t.error(f"{name}[{index}]", f"not a CIDR: {text!r}") from None
    return tuple(networks)


def _path(t: ConfigTable, name: str, base_dir: Path) -> Path | None:
    text: str | None = t.string(name, None, empty=False)
    if text is None:
        return None
    # abspath, not resolve(): keep symlinks the operator chose.
    return Path(os.path.abspath(base_dir / text))


def parse_security(t: ConfigTable, base_dir: Path) -> SecurityConfig:
    algorithms: list[str] = []
    for index, name in enumerate(t.strings("digest_algorithms") or ["SHA-256", "MD5"]):
        if name.upper() not in DIGEST_ALGORITHMS:
            raise t.error(f"digest_algorithms[{index}]", f"expected MD5 or SHA-256, got {name!r}")
        if name.upper() in algorithms:
            raise t.error(f"digest_algorithms[{index}]", f"{name} is listed twice")
        algorithms.append(name.upper())
    log_file = _path(t, "log_file", base_dir)
    if log_file is not None and not os.access(log_file.parent, os.W_OK):
        raise t.error("log_file", f"folder {log_file.parent} does not exist or is not writable")
    return SecurityConfig(
        allowed_destinations=_networks(t, "allowed_destinations"),
        nonce_lifetime_s=t.seconds("nonce_lifetime_s", 300),
        digest_algorithms=tuple(algorithms),
        always_allowed=_networks(t, "always_allowed"),
        always_denied=_networks(t, "always_denied"),
        rate_limit_requests=t.integer("rate_limit_requests", DEFAULT_RATE_LIMIT_REQUESTS, 0),
        rate_limit_window_s=t.seconds("rate_limit_window_s", DEFAULT_RATE_LIMIT_WINDOW_S),
        ban_after_failures=t.integer("ban_after_failures", DEFAULT_BAN_AFTER_FAILURES, 0),
        failure_window_s=t.seconds("failure_window_s", DEFAULT_BAN_TIME_S),
        ban_time_s=t.seconds("ban_time_s", DEFAULT_BAN_TIME_S),
        log_file=log_file,
    )


def parse_tcp(t: ConfigTable) -> TcpConfig:
    tcp = TcpConfig(
        max_connections=t.integer("max_connections", 1024, 1),
        max_connections_per_source=t.integer("max_connections_per_source", 32, 1),
        idle_timeout_s=t.seconds("idle_timeout_s", 120.0, zero_means_never=True),
        message_timeout_s=t.seconds("message_timeout_s", 10.0),
        max_pending_bytes=t.integer("max_pending_bytes", 65535, 1024, 1 << 20),
    )
    if tcp.max_connections_per_source > tcp.max_connections:
        raise t.error(
            "max_connections_per_source",
            f"{tcp.max_connections_per_source} is above max_connections {tcp.max_connections}",
        )
    return tcp


def parse_tls(t: ConfigTable, base_dir: Path, *, listening: bool) -> TlsConfig:
    """`listening`: "tls" is in sip.transports, so a certificate and its key are required."""
    tls = TlsConfig(
        port=t.integer("port", DEFAULT_TLS_PORT, 1, 65535),
        certificate=_path(t, "certificate", base_dir),
        private_key=_path(t, "private_key", base_dir),
        ca_file=_path(t, "ca_file", base_dir),
    )
    if listening:
        for name, path in (("certificate", tls.certificate), ("private_key", tls.private_key)):
            if path is None:
                raise t.error(name, 'missing (required when sip.transports has "tls")')
    for name, value in (
        ("certificate", tls.certificate),
        ("private_key", tls.private_key),
        ("ca_file", tls.ca_file),
    ):
        if value is not None and not os.access(value, os.R_OK):
            raise t.error(name, f"cannot read {value}")
    if (tls.certificate is None) != (tls.private_key is None):
        missing = "private_key" if tls.private_key is None else "certificate"
        raise t.error(missing, "missing (certificate and private_key go together)")
    if tls.certificate is not None and tls.private_key is not None:
        problem = certificate_problem(tls.certificate, tls.private_key)
        if problem is not None:
            raise t.error(problem[0], problem[1])
    if tls.ca_file is not None:
        try:
            ssl.create_default_context(cafile=str(tls.ca_file))
        except ssl.SSLError as exc:
            raise t.error("ca_file", f"not PEM CA certificates: {exc.reason or exc}") from None
    return tls


def certificate_problem(certificate: Path, private_key: Path) -> tuple[str, str] | None:
    """(key, problem) when the pair cannot serve TLS, as `ssl` would find at start-up."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(certificate), str(private_key))
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        if "KEY_VALUES_MISMATCH" in reason.upper():
            return ("private_key", f"does not match the certificate {certificate}")
        if "PEM" in reason.upper() and _looks_like_pem(certificate, b"CERTIFICATE"):
            return ("private_key", f"not a PEM private key ({reason})")
        return ("certificate", f"not a PEM certificate ({reason})")
    return None


def _looks_like_pem(path: Path, label: bytes) -> bool:
    try:
        return b"-----BEGIN " + label in path.read_bytes()
    except OSError:
        return False


def parse_capacity(t: ConfigTable) -> CapacityConfig:
    rate: float = t.get(
        "max_calls_per_s",
        0.0,
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v >= 0,
        "a number of calls per second >= 0",
    )
    return CapacityConfig(
        max_calls=t.integer("max_calls", 0, 0),
        max_calls_per_s=float(rate),
        retry_after_s=t.integer("retry_after_s", 5, 1, 3600),
    )


def summary(security: SecurityConfig, tcp: TcpConfig, capacity: CapacityConfig) -> str:
    """One line for `softswitch check-config`: who may talk to the switch, and how much."""
    rate = (
        f"{security.rate_limit_requests} requests per {security.rate_limit_window_s:g} s"
        if security.rate_limit_requests
        else "no rate limit"
    )
    ban = (
        f"ban after {security.ban_after_failures} failed logins for {security.ban_time_s:g} s"
        if security.ban_after_failures
        else "no bans"
    )
    calls = f"{capacity.max_calls or 'any'} calls, {capacity.max_calls_per_s or 'any'} calls/s"
    return (
        f"guard: {rate} per source, {ban}; TCP/TLS {tcp.max_connections_per_source} connections"
        f" per source, {tcp.max_connections} in all; capacity {calls}"
    )
