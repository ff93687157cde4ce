"""Where a request to a registered phone goes (calls/nat.py): its Contact, or behind NAT the
address its REGISTER came from; per extension `nat = auto | force | never`.

Each case registers from bytes, as a phone would (the registrar keeps the Contact, the source and
the top Via), then asks where a call to that binding goes.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.calls.nat import binding_target, contact_address, nat_detected, reachable
from softswitch.calls.registrar import Binding, Registrar
from softswitch.config import NatMode, RegistrarConfig
from softswitch.sip.transaction import Address

AUTO, FORCE, NEVER = NatMode.AUTO, NatMode.FORCE, NatMode.NEVER


class NullSink:
    def saved(self, binding: Binding) -> None:
        pass

    def removed(self, aor: str, contact: str) -> None:
        pass


@pytest.fixture
def bind(clock, sip_request):
    """REGISTER `contact` from `source` with top Via `via`; the binding the registrar made."""

    def make(contact: str, source: Address, via: str) -> Binding:
        registrar = Registrar(RegistrarConfig(), NullSink(), wall_clock=clock)
        request = sip_request("REGISTER", contacts=[f"<{contact}>"], via=via)
        assert registrar.register(request, source, "1001").status == 200
        [binding] = registrar.lookup("1001")
        return binding

    return make


PHONE = ("udp", "10.0.0.5", 5060)
NATTED = ("udp", "198.51.100.20", 61000)  # the NAT's address for a phone at 10.0.0.5:5060


@pytest.mark.parametrize(
    ("contact", "source", "via", "expected"),
    [
        pytest.param(
            "sip:1001@10.0.0.5:5062",
            PHONE,
            "SIP/2.0/UDP 10.0.0.5:5060",
            ("udp", "10.0.0.5", 5062),
            id="listens-on-another-port",
        ),
        pytest.param(
            "sip:uas@10.0.0.9:5070",
            ("udp", "10.0.0.9", 40000),
            "SIP/2.0/UDP 10.0.0.9:40000",
            ("udp", "10.0.0.9", 5070),
            id="third-party-registration",
        ),
        pytest.param(
            "sip:1001@10.0.0.5",
            PHONE,
            "SIP/2.0/UDP 10.0.0.5",
            ("udp", "10.0.0.5", 5060),
            id="no-ports-mean-5060",
        ),
        pytest.param(
            "sip:1001@10.0.0.5:5062;transport=TCP",
            PHONE,
            "SIP/2.0/UDP 10.0.0.5:5060",
            ("tcp", "10.0.0.5", 5062),
            id="contact-transport-param",
        ),
        pytest.param(
            "sip:1001@[::1]:5062",
            ("udp", "::1", 5060),
            "SIP/2.0/UDP [::1]:5060",
            ("udp", "::1", 5062),
            id="ipv6",
        ),
        pytest.param(
            "sip:1001@[2001:DB8::0:5]:5062",
            ("udp", "2001:db8::5", 5060),
            "SIP/2.0/UDP [2001:db8:0::5]:5060",
            ("udp", "2001:db8::5", 5062),
            id="ipv6-written-two-ways",
        ),
        pytest.param(
            "sip:1001@10.0.0.5:5062",
            ("udp", "::ffff:10.0.0.5", 5060),
            "SIP/2.0/UDP 10.0.0.5:5060",
            ("udp", "::ffff:10.0.0.5", 5062),
            id="ipv4-mapped-source-on-a-dual-stack-socket",
        ),
    ],
)
def test_auto_without_nat_follows_the_contact(bind, contact, source, via, expected) -> None:
    binding = bind(contact, source, via)
    assert not nat_detected(binding)
    assert binding_target(binding, AUTO) == expected
    assert binding_target(binding, NEVER) == expected
    assert binding_target(binding, FORCE) == source


@pytest.mark.parametrize(
    ("contact", "source", "via"),
    [
        pytest.param(
            "sip:1001@10.0.0.5:5060", NATTED, "SIP/2.0/UDP 10.0.0.5:5060", id="private-contact"
        ),
        pytest.param(
            "sip:1001@198.51.100.20:61000",
            NATTED,
            "SIP/2.0/UDP 10.0.0.5:5060",
            id="contact-rewritten-via-not",
        ),
        pytest.param(
            "sip:1001@10.0.0.5:5060",
            ("udp", "10.0.0.5", 61000),
            "SIP/2.0/UDP 10.0.0.5:5060",
            id="source-port-is-not-the-via-port",
        ),
        pytest.param(
            "sip:1001@10.0.0.5",
            ("udp", "10.0.0.5", 5070),
            "SIP/2.0/UDP 10.0.0.5",
            id="via-without-port-is-5060",
        ),
        pytest.param(
            "sip:1001@10.0.0.5:5060;transport=tcp",
            ("tcp", "10.0.0.5", 50123),
            "SIP/2.0/TCP 10.0.0.5:5060",
            id="tcp-from-an-ephemeral-port-keeps-the-connection",
        ),
        pytest.param(
            "sip:1001@phone.example.com:5060",
            ("udp", "10.0.0.5", 5060),
            "SIP/2.0/UDP 10.0.0.5:5060",
            id="contact-hostname-cannot-be-compared",
        ),
        pytest.param(
            "sip:1001@10.0.0.5:5060",
            PHONE,
            "SIP/2.0/UDP phone.example.com:5060",
            id="via-hostname",
        ),
        pytest.param(
            "sip:1001@192.0.2.66:5060",
            NATTED,
            "SIP/2.0/UDP 192.0.2.66:5060",
            id="third-party-contact-elsewhere-is-not-followed",
        ),
        pytest.param(
            "sips:1001@10.0.0.5:5061", PHONE, "SIP/2.0/UDP 10.0.0.5:5060", id="sips-contact"
        ),
        pytest.param(
            "sip:1001@10.0.0.5:5061;transport=tls",
            PHONE,
            "SIP/2.0/UDP 10.0.0.5:5060",
            id="tls-contact",
        ),
    ],
)
def test_auto_with_nat_goes_where_the_register_came_from(bind, contact, source, via) -> None:
    binding = bind(contact, source, via)
    assert nat_detected(binding)
    assert binding_target(binding, AUTO) == source
    assert binding_target(binding, FORCE) == source


def test_never_follows_the_contact_even_behind_nat(bind) -> None:
    binding = bind("sip:1001@10.0.0.5:5062", NATTED, "SIP/2.0/UDP 10.0.0.5:5060")
    assert nat_detected(binding)
    assert binding_target(binding, NEVER) == ("udp", "10.0.0.5", 5062)


@pytest.mark.parametrize(
    "contact",
    [
        "sip:1001@phone.example.com:5060",  # the switch never resolves names it was handed
        "sips:1001@10.0.0.5:5061",  # no TLS
        "sip:1001@10.0.0.5;transport=sctp",
        "tel:+15551234",
    ],
)
def test_never_with_a_contact_the_switch_cannot_send_to_rings_nothing(bind, contact) -> None:
    binding = bind(contact, PHONE, "SIP/2.0/UDP 10.0.0.5:5060")
    assert binding_target(binding, NEVER) is None
    assert binding_target(binding, AUTO) == PHONE  # auto still reaches it at its source
    assert reachable([binding], NEVER) == []


def test_a_binding_stored_before_the_via_was_kept_is_reached_at_its_source(bind) -> None:
    binding = dataclasses.replace(
        bind("sip:1001@10.0.0.5:5062", PHONE, "SIP/2.0/UDP 10.0.0.5:5060"), via_host="", via_port=0
    )
    assert nat_detected(binding)
    assert binding_target(binding, AUTO) == PHONE
    assert binding_target(binding, NEVER) == ("udp", "10.0.0.5", 5062)


def test_reachable_keeps_the_order_and_uses_the_contact_as_request_uri(bind) -> None:
    desk = bind("sip:1001@10.0.0.5:5062", PHONE, "SIP/2.0/UDP 10.0.0.5:5060")
    mobile = bind("sip:1001@10.0.0.7:5060", NATTED, "SIP/2.0/UDP 10.0.0.7:5060")
    named = bind("sip:1001@phone.example.com", PHONE, "SIP/2.0/UDP 10.0.0.5:5060")
    assert reachable([desk, named, mobile], AUTO) == [
        (("udp", "10.0.0.5", 5062), "sip:1001@10.0.0.5:5062"),
        (PHONE, "sip:1001@phone.example.com"),
        (NATTED, "sip:1001@10.0.0.7:5060"),
    ]
    assert reachable([desk, named, mobile], NEVER) == [
        (("udp", "10.0.0.5", 5062), "sip:1001@10.0.0.5:5062"),
        (("udp", "10.0.0.7", 5060), "sip:1001@10.0.0.7:5060"),
    ]


@pytest.mark.parametrize(
    ("contact", "expected"),
    [
        ("sip:a@127.0.0.1:5070;transport=udp", ("udp", "127.0.0.1", 5070)),
        ("SIP:a@127.0.0.1", ("udp", "127.0.0.1", 5060)),
        ("sip:127.0.0.1:5070;transport=tcp;ob", ("tcp", "127.0.0.1", 5070)),
        ("sip:a@[::ffff:127.0.0.1]:5070", ("udp", "127.0.0.1", 5070)),
        ("sip:a@[fe80::1]:5070", ("udp", "fe80::1", 5070)),
        ("sip:a@localhost:5070", None),
        ("sip:a@127.0.0.1:0", None),
        ("sip:a@127.0.0.1:70000", None),
        ("sip:a@", None),
        ("<sip:a@127.0.0.1>", None),
        ("", None),
    ],
)
def test_contact_address(contact, expected) -> None:
    assert contact_address(contact) == expected


@given(st.text(max_size=80) | st.text(max_size=80).map(lambda t: "sip:" + t))
def test_any_contact_text_gives_an_address_or_none(contact: str) -> None:
    """Contacts are written by whoever registered: nothing in one may raise."""
    address = contact_address(contact)
    assert address is None or (address[0] in ("udp", "tcp") and 0 < address[2] <= 65535)
    binding = Binding("1001", contact, "udp", "10.0.0.5", 5060, 1.0, "c", 1, "", 0.0, "x", 1)
    for mode in NatMode:
        binding_target(binding, mode)
