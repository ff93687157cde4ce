"""TLS contexts for SIP over TLS (RFC 3261 §26.3.1, RFC 5630): ours as a server, ours as a client.

Outbound connections verify the peer's certificate chain and that it names the host we dialled
(an IP address must be in its subjectAltName, as `ssl` checks), unless the trunk sets
`tls_verify = false` for a lab whose certificates are its own.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable

from softswitch.security.settings import TlsConfig

TlsClientContext = Callable[[str, int], tuple[ssl.SSLContext, str | None]]


def server_context(config: TlsConfig) -> ssl.SSLContext:
    assert config.certificate is not None and config.private_key is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(config.certificate), str(config.private_key))
    return context


def verifying_context(config: TlsConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=str(config.ca_file) if config.ca_file is not None else None
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def relaxed_context() -> ssl.SSLContext:
    """Encrypts, checks nothing: for a lab trunk with `tls_verify = false`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def client_contexts(config: TlsConfig, relaxed: Iterable[tuple[str, int]]) -> TlsClientContext:
    """The context for a connection to (host, port): relaxed for the trunks listed (port 0 = any
    port of that host), verifying for every other destination."""
    verifying = verifying_context(config)
    lax = relaxed_context()
    relaxed_at = frozenset(relaxed)

    def for_destination(host: str, port: int) -> tuple[ssl.SSLContext, str | None]:
        if (host, port) in relaxed_at or (host, 0) in relaxed_at:
            return lax, None
        return verifying, host.strip("[]")

    return for_destination
