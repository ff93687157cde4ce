"""The checks before an INVITE may become a call (calls/invite_checks.py), on parsed requests."""

from __future__ import annotations

import pytest

from softswitch.calls.invite_checks import Refusal, invite_refusal
from softswitch.sip.message import Request, parse_message
from softswitch.sip.transport import OUR_BRANCH_PREFIX

OURS = "192.0.2.1:5060"


def invite(*headers: str, body: str = "", content_type: str = "application/sdp") -> Request:
    lines = [
        "INVITE sip:1001@pbx.test SIP/2.0",
        *(h for h in headers if h.startswith("Via:")),
        "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-phone",
        *(h for h in headers if not h.startswith("Via:")),
        "From: <sip:1002@pbx.test>;tag=a",
        "To: <sip:1001@pbx.test>",
        "Call-ID: c1@10.0.0.5",
        "CSeq: 1 INVITE",
        *([f"Content-Type: {content_type}"] if body else []),
        f"Content-Length: {len(body)}",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n" + body).encode())
    assert isinstance(message, Request)
    return message


SDP = (
    "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\n"
)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        pytest.param(invite("Max-Forwards: 70", body=SDP), None, id="a-plain-call"),
        pytest.param(invite("Max-Forwards: 0"), Refusal(483), id="max-forwards-spent"),
        pytest.param(
            invite(f"Via: SIP/2.0/UDP {OURS};branch={OUR_BRANCH_PREFIX}x1"),
            Refusal(482),
            id="our-via-came-back",
        ),
        pytest.param(
            invite(f"Via: SIP/2.0/UDP 192.0.2.9:5060;branch={OUR_BRANCH_PREFIX}x1"),
            None,
            id="another-switch-of-ours-is-no-loop",
        ),
        pytest.param(
            invite("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-other"),
            None,
            id="our-address-but-not-our-branch",
        ),
        pytest.param(
            invite(body="hello", content_type="text/plain"),
            Refusal(415, (("Accept", "application/sdp"),)),
            id="a-body-that-is-not-sdp",
        ),
        pytest.param(
            invite("Accept: text/html, application/pidf+xml"),
            Refusal(406, (("Accept", "application/sdp"),)),
            id="accept-without-sdp",
        ),
        pytest.param(invite("Accept: application/*;q=0.5"), None, id="accept-a-wildcard"),
    ],
)
def test_invite_refusal(request_: Request, expected: Refusal | None) -> None:
    assert invite_refusal(request_, OURS) == expected
