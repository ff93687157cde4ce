"""Where a request to a registered phone goes: its Contact, or where its REGISTER came from.

As Kamailio's nathelper (`nat_uac_test`) and Asterisk's `rewrite_contact` do, a phone is taken
to be behind NAT when its Contact's host is not the address the REGISTER came from, or when the
top Via's sent-by (host and port) is not: a NAT rewrites a packet's address, not the addresses
written inside it. Behind NAT only the source address (the NAT's mapping) reaches the phone;
otherwise the Contact is where it listens, which may be another port than the one it registered
from, or another device when a third party registered it (RFC 3261 §10.2).

The switch never resolves names it was handed, so a Contact whose host is a name can neither be
compared (`auto`: taken as NAT) nor followed (`never`: the phone is not rung); nor can a Contact
the switch has no transport for (sips:, transport=tls, sctp, ws). Whatever is chosen must still
pass `security.allowed_destinations` when the request is sent: a Contact pointing elsewhere than
its REGISTER's source is only followed with `nat = "never"`.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from softswitch.calls.registrar import Binding
from softswitch.config import NatMode
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.transaction import Address
from softswitch.sip.uri import SipUri, host_without_brackets

log = logging.getLogger("softswitch.calls")

CONTACT_TRANSPORTS = frozenset({"udp", "tcp"})  # what the switch can send a request over
DEFAULT_SIP_PORT = 5060  # RFC 3261 §19.1.2: sip: URIs over UDP and TCP

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def reachable(bindings: Iterable[Binding], mode: NatMode) -> list[tuple[Address, str]]:
    """(where to send, Request-URI) for each binding that can be reached; the URI is the Contact."""
    found: list[tuple[Address, str]] = []
    for binding in bindings:
        address = binding_target(binding, mode)
        if address is None:
            log.info(
                "not ringing %s at %s: nat = %s and the switch cannot send to that Contact",
                binding.aor,
                binding.contact,
                mode,
            )
        else:
            found.append((address, binding.contact))
    return found


def binding_target(binding: Binding, mode: NatMode) -> Address | None:
    """Where a request to this binding goes under `mode`; None when nowhere the switch can send."""
    if mode is NatMode.FORCE or (mode is NatMode.AUTO and nat_detected(binding)):
        return binding.flow
    contact = contact_address(binding.contact)
    if contact is None:
        return None
    transport, host, port = contact
    if _ip(host) == _ip(binding.source_host):
        # Written as the socket wrote the source (an IPv4-mapped address on a dual-stack
        # socket), so that a TCP request finds the connection of the REGISTER when it is one.
        return (transport, binding.source_host, port)
    return contact


def nat_detected(binding: Binding) -> bool:
    """True when the REGISTER did not come from where the phone says it is.

    A binding stored before the Via was kept has via_host "", no address: taken as NAT, so it is
    reached where its REGISTER came from, as it was then.
    """
    source = _ip(binding.source_host)
    contact = contact_address(binding.contact)
    if source is None or contact is None or _ip(contact[1]) != source:
        return True
    return _ip(binding.via_host) != source or binding.via_port != binding.source_port


def contact_address(contact: str) -> Address | None:
    """The (transport, host, port) a Contact URI names; None unless an IP over UDP or TCP."""
    try:
        uri = SipUri.parse(contact)
    except RemoteProtocolError:
        return None
    if uri.scheme != "sip":
        return None
    transport = uri.transport or "udp"
    port = DEFAULT_SIP_PORT if uri.port is None else uri.port
    address = _ip(uri.host)
    if transport not in CONTACT_TRANSPORTS or address is None:
        return None
    return (transport, str(address), port)


def _ip(host: str) -> IpAddress | None:
    """The address a host names, IPv4-mapped IPv6 unwrapped; None for a name."""
    try:
        address = ipaddress.ip_address(host_without_brackets(host))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
