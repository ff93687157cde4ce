"""Outbound trunk authentication: a carrier's 407 is answered once with the trunk's digest."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from carrier_calls import (
    CARRIER_PASSWORD,
    CARRIER_USER,
    SipMessage,
    call_carrier,
    describe,
    sip_flow,
    start_carrier,
    start_carrier_switch,
)
from running_switch import (
    DISPOSITION_ANSWERED,
    HANGUP_CALLEE,
    Switch,
)
from sipp_process import Sipp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def digest_ok(credentials: str, method: str, password: str) -> bool:
    """RFC 2617 §3.2.2 response check (MD5, qop=auth), independent of the switch's digest code."""
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', credentials.removeprefix("Digest ")))

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{params['username']}:{params['realm']}:{password}")
    ha2 = md5(f"{method}:{params['uri']}")
    expected = md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")
    return params.get("qop") == "auth" and params["response"] == expected


@pytest.fixture
def trunk_password(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", CARRIER_PASSWORD))


@pytest.fixture
def auth_switch(tmp_path: Path, carrier_port: int, trunk_password: str) -> Iterator[Switch]:
    """The switch with credentials on the carrier trunk (the right ones unless parametrised)."""
    credentials = {"username": CARRIER_USER, "password": trunk_password}
    switch = start_carrier_switch(tmp_path, carrier_port, carrier=credentials)
    try:
        yield switch
    finally:
        assert switch.stop() == 0, switch.log_tail()


def test_carrier_407_is_answered_with_proxy_authorization(
    auth_switch: Switch, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_proxy_auth.xml")
    gateway = call_carrier(sipp, auth_switch).result()
    at_carrier = carrier.result()
    flow = sip_flow(at_carrier.messages)

    assert (gateway.returncode, gateway.successful) == (0, 1), gateway.summary()
    assert (at_carrier.returncode, at_carrier.successful) == (0, 1), describe(flow)
    invites = [m for m in flow if not m.sent and m.method == "INVITE"]
    assert len(invites) == 2, describe(flow)
    assert invites[0].header("Proxy-Authorization") is None
    credentials = invites[1].header("Proxy-Authorization") or ""
    assert f'username="{CARRIER_USER}"' in credentials, credentials
    assert digest_ok(credentials, "INVITE", CARRIER_PASSWORD), credentials
    assert not digest_ok(credentials, "INVITE", "not-" + CARRIER_PASSWORD)
    # The retry is a new transaction in the same dialog attempt (RFC 3261 §22.3 / §8.1.3.5).
    assert invites[1].header("Call-ID") == invites[0].header("Call-ID")
    assert invites[1].header("Via") != invites[0].header("Via")
    row = auth_switch.closed_cdr()
    assert (row["direction"], row["trunk"]) == ("transit", "gateway")
    assert row["disposition"] == DISPOSITION_ANSWERED


def test_carrier_401_credentials_pass_sipp_verifyauth(
    auth_switch: Switch, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_www_auth.xml")
    gateway = call_carrier(sipp, auth_switch).result()
    flow = sip_flow(carrier.result().messages)

    assert (gateway.returncode, gateway.successful) == (0, 1), (
        f"{gateway.summary()}\ncarrier saw:\n{describe(flow)}"
    )
    assert [m.status for m in flow if m.sent and m.cseq_method == "INVITE"] == [401, 200]
    credentials = [m.header("Authorization") for m in flow if m.method == "INVITE"]
    assert credentials[0] is None and credentials[1], describe(flow)
    assert auth_switch.closed_cdr()["disposition"] == DISPOSITION_ANSWERED


def _final_status(flow: list[SipMessage]) -> int | None:
    finals = [m.status for m in flow if not m.sent and (m.status or 0) >= 200]
    return finals[-1] if finals else None


@pytest.mark.parametrize("trunk_password", ["wrong-secret"], indirect=True)
def test_wrong_trunk_password_is_refused_once(
    auth_switch: Switch, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_www_auth.xml")
    gateway = call_carrier(sipp, auth_switch, "caller_refused.xml").result()
    at_carrier = carrier.result()
    carrier_flow = sip_flow(at_carrier.messages)
    caller_flow = sip_flow(gateway.messages)

    assert _final_status(caller_flow) == 403, describe(caller_flow)
    invites = [m for m in carrier_flow if not m.sent and m.method == "INVITE"]
    assert len(invites) == 2, f"one retry only, the carrier saw:\n{describe(carrier_flow)}"
    row = auth_switch.closed_cdr()
    assert row["disposition"] == "failed" and row["answer_ts"] is None, row
    assert row["hangup_side"] == HANGUP_CALLEE, row


def test_carrier_rechallenge_is_not_retried(
    auth_switch: Switch, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_rechallenge.xml")
    gateway = call_carrier(sipp, auth_switch, "caller_refused.xml").result()
    carrier_flow = sip_flow(carrier.result().messages)
    caller_flow = sip_flow(gateway.messages)

    status = _final_status(caller_flow)
    assert status is not None and status >= 400, describe(caller_flow)
    # The challenge asked for the trunk's credentials, not the caller's: relayed, it would leave
    # the caller a 407 it cannot answer (and without Proxy-Authenticate, RFC 3261 §21.4.8).
    assert status not in (401, 407), "\n".join(m.text for m in caller_flow if not m.sent)
    invites = [m for m in carrier_flow if not m.sent and m.method == "INVITE"]
    assert len(invites) == 2, f"one retry only, the carrier saw:\n{describe(carrier_flow)}"
    assert auth_switch.closed_cdr()["answer_ts"] is None
