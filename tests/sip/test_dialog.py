"""softswitch/sip/dialog.py: both ends of an INVITE dialog (RFC 3261 §12), built from messages
that went through serialize() and parse_message() as on the wire."""

from __future__ import annotations

import pytest

from softswitch.sip.dialog import Dialog, _without_tag
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request, Response, make_response, parse_message

ALICE = '"Alice" <sip:alice@192.0.2.1>'
BOB = "<sip:bob@192.0.2.2>"


def wire(message: Request | Response) -> Request | Response:
    return parse_message(message.serialize())


def invite(*extra: tuple[str, str], cseq: int = 314) -> Request:
    headers = [
        ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-inv"),
        ("Max-Forwards", "70"),
        ("From", f"{ALICE};tag=a-tag;x=1"),
        ("To", BOB),
        ("Call-ID", "dialog-1@192.0.2.1"),
        ("CSeq", f"{cseq} INVITE"),
        *extra,
    ]
    message = wire(Request("INVITE", "sip:bob@192.0.2.2", headers))
    assert isinstance(message, Request)
    return message


CONTACT = ("Contact", "<sip:alice@192.0.2.1:5062;transport=udp>")
RECORD_ROUTE = [("Record-Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>")]


def answer(request: Request, *extra: tuple[str, str]) -> Response:
    ok = wire(make_response(request, 200, to_tag="b-tag", extra=extra))
    assert isinstance(ok, Response)
    return ok


def request_line_and(request: Request, *names: str) -> list[str]:
    return [f"{request.method} {request.uri}", *(f"{n}: {request.header(n)}" for n in names)]


# ---- the UAS side: the dialog an incoming INVITE creates (§12.1.1) -------------------------------


def test_uas_dialog_from_an_invite() -> None:
    dialog = Dialog.as_uas(invite(CONTACT, *RECORD_ROUTE), "b-tag")

    assert dialog.id == ("dialog-1@192.0.2.1", "b-tag", "a-tag")
    assert (dialog.local_uri, dialog.remote_uri) == (BOB, f"{ALICE};x=1")
    assert dialog.remote_target == "sip:alice@192.0.2.1:5062;transport=udp"
    assert (dialog.local_cseq, dialog.remote_cseq) == (0, 314)
    # The UAS keeps the Record-Route order: its requests go to p1 first.
    assert dialog.route_set == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]


def test_uas_dialog_needs_a_contact() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        Dialog.as_uas(invite(), "b-tag")
    assert info.value.status_hint == 400


def test_uas_bye_goes_to_the_contact_with_tags_swapped() -> None:
    dialog = Dialog.as_uas(invite(CONTACT, *RECORD_ROUTE), "b-tag")
    bye = dialog.create_request("BYE", via="SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK-bye")

    assert request_line_and(bye, "From", "To", "Call-ID", "CSeq", "Max-Forwards") == [
        "BYE sip:alice@192.0.2.1:5062;transport=udp",
        "From: <sip:bob@192.0.2.2>;tag=b-tag",
        'To: "Alice" <sip:alice@192.0.2.1>;x=1;tag=a-tag',
        "Call-ID: dialog-1@192.0.2.1",
        "CSeq: 1 BYE",
        "Max-Forwards: 70",
    ]
    assert bye.values("Route") == dialog.route_set
    assert wire(bye).serialize() == bye.serialize()  # a well-formed message


# ---- the UAC side: the dialog our INVITE's 2xx creates (§12.1.2) --------------------------------


def test_uac_dialog_from_the_2xx() -> None:
    request = invite(CONTACT)
    ok = answer(request, ("Contact", "<sip:bob@192.0.2.2:5070>"), *RECORD_ROUTE)
    dialog = Dialog.as_uac(request, ok)

    assert dialog.id == ("dialog-1@192.0.2.1", "a-tag", "b-tag")
    assert (dialog.local_uri, dialog.remote_uri) == (f"{ALICE};x=1", BOB)
    assert dialog.remote_target == "sip:bob@192.0.2.2:5070"
    assert (dialog.local_cseq, dialog.remote_cseq) == (314, None)
    # The UAC reverses the Record-Route: its requests go to p2 first, the proxy next to it.
    assert dialog.route_set == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]


def test_uac_dialog_without_contact_targets_the_request_uri() -> None:
    request = invite(CONTACT)
    assert Dialog.as_uac(request, answer(request)).remote_target == "sip:bob@192.0.2.2"


def test_uac_requests_count_on_from_the_invite_and_ack_keeps_its_number() -> None:
    request = invite(CONTACT)
    dialog = Dialog.as_uac(request, answer(request, ("Contact", "<sip:bob@192.0.2.2:5070>")))
    via = "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-x"

    ack = dialog.create_request("ACK", via=via, cseq=request.cseq.seq)
    reinvite = dialog.create_request(
        "INVITE",
        via=via,
        contact="<sip:alice@192.0.2.1:5062>",
        body=b"v=0\r\n",
        extra=[("Content-Type", "application/sdp")],
    )
    bye = dialog.create_request("BYE", via=via, max_forwards=10)

    assert [r.header("CSeq") for r in (ack, reinvite, bye)] == ["314 ACK", "315 INVITE", "316 BYE"]
    assert {r.uri for r in (ack, reinvite, bye)} == {"sip:bob@192.0.2.2:5070"}
    assert (reinvite.header("Contact"), reinvite.header("Content-Type")) == (
        "<sip:alice@192.0.2.1:5062>",
        "application/sdp",
    )
    assert bye.header("Max-Forwards") == "10" and bye.header("Contact") is None
    parsed = wire(reinvite)
    assert parsed.body == b"v=0\r\n" and parsed.header("Content-Length") == "5"


# ---- both ends together -------------------------------------------------------------------------


def test_both_ends_agree_and_in_dialog_requests_match() -> None:
    request = invite(CONTACT, *RECORD_ROUTE)
    ok = answer(request, ("Contact", "<sip:bob@192.0.2.2:5070>"))
    uac, uas = Dialog.as_uac(request, ok), Dialog.as_uas(request, "b-tag")
    # Each side's (Call-ID, local, remote) is the other's with the tags swapped.
    assert uac.id == (uas.call_id, uas.remote_tag, uas.local_tag)

    bye = wire(uac.create_request("BYE", via="SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-b"))
    assert isinstance(bye, Request)
    # What a UAS looks up an in-dialog request by: (Call-ID, To tag, From tag).
    assert (bye.call_id, bye.to.tag, bye.from_.tag) == uas.id
    uas.accept_request(bye)
    assert uas.remote_cseq == 315


# ---- in-dialog order and target refresh (§12.2) -------------------------------------------------


def in_dialog(method: str, seq: int, *extra: tuple[str, str]) -> Request:
    return Request(
        method,
        "sip:bob@192.0.2.2",
        [("Call-ID", "dialog-1@192.0.2.1"), ("CSeq", f"{seq} {method}"), *extra],
    )


def test_remote_cseq_must_not_go_back() -> None:
    dialog = Dialog.as_uas(invite(CONTACT), "b-tag")  # remote CSeq 314
    dialog.accept_request(in_dialog("INFO", 314))  # equal is in order
    dialog.accept_request(in_dialog("UPDATE", 400))  # gaps are allowed
    with pytest.raises(RemoteProtocolError) as info:
        dialog.accept_request(in_dialog("BYE", 399))
    assert info.value.status_hint == 500  # §12.2.2
    assert dialog.remote_cseq == 400
    # ACK and CANCEL carry the INVITE's number: they are not checked and move nothing.
    dialog.accept_request(in_dialog("ACK", 1))
    dialog.accept_request(in_dialog("CANCEL", 2))
    assert dialog.remote_cseq == 400


def test_uac_dialog_takes_the_first_remote_cseq_it_sees() -> None:
    request = invite(CONTACT)
    dialog = Dialog.as_uac(request, answer(request))
    dialog.accept_request(in_dialog("BYE", 7))  # the peer's own numbering, any start
    assert dialog.remote_cseq == 7
    with pytest.raises(RemoteProtocolError):
        dialog.accept_request(in_dialog("INFO", 6))


def test_target_refresh_moves_the_remote_target_only_with_a_contact() -> None:
    dialog = Dialog.as_uas(invite(CONTACT), "b-tag")
    dialog.update_target(in_dialog("INVITE", 315))
    assert dialog.remote_target == "sip:alice@192.0.2.1:5062;transport=udp"
    dialog.update_target(in_dialog("INVITE", 316, ("Contact", "<sip:alice@198.51.100.9:6000>")))
    assert dialog.remote_target == "sip:alice@198.51.100.9:6000"
    assert dialog.create_request("BYE", via="SIP/2.0/UDP x").uri == "sip:alice@198.51.100.9:6000"


# ---- the tag is removed from a From/To value, and nothing else ----------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("<sip:a@x>;tag=1", "<sip:a@x>", id="last"),
        pytest.param("<sip:a@x>;x=1;tag=1;y=2", "<sip:a@x>;x=1;y=2", id="middle"),
        pytest.param("<sip:a@x>;TAG=1", "<sip:a@x>", id="case"),
        pytest.param("<sip:a@x;tag=u>;tag=h", "<sip:a@x;tag=u>", id="uri-param-kept"),
        pytest.param("<sip:a@x;tag=u>", "<sip:a@x;tag=u>", id="only-in-uri"),
        pytest.param("sip:a@x;tag=1", "sip:a@x", id="no-brackets"),
        pytest.param('"A;tag=q" <sip:a@x>', '"A;tag=q" <sip:a@x>', id="in-display-name"),
        pytest.param("<sip:a@x>", "<sip:a@x>", id="no-tag"),
    ],
)
def test_without_tag(value: str, expected: str) -> None:
    assert _without_tag(value) == expected
