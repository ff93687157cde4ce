"""softswitch/sip/refer.py: Refer-To (RFC 3515) and Replaces (RFC 3891) from untrusted REFERs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request
from softswitch.sip.refer import ReferTo, Replaces, sipfrag


def test_blind_target_is_the_user_part() -> None:
    refer_to = ReferTo.parse("<sip:1002@127.0.0.1:5060>")
    assert refer_to.number == "1002"
    assert refer_to.replaces is None


def test_addr_spec_and_tel_uri() -> None:
    assert ReferTo.parse("sip:600@switch.example").number == "600"
    assert ReferTo.parse("<tel:+4930123456>").number == "+4930123456"


def test_replaces_as_pjsua_writes_it() -> None:
    # pjsua's xferReplaces: the dialog escaped in a URI header (RFC 3891 §7.1 example)
    value = '"Bob" <sip:1003@127.0.0.1:5060?Replaces=abc%40host%3Bto-tag%3D1234%3Bfrom-tag%3D5678>'
    refer_to = ReferTo.parse(value)
    assert refer_to.number == "1003"
    assert refer_to.replaces == Replaces("abc@host", "1234", "5678")


def test_replaces_needs_both_tags() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        ReferTo.parse("<sip:1003@h?Replaces=abc%3Bto-tag%3D1>")
    assert info.value.status_hint == 400


@pytest.mark.parametrize(
    "value", ["", "<>", "<sip:@h>", "<http://example.com>", "<sip:h>", "x" * 3000]
)
def test_bad_refer_to_is_a_400(value: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        ReferTo.parse(value)
    assert info.value.status_hint == 400


def _refer(*refer_to: str) -> Request:
    headers = [("Call-ID", "c"), ("CSeq", "2 REFER")] + [("Refer-To", v) for v in refer_to]
    return Request("REFER", "sip:softswitch@127.0.0.1", headers)


def test_exactly_one_refer_to() -> None:
    assert ReferTo.of(_refer("<sip:1002@h>")).number == "1002"
    for request in (_refer(), _refer("<sip:1@h>", "<sip:2@h>"), _refer("<sip:1@h>, <sip:2@h>")):
        with pytest.raises(RemoteProtocolError):
            ReferTo.of(request)


def test_sipfrag_is_a_status_line() -> None:
    assert sipfrag(200, "OK") == b"SIP/2.0 200 OK\r\n"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_refer_to_parses_or_is_our_error(value: str) -> None:
    try:
        refer_to = ReferTo.parse(value)
    except RemoteProtocolError as exc:
        assert exc.status_hint == 400
    else:
        assert refer_to.number


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("abc@;=-%3Btofrmg DA"), max_size=80))
def test_any_replaces_parses_or_is_our_error(value: str) -> None:
    try:
        replaces = Replaces.parse(value)
    except RemoteProtocolError:
        return
    assert replaces.call_id and replaces.to_tag and replaces.from_tag
