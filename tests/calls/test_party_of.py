"""Who a leg's party is, as the API's events and scopes name it (calls/control.party_of)."""

from __future__ import annotations

from dataclasses import dataclass

from softswitch.calls.control import party_of
from softswitch.sip.message import Request, parse_message


def _invite(uri: str, sender: str, to: str) -> Request:
    text = (
        f"INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
        f"From: <{sender}>;tag=a\r\nTo: <{to}>\r\nCall-ID: c@h\r\nCSeq: 1 INVITE\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    parsed = parse_message(text.encode())
    assert isinstance(parsed, Request)
    return parsed


@dataclass
class FakeLeg:
    invite: Request
    inbound: bool


@dataclass
class FakeCall:
    caller: str
    callee: str
    caller_leg: FakeLeg


CALLER = FakeLeg(_invite("sip:600@192.0.2.1", "sip:+4420@gw", "sip:600@192.0.2.1"), True)
CALL = FakeCall("+4420", "600", CALLER)


def _party(leg: FakeLeg) -> str:
    return party_of(CALL, leg)  # type: ignore[arg-type]


def test_the_caller_is_the_calls_caller() -> None:
    assert _party(CALLER) == "+4420"


def test_a_placed_leg_is_the_number_called_not_the_contacts_user() -> None:
    """A phone may register any user part in its Contact (a random one, a device id): the
    agent is the extension the switch called, which our To carries."""
    leg = FakeLeg(_invite("sip:k8x2q@198.51.100.7:5062", "sip:600@192.0.2.1",
                          "sip:1001@198.51.100.7:5062"), False)  # fmt: skip
    assert _party(leg) == "1001"
    plain = FakeLeg(_invite("sip:1002@198.51.100.8", "sip:600@192.0.2.1", "sip:1002@h"), False)
    assert _party(plain) == "1002"


def test_a_phone_joined_from_a_call_of_its_own_is_who_it_is() -> None:
    """A pickup: the picker's leg came in dialling *8; it is the picker, not '*8'."""
    picker = FakeLeg(_invite("sip:*8@192.0.2.1", "sip:1006@192.0.2.1", "sip:*8@192.0.2.1"), True)
    assert _party(picker) == "1006"


def test_a_uri_we_cannot_read_falls_back_to_the_callee() -> None:
    odd = FakeLeg(_invite("sip:1001@h", "urn:service:x", "urn:service:x"), True)
    assert _party(odd) == "600"
